"""Spectrum cleaning: matchms-style filters ``Spectrum -> Spectrum | None``, and the pipeline that names why.

Every filter is a pure function in the matchms sense: it returns a cleaned copy (or works in place with
``clone=False``) and returns ``None`` to reject. Existing matchms filters are used where they exist; what
matchms lacks (finite precursor, non-empty peaks, finite non-negative intensities) is added here, each as
a ``*_problem`` function that says *why* a spectrum fails, with the filter as a thin wrapper on it.

:func:`clean_spectrum` runs the pipeline and raises :class:`~specvae.errors.SpectrumRejectedError` with
the reason instead of returning ``None``, so a reader can put the reason into the error report:

1. metadata harmonisation: matchms' ``default_filters`` (charge as int, compound name, adduct and formula
   from the name, precursor m/z from PEPMASS, ion mode, charge sign), each step guarded (see below);
2. a finite precursor m/z of at least ``minimum_precursor_mz``;
3. at least one peak;
4. finite, non-negative intensities with a positive maximum;
5. peaks above the precursor m/z removed (``precursor_mz + precursor_tolerance_da`` kept: see below);
6. at least one peak left;
7. intensities scaled to a maximum of 1 (matchms ``normalize_intensities``).

Why the tolerance: a precursor given with few decimals (MassBank has ``PEPMASS=179.0697`` next to a
fragment at ``179.07``; some older records give nominal masses) must not lose the precursor peak itself;
0.5 Da keeps it while still removing the first isotope peak (+1.003 Da) and anything heavier.

Why every matchms call is guarded: matchms filters assume sane metadata and fail with whatever the first
odd value triggers. ``CHARGE=abc`` (or ``+``, ``1+ 2+``, ``1e9``) survives ``make_charge_int`` as a string and
then ``correct_charge`` stops on an ``assert``; uncaught, that one record ended the whole run and every good
record of the file was lost. Here a charge that is not an integer after ``make_charge_int`` is rejected by
name before ``correct_charge`` runs (an ``assert`` is gone under ``python -O``), and any other exception a
matchms step raises becomes a :class:`~specvae.errors.SpectrumRejectedError` for this spectrum alone, naming
the step, so the reader reports the record and goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from matchms import Spectrum

# Each filter from its own module: ``from matchms.filtering import ...`` would run matchms.filtering's package
# initialisation, which imports every matchms filter and with them scikit-learn (see specvae.matchms_import).
from matchms.filtering.metadata_processing.add_compound_name import add_compound_name
from matchms.filtering.metadata_processing.add_precursor_mz import add_precursor_mz
from matchms.filtering.metadata_processing.clean_compound_name import clean_compound_name
from matchms.filtering.metadata_processing.correct_charge import correct_charge
from matchms.filtering.metadata_processing.derive_adduct_from_name import derive_adduct_from_name
from matchms.filtering.metadata_processing.derive_formula_from_name import derive_formula_from_name
from matchms.filtering.metadata_processing.derive_ionmode import derive_ionmode
from matchms.filtering.metadata_processing.interpret_pepmass import interpret_pepmass
from matchms.filtering.metadata_processing.make_charge_int import make_charge_int
from matchms.filtering.peak_processing.normalize_intensities import normalize_intensities
from matchms.filtering.peak_processing.select_by_mz import select_by_mz

from specvae.errors import SpectrumRejectedError

DEFAULT_MINIMUM_PRECURSOR_MZ = 10.0
"""matchms' ``require_precursor_mz`` default: anything lighter is a unit error, not a molecule."""

DEFAULT_PRECURSOR_TOLERANCE_DA = 0.5
"""Peaks up to precursor m/z + this are kept (see the module docstring)."""

_DEFAULT_FILTERS = (
    make_charge_int,
    add_compound_name,
    derive_adduct_from_name,
    derive_formula_from_name,
    clean_compound_name,
    interpret_pepmass,
    add_precursor_mz,
    derive_ionmode,
    correct_charge,
)
"""The steps of ``matchms.filtering.default_filters``, in its order.

Applied here with ``clone=False`` on one copy: ``default_filters`` clones the spectrum in each of its nine
steps, which makes it 4x slower (0.8 ms per spectrum, 50 s for the MassBank file) for the same result.
"""


def _copy(spectrum: Spectrum, clone: bool) -> Spectrum:
    return spectrum.clone() if clone else spectrum


def _guarded(step: Callable[..., Spectrum | None], spectrum: Spectrum, **options: object) -> Spectrum | None:
    """``step(spectrum, **options)``; any exception of the matchms step becomes this spectrum's rejection."""
    try:
        return step(spectrum, **options)
    except SpectrumRejectedError:
        raise
    except Exception as error:  # matchms raises assorted types (AssertionError, TypeError, ...) on odd metadata
        detail = str(error) or type(error).__name__
        raise SpectrumRejectedError(
            f"matchms {getattr(step, '__name__', step)} fails on this spectrum ({type(error).__name__}: {detail})"
        ) from error


def charge_problem(spectrum: Spectrum) -> str | None:
    """Why the spectrum's charge (after ``make_charge_int``) is unusable, or ``None`` when absent or an integer."""
    charge = spectrum.get("charge")
    if charge is None or (isinstance(charge, (int, np.integer)) and not isinstance(charge, bool)):
        return None
    return f"charge {charge!r} is not an integer charge (expected e.g. 1+, 2-, -1)"


