"""Batches in an order that is a pure function of (seed, epoch), optionally sharded across processes.

Why not ``DataLoader(shuffle=True)``: its order depends on the global random state, so a run resumed from a
checkpoint would see other batches than an uninterrupted one. Here the order of epoch ``e`` is the
permutation drawn from :func:`order_generator` ``(seed, e)``, so any epoch can be replayed alone.

Distributed training shards one global order: process ``r`` of ``W`` takes positions ``r, r + W, ...``
(:class:`StratifiedShardSampler`), so that with a per-process batch of ``B / W`` the union of the ``W``
batches of a step is exactly the batch of ``B`` a single process would draw. To give every process the
same share of paired and of each kind of unpaired sample, the global order is built from *rounds*: runs
of ``round_size`` consecutive samples that share one presence pattern (:func:`stratified_order`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sized
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler, TensorDataset

from mmcore.data.dataset import MultimodalBatch, collate_multimodal

ORDER_STREAM = 1
"""The spawn key of the data order's random stream (see :func:`order_generator`)."""


def order_generator(seed: int, epoch: int) -> np.random.Generator:
    """The generator of epoch ``epoch``'s data order: its own child stream of ``(seed, epoch)``.

    Why a spawn key: ``default_rng([seed, 0])`` is the same stream as ``default_rng(seed)`` (numpy pads the
    entropy with zeros), which the supervision masks and the validation split draw from, so epoch 0 would
    visit the samples in the very order that picked the paired share (every paired sample first). A
    ``SeedSequence`` with a spawn key gives the order a stream of its own for every seed and epoch.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, epoch], spawn_key=(ORDER_STREAM,)))


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
        return order_generator(self.seed, self.epoch).permutation(self.n_samples)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.n_samples


class OrderSampler(Protocol):
    """What :class:`MultimodalLoader` needs from a sampler: this epoch's index order."""

    def set_epoch(self, epoch: int) -> None: ...

    def order(self) -> np.ndarray: ...

    def __len__(self) -> int: ...


class MissingModalityWarning(UserWarning):
    """A modality that no training sample has."""


def refuse_unnamed(dataset: object) -> None:
    """Refuse a ``TensorDataset``: its tensors have no modality names, which every model needs."""
    if isinstance(dataset, TensorDataset):
        raise TypeError(
            f"a TensorDataset of {len(dataset.tensors)} unnamed tensors cannot be trained on: the model needs each "
            "modality's name. Wrap it: MultimodalDataset.from_tensor_dataset(dataset, names=[...]) (names in the "
            "order of its tensors), or build MultimodalDataset({name: tensor, ...}, mask=..., labels=...)"
        )


def presence_groups(dataset: object) -> np.ndarray:
    """One integer per sample naming its presence pattern (which modalities it has), numbered from 0.

    Read from the data set's ``mask`` mapping (modality name -> bool tensor over samples), as
    :class:`~mmcore.data.dataset.MultimodalDataset` has; a data set without one is a single group. Patterns are
    numbered in order of first appearance, which makes the numbering a function of the masks only.
    """
    refuse_unnamed(dataset)
    n_samples = len(dataset)  # type: ignore[arg-type]
    mask = getattr(dataset, "mask", None)
    if not isinstance(mask, Mapping) or not mask:
        return np.zeros(n_samples, dtype=np.int64)
    columns = []
    for name, present in mask.items():
        column = np.asarray(torch.as_tensor(present).cpu(), dtype=bool)
        if column.shape != (n_samples,):
            raise ValueError(f"mask of {name!r} has shape {column.shape}, expected ({n_samples},)")
        if n_samples and not column.any():
            warnings.warn(
                f"modality {name!r} is absent from every training sample: its decoder (and any network reading "
                "only it) will not learn",
                MissingModalityWarning,
                stacklevel=2,
            )
        columns.append(column)
    patterns = np.stack(columns, axis=1)
    _, first_seen, inverse = np.unique(patterns, axis=0, return_index=True, return_inverse=True)
    renumber = np.argsort(np.argsort(first_seen))  # pattern id by order of first appearance
    return renumber[inverse.reshape(-1)].astype(np.int64)


