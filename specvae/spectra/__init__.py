"""Spectra: reading (MGF, MSP, mzML), cleaning (matchms filters) and binning into the model's input."""

from specvae.spectra.binning import SpectrumBinner, csr_to_embedding_bag, csr_to_torch
from specvae.spectra.filters import (
    clean_spectrum,
    harmonize_metadata,
    remove_peaks_above_precursor,
    require_peaks,
    require_precursor_mz,
    require_valid_intensities,
)
from specvae.spectra.metadata import (
    spectrum_adduct,
    spectrum_identifiers,
    spectrum_ion_mode,
    spectrum_neutral_mass,
    spectrum_title,
)
from specvae.spectra.reading import (
    SPECTRUM_FORMATS,
    iter_clean_records,
    iter_spectrum_records,
    read_clean_spectra,
    read_spectra,
)
from specvae.spectra.records import SpectrumRecord

__all__ = [
    "SPECTRUM_FORMATS",
    "SpectrumBinner",
    "SpectrumRecord",
    "clean_spectrum",
    "csr_to_embedding_bag",
    "csr_to_torch",
    "harmonize_metadata",
    "iter_clean_records",
    "iter_spectrum_records",
    "read_clean_spectra",
    "read_spectra",
    "remove_peaks_above_precursor",
    "require_peaks",
    "require_precursor_mz",
    "require_valid_intensities",
    "spectrum_adduct",
    "spectrum_identifiers",
    "spectrum_ion_mode",
    "spectrum_neutral_mass",
    "spectrum_title",
]
