"""Binning: cleaned spectra -> the model's sparse input vectors.

Bin ``i`` covers ``[i * bin_width_da, (i + 1) * bin_width_da)``; peaks at or above ``max_mz_da`` are
dropped (the default 1000 Da covers all peaks of 99.5% of MassBank spectra; a wider grid costs only a larger
first layer). Per spectrum, in this order:

1. intensities of peaks in one bin are **summed**. At 0.1 Da two peaks in one bin are a centroid split in
   two or fragments the instrument resolved but the grid cannot; in both cases the ion current belongs to
   that bin, and a sum keeps it, where ``max`` would make a split peak look weaker than an unsplit one;
2. ``intensity_transform`` (``"sqrt"`` by default: it lifts the small fragments that carry most of the
   structural information against the one dominant peak; ``"log1p"`` and ``"none"`` are the alternatives);
3. ``normalisation``: ``"max"`` (largest bin = 1, default), ``"l2"`` (unit Euclidean norm) or ``"none"``.

Neutral losses (``neutral_loss_max_da > 0``): most candidates of one spectrum share its molecular formula, so
what separates them is which pieces fall off. A loss ``precursor_mz - fragment_mz`` names such a piece
(18.011 water, 44.998 a carboxyl, 162.053 a hexose) independently of the rest of the molecule, where the
fragment m/z mixes the piece with everything left behind. With the option on, every peak also lands in a
second block of bins, ``[n_fragment_bins, n_fragment_bins + n_loss_bins)``, at its loss on the same bin width;
losses below ``-bin_width_da`` (peaks above the precursor) or at/above ``neutral_loss_max_da`` are left out, a
loss within one bin of zero (the precursor ion itself) lands in the first loss bin. The loss block is
transformed like the fragments and scaled by the *fragment* block's normalisation factor, so the two blocks
keep the relative intensities of the spectrum. A spectrum without a precursor m/z has an empty loss block.

The precursor m/z (``precursor_bin_width_da > 0``): the fragments say which pieces a molecule has, not how big it
is, and the fingerprint bits that count atoms or rings depend on the size. A third block of bins,
``[0, max_mz_da)`` at ``precursor_bin_width_da``, holds the precursor m/z split between the two nearest bin centres
(weights summing to 1, linear in the distance), so the first layer can read both a bin and a position between two.
It is added after the normalisation and does not take part in it: the precursor is one number, not ion current. A
spectrum without a precursor m/z has an empty precursor block; one at or above ``max_mz_da`` lands in the last bin.

The grid and the transforms are part of a trained model: :meth:`SpectrumBinner.to_dict` is stored in the
model file and :meth:`SpectrumBinner.from_dict` rebuilds exactly the same binner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from matchms import Spectrum

_TRANSFORMS = {
    "none": lambda values: values,
    "sqrt": np.sqrt,
    "log1p": np.log1p,
}
_NORMALISATIONS = ("max", "l2", "none")
_EDGE_TOLERANCE_BINS = 1e-9
"""A peak within 1e-9 bin widths below an edge counts as on the edge (0.3 / 0.1 = 2.9999999999999996)."""


@dataclass(frozen=True)
class SpectrumBinner:
    """Turns spectra into a ``(n_spectra, n_bins)`` float32 CSR matrix on a fixed m/z grid.

    >>> binner = SpectrumBinner(bin_width_da=0.1, max_mz_da=1000.0)
    >>> binner.n_bins
    10000
    """

    bin_width_da: float = 0.1
    max_mz_da: float = 1000.0
    intensity_transform: str = "sqrt"
    normalisation: str = "max"
    neutral_loss_max_da: float = 0.0
    precursor_bin_width_da: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bin_width_da) and self.bin_width_da > 0):
            raise ValueError(f"bin_width_da must be a positive number, got {self.bin_width_da}")
        if not (math.isfinite(self.max_mz_da) and self.max_mz_da > 0):
            raise ValueError(f"max_mz_da must be a positive number, got {self.max_mz_da}")
        bins = self.max_mz_da / self.bin_width_da
        if abs(bins - round(bins)) > 1e-6 * max(1.0, bins):
            raise ValueError(f"max_mz_da ({self.max_mz_da}) must be a whole number of bins of {self.bin_width_da} Da")
        if self.intensity_transform not in _TRANSFORMS:
            raise ValueError(
                f"intensity_transform must be one of {sorted(_TRANSFORMS)}, got {self.intensity_transform!r}"
            )
        if self.normalisation not in _NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {_NORMALISATIONS}, got {self.normalisation!r}")
        if not (math.isfinite(self.neutral_loss_max_da) and self.neutral_loss_max_da >= 0):
            raise ValueError(f"neutral_loss_max_da must be a number >= 0, got {self.neutral_loss_max_da}")
        losses = self.neutral_loss_max_da / self.bin_width_da
        if abs(losses - round(losses)) > 1e-6 * max(1.0, losses):
            raise ValueError(
                f"neutral_loss_max_da ({self.neutral_loss_max_da}) must be a whole number of bins "
                f"of {self.bin_width_da} Da"
            )
        if not (math.isfinite(self.precursor_bin_width_da) and self.precursor_bin_width_da >= 0):
            raise ValueError(f"precursor_bin_width_da must be a number >= 0, got {self.precursor_bin_width_da}")
        if self.precursor_bin_width_da:
            precursor_bins = self.max_mz_da / self.precursor_bin_width_da
            if abs(precursor_bins - round(precursor_bins)) > 1e-6 * max(1.0, precursor_bins) or precursor_bins < 2:
                raise ValueError(
                    f"max_mz_da ({self.max_mz_da}) must be a whole number (at least 2) of precursor bins of "
                    f"{self.precursor_bin_width_da} Da"
                )

    @property
    def n_fragment_bins(self) -> int:
        """Bins of the fragment m/z grid ``[0, max_mz_da)``."""
        return int(round(self.max_mz_da / self.bin_width_da))

    @property
    def n_loss_bins(self) -> int:
        """Bins of the neutral-loss block ``[0, neutral_loss_max_da)`` (0 when losses are off)."""
        return int(round(self.neutral_loss_max_da / self.bin_width_da))

    @property
    def n_precursor_bins(self) -> int:
        """Bins of the precursor m/z block (0 when the precursor is not an input)."""
        if not self.precursor_bin_width_da:
            return 0
        return int(round(self.max_mz_da / self.precursor_bin_width_da))

    @property
    def n_bins(self) -> int:
        """Length of a binned spectrum: fragment bins, then neutral-loss bins, then precursor bins."""
        return self.n_fragment_bins + self.n_loss_bins + self.n_precursor_bins

    def precursor_columns(self, precursor_mz: float | None) -> tuple[np.ndarray, np.ndarray]:
        """``(columns, weights)`` of the precursor block for one precursor m/z (empty without one or the block).

        The m/z is split between the two bin centres around it, each weighted by its nearness; below the first
        centre or above the last it falls in that bin alone.
        """
        if not self.n_precursor_bins or precursor_mz is None or not math.isfinite(precursor_mz) or precursor_mz < 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        position = min(max(precursor_mz / self.precursor_bin_width_da - 0.5, 0.0), self.n_precursor_bins - 1.0)
        lower = min(int(math.floor(position)), self.n_precursor_bins - 2)
        upper_weight = position - lower
        offset = self.n_fragment_bins + self.n_loss_bins
        return np.array([offset + lower, offset + lower + 1]), np.array([1.0 - upper_weight, upper_weight])

    def bin_index(self, mz: np.ndarray) -> np.ndarray:
        """Bin of each m/z value (int64); values outside ``[0, max_mz_da)`` get -1."""
        mz = np.asarray(mz, dtype=np.float64)
        index = np.floor(mz / self.bin_width_da + _EDGE_TOLERANCE_BINS).astype(np.int64)
        index[(mz < 0) | (index >= self.n_fragment_bins) | ~np.isfinite(mz)] = -1
        return index

    def loss_bin_index(self, mz: np.ndarray, precursor_mz: float | None) -> np.ndarray:
        """Column of each peak's neutral loss (in the loss block, offset by ``n_fragment_bins``); -1 for none."""
        mz = np.asarray(mz, dtype=np.float64)
        if self.n_loss_bins == 0 or precursor_mz is None or not math.isfinite(precursor_mz):
            return np.full(mz.shape, -1, dtype=np.int64)
        loss = precursor_mz - mz
        # A peak at the precursor (loss ~ 0, either side within one bin) is the intact ion: first loss bin.
        loss = np.where((loss < 0) & (loss > -self.bin_width_da), 0.0, loss)
        index = np.floor(loss / self.bin_width_da + _EDGE_TOLERANCE_BINS).astype(np.int64)
        outside = (loss < 0) | (index >= self.n_loss_bins) | ~np.isfinite(loss)
        return np.where(outside, -1, index + self.n_fragment_bins)

    def bin_edges(self) -> np.ndarray:
        """The ``n_fragment_bins + 1`` fragment bin edges in Da."""
        return np.arange(self.n_fragment_bins + 1, dtype=np.float64) * self.bin_width_da

    def bin(self, spectra: Sequence[Spectrum]) -> scipy.sparse.csr_matrix:
        """The binned spectra as a ``(len(spectra), n_bins)`` float32 CSR matrix (rows in input order)."""
        rows, columns, values = [], [], []
        for row, spectrum in enumerate(spectra):
            intensities = spectrum.peaks.intensities
            if intensities.size and not (np.all(np.isfinite(intensities)) and intensities.min() >= 0):
                raise ValueError(f"spectrum {row}: intensities must be finite and >= 0 (clean spectra before binning)")
            index = self.bin_index(spectrum.peaks.mz)
            keep = index >= 0
            rows.append(np.full(int(keep.sum()), row, dtype=np.int64))
            columns.append(index[keep])
            values.append(intensities[keep])
            if self.n_loss_bins:
                loss_index = self.loss_bin_index(spectrum.peaks.mz, _precursor_mz(spectrum))
                keep_loss = loss_index >= 0
                rows.append(np.full(int(keep_loss.sum()), row, dtype=np.int64))
                columns.append(loss_index[keep_loss])
                values.append(intensities[keep_loss])
        shape = (len(spectra), self.n_bins)
        if not spectra:
            return scipy.sparse.csr_matrix(shape, dtype=np.float32)
        # COO -> CSR adds up entries with the same (row, column): that is the per-bin sum.
        summed = scipy.sparse.coo_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=shape, dtype=np.float64
        ).tocsr()
        summed.sum_duplicates()
        summed.data = _TRANSFORMS[self.intensity_transform](summed.data)
        summed = self._normalise(summed)
        if self.n_precursor_bins:
            summed = summed + self._precursor_block(spectra)
        summed.eliminate_zeros()
        return summed.astype(np.float32)

    def _precursor_block(self, spectra: Sequence[Spectrum]) -> scipy.sparse.csr_matrix:
        rows, columns, values = [], [], []
        for row, spectrum in enumerate(spectra):
            spectrum_columns, weights = self.precursor_columns(_precursor_mz(spectrum))
            rows.append(np.full(spectrum_columns.size, row, dtype=np.int64))
            columns.append(spectrum_columns)
            values.append(weights)
        shape = (len(spectra), self.n_bins)
        return scipy.sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=shape, dtype=np.float64
        )

    def _normalise(self, matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
        if self.normalisation == "none":
            return matrix
        fragments = matrix[:, : self.n_fragment_bins]  # the loss block is scaled like the fragments it came from
        if self.normalisation == "max":
            scale = fragments.max(axis=1).toarray().ravel()
        else:
            scale = np.sqrt(np.asarray(fragments.multiply(fragments).sum(axis=1)).ravel())
        scale[scale == 0] = 1.0  # an empty row stays empty instead of becoming NaN
        return scipy.sparse.csr_matrix(scipy.sparse.diags(1.0 / scale) @ matrix)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, stored in the model file."""
        description = {
            "kind": "spectrum_binner",
            "version": 1,
            "bin_width_da": self.bin_width_da,
            "max_mz_da": self.max_mz_da,
            "n_bins": self.n_bins,
            "intensity_transform": self.intensity_transform,
            "normalisation": self.normalisation,
            "aggregation": "sum",
        }
        if self.n_loss_bins:
            # Version 2 only when losses are on: a version-1 reader would silently drop the loss block.
            description.update(version=2, neutral_loss_max_da=self.neutral_loss_max_da)
        if self.n_precursor_bins:
            # Version 3 only with the precursor block, for the same reason.
            description.update(version=3, precursor_bin_width_da=self.precursor_bin_width_da)
        return description

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SpectrumBinner:
        """Rebuild a binner from :meth:`to_dict`; raises ``ValueError`` for a description it cannot honour."""
        if values.get("kind") != "spectrum_binner":
            raise ValueError(f"not a spectrum binner description (kind={values.get('kind')!r})")
        if values.get("version") not in (1, 2, 3):
            raise ValueError(f"spectrum binner version {values.get('version')!r} is not supported (expected 1, 2 or 3)")
        if values.get("aggregation", "sum") != "sum":
            raise ValueError(f"spectrum binner aggregation {values['aggregation']!r} is not supported (expected 'sum')")
        binner = cls(
            bin_width_da=float(values["bin_width_da"]),
            max_mz_da=float(values["max_mz_da"]),
            intensity_transform=str(values["intensity_transform"]),
            normalisation=str(values["normalisation"]),
            neutral_loss_max_da=float(values.get("neutral_loss_max_da", 0.0)),
            precursor_bin_width_da=float(values.get("precursor_bin_width_da", 0.0)),
        )
        if "n_bins" in values and int(values["n_bins"]) != binner.n_bins:
            raise ValueError(f"spectrum binner: n_bins {values['n_bins']} does not match the grid ({binner.n_bins})")
        return binner


def _precursor_mz(spectrum: Spectrum) -> float | None:
    value = spectrum.get("precursor_mz")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def csr_to_torch(matrix: scipy.sparse.csr_matrix) -> Any:
    """A coalesced ``torch.sparse_coo`` float32 tensor with the same entries (for a sparse first layer).

    COO rather than torch's CSR layout, which torch still calls beta; ``SparseLinear`` reads either.
    torch is imported here, not at module level, so reading and binning spectra does not need it.
    """
    import torch

    coo = scipy.sparse.coo_matrix(matrix, dtype=np.float32)
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    tensor = torch.sparse_coo_tensor(
        indices, torch.from_numpy(coo.data), size=coo.shape, dtype=torch.float32, check_invariants=True
    )
    return tensor.coalesce()


def csr_to_embedding_bag(matrix: scipy.sparse.csr_matrix) -> tuple[Any, Any, Any]:
    """``(indices, offsets, per_sample_weights)`` for ``torch.nn.functional.embedding_bag(mode="sum")``.

    ``embedding_bag(indices, W, offsets, mode="sum", per_sample_weights=weights)`` equals ``dense(matrix) @ W``.
    """
    import torch

    matrix = scipy.sparse.csr_matrix(matrix, dtype=np.float32)
    return (
        torch.from_numpy(matrix.indices.astype(np.int64)),
        torch.from_numpy(matrix.indptr[:-1].astype(np.int64)),
        torch.from_numpy(matrix.data.copy()),
    )
