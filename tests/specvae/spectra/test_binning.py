"""Binning values on hand-made spectra, the stored description, torch conversions (specvae/spectra/binning.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn.functional as F
from matchms import Spectrum

from specvae.spectra import SpectrumBinner, csr_to_embedding_bag, csr_to_torch


def spectrum(mz: list[float], intensities: list[float]) -> Spectrum:
    return Spectrum(mz=np.array(mz, dtype=float), intensities=np.array(intensities, dtype=float), metadata={})


def test_values_sum_sqrt_max() -> None:
    binner = SpectrumBinner(bin_width_da=0.1, max_mz_da=1000.0)
    first = spectrum([0.3, 100.03, 100.07, 150.0, 999.99, 1000.0], [0.09, 0.25, 0.39, 1.0, 0.16, 0.5])
    second = spectrum([12.34], [0.5])
    matrix = binner.bin([first, second])
    assert matrix.shape == (2, 10000) and matrix.dtype == np.float32
    assert isinstance(matrix, scipy.sparse.csr_matrix)
    dense = matrix.toarray()
    # 0.3 / 0.1 is 2.9999999999999996 in floating point: the peak still belongs to bin 3 = [0.3, 0.4).
    # 100.03 and 100.07 share bin 1000: 0.25 + 0.39 = 0.64 -> sqrt 0.8. 1000.0 is outside the grid.
    # Row maximum after sqrt is sqrt(1.0) = 1 (bin 1500), so values are the square roots.
    expected_first = {3: 0.3, 1000: 0.8, 1500: 1.0, 9999: 0.4}
    assert {int(i): pytest.approx(float(dense[0, i]), abs=1e-7) for i in np.flatnonzero(dense[0])} == expected_first
    # A single peak normalises to 1 whatever its intensity.
    assert np.flatnonzero(dense[1]).tolist() == [123] and dense[1, 123] == 1.0


def test_transforms_and_normalisations() -> None:
    peaks = spectrum([10.0, 20.0], [4.0, 1.0])
    raw = SpectrumBinner(bin_width_da=1.0, max_mz_da=30.0, intensity_transform="none", normalisation="none")
    np.testing.assert_allclose(raw.bin([peaks]).toarray()[0, [10, 20]], [4.0, 1.0])
    l2 = SpectrumBinner(bin_width_da=1.0, max_mz_da=30.0, intensity_transform="sqrt", normalisation="l2")
    np.testing.assert_allclose(l2.bin([peaks]).toarray()[0, [10, 20]], [2 / math.sqrt(5), 1 / math.sqrt(5)], rtol=1e-6)
    log = SpectrumBinner(bin_width_da=1.0, max_mz_da=30.0, intensity_transform="log1p", normalisation="max")
    np.testing.assert_allclose(log.bin([peaks]).toarray()[0, [10, 20]], [1.0, math.log(2) / math.log(5)], rtol=1e-6)


def test_bin_index_edges() -> None:
    binner = SpectrumBinner(bin_width_da=0.5, max_mz_da=10.0)
    assert binner.n_bins == 20
    np.testing.assert_array_equal(
        binner.bin_index(np.array([0.0, 0.49999, 0.5, 9.99, 10.0, -1.0])), [0, 0, 1, 19, -1, -1]
    )
    edges = binner.bin_edges()
    assert edges[0] == 0.0 and edges[-1] == 10.0 and len(edges) == 21


def test_empty_inputs() -> None:
    binner = SpectrumBinner()
    assert binner.bin([]).shape == (0, 10000)
    row = binner.bin([spectrum([2000.0], [1.0])])
    assert row.nnz == 0  # only a peak beyond the grid: an empty row, not NaN


def test_refuses_uncleaned_intensities() -> None:
    with pytest.raises(ValueError, match="clean spectra"):
        SpectrumBinner().bin([spectrum([10.0], [-1.0])])


def test_description_round_trip() -> None:
    binner = SpectrumBinner(bin_width_da=0.05, max_mz_da=1500.0, intensity_transform="log1p", normalisation="l2")
    values = binner.to_dict()
    assert values["n_bins"] == 30000 and values["aggregation"] == "sum"
    assert SpectrumBinner.from_dict(values) == binner
    with pytest.raises(ValueError, match="n_bins"):
        SpectrumBinner.from_dict({**values, "n_bins": 10})
    with pytest.raises(ValueError, match="version"):
        SpectrumBinner.from_dict({**values, "version": 4})
    with pytest.raises(ValueError, match="kind"):
        SpectrumBinner.from_dict({"bin_width_da": 0.1})


@pytest.mark.parametrize(
    "arguments",
    [
        {"bin_width_da": 0.0},
        {"bin_width_da": 0.3, "max_mz_da": 1000.0},
        {"max_mz_da": float("nan")},
        {"intensity_transform": "cube"},
        {"normalisation": "sum"},
    ],
)
def test_invalid_grids(arguments: dict) -> None:
    with pytest.raises(ValueError):
        SpectrumBinner(**arguments)


def test_torch_conversions_equal_the_dense_product() -> None:
    binner = SpectrumBinner(bin_width_da=1.0, max_mz_da=50.0)
    matrix = binner.bin([spectrum([1.0, 7.5, 40.0], [0.2, 1.0, 0.5]), spectrum([], []), spectrum([3.0], [1.0])])
    weight = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    expected = torch.from_numpy(matrix.toarray()) @ weight
    sparse = csr_to_torch(matrix)
    assert sparse.layout == torch.sparse_coo and sparse.is_coalesced() and sparse.shape == (3, 50)
    torch.testing.assert_close(sparse.to_dense(), torch.from_numpy(matrix.toarray()))
    torch.testing.assert_close(torch.sparse.mm(sparse, weight), expected)
    indices, offsets, weights = csr_to_embedding_bag(matrix)
    out = F.embedding_bag(indices, weight, offsets, mode="sum", per_sample_weights=weights)
    torch.testing.assert_close(out, expected)


def test_neutral_losses_fill_a_second_block_scaled_like_the_fragments() -> None:
    binner = SpectrumBinner(bin_width_da=0.1, max_mz_da=1000.0, neutral_loss_max_da=200.0)
    assert (binner.n_fragment_bins, binner.n_loss_bins, binner.n_bins) == (10000, 2000, 12000)
    # Precursor 181.07: 163.06 loses 18.01 (water), 19.07 loses 162.0 (hexose), the precursor peak itself loses
    # 0.0, and 250.0 lies above the precursor (no loss); 1.0 would lose 180.07.
    peaks = spectrum([1.0, 19.07, 163.06, 181.07, 250.0], [0.04, 0.09, 1.0, 0.16, 0.25])
    peaks.set("precursor_mz", 181.07)
    dense = binner.bin([peaks]).toarray()[0]
    fragments, losses = dense[:10000], dense[10000:]
    assert np.flatnonzero(fragments).tolist() == [10, 190, 1630, 1810, 2500]
    assert np.flatnonzero(losses).tolist() == [0, 180, 1620, 1800]
    # The loss block carries the same transformed and normalised intensities as the fragments it came from.
    assert losses[180] == pytest.approx(fragments[1630]) and losses[180] == pytest.approx(1.0)
    assert losses[1620] == pytest.approx(fragments[190]) == pytest.approx(0.3)
    assert losses[0] == pytest.approx(fragments[1810]) == pytest.approx(0.4)


def test_neutral_losses_need_a_precursor_and_stay_out_of_version_1_files() -> None:
    binner = SpectrumBinner(neutral_loss_max_da=100.0)
    without_precursor = binner.bin([spectrum([50.0, 80.0], [1.0, 0.5])])
    assert without_precursor.indices.max() < binner.n_fragment_bins
    description = binner.to_dict()
    assert description["version"] == 2 and description["n_bins"] == 11000
    assert SpectrumBinner.from_dict(description) == binner
    assert SpectrumBinner().to_dict()["version"] == 1  # files without losses stay readable by older code
    with pytest.raises(ValueError, match="neutral_loss_max_da"):
        SpectrumBinner(neutral_loss_max_da=10.05)
    with pytest.raises(ValueError, match="neutral_loss_max_da"):
        SpectrumBinner(neutral_loss_max_da=-1.0)


def test_the_precursor_block_splits_the_precursor_between_the_two_nearest_bins() -> None:
    binner = SpectrumBinner(bin_width_da=0.1, max_mz_da=1000.0, neutral_loss_max_da=200.0, precursor_bin_width_da=10.0)
    assert (binner.n_fragment_bins, binner.n_loss_bins, binner.n_precursor_bins) == (10000, 2000, 100)
    assert binner.n_bins == 12100
    peaks = spectrum([100.0, 163.06], [0.25, 1.0])
    peaks.set("precursor_mz", 181.07)
    dense = binner.bin([peaks]).toarray()[0]
    precursor = dense[12000:]
    # Bin centres at 175 and 185 Da: 181.07 is 0.607 of the way from the first to the second.
    assert np.flatnonzero(precursor).tolist() == [17, 18]
    assert precursor[17] == pytest.approx(0.393, abs=1e-6) and precursor[18] == pytest.approx(0.607, abs=1e-6)
    # The fragments keep their normalisation (highest bin 1): the precursor block takes no part in it.
    assert dense[1630] == pytest.approx(1.0) and dense[1000] == pytest.approx(0.5)
    assert np.flatnonzero(dense[:10000]).tolist() == [1000, 1630]


@pytest.mark.parametrize(("precursor_mz", "expected"), [(2.0, {0: 1.0}), (999.0, {99: 1.0}), (5000.0, {99: 1.0})])
def test_a_precursor_beyond_the_outer_bin_centres_falls_in_the_outer_bin(precursor_mz, expected) -> None:
    binner = SpectrumBinner(precursor_bin_width_da=10.0)
    peaks = spectrum([50.0], [1.0])
    peaks.set("precursor_mz", precursor_mz)
    block = binner.bin([peaks]).toarray()[0, binner.n_fragment_bins :]
    assert {int(i): pytest.approx(float(block[i])) for i in np.flatnonzero(block)} == expected


def test_the_precursor_block_needs_a_precursor_and_a_version_3_description() -> None:
    binner = SpectrumBinner(precursor_bin_width_da=20.0)
    without_precursor = binner.bin([spectrum([50.0, 80.0], [1.0, 0.5])])
    assert without_precursor.shape == (1, 10050) and without_precursor.indices.max() < binner.n_fragment_bins
    description = binner.to_dict()
    assert description["version"] == 3 and description["n_bins"] == 10050
    assert SpectrumBinner.from_dict(description) == binner
    for wrong in (-1.0, 3.0, 1000.0, float("inf")):
        with pytest.raises(ValueError, match="precursor"):
            SpectrumBinner(precursor_bin_width_da=wrong)
