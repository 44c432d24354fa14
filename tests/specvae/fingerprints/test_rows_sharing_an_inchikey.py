"""Rows that state one InChIKey with different structures (tautomers) each get their own structure's fingerprint,
whatever was computed first and whatever a cache held before: one record never changes another's result.

The real case: CASMI 2016 gives vardenafil's InChIKey in Challenge-024 with one tautomer and in Challenge-065 and
-192 with another; a cache keyed by the InChIKey alone gave every later row the first row's bits, so Challenge-024
ranked vardenafil 3rd with a cache made by another run and 10th without one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from shared_helpers import write_tiny_model

from specvae.annotator import Annotator
from specvae.candidates import Candidate
from specvae.errors import ErrorReport
from specvae.fingerprints import FingerprintCache, FingerprintDefinition, candidate_row_fingerprints
from specvae.fingerprints.compute import compute_fingerprints
from specvae.pipeline.fingerprints import candidate_fingerprints
from specvae.pipeline.planning import unique_candidates

DEFINITION = FingerprintDefinition()
VARDENAFIL = "SECKRCOLJRRGGV-UHFFFAOYSA-N"
TAUTOMER_024 = "CCCc1nc(c2n1nc([nH]c2=O)c3cc(ccc3OCC)S(=O)(=O)N4CCN(CC4)CC)C"  # Challenge-024's row
TAUTOMER_065 = "CCCc1nc(c2n1[nH]c(nc2=O)c3cc(ccc3OCC)S(=O)(=O)N4CCN(CC4)CC)C"  # Challenge-065's and -192's
INCHI = (
    "InChI=1S/C23H32N6O4S/c1-5-8-20-24-16(4)21-23(30)25-22(26-29(20)21)18-15-17(9-10-19(18)33-7-3)34(31,32)"
    "28-13-11-27(6-2)12-14-28/h9-10,15H,5-8,11-14H2,1-4H3,(H,25,26,30)"
)


def _own(smiles: str) -> np.ndarray:
    return compute_fingerprints([smiles], DEFINITION).fingerprints[0]


def test_the_two_tautomers_have_different_fingerprints() -> None:
    assert not np.array_equal(_own(TAUTOMER_024), _own(TAUTOMER_065))  # else this file tests nothing


@pytest.mark.parametrize("first", [TAUTOMER_024, TAUTOMER_065])
def test_a_cache_gives_each_structure_its_own_bits_whichever_came_first(tmp_path: Path, first: str) -> None:
    path = tmp_path / "fp.h5"
    other = TAUTOMER_065 if first == TAUTOMER_024 else TAUTOMER_024
    FingerprintCache(path, DEFINITION).get_or_compute([VARDENAFIL], [first])
    for cache in (FingerprintCache(path, DEFINITION), FingerprintCache(path, DEFINITION)):  # computing, then warm
        found = cache.lookup([VARDENAFIL, VARDENAFIL], [other, first])
        assert found.valid.all() and found.errors == []
        np.testing.assert_array_equal(found.fingerprints[0], _own(other))
        np.testing.assert_array_equal(found.fingerprints[1], _own(first))
    assert FingerprintCache(path, DEFINITION).lookup([VARDENAFIL], [other]).n_computed == 0


def test_one_request_with_both_structures_gives_each_its_own_bits(tmp_path: Path) -> None:
    found = FingerprintCache(tmp_path / "fp.h5", DEFINITION).lookup([VARDENAFIL] * 2, [TAUTOMER_024, TAUTOMER_065])
    np.testing.assert_array_equal(found.fingerprints, np.stack([_own(TAUTOMER_024), _own(TAUTOMER_065)]))
    assert found.n_computed == 2


def _rows() -> list[Candidate]:
    return [
        Candidate("99300", "vardenafil", TAUTOMER_024, VARDENAFIL, inchi=INCHI),
        Candidate("9481370", "vardenafil-14C", TAUTOMER_065, VARDENAFIL, inchi=INCHI),
    ]


@pytest.mark.parametrize("seed_with", [None, TAUTOMER_024, TAUTOMER_065])
def test_candidate_rows_get_their_own_bits_cold_warm_and_without_a_cache(tmp_path: Path, seed_with) -> None:
    path = tmp_path / "fp.h5"
    if seed_with is not None:  # a cache another run made first
        FingerprintCache(path, DEFINITION).get_or_compute([VARDENAFIL], [seed_with])
    for cache in (None, FingerprintCache(path, DEFINITION)):
        for order in ([0, 1], [1, 0]):
            rows = [_rows()[position] for position in order]
            found = candidate_row_fingerprints(
                [row.inchikey for row in rows],
                [row.smiles for row in rows],
                [row.inchi for row in rows],
                DEFINITION,
                cache=cache,
            )
            expected = np.stack([_own(row.smiles) for row in rows])
            np.testing.assert_array_equal(found.fingerprints, expected)


@pytest.mark.parametrize("cached", [False, True])
def test_the_pipeline_stage_keeps_both_structures_apart(tmp_path: Path, cached: bool) -> None:
    """One candidate per distinct structure (not per InChIKey), and each query reads its own row's bits."""
    rows = _rows()
    cache = FingerprintCache(tmp_path / "fp.h5", DEFINITION) if cached else None
    found = candidate_fingerprints(rows, DEFINITION, cache=cache)
    for row in rows:
        packed, valid = found.for_candidates([row]).packed_rows([VARDENAFIL])
        assert valid.all()
        np.testing.assert_array_equal(np.unpackbits(packed[0], count=DEFINITION.n_bits).view(bool), _own(row.smiles))
    assert found.n_distinct == 2


