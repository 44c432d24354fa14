"""A candidate row's InChIKey is checked against its structure: a wrong key is reported and never costs the
true structure its place or gives a decoy the true structure's fingerprint."""

from __future__ import annotations

import pytest
from tests_specvae_inputs import MGF

from specvae.annotator import Annotator
from specvae.errors import ErrorReport
from specvae.fingerprints import compute_fingerprints
from specvae.pipeline import clean_records, read_spectrum_records

KEY_A = "XRAMJHXWXCMGJM-UHFFFAOYSA-N"  # COC(=O)CCc1ccc(O)cc1
KEY_B = "KPFPCGFKQNSWSQ-UHFFFAOYSA-N"  # CCOC(=O)c1ccc(O)cc1C
SMILES = {"a": "COC(=O)CCc1ccc(O)cc1", "b": "CCOC(=O)c1ccc(O)cc1C", "c": "COc1ccc(CCC(=O)O)cc1"}
HEADER = "spectrum_id,Identifier,SMILES,InChIKey,MolecularFormula,MonoisotopicMass\n"
ROW = "pos-1,{identifier},{smiles},{key},C10H12O3,180.078644\n"
# The decoy states a's key but is b; it comes first, so trusting keys would drop a as its duplicate.
DECOY = ROW.format(identifier="decoy", smiles=SMILES["b"], key=KEY_A)
TRUE_A = ROW.format(identifier="a", smiles=SMILES["a"], key=KEY_A)
TRUE_C = ROW.format(identifier="c", smiles=SMILES["c"], key="FIUFLISGGHNPSM-UHFFFAOYSA-N")


def _annotate(tiny_models, tmp_path, rows: str, cache=None):
    spectra = tmp_path / "spectra.mgf"
    spectra.write_text(MGF)
    candidates = tmp_path / "candidates.csv"
    candidates.write_text(HEADER + rows)
    annotator = Annotator.load(tiny_models["positive"], fingerprint_cache=cache)
    errors = ErrorReport()
    results = annotator.annotate(spectra, candidates, top_k=None, errors=errors)
    (positive,) = [annotation for annotation in results if annotation.spectrum_id == "pos-1"]
    decoy_errors = [error for error in errors if "decoy" in str(error.record) or error.record == 1]
    return annotator, positive, decoy_errors


def _own_scores(annotator, positive, identifiers):
    loaded = annotator.models["positive"]
    bits = compute_fingerprints([SMILES[i] for i in identifiers], annotator.full_fingerprint).fingerprints
    return loaded.fingerprint.select_kept(bits)


@pytest.mark.parametrize("with_cache", [False, True])
def test_a_wrong_key_before_the_true_row_is_reported_and_the_true_structure_kept(tiny_models, tmp_path, with_cache):
    cache = tmp_path / "fp.h5" if with_cache else None
    annotator, positive, decoy_errors = _annotate(tiny_models, tmp_path, DECOY + TRUE_A + TRUE_C, cache)
    assert sorted(row.identifier for row in positive.ranked) == ["a", "c"]
    (error,) = decoy_errors
    assert error.file.endswith("candidates.csv") and error.record == 1
    assert KEY_A in error.reason and KEY_B in error.reason
    row_a = next(row for row in positive.ranked if row.identifier == "a")
    assert row_a.smiles == SMILES["a"]


def test_with_a_warm_cache_a_lone_decoy_does_not_inherit_the_true_fingerprint(tiny_models, tmp_path):
    cache = tmp_path / "fp.h5"
    _annotate(tiny_models, tmp_path, TRUE_A + TRUE_C, cache)  # warms the cache with a's fingerprint under KEY_A
    annotator, positive, decoy_errors = _annotate(tiny_models, tmp_path, DECOY + TRUE_C, cache)
    assert [row.identifier for row in positive.ranked] == ["c"]
    (error,) = decoy_errors
    assert KEY_A in error.reason and KEY_B in error.reason


def test_the_true_structure_is_ranked_on_its_own_fingerprint(tiny_models, tmp_path):
    from specvae.prediction import predict_fingerprint_probabilities
    from specvae.ranking import score_candidates

    annotator, positive, _ = _annotate(tiny_models, tmp_path, DECOY + TRUE_A + TRUE_C)
    loaded = annotator.models["positive"]
    spectrum = clean_records(read_spectrum_records(tmp_path / "spectra.mgf"), ErrorReport())[0].spectrum
    prediction = predict_fingerprint_probabilities(loaded.model, loaded.binner.bin([spectrum]))[0]
    expected = dict(zip("ac", score_candidates(prediction, _own_scores(annotator, positive, "ac")), strict=True))
    for row in positive.ranked:
        assert row.score == pytest.approx(expected[row.identifier])


def test_a_tautomer_whose_own_inchi_names_the_stated_key_is_not_a_wrong_key(tiny_models, tmp_path):
    """CASMI 2016's selone: RDKit's InChIKey of the SMILES differs in the first block (mobile H), but the row's
    InChI gives the stated key and the same formula and connectivity: kept and ranked, no error."""
    header = "spectrum_id,Identifier,SMILES,InChI,InChIKey,MolecularFormula,MonoisotopicMass\n"
    selone = (
        'pos-1,selone,c1[nH]c2c(=[Se])[nH]c(nc2n1)N,"InChI=1S/C5H5N5Se/c6-5-9-3-2(4(11)10-5)7-1-8-3/h1H,(H,7,8)'
        '(H3,6,9,10)",WPWYUEFDODSRMU-UHFFFAOYSA-N,C5H5N5Se,214.971024\n'
    )
    spectra = tmp_path / "spectra.mgf"
    spectra.write_text(MGF)
    candidates = tmp_path / "candidates.csv"
    candidates.write_text(header + selone)
    errors = ErrorReport()
    results = Annotator.load(tiny_models["positive"]).annotate(spectra, candidates, top_k=None, errors=errors)
    (positive,) = [annotation for annotation in results if annotation.spectrum_id == "pos-1"]
    assert [row.identifier for row in positive.ranked] == ["selone"]
    assert not [error for error in errors if error.title == "selone" or error.record == "selone"]
