"""The Annotator end to end on small files: ranking, per-mode models, and bad input that costs nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from matchms import Spectrum
from tests_specvae_inputs import POOL_MGF

from specvae.annotator import Annotator
from specvae.errors import ErrorReport
from specvae.fingerprints import compute_fingerprints
from specvae.prediction import predict_fingerprint_probabilities
from specvae.ranking import score_candidates


def test_ranks_every_good_spectrum_and_reports_each_bad_record(tiny_models, inputs):
    spectra, candidates = inputs
    annotator = Annotator.load([tiny_models["positive"], tiny_models["negative"]])
    errors = ErrorReport()
    results = annotator.annotate(spectra, candidates, top_k=None, errors=errors)

    # Per-spectrum lists need no neutral mass: the spectrum with an unreadable adduct is still ranked,
    # only without mass errors.
    assert [annotation.spectrum_id for annotation in results] == ["pos-1", "neg-1", "odd-adduct"]
    assert [annotation.ion_mode for annotation in results] == ["positive", "negative", "positive"]
    assert results[2].ranked[0].mass_error_ppm is None
    positive = results[0]
    assert positive.n_candidates == 3 and len(positive.ranked) == 3  # the invalid SMILES is reported, not ranked
    reasons = " | ".join(f"{error.title}: {error.reason}" for error in errors)
    assert "no-precursor" in reasons and "bad" in reasons
    assert len(errors) == 2

    # The scores are the cross-entropies of the positive model's prediction against each candidate.
    loaded = annotator.models["positive"]
    spectrum = next(s for s in _clean(spectra) if s.get("title") == "pos-1")
    prediction = predict_fingerprint_probabilities(loaded.model, loaded.binner.bin([spectrum]))[0]
    smiles = {row.identifier: row.smiles for row in positive.ranked}
    bits = loaded.fingerprint.select_kept(
        compute_fingerprints([smiles[i] for i in "abc"], annotator.full_fingerprint).fingerprints
    )
    expected = dict(zip("abc", score_candidates(prediction, bits), strict=True))
    for row in positive.ranked:
        assert row.score == pytest.approx(expected[row.identifier])
    scores = [row.score for row in positive.ranked]
    assert scores == sorted(scores, reverse=True)
    assert positive.ranked[0].rank == 1
    assert all(abs(row.mass_error_ppm) < 10 for row in positive.ranked)


def test_pool_mode_filters_by_mass_and_accepts_smiles_and_top_k(tiny_models):
    annotator = Annotator.load(tiny_models["positive"])
    spectrum = Spectrum(
        mz=np.array([77.039, 105.033, 163.075]),
        intensities=np.array([20.0, 100.0, 45.0]),
        metadata={"precursor_mz": 181.0859, "ionmode": "positive", "title": "s1", "charge": 1},
    )
    pool = ["COC(=O)CCc1ccc(O)cc1", "CCOC(=O)c1ccc(O)cc1C", "CCO", "c1ccccc1"]  # only the first two fit the mass
    odd = spectrum.clone()
    odd.set("title", "s2")
    odd.set("adduct", "[M+Xx]+")
    errors = ErrorReport()
    results = annotator.annotate([spectrum, odd], pool, top_k=1, errors=errors)
    assert len(results) == 1
    assert results[0].n_candidates == 2
    assert len(results[0].ranked) == 1
    # A pool is filtered by neutral mass, which an unknown adduct makes impossible: reported by title.
    assert len(errors) == 1 and errors[0].title == "s2" and "M+Xx" in errors[0].reason


def test_predict_fingerprint_gives_probabilities_for_the_kept_bits(tiny_models, inputs):
    spectra, _ = inputs
    annotator = Annotator.load([tiny_models["positive"], tiny_models["negative"]])
    errors = ErrorReport()
    predictions = annotator.predict_fingerprint(spectra, errors)
    assert set(predictions) == {"pos-1", "neg-1", "odd-adduct"}  # prediction needs no adduct
    for probabilities in predictions.values():
        assert probabilities.shape == (annotator.models["positive"].fingerprint.n_kept_bits,)
        assert np.all((probabilities > 0) & (probabilities < 1))
    assert len(errors) == 1 and errors[0].title == "no-precursor"


def test_results_convert_to_a_dataframe(tiny_models, inputs):
    pandas = pytest.importorskip("pandas", reason="pandas is an optional extra")
    spectra, candidates = inputs
    results = Annotator.load([tiny_models["positive"], tiny_models["negative"]]).annotate(spectra, candidates, top_k=2)
    frame = results.to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame["spectrum_id"]) == ["pos-1", "pos-1", "neg-1", "odd-adduct"]
    assert {"rank", "score", "inchikey", "molecular_formula", "mass_error_ppm", "n_candidates"} <= set(frame.columns)


def _clean(path):
    from specvae.spectra.reading import read_clean_spectra

    return read_clean_spectra(path)


def test_problems_found_after_reading_name_the_record_in_the_file(tiny_models, tmp_path):
    """A spectrum rejected at ranking time is reported under its record number in the file, not under its
    position among the readable spectra (record 3 here, the second readable one)."""
    spectra = tmp_path / "pool.mgf"
    spectra.write_text(POOL_MGF)
    errors = ErrorReport()
    results = Annotator.load(tiny_models["positive"]).annotate(spectra, ["COC(=O)CCc1ccc(O)cc1", "CCO"], errors=errors)
    # the spectrum without a candidate in its window keeps a place in the results (one status row in the table)
    assert [(annotation.spectrum_id, annotation.status) for annotation in results] == [
        ("fits", "ok"),
        ("nothing-fits", "no_candidates"),
    ]
    assert [row["status"] for row in results.rows()][-1] == "no_candidates"
    assert [(error.record, error.title) for error in errors] == [(1, "unreadable"), (3, "nothing-fits")]
    assert "no candidate within" in errors[1].reason