def stratified_order(groups: np.ndarray, seed: int, epoch: int, round_size: int = 1) -> np.ndarray:
    """The global sample order of ``epoch``: the seeded permutation, regrouped into single-pattern rounds.

    Start from ``order_generator(seed, epoch).permutation(n)``. Each group's members, in that order, are cut
    into rounds of ``round_size``; the < ``round_size`` members a group has left over are pooled group by
    group and cut into mixed rounds; what is left then (< ``round_size`` samples, different ones every
    epoch) is dropped. Rounds are ordered by where their first member stands in the permutation. With
    ``round_size=1`` the result is the permutation itself, so a single process draws what
    :class:`EpochSampler` draws.

    Why rounds: positions ``r, r + W, ...`` (process ``r`` of ``W``, ``W`` dividing ``round_size``) take
    ``round_size / W`` members of every round, so every process gets exactly the same number of samples of
    each pattern, except from the mixed rounds, where a group's leftovers are one contiguous run and hence
    split within one sample.
    """
    if round_size < 1:
        raise ValueError(f"round_size must be >= 1, got {round_size}")
    groups = np.asarray(groups)
    n_samples = len(groups)
    permutation = order_generator(seed, epoch).permutation(n_samples)
    if round_size == 1:
        return permutation
    rounds: list[np.ndarray] = []  # (n_rounds, round_size) blocks
    leftovers: list[np.ndarray] = []
    permuted_groups = groups[permutation]
    for group in np.unique(groups):
        members = permutation[permuted_groups == group]
        n_full = len(members) - len(members) % round_size
        rounds.append(members[:n_full].reshape(-1, round_size))
        leftovers.append(members[n_full:])
    pooled = np.concatenate(leftovers) if leftovers else np.zeros(0, dtype=np.int64)
    n_mixed = len(pooled) - len(pooled) % round_size
    rounds.append(pooled[:n_mixed].reshape(-1, round_size))
    all_rounds = np.concatenate(rounds)
    position = np.empty(n_samples, dtype=np.int64)
    position[permutation] = np.arange(n_samples)
    return all_rounds[np.argsort(position[all_rounds[:, 0]], kind="stable")].reshape(-1)


def _check_shard(rank: int, world_size: int) -> None:
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")


class StratifiedShardSampler(Sampler[int]):
    """Process ``rank``'s share of the stratified global order of each epoch (training).

    ``groups`` holds each sample's presence pattern (:func:`presence_groups`). The global order is
    :func:`stratified_order` with ``round_size`` (a multiple of ``world_size``); this process yields its
    positions ``rank, rank + world_size, ...``. Every process yields the same number of samples, so all of
    them run the same number of steps (a process with a step fewer would leave the others waiting forever
    in a collective). A single process with ``round_size=W`` and ``world_size=1`` draws, step by step, the
    union of what ``W`` processes draw: that is how a distributed run is replayed on one machine.
    """

    def __init__(
        self,
        groups: np.ndarray,
        seed: int = 0,
        *,
        round_size: int = 1,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_shard(rank, world_size)
        if round_size < 1 or round_size % world_size:
            raise ValueError(f"round_size must be a positive multiple of world_size={world_size}, got {round_size}")
        self.groups = np.asarray(groups)
        self.seed = seed
        self.round_size = round_size
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields."""
        self.epoch = epoch

    def global_order(self) -> np.ndarray:
        """This epoch's order over all processes."""
        return stratified_order(self.groups, self.seed, self.epoch, self.round_size)

    def order(self) -> np.ndarray:
        return self.global_order()[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        n_kept = len(self.groups) - len(self.groups) % self.round_size
        return n_kept // self.world_size


class SequentialShardSampler(Sampler[int]):
    """Samples ``rank, rank + world_size, ...`` in order (evaluation: every sample once over all processes).

    Shards may differ in size by one, so evaluation must not run collectives per batch; the trainer
    combines the shards' sums and counts once at the end.
    """

    def __init__(self, n_samples: int, rank: int = 0, world_size: int = 1) -> None:
        _check_shard(rank, world_size)
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        self.n_samples = n_samples
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        """The order does not depend on the epoch."""

    def order(self) -> np.ndarray:
        return np.arange(self.rank, self.n_samples, self.world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.n_samples, self.world_size))


class MultimodalLoader:
    """Iterate a data set in batches of ``batch_size`` in the sampler's order.

    Data sets with a vectorised ``batch(indices)`` method (:class:`~mmcore.data.dataset.MultimodalDataset`)
    are indexed once per batch; any other map-style data set is read sample by sample and collated.
    """

    def __init__(
        self,
        dataset: BatchSource,
        batch_size: int,
        sampler: OrderSampler | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        refuse_unnamed(dataset)
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
        return self.batches()

    def batches(self, start: int = 0) -> Iterator[MultimodalBatch]:
        """This epoch's batches from batch ``start`` on (0-based); a resumed run skips what it has trained on.

        Skipped batches are never fetched, so resuming late in an epoch costs nothing.
        """
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        order = torch.as_tensor(self.sampler.order(), dtype=torch.long)
        for offset in range(start * self.batch_size, len(order), self.batch_size):
            indices = order[offset : offset + self.batch_size]
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
