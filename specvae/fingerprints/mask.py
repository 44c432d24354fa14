"""Choosing which fingerprint bits a model predicts.

A bit set in only a handful of training structures cannot be learned, and a bit set in every structure carries no
information for ranking (it adds the same term to every candidate's score); both only add noise and parameters.
"""

from __future__ import annotations

import numpy as np


def fit_bit_mask(fingerprints: np.ndarray, min_count: int) -> np.ndarray:
    """Indices (sorted, int64) of the bits set in at least ``min_count`` training structures and not in all of them.

    ``fingerprints`` is ``(n_structures, n_bits)`` bool or 0/1 integers, one row per distinct training structure
    (pass unique structures: a structure measured in twenty spectra should count once). Store the result with
    ``FingerprintDefinition.with_kept_bits``.

    Example::

        fit_bit_mask(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]]), min_count=1)  # array([1, 2]): bit 0 is in all
    """
    fingerprints = np.asarray(fingerprints)
    if fingerprints.ndim != 2:
        raise ValueError(f"fingerprints must be a (n_structures, n_bits) matrix, got shape {fingerprints.shape}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if fingerprints.dtype != bool and not np.isin(fingerprints, (0, 1)).all():
        raise ValueError("fingerprints must hold presence bits (bool or 0/1)")
    n_structures = fingerprints.shape[0]
    counts = np.count_nonzero(fingerprints, axis=0)
    kept = np.flatnonzero((counts >= min_count) & (counts < n_structures))
    if kept.size == 0:
        raise ValueError(
            f"no bit is set in at least {min_count} of the {n_structures} structures without being set in all: "
            "lower min_count or use more training structures"
        )
    return kept.astype(np.int64)
