"""Spectrum cleaning: each filter alone and the pipeline's reasons (specvae/spectra/filters.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matchms import Spectrum
from matchms.filtering import default_filters

from specvae.errors import SpectrumRejectedError
from specvae.spectra import (
    clean_spectrum,
    harmonize_metadata,
    remove_peaks_above_precursor,
    require_peaks,
    require_precursor_mz,
    require_valid_intensities,
)


def spectrum(mz: list[float], intensities: list[float], **metadata: object) -> Spectrum:
    metadata.setdefault("precursor_mz", 200.0)
    return Spectrum(mz=np.array(mz, dtype=float), intensities=np.array(intensities, dtype=float), metadata=metadata)


def test_harmonize_metadata_equals_matchms_default_filters() -> None:
    raw = Spectrum(
        mz=np.array([50.0, 100.0]),
        intensities=np.array([1.0, 2.0]),
        metadata={"TITLE": "x", "PEPMASS": "(180.5, 100)", "NAME": "Compound [M+Na]+"},
        metadata_harmonization=False,
    )
    ours = harmonize_metadata(raw)
    reference = default_filters(raw)
    assert ours.metadata == reference.metadata
    # Adduct taken out of the name, ion mode and charge derived from it, PEPMASS split.
    assert (ours.get("compound_name"), ours.get("adduct")) == ("Compound", "[M+Na]+")
    assert (ours.get("ionmode"), ours.get("charge")) == ("positive", 1)
    assert (ours.get("precursor_mz"), ours.get("precursor_intensity")) == (180.5, 100.0)


def test_clean_spectrum_values() -> None:
    raw = spectrum([50.0, 100.0, 200.4, 200.6, 201.0], [10.0, 40.0, 20.0, 5.0, 8.0], precursor_mz=200.0)
    cleaned = clean_spectrum(raw)
    # Kept up to precursor + 0.5 Da; intensities divided by the maximum (40).
    np.testing.assert_array_equal(cleaned.peaks.mz, [50.0, 100.0, 200.4])
    np.testing.assert_allclose(cleaned.peaks.intensities, [0.25, 1.0, 0.5])
    # The input is left as it was.
    np.testing.assert_array_equal(raw.peaks.mz, [50.0, 100.0, 200.4, 200.6, 201.0])


def test_precursor_tolerance_boundary_is_inclusive() -> None:
    raw = spectrum([100.0, 200.5, 200.50001], [1.0, 1.0, 1.0], precursor_mz=200.0)
    assert list(remove_peaks_above_precursor(raw).peaks.mz) == [100.0, 200.5]
    assert list(clean_spectrum(raw, precursor_tolerance_da=0.0).peaks.mz) == [100.0]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (spectrum([50.0], [1.0], precursor_mz=None), "no precursor m/z"),
        (spectrum([50.0], [1.0], precursor_mz=float("nan")), "not a finite number"),
        (spectrum([5.0], [1.0], precursor_mz=8.0), "below 10.0"),
        (spectrum([], [], precursor_mz=100.0), "no peaks"),
        (spectrum([50.0, 60.0], [1.0, float("nan")]), "not finite (first at m/z 60)"),
        (spectrum([50.0, 60.0], [-1.0, 2.0]), "negative (first at m/z 50)"),
        (spectrum([50.0, 60.0], [0.0, 0.0]), "all peak intensities are zero"),
        (spectrum([300.0, 400.0], [1.0, 2.0], precursor_mz=200.0), "no peak at or below the precursor"),
    ],
)
def test_rejections_name_the_reason(raw: Spectrum, reason: str) -> None:
    with pytest.raises(SpectrumRejectedError) as raised:
        clean_spectrum(raw)
    assert reason in str(raised.value)


def test_filters_return_none_to_reject_and_a_copy_to_keep() -> None:
    good = spectrum([50.0], [1.0])
    for keep in (require_precursor_mz, require_peaks, require_valid_intensities):
        kept = keep(good)
        assert kept is not good and kept == good
        assert keep(None) is None
    assert require_precursor_mz(spectrum([50.0], [1.0], precursor_mz=None)) is None
    assert require_precursor_mz(spectrum([5.0], [1.0], precursor_mz=20.0), minimum_mz=30.0) is None
    assert require_peaks(spectrum([], [])) is None
    assert require_valid_intensities(spectrum([50.0], [-1.0])) is None
    # Without a precursor there is nothing to compare against: peaks are kept.
    assert list(remove_peaks_above_precursor(spectrum([500.0], [1.0], precursor_mz=None)).peaks.mz) == [500.0]


@pytest.mark.parametrize("charge", ["abc", "+", "1+ 2+", "1e9"])
def test_a_charge_matchms_cannot_read_is_a_rejection_not_an_assertion(charge: str) -> None:
    """Regression: matchms' correct_charge asserts on a string charge, which ended the whole run."""
    with pytest.raises(SpectrumRejectedError, match=re.escape(f"charge {charge!r} is not an integer charge")):
        clean_spectrum(spectrum([50.0, 100.0], [1.0, 2.0], charge=charge, ionmode="positive"))
    with pytest.raises(SpectrumRejectedError):
        harmonize_metadata(spectrum([50.0], [1.0], charge=charge))


def test_any_exception_of_a_matchms_step_is_this_spectrum_s_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    from specvae.spectra import filters

    def broken_step(spectrum: Spectrum, clone: bool = True) -> Spectrum:
        raise TypeError("odd value")

    broken_step.__name__ = "derive_ionmode"
    monkeypatch.setattr(
        filters,
        "_DEFAULT_FILTERS",
        tuple(broken_step if step.__name__ == "derive_ionmode" else step for step in filters._DEFAULT_FILTERS),
    )
    with pytest.raises(SpectrumRejectedError, match=r"matchms derive_ionmode fails on this spectrum \(TypeError: odd"):
        clean_spectrum(spectrum([50.0], [1.0]))
