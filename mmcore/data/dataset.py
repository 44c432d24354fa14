"""In-memory multimodal data sets and their batches: what the trainer iterates over.

A sample may lack any modality; which ones it has is its *mask*. Masks are stored next to the data, never
applied to it: the semi-supervised protocols (:mod:`mmcore.training.supervision`) hide a modality by
changing a mask, so one copy of the data serves every supervision level. When a batch is drawn, hidden
values are replaced by zeros, so that even a faulty model cannot learn from data it was meant not to see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset


class MultimodalBatch(NamedTuple):
    """A batch in the convention of :class:`mmcore.models.base.MultimodalVAE`.

    ``data`` maps modality name to a tensor with the batch on the first axis; ``mask`` maps the same names
    to boolean ``(batch,)`` tensors; ``labels`` (class labels, say) ride along for metrics and are never
    given to a model.
    """

    data: dict[str, Tensor]
    mask: dict[str, Tensor]
    labels: Tensor | None = None

    def to(self, device: torch.device | str) -> MultimodalBatch:
        """The same batch on ``device`` (the trainer's job; models never move data)."""
        labels = None if self.labels is None else self.labels.to(device)
        return MultimodalBatch(
            {name: value.to(device) for name, value in self.data.items()},
            {name: value.to(device) for name, value in self.mask.items()},
            labels,
        )

    @property
    def batch_size(self) -> int:
        """Number of samples in the batch."""
        for value in self.data.values():
            return int(value.shape[0])
        return 0


def _hide_missing(value: Tensor, present: Tensor) -> Tensor:
    """``value`` with every sample whose ``present`` flag is False replaced by zeros."""
    shape = (-1,) + (1,) * (value.dim() - 1)
    return torch.where(present.reshape(shape), value, torch.zeros_like(value))


class MultimodalDataset(Dataset):
    """Tensors of several modalities over the same samples, with a presence mask per modality.

    Example::

        dataset = MultimodalDataset({"top": tops, "bottom": bottoms}, labels=digits)
        batch = dataset.batch(torch.arange(32))   # MultimodalBatch(data, mask, labels)
    """

    def __init__(
        self,
        data: Mapping[str, Tensor],
        mask: Mapping[str, Tensor] | None = None,
        labels: Tensor | None = None,
    ) -> None:
        if not data:
            raise ValueError("a MultimodalDataset needs at least one modality")
        sizes = {name: int(value.shape[0]) for name, value in data.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"every modality must have the same number of samples, got {sizes}")
        self.n_samples = next(iter(sizes.values()))
        self.data = dict(data)
        mask = {} if mask is None else dict(mask)
        unknown = set(mask) - set(self.data)
        if unknown:
            raise KeyError(f"mask names modalities {sorted(unknown)} that the data lacks ({sorted(self.data)})")
        self.mask: dict[str, Tensor] = {}
        for name in self.data:
            present = mask.get(name)
            if present is None:
                present = torch.ones(self.n_samples, dtype=torch.bool)
            if present.shape != (self.n_samples,):
                raise ValueError(f"mask of {name!r} has shape {tuple(present.shape)}, expected ({self.n_samples},)")
            self.mask[name] = present.to(torch.bool)
        if labels is not None and labels.shape[0] != self.n_samples:
            raise ValueError(f"{labels.shape[0]} labels for {self.n_samples} samples")
        self.labels = labels

    @classmethod
    def from_tensor_dataset(
        cls, dataset: TensorDataset, names: Sequence[str], *, labels: bool = False
    ) -> MultimodalDataset:
        """A ``torch.utils.data.TensorDataset`` whose tensors are, in order, the modalities ``names`` (every
        sample has every modality), then the class labels if ``labels``.

        >>> MultimodalDataset.from_tensor_dataset(TensorDataset(torch.zeros(4, 3), torch.ones(4, 2)), ["a", "b"]).names
        ['a', 'b']
        """
        tensors = list(dataset.tensors)
        expected = len(names) + (1 if labels else 0)
        if len(tensors) != expected:
            raise ValueError(
                f"the TensorDataset holds {len(tensors)} tensors, expected {expected}: one per modality {list(names)}"
                + (" and the labels" if labels else "")
            )
        return cls(dict(zip(names, tensors[: len(names)], strict=True)), labels=tensors[-1] if labels else None)

    @property
    def names(self) -> list[str]:
        return list(self.data)

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, index: int) -> MultimodalBatch:
        """One sample as a batch of size one (what :func:`collate_multimodal` stacks)."""
        return self.batch(torch.tensor([index]))

    def batch(self, indices: Tensor | Sequence[int]) -> MultimodalBatch:
        """The samples at ``indices``, with modalities a sample lacks zeroed out."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        mask = {name: present[indices] for name, present in self.mask.items()}
        data = {name: _hide_missing(value[indices], mask[name]) for name, value in self.data.items()}
        labels = None if self.labels is None else self.labels[indices]
        return MultimodalBatch(data, mask, labels)

    def with_mask(self, mask: Mapping[str, Tensor]) -> MultimodalDataset:
        """A data set over the same tensors (not copied) with other presence masks."""
        return MultimodalDataset(self.data, mask, self.labels)

    def subset(self, indices: Tensor | Sequence[int]) -> MultimodalDataset:
        """A new data set holding the samples at ``indices`` (copied: used once, to split data sets)."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return MultimodalDataset(
            {name: value[indices] for name, value in self.data.items()},
            {name: present[indices] for name, present in self.mask.items()},
            None if self.labels is None else self.labels[indices],
        )


def collate_multimodal(samples: Sequence[MultimodalBatch]) -> MultimodalBatch:
    """Concatenate batches (single samples from ``dataset[i]``, say) into one; for ``torch.utils.data.DataLoader``."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    if not isinstance(samples[0], MultimodalBatch):
        raise TypeError(
            f"a multimodal data set's items must be MultimodalBatch (named modalities and masks), got "
            f"{type(samples[0]).__name__}; use MultimodalDataset (from_tensor_dataset for a TensorDataset)"
        )
    names = list(samples[0].data)
    for sample in samples:
        if list(sample.data) != names:
            raise KeyError(f"samples with different modalities cannot be collated: {names} vs {list(sample.data)}")
    data = {name: torch.cat([sample.data[name] for sample in samples]) for name in names}
    mask = {name: torch.cat([sample.mask[name] for sample in samples]) for name in names}
    has_labels = [sample.labels is not None for sample in samples]
    if any(has_labels) and not all(has_labels):
        raise ValueError("some samples have labels and some do not")
    labels = torch.cat([sample.labels for sample in samples]) if all(has_labels) else None
    return MultimodalBatch(data, mask, labels)
