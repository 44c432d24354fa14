"""Real CASMI 2016 candidates: fingerprints compute, and the cache round-trips them."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, rdBase
from shared_helpers import real_data_path

from specvae.fingerprints.cache import FingerprintCache
from specvae.fingerprints.compute import compute_fingerprints
from specvae.fingerprints.definition import FingerprintDefinition

EVERY_NTH_ROW = 700  # ~370 candidates spread over all 208 challenges


def sample_candidates() -> tuple[list[str], list[str]]:
    path = real_data_path("casmi2016/candidates.csv.gz")
    keys, smiles = [], []
    with gzip.open(path, "rt", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle)):
            if row_number % EVERY_NTH_ROW == 0:
                keys.append(row["InChIKey"])
                smiles.append(row["SMILES"])
    return keys, smiles


@pytest.mark.data
def test_real_candidates_fingerprint_and_round_trip_through_the_cache(tmp_path: Path) -> None:
    keys, smiles = sample_candidates()
    assert len(keys) > 300
    definition = FingerprintDefinition()
    bits, errors = compute_fingerprints(smiles, definition)

    # Every structure RDKit can read gets a fingerprint; only unreadable ones are reported.
    with rdBase.BlockLogs():
        unreadable = [index for index, text in enumerate(smiles) if Chem.MolFromSmiles(text) is None]
    assert [error.index for error in errors] == unreadable
    assert len(unreadable) < 0.02 * len(smiles)
    readable = np.setdiff1d(np.arange(len(smiles)), unreadable)
    bits_per_structure = bits[readable].sum(axis=1)
    assert bits_per_structure.min() > 10  # every real candidate sets MACCS and Morgan bits
    assert 20 < bits_per_structure.mean() < 400

    cache = FingerprintCache(tmp_path / "casmi.fp.h5", definition)
    first = cache.lookup(keys, smiles)
    assert first.n_computed == len(set(keys))
    np.testing.assert_array_equal(first.fingerprints, bits)
    assert first.errors == errors

    second = FingerprintCache(tmp_path / "casmi.fp.h5", definition).lookup(keys, smiles)
    assert second.n_computed == 0
    np.testing.assert_array_equal(second.fingerprints, bits)
