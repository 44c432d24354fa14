"""One spectrum from several spectra of the same ion: what a stepped collision-energy acquisition records.

Why: reference libraries such as MassBank hold a compound as a series of spectra, one per collision energy,
while the spectra users annotate (and the CASMI 2016 challenges) are often one spectrum acquired with stepped
energies, or several energies merged. A model trained on single energies only sees the low-energy fragments and
the high-energy fragments of a compound apart; adding the merged spectrum to training shows them together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matchms import Spectrum


def merge_spectra(spectra: Sequence[Spectrum]) -> Spectrum:
    """The peaks of ``spectra`` in one spectrum, each spectrum scaled to a highest peak of 1 first (so that every
    energy counts alike, whatever its absolute intensity); peaks at the same m/z are kept apart (binning adds them
    up). The metadata is the first spectrum's. Raises ``ValueError`` for no spectra."""
    if not spectra:
        raise ValueError("merge_spectra needs at least one spectrum")
    mzs, intensities = [], []
    for spectrum in spectra:
        peaks = spectrum.peaks
        if peaks.intensities.size == 0 or peaks.intensities.max() <= 0:
            continue
        mzs.append(np.asarray(peaks.mz, dtype=np.float64))
        intensities.append(np.asarray(peaks.intensities, dtype=np.float64) / peaks.intensities.max())
    mz = np.concatenate(mzs) if mzs else np.zeros(0)
    intensity = np.concatenate(intensities) if intensities else np.zeros(0)
    order = np.argsort(mz, kind="stable")
    return Spectrum(
        mz=mz[order],
        intensities=intensity[order],
        metadata=dict(spectra[0].metadata),
        metadata_harmonization=False,
    )