def harmonize_metadata(spectrum: Spectrum | None, clone: bool = True) -> Spectrum | None:
    """matchms' default metadata filters (same result as ``default_filters`` for sane metadata).

    Raises :class:`SpectrumRejectedError` instead of matchms' ``AssertionError`` (and the like) for metadata
    matchms cannot interpret, e.g. ``CHARGE=abc``: the reason, not ``None``, is what a reader must report.
    """
    if spectrum is None:
        return None
    spectrum = _copy(spectrum, clone)
    for step in _DEFAULT_FILTERS:
        spectrum = _guarded(step, spectrum, clone=False)
        if spectrum is None:
            raise SpectrumRejectedError(f"matchms {step.__name__} rejects the spectrum's metadata")
        if step is make_charge_int and (problem := charge_problem(spectrum)):
            raise SpectrumRejectedError(problem)
    return spectrum


def precursor_problem(spectrum: Spectrum, minimum_mz: float = DEFAULT_MINIMUM_PRECURSOR_MZ) -> str | None:
    """Why the spectrum's precursor m/z is unusable, or ``None`` when it is fine."""
    precursor = spectrum.get("precursor_mz")
    if precursor is None:
        return "no precursor m/z (PEPMASS / PRECURSOR_MZ missing or not a number)"
    if not isinstance(precursor, (int, float)) or not math.isfinite(precursor):
        return f"precursor m/z {precursor!r} is not a finite number"
    if precursor < minimum_mz:
        return f"precursor m/z {precursor} is below {minimum_mz}"
    return None


def require_precursor_mz(
    spectrum: Spectrum | None, minimum_mz: float = DEFAULT_MINIMUM_PRECURSOR_MZ, clone: bool = True
) -> Spectrum | None:
    """The spectrum if it has a finite precursor m/z >= ``minimum_mz`` (matchms' rule plus a NaN check)."""
    if spectrum is None or precursor_problem(spectrum, minimum_mz):
        return None
    return _copy(spectrum, clone)


def peaks_problem(spectrum: Spectrum) -> str | None:
    return "no peaks" if len(spectrum.peaks) == 0 else None


def require_peaks(spectrum: Spectrum | None, clone: bool = True) -> Spectrum | None:
    """The spectrum if it has at least one peak."""
    if spectrum is None or peaks_problem(spectrum):
        return None
    return _copy(spectrum, clone)


def intensities_problem(spectrum: Spectrum) -> str | None:
    """Why the intensities are unusable (NaN/inf, negative, all zero), or ``None``."""
    mz = spectrum.peaks.mz
    intensities = spectrum.peaks.intensities
    not_finite = ~np.isfinite(intensities)
    if not_finite.any():
        return f"{int(not_finite.sum())} peak intensities are not finite (first at m/z {mz[not_finite][0]:g})"
    negative = intensities < 0
    if negative.any():
        return f"{int(negative.sum())} peak intensities are negative (first at m/z {mz[negative][0]:g})"
    if intensities.size and intensities.max() <= 0:
        return "all peak intensities are zero"
    return None


def require_valid_intensities(spectrum: Spectrum | None, clone: bool = True) -> Spectrum | None:
    """The spectrum if its intensities are finite, non-negative and not all zero."""
    if spectrum is None or intensities_problem(spectrum):
        return None
    return _copy(spectrum, clone)


def remove_peaks_above_precursor(
    spectrum: Spectrum | None, tolerance_da: float = DEFAULT_PRECURSOR_TOLERANCE_DA, clone: bool = True
) -> Spectrum | None:
    """Drop peaks above ``precursor_mz + tolerance_da`` (fragments cannot be heavier than their precursor).

    Uses matchms ``select_by_mz``; a spectrum without a precursor m/z is returned unchanged.
    """
    if spectrum is None:
        return None
    precursor = spectrum.get("precursor_mz")
    if precursor is None:
        return _copy(spectrum, clone)
    return select_by_mz(spectrum, mz_from=0.0, mz_to=float(precursor) + tolerance_da, clone=clone)


def clean_spectrum(
    spectrum: Spectrum,
    *,
    minimum_precursor_mz: float = DEFAULT_MINIMUM_PRECURSOR_MZ,
    precursor_tolerance_da: float = DEFAULT_PRECURSOR_TOLERANCE_DA,
) -> Spectrum:
    """The cleaned copy of ``spectrum`` (steps in the module docstring), or :class:`SpectrumRejectedError`.

    The input is not modified.
    """
    cleaned = harmonize_metadata(spectrum, clone=True)
    problem = precursor_problem(cleaned, minimum_precursor_mz) or peaks_problem(cleaned) or intensities_problem(cleaned)
    if problem:
        raise SpectrumRejectedError(problem)
    precursor = cleaned.get("precursor_mz")
    cleaned = _guarded(remove_peaks_above_precursor, cleaned, tolerance_da=precursor_tolerance_da, clone=False)
    if cleaned is None or len(cleaned.peaks) == 0:
        raise SpectrumRejectedError(f"no peak at or below the precursor m/z {precursor} + {precursor_tolerance_da} Da")
    normalized = _guarded(normalize_intensities, cleaned, clone=False)
    if normalized is None:
        raise SpectrumRejectedError("matchms normalize_intensities rejects the spectrum")
    return normalized
