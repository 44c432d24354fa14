"""The one rule for which fingerprint a candidate row gets (specvae/fingerprints/candidate_rows.py), and that
``specvae annotate`` and ``specvae benchmark`` both follow it, on real CASMI 2016 rows of each case."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from rdkit import Chem

from specvae.benchmark.challenges import CandidateList, Challenge
from specvae.benchmark.evaluation import challenge_candidates
from specvae.errors import ErrorReport
from specvae.fingerprints import (
    FingerprintCache,
    FingerprintDefinition,
    candidate_row_fingerprints,
    fingerprint_molecule,
    inchi_fallback_cache_path,
)
from specvae.pipeline import candidate_fingerprints, read_candidate_set

DEFINITION = FingerprintDefinition()

# (identifier, SMILES, InChI, InChIKey, expected acceptance): rows of the official CASMI 2016 candidate lists
# (found in benchmarks/results/casmi2016/annotate_vs_benchmark.md's investigation), and one ordinary row.
ROWS = [
    ("ethanol", "CCO", "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3", "LFQSCWFLJHTTHZ-UHFFFAOYSA-N", "smiles"),
    # RDKit cannot kekulise the SMILES's purine; the InChI gives the stated key: fingerprinted from the InChI.
    (
        "5959770",
        "[O-]C(=O)[C@@H](Sc1ncnc2ncnc12)C",
        "InChI=1S/C8H8N4O2S/c1-4(8(13)14)15-7-5-6(10-2-9-5)11-3-12-7/h2-4H,1H3,(H,13,14)(H,9,10,11,12)/p-1/t4-/m0/s1",
        "IZWZDXLHEAFSGF-BYPYZUCNSA-M",
        "inchi",
    ),
    # Case A: the SMILES parses to another structure (ONICQXCPPONVNG) while the InChI names the stated key: the
    # row contradicts itself and is refused, not retried from the InChI (the benchmark used to rank it).
    (
        "9181347",
        "O=C1c6c(C(=O)N1C)c2c8c(nc2c5c6c4ccc(OCc3ccccc3)cc4n5)ccc(OCc7ccccc7)c8",
        "InChI=1S/C35H25N3O4/c1-38-34(39)30-28-24-14-12-23(42-19-21-10-6-3-7-11-21)17-27(24)37-32(28)33-29(31(30)"
        "35(38)40)25-16-22(13-15-26(25)36-33)41-18-20-8-4-2-5-9-20/h2-17,36-37H,18-19H2,1H3",
        "GIBUGMFYGXVMJV-UHFFFAOYSA-N",
        "",
    ),
    # Case B: the SMILES does not parse; RDKit's molecule from the InChI gets another key: refused (annotate used
    # to fingerprint it without the check).
    (
        "26533501",
        "c1cc(c(cc1c2ccc(c(c2)F)O)[N+](C1=CC(=C(C=C1C2=CC(=C(C=C2)O)F)[N+](=O)[O-])C(=O)O",
        "InChI=1S/C25H15F2N2O6/c26-19-9-14(4-6-23(19)30)13-2-1-3-16(8-13)28-21-11-18(25(32)33)22(29(34)35)12-17(21)"
        "15-5-7-24(31)20(27)10-15/h1-12,30-31H,(H,32,33)/q+1",
        "HXEPMJNFCCTSHD-UHFFFAOYSA-N",
        "",
    ),
    # Case C: a tautomer (the selone): SMILES and InChI molecule give AYLMUGUFZHMFIK, the row's InChI gives the
    # stated key with the same formula and connectivity: accepted (the benchmark used to refuse it).
    (
        "14394574",
        "c1[nH]c2c(=[Se])[nH]c(nc2n1)N",
        "InChI=1S/C5H5N5Se/c6-5-9-3-2(4(11)10-5)7-1-8-3/h1H,(H,7,8)(H3,6,9,10)",
        "WPWYUEFDODSRMU-UHFFFAOYSA-N",
        "tautomer",
    ),
    # Case D: neither the SMILES nor the InChI gives a molecule.
    (
        "21467376",
        "c1ccc(cc1)NC(=O)c2cc(ccc2Cl)[N](=O)O",
        "InChI=1S/C13H10ClN2O3/c14-12-7-6-10(16(18)19)8-11(12)13(17)15-9-4-2-1-3-5-9/h1-8H,(H,15,17)(H,18,19)",
        "MURNEXHIZHBOFM-UHFFFAOYSA-N",
        "",
    ),
]
KEYS = [row[3] for row in ROWS]
EXPECTED = [row[4] for row in ROWS]


def _rule(cache: FingerprintCache | None):
    return candidate_row_fingerprints(KEYS, [row[1] for row in ROWS], [row[2] for row in ROWS], DEFINITION, cache=cache)


def test_the_rule_on_each_case_with_and_without_a_cache_cold_and_warm(tmp_path) -> None:
    uncached = _rule(None)
    assert uncached.accepted_as == EXPECTED
    assert uncached.valid.tolist() == [bool(how) for how in EXPECTED]
    reasons = {KEYS[error.index]: error.reason for error in uncached.errors}
    assert set(reasons) == {key for key, how in zip(KEYS, EXPECTED, strict=True) if not how}
    assert "not the structure's own InChIKey ONICQXCPPONVNG" in reasons["GIBUGMFYGXVMJV-UHFFFAOYSA-N"]
    assert "from the InChI: stated InChIKey HXEPMJNFCCTSHD" in reasons["HXEPMJNFCCTSHD-UHFFFAOYSA-N"]
    assert "invalid InChI" in reasons["MURNEXHIZHBOFM-UHFFFAOYSA-N"]
    # The fingerprints are those of the molecule the rule names: the InChI's, the tautomer's SMILES's.
    np.testing.assert_array_equal(uncached.fingerprints[0], fingerprint_molecule("CCO", DEFINITION))
    np.testing.assert_array_equal(
        uncached.fingerprints[1], fingerprint_molecule(Chem.MolFromInchi(ROWS[1][2]), DEFINITION)
    )
    np.testing.assert_array_equal(uncached.fingerprints[4], fingerprint_molecule(ROWS[4][1], DEFINITION))
    assert not uncached.fingerprints[~uncached.valid].any()
    assert uncached.outside_main_cache.tolist() == [False, True, False, False, True, False]

    cache = FingerprintCache(tmp_path / "fp.h5", DEFINITION)
    cold = _rule(cache)
    assert inchi_fallback_cache_path(cache.path).exists()
    warm = _rule(FingerprintCache(tmp_path / "fp.h5", DEFINITION))
    # Only the two SMILES that name another key (case A, the tautomer) are checked again: the cache stores neither.
    assert cold.n_computed == len(ROWS) and warm.n_computed == 2
    for found in (cold, warm):
        assert found.accepted_as == EXPECTED
        assert [(error.index, error.reason) for error in found.errors] == [
            (error.index, error.reason) for error in uncached.errors
        ]
        np.testing.assert_array_equal(found.fingerprints, uncached.fingerprints)
    packed = candidate_row_fingerprints(
        KEYS, [row[1] for row in ROWS], [row[2] for row in ROWS], DEFINITION, packed=True
    )
    np.testing.assert_array_equal(packed.fingerprints, np.packbits(uncached.fingerprints, axis=1))


def test_a_row_without_smiles_is_fingerprinted_from_its_inchi_by_the_same_rule() -> None:
    keys = ["IZWZDXLHEAFSGF-BYPYZUCNSA-M", "GIBUGMFYGXVMJV-UHFFFAOYSA-N"]
    found = candidate_row_fingerprints(keys, ["", None], [ROWS[1][2], ROWS[2][2]], DEFINITION)
    # Without a SMILES there is no contradiction: the InChI that names the stated key is the structure.
    assert found.accepted_as == ["inchi", "inchi"]


@pytest.mark.parametrize("cached", [False, True])
def test_annotate_and_the_benchmark_give_identical_fingerprints_and_acceptances(tmp_path, cached: bool) -> None:
    """Both paths read their candidates their own way and then run the pipeline's fingerprint stage, which decides
    with :func:`candidate_row_fingerprints`: the same rows get the same bits (and a cache changes nothing)."""
    table = tmp_path / "candidates.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["spectrum_id", "identifier", "name", "smiles", "inchi", "inchikey"])
        for identifier, smiles, inchi, key, _ in ROWS:
            writer.writerow(["challenge-1", identifier, identifier, smiles, inchi, key])

    def cache(name: str) -> FingerprintCache | None:
        return FingerprintCache(tmp_path / name, DEFINITION) if cached else None

    # The annotate path: the candidate file as annotate reads it, then the fingerprint stage.
    read_errors, fingerprint_errors = ErrorReport(), ErrorReport()
    candidates = list(read_candidate_set(table, read_errors).candidates_for_spectrum_id("challenge-1"))
    annotated = candidate_fingerprints(
        candidates, DEFINITION, cache=cache("annotate.h5"), errors=fingerprint_errors, source=str(table)
    )

    # The benchmark path: the same rows as a challenge's candidate list.
    rows = CandidateList(
        tuple(row[0] for row in ROWS), tuple(KEYS), tuple(row[1] for row in ROWS), tuple(row[2] for row in ROWS)
    )
    challenge = Challenge("challenge-1", "positive", None, rows, KEYS[0])
    bench = candidate_fingerprints(challenge_candidates(challenge), DEFINITION, cache=cache("benchmark.h5"))
    assert sorted(annotated.row_of) == sorted(bench.row_of)  # the same structures, both keyed the same way
    annotated = annotated.for_candidates(candidates)
    bench = bench.for_candidates(challenge_candidates(challenge))
    bits, valid = bench.full_bits(KEYS)

    accepted = [key for key, how in zip(KEYS, EXPECTED, strict=True) if how]
    assert sorted(annotated.row_of) == sorted(bench.row_of) == sorted(accepted)
    annotated_bits, _ = annotated.full_bits(KEYS)
    for key_bits, row_bits, ok in zip(annotated_bits, bits, valid, strict=True):
        if ok:
            np.testing.assert_array_equal(key_bits, row_bits)
    # Cases B and A, and D: a row whose SMILES and InChI both fail is read (its InChIKey is stated, so nothing is
    # parsed while reading) and refused where its fingerprint is made, in both paths.
    assert sorted(error.title for error in fingerprint_errors) == ["21467376", "26533501", "9181347"]
    assert not len(read_errors)
    assert "MURNEXHIZHBOFM-UHFFFAOYSA-N" in bench.failures and "MURNEXHIZHBOFM-UHFFFAOYSA-N" in annotated.failures
