"""Plumbing every metric shares: evaluation mode, seeded randomness, batches on the model's device, sample selection.

Metrics only call the :class:`~mmcore.models.base.MultimodalVAE` interface; what they have in common is how
they walk a loader of :class:`~mmcore.data.dataset.MultimodalBatch` objects, so that lives here once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from mmcore.data.dataset import MultimodalBatch


class MissingLabelsError(ValueError):
    """A metric that compares with class labels was given a batch without labels."""


class NoEvaluableSamplesError(ValueError):
    """No sample of the data has what a metric needs (all of its source modalities, say)."""


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block, restoring the model's previous mode afterwards.

    Why restore: a metric called between training epochs must not leave dropout or batch norm switched off.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Draw the block's random numbers from ``seed`` without touching the caller's random state.

    ``seed=None`` uses (and advances) the global generators, like any other torch code.
    """
    if seed is None:
        yield
        return
    if device.type == "cpu":
        fork = torch.random.fork_rng(devices=[])
    else:
        backend = getattr(torch, device.type)
        index = device.index if device.index is not None else backend.current_device()
        fork = torch.random.fork_rng(devices=[index], device_type=device.type)
    with fork:
        torch.manual_seed(seed)
        yield


def batches_on(loader: Iterable[MultimodalBatch], device: torch.device, need_labels: bool) -> Iterator[MultimodalBatch]:
    """The loader's batches moved to ``device``; with ``need_labels`` a batch without labels is an error."""
    for index, batch in enumerate(loader):
        if need_labels and batch.labels is None:
            raise MissingLabelsError(f"batch {index} of the loader has no labels; this metric compares with labels")
        yield batch.to(device)


def has_all(batch: MultimodalBatch, names: Sequence[str]) -> Tensor:
    """Boolean ``(batch,)``: the samples that have every modality in ``names``."""
    keep = torch.ones(batch.batch_size, dtype=torch.bool, device=next(iter(batch.data.values())).device)
    for name in names:
        if name not in batch.data:
            return torch.zeros_like(keep)
        present = batch.mask.get(name)
        if present is not None:
            keep = keep & present.to(device=keep.device, dtype=torch.bool)
    return keep


def select(data: Mapping[str, Tensor], names: Sequence[str], keep: Tensor) -> dict[str, Tensor]:
    """The modalities ``names`` of the samples marked in ``keep``."""
    return {name: data[name][keep] for name in names}


def subset_label(names: Sequence[str]) -> str:
    """How a subset of modalities is written in metric names: ``top+bottom``."""
    return "+".join(names)


def check_modalities(model_names: Sequence[str], names: Iterable[str], role: str) -> list[str]:
    """``names`` as a list, after checking that the model has every one of them."""
    names = list(names)
    unknown = [name for name in names if name not in model_names]
    if unknown:
        raise KeyError(f"{role} {unknown} are not modalities of the model ({list(model_names)})")
    if not names:
        raise ValueError(f"{role} must name at least one modality")
    return names
