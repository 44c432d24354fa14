"""Rows of a stored array, picked through an index and turned into float only when a batch is drawn.

Why: the paired benchmarks reuse every instance many times. MNIST-SVHN pairs each digit image with 20
images of the other data set (about 1.1 million training pairs); materialised as float32 pixels that is
17 GB, as two index vectors it is 18 MB. CUB repeats each image for its 10 captions; PolyMNIST keeps its
pixels as uint8 (a quarter of float32). A :class:`GatheredRows` stands in for a data tensor inside a
:class:`~mmcore.data.dataset.MultimodalDataset`: it has a ``shape`` and answers ``rows[indices]`` with a
real float tensor, which is all the data set and its batches need.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset


class GatheredRows:
    """``base[index[i]]`` for every ``i``, divided by ``divisor`` (255 for uint8 pixels) when read.

    Example::

        svhn_pixels = GatheredRows(uint8_images.reshape(n, -1), index=pair_svhn_index, divisor=255.0)
        svhn_pixels[torch.tensor([0, 5])]   # float32 rows in [0, 1]
    """

    def __init__(self, base: Tensor, index: Tensor | None = None, divisor: float | None = None) -> None:
        if base.dim() < 1:
            raise ValueError("the base of GatheredRows must have a first (row) axis")
        if index is None:
            index = torch.arange(base.shape[0])
        index = torch.as_tensor(index, dtype=torch.long)
        if index.dim() != 1:
            raise ValueError(f"index must be a vector, got shape {tuple(index.shape)}")
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= base.shape[0]):
            low, high = int(index.min()), int(index.max())
            raise IndexError(f"index values must lie in [0, {base.shape[0]}), got [{low}, {high}]")
        if divisor is not None and divisor <= 0:
            raise ValueError(f"divisor must be positive, got {divisor}")
        self.base = base
        self.index = index
        self.divisor = divisor

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.index), *self.base.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32 if self.divisor is not None else self.base.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: int | slice | Tensor | Sequence[int]) -> Tensor:
        rows = self.base[self.index[key]]
        if self.divisor is None:
            return rows
        # Division (not multiplication by 1/255) gives exactly the values MNIST's reader produces.
        return rows.to(torch.float32) / self.divisor

    def select(self, positions: Tensor | Sequence[int]) -> GatheredRows:
        """The rows at ``positions`` as a new :class:`GatheredRows` over the same base (nothing copied)."""
        return GatheredRows(self.base, self.index[torch.as_tensor(positions, dtype=torch.long)], self.divisor)

    def materialize(self) -> Tensor:
        """Every row as one tensor (for small data sets and tests)."""
        return self[:]

    def __repr__(self) -> str:
        return (
            f"GatheredRows(rows={len(self)}, row_shape={tuple(self.base.shape[1:])}, base_rows={self.base.shape[0]}, "
            f"divisor={self.divisor})"
        )


def select_samples(dataset: MultimodalDataset, positions: Tensor | Sequence[int]) -> MultimodalDataset:
    """The samples at ``positions`` of ``dataset``; :class:`GatheredRows` are re-indexed, not copied.

    :meth:`MultimodalDataset.subset` copies every value, which would materialise gathered rows; splitting a
    million MNIST-SVHN pairs into train and validation sets should cost two index vectors instead.
    """
    positions = torch.as_tensor(positions, dtype=torch.long)
    data = {
        name: value.select(positions) if isinstance(value, GatheredRows) else value[positions]
        for name, value in dataset.data.items()
    }
    mask = {name: present[positions] for name, present in dataset.mask.items()}
    labels = None if dataset.labels is None else dataset.labels[positions]
    return MultimodalDataset(data, mask, labels)


def random_subset(dataset: MultimodalDataset, size: int | None, seed: int | Sequence[int]) -> MultimodalDataset:
    """``size`` samples drawn with ``seed``, in their original order (all of them when ``size`` is None or larger).

    For data sets stored class by class (paired benchmarks), where keeping a prefix would keep one class.
    """
    if size is None or size >= len(dataset):
        return dataset
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    chosen = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:size])
    return select_samples(dataset, torch.from_numpy(chosen))
