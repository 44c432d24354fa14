"""Batches in an order that is a pure function of (seed, epoch).

Why not ``DataLoader(shuffle=True)``: its order depends on the global random state, so a run resumed from a
checkpoint would see other batches than an uninterrupted one. Here the order of epoch ``e`` is the
permutation drawn from ``numpy.random.default_rng([seed, e])``, so any epoch can be replayed alone. A
distributed trainer will later shard the same permutation across processes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from mmcore.data.dataset import MultimodalBatch, collate_multimodal


class BatchSource(Protocol):
    """A data set the loader can draw from: any map-style data set of :class:`MultimodalBatch` samples."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> MultimodalBatch: ...


class EpochSampler(Sampler[int]):
    """Sample indices in a random order fixed by ``(seed, epoch)``; sequential when ``shuffle`` is False."""

    def __init__(self, n_samples: int, seed: int = 0, shuffle: bool = True) -> None:
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        self.n_samples = n_samples
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields."""
        self.epoch = epoch

    def order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n_samples)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n_samples)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.n_samples


class MultimodalLoader:
    """Iterate a data set in batches of ``batch_size`` in the sampler's order.

    Data sets with a vectorised ``batch(indices)`` method (:class:`~mmcore.data.dataset.MultimodalDataset`)
    are indexed once per batch; any other map-style data set is read sample by sample and collated.
    """

    def __init__(
        self,
        dataset: BatchSource,
        batch_size: int,
        sampler: EpochSampler | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = EpochSampler(len(dataset), shuffle=False) if sampler is None else sampler
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _fetch(self, indices: Tensor) -> MultimodalBatch:
        batch = getattr(self.dataset, "batch", None)
        if callable(batch):
            return batch(indices)
        return collate_multimodal([self.dataset[int(index)] for index in indices])

    def __iter__(self) -> Iterator[MultimodalBatch]:
        order = torch.as_tensor(self.sampler.order(), dtype=torch.long)
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield self._fetch(indices)

    def __len__(self) -> int:
        n_samples = len(self.sampler) if isinstance(self.sampler, Sized) else len(self.dataset)
        if self.drop_last:
            return n_samples // self.batch_size
        return -(-n_samples // self.batch_size)


class DeviceLoader:
    """Wrap a loader so that its batches arrive on ``device`` (what validation metrics receive)."""

    def __init__(self, loader: MultimodalLoader, device: torch.device | str) -> None:
        self.loader = loader
        self.device = torch.device(device)

    def __iter__(self) -> Iterator[MultimodalBatch]:
        for batch in self.loader:
            yield batch.to(self.device)

    def __len__(self) -> int:
        return len(self.loader)