def test_unique_candidates_keeps_one_per_structure_not_per_inchikey() -> None:
    class Match:
        def __init__(self, candidate: Candidate) -> None:
            self.candidate = candidate

    class Query:
        def __init__(self, candidates: list[Candidate]) -> None:
            self.matches = [Match(candidate) for candidate in candidates]

    first, second = _rows()
    again = Candidate("99300", "vardenafil", TAUTOMER_024, VARDENAFIL, inchi=INCHI)
    assert unique_candidates([Query([first]), Query([second, again])]) == [first, second]


# ----------------------------------------------------------------------------- end to end: annotate's scores
def _mgf(titles: list[str]) -> str:
    return "".join(
        f"BEGIN IONS\nTITLE={title}\nPEPMASS=489.2279\nCHARGE=1+\nIONMODE=POSITIVE\nADDUCT=[M+H]+\n"
        "151.087 40\n312.112 100\n489.228 20\nEND IONS\n\n"
        for title in titles
    )


OTHER = "CCCCc1nc(C)c2n1nc([nH]c2=O)-c1ccccc1"  # another candidate in each list, so that a list is a ranking


def _table(order: list[str], lists: dict[str, str]) -> str:
    lines = ["spectrum_id,Identifier,SMILES,InChI,InChIKey"]
    for spectrum in order:
        lines.append(f'{spectrum},vardenafil,{lists[spectrum]},"{INCHI}",{VARDENAFIL}')
        lines.append(f"{spectrum},other,{OTHER},,{Chem.MolToInchiKey(Chem.MolFromSmiles(OTHER))}")
    return "\n".join(lines) + "\n"


def _vardenafil_scores(model: Path, tmp_path: Path, order: list[str], cache: Path | None) -> dict[str, float]:
    spectra, candidates = tmp_path / "spectra.mgf", tmp_path / "candidates.csv"
    spectra.write_text(_mgf(order))
    candidates.write_text(_table(order, {"s024": TAUTOMER_024, "s065": TAUTOMER_065}))
    errors = ErrorReport()
    results = Annotator.load(model, fingerprint_cache=cache).annotate(spectra, candidates, top_k=None, errors=errors)
    assert not len(errors), list(errors)
    return {
        annotation.spectrum_id: next(row.score for row in annotation.ranked if row.identifier == "vardenafil")
        for annotation in results
    }


def test_annotate_scores_each_list_with_its_own_tautomer_whatever_the_order_and_the_cache(tmp_path):
    """The reported bug end to end: each spectrum's vardenafil score is the same without a cache, with a cold
    cache, with a cache another run filled with the other list's tautomer first, and in either file order."""
    # bits 64-127 kept: the tautomers differ in bits 69, 90 and 91 (a tiny model keeping 0-63 scores them alike)
    model = write_tiny_model(tmp_path / "positive.specvae", "positive", first_kept_bit=64)
    reference = _vardenafil_scores(model, tmp_path, ["s024", "s065"], None)
    alone = {  # each list annotated on its own, without a cache
        spectrum: _vardenafil_scores(model, tmp_path, [spectrum], None)[spectrum] for spectrum in reference
    }
    assert reference == alone
    assert reference["s024"] != reference["s065"]  # same spectrum, different tautomers: else this tests nothing
    for seed in ("s024", "s065"):
        cache = tmp_path / f"seeded_{seed}.h5"
        _vardenafil_scores(model, tmp_path, [seed], cache)  # another run fills the cache first
        for order in (["s024", "s065"], ["s065", "s024"]):
            assert _vardenafil_scores(model, tmp_path, order, cache) == reference
