"""The full fingerprints of every distinct candidate of a benchmark, computed once (or read from a cache).

Candidates repeat across challenges (CASMI 2016: 258,237 list entries, 234,864 distinct InChIKeys), so bits are
computed per distinct InChIKey and kept bit-packed (303 bytes a structure) until a challenge is scored, when its
rows are unpacked and reduced to the scoring model's kept bits.

Which rows get a fingerprint is decided by :func:`specvae.fingerprints.candidate_row_fingerprints`, the rule that
``specvae annotate`` applies too (SMILES; the InChI when RDKit cannot read the SMILES, 1,416 of CASMI 2016's;
each molecule checked against the row's InChIKey, tautomers accepted). A row refused gets no fingerprint: it stays
in its list and ranks below every scored candidate (see :func:`specvae.benchmark.evaluation.evaluate_systems`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specvae.benchmark.challenges import Challenge
from specvae.fingerprints import FingerprintCache, FingerprintDefinition, candidate_row_fingerprints
from specvae.fingerprints.candidate_rows import CACHE_BATCH_SIZE


@dataclass
class CandidateBits:
    """Packed full fingerprints by InChIKey; ``failures`` maps InChIKeys without a fingerprint to the reason."""

    definition: FingerprintDefinition
    row_of: dict[str, int]
    packed: np.ndarray
    failures: dict[str, str] = field(default_factory=dict)
    n_distinct: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    moved_aside: list[Path] = field(default_factory=list)  # damaged caches moved aside (``rebuild_cache=True``)

    def full_bits(self, inchikeys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(bits, valid)``: full fingerprints ``(n, n_bits)`` bool of the given InChIKeys, zero rows where ``valid``
        is False (no fingerprint)."""
        rows = np.fromiter((self.row_of.get(key, -1) for key in inchikeys), dtype=np.int64, count=len(inchikeys))
        valid = rows >= 0
        full = np.unpackbits(self.packed[np.where(valid, rows, 0)], axis=1, count=self.definition.n_bits).view(bool)
        full[~valid] = False
        return full, valid

    def kept_bits(
        self, inchikeys: Sequence[str], model_definition: FingerprintDefinition
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`full_bits`, reduced to the kept bits of ``model_definition`` ``(n, n_kept)``."""
        full, valid = self.full_bits(inchikeys)
        return model_definition.select_kept(full), valid


def _distinct_structures(challenges: Sequence[Challenge]) -> tuple[list[str], list[str], list[str]]:
    """InChIKeys in first-occurrence order with the SMILES and InChI of their first occurrence."""
    keys: list[str] = []
    smiles: list[str] = []
    inchis: list[str] = []
    seen: set[str] = set()
    for challenge in challenges:
        candidates = challenge.candidates
        for key, text, inchi in zip(candidates.inchikeys, candidates.smiles, candidates.inchis, strict=True):
            if key not in seen:
                seen.add(key)
                keys.append(key)
                smiles.append(text)
                inchis.append(inchi)
    return keys, smiles, inchis


def candidate_bits(
    challenges: Sequence[Challenge],
    definition: FingerprintDefinition,
    *,
    cache_path: str | os.PathLike[str] | None = None,
    n_workers: int = 1,
    progress: bool | None = None,
    batch_size: int = CACHE_BATCH_SIZE,
    rebuild_cache: bool = False,
) -> CandidateBits:
    """Full fingerprints of every distinct candidate of ``challenges``, through the HDF5 cache when one is given.

    Which rows get one is decided by :func:`~specvae.fingerprints.candidate_row_fingerprints`, the rule
    ``specvae annotate`` applies too. ``rebuild_cache``: a damaged cache (or InChI fallback cache) is moved aside to
    ``<name>.corrupt-<time>`` and rebuilt (listed in ``moved_aside``) instead of raising
    :class:`~specvae.fingerprints.FingerprintCacheError`.
    """
    started = time.perf_counter()
    definition = definition.without_mask()
    keys, smiles, inchis = _distinct_structures(challenges)
    cache = None if cache_path is None else FingerprintCache(cache_path, definition, rebuild_damaged=rebuild_cache)
    found = candidate_row_fingerprints(
        keys,
        smiles,
        inchis,
        definition,
        cache=cache,
        n_workers=n_workers,
        packed=True,
        progress=progress,
        batch_size=batch_size,
    )
    return CandidateBits(
        definition=definition,
        row_of={key: row for row, key in enumerate(keys) if found.valid[row]},
        packed=found.fingerprints,
        failures={keys[error.index]: error.reason for error in found.errors},
        n_distinct=len(keys),
        n_computed=found.n_computed,
        seconds=time.perf_counter() - started,
        moved_aside=found.moved_aside,
    )
