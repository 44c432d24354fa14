"""fit_bit_mask keeps bits set in at least min_count structures and not in all of them."""

from __future__ import annotations

import numpy as np
import pytest

from specvae.fingerprints.mask import fit_bit_mask


def test_keeps_bits_by_count_and_drops_constant_ones() -> None:
    # bit counts over 4 structures: [4, 0, 1, 2, 3]
    fingerprints = np.array(
        [
            [1, 0, 1, 1, 1],
            [1, 0, 0, 1, 1],
            [1, 0, 0, 0, 1],
            [1, 0, 0, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(fit_bit_mask(fingerprints, min_count=1), [2, 3, 4])
    np.testing.assert_array_equal(fit_bit_mask(fingerprints, min_count=2), [3, 4])
    np.testing.assert_array_equal(fit_bit_mask(fingerprints.astype(np.uint8), min_count=3), [4])
    assert fit_bit_mask(fingerprints, min_count=1).dtype == np.int64


def test_random_matrix_against_counting_by_hand() -> None:
    rng = np.random.default_rng(3)
    fingerprints = rng.random((40, 300)) < rng.random(300)  # per-bit densities from 0 to 1
    kept = fit_bit_mask(fingerprints, min_count=5)
    expected = [bit for bit in range(300) if 5 <= fingerprints[:, bit].sum() < 40]
    np.testing.assert_array_equal(kept, expected)


def test_errors() -> None:
    with pytest.raises(ValueError, match="no bit is set in at least 3"):
        fit_bit_mask(np.array([[1, 0], [0, 0]], dtype=bool), min_count=3)
    with pytest.raises(ValueError, match="min_count"):
        fit_bit_mask(np.zeros((2, 2), dtype=bool), min_count=0)
    with pytest.raises(ValueError, match="presence bits"):
        fit_bit_mask(np.array([[2, 0], [0, 1]]), min_count=1)
    with pytest.raises(ValueError, match="matrix"):
        fit_bit_mask(np.zeros(5, dtype=bool), min_count=1)
