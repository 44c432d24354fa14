"""Peaks the model cannot see: a spectrum whose peaks all lie above the bin grid is reported, not
ranked from an empty input; the output says how much of each spectrum's intensity the model saw."""

from __future__ import annotations

import pytest

from specvae.annotator import Annotator
from specvae.errors import ErrorReport

BLOCK = """BEGIN IONS
TITLE={title}
PEPMASS={precursor}
CHARGE=1+
IONMODE=POSITIVE
{peaks}
END IONS
"""
CANDIDATES = "spectrum_id,Identifier,SMILES\n" + "".join(
    f"{title},{title}-a,COC(=O)CCc1ccc(O)cc1\n{title},{title}-b,CCOC(=O)c1ccc(O)cc1C\n"
    for title in ("visible", "invisible", "half")
)


def test_all_peaks_above_the_grid_are_reported_and_the_share_is_in_the_output(tiny_models, tmp_path):
    spectra = tmp_path / "spectra.mgf"
    spectra.write_text(
        BLOCK.format(title="visible", precursor=181.0859, peaks="77.039 20\n105.033 100")
        + BLOCK.format(
            title="invisible", precursor=1301.2, peaks="1000.0 50\n1204.5 100"
        )  # the tiny models bin up to 1000 Da
        + BLOCK.format(title="half", precursor=1301.2, peaks="105.033 100\n1200.2 100")
    )
    candidates = tmp_path / "candidates.csv"
    candidates.write_text(CANDIDATES)
    errors = ErrorReport()
    results = Annotator.load(tiny_models["positive"]).annotate(spectra, candidates, top_k=None, errors=errors)

    assert [annotation.spectrum_id for annotation in results] == ["visible", "half"]
    (error,) = errors
    assert (error.record, error.title) == (2, "invisible")
    assert "no peak lies in the model's m/z range (below 1000 Da)" in error.reason
    fractions = {row["spectrum_id"]: row["binned_intensity_fraction"] for row in results.rows()}
    assert fractions["visible"] == 1.0
    assert fractions["half"] == pytest.approx(0.5)


def test_predict_reports_a_spectrum_the_model_cannot_see(tiny_models, tmp_path):
    """``specvae predict`` wrote a prediction from an empty input for it; it is reported as annotate reports it."""
    spectra = tmp_path / "spectra.mgf"
    spectra.write_text(
        BLOCK.format(title="visible", precursor=181.0859, peaks="77.039 20\n105.033 100")
        + BLOCK.format(title="invisible", precursor=1301.2, peaks="1000.0 50\n1204.5 100")
    )
    errors = ErrorReport()
    predictions = Annotator.load(tiny_models["positive"]).predict_fingerprint_by_mode(spectra, errors)

    assert list(predictions["positive"]) == ["visible"]
    (error,) = errors
    assert (error.record, error.title) == (2, "invisible")
    assert "no peak lies in the model's m/z range (below 1000 Da)" in error.reason
