"""Validation metrics: what the trainer calls after every epoch to pick the best epoch.

A metric is any callable ``(model, validation_loader) -> dict[str, float]``; the loader yields
:class:`~mmcore.data.dataset.MultimodalBatch` objects already on the model's device. The trainer puts the
model in eval mode and disables gradients around the call. With several processes each one calls the
metric on its own shard of the validation set, and the trainer combines the results weighted by the
shards' sample counts: exact for metrics that are means over samples (losses, accuracies), which every
metric given to the trainer must be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from mmcore.data.dataset import MultimodalBatch
from mmcore.models.base import MultimodalVAE

ValidationMetric = Callable[[MultimodalVAE, Iterable[MultimodalBatch]], dict[str, float]]


def validation_sums(
    model: MultimodalVAE, loader: Iterable[MultimodalBatch], beta: float = 1.0
) -> tuple[dict[str, float], int]:
    """The model's loss and every loss term summed over the samples of ``loader``, and the sample count.

    Sums and counts, not means, are what several processes can combine exactly: each evaluates its own
    shard and the trainer adds them up (:func:`~mmcore.training.distributed.sum_across_processes`). An
    empty loader gives no names and a count of 0.
    """
    totals: dict[str, torch.Tensor] = {}
    n_samples = 0
    with torch.no_grad():
        for batch in loader:
            size = batch.batch_size
            output = model(batch.data, batch.mask, beta=beta)
            for name, value in {"loss": output.loss, **output.terms}.items():
                totals[name] = totals.get(name, 0.0) + value.detach().double() * size
            n_samples += size
    return {name: float(total) for name, total in totals.items()}, n_samples


def validation_loss(model: MultimodalVAE, loader: Iterable[MultimodalBatch], beta: float = 1.0) -> dict[str, float]:
    """The model's loss and every loss term, averaged over all validation samples.

    Batches are weighted by their size, so the result does not depend on the batch size. ``beta`` should
    be the final KL weight (not the warm-up value), so that every epoch is judged by the same objective.
    """
    totals, n_samples = validation_sums(model, loader, beta)
    if n_samples == 0:
        raise ValueError("the validation set is empty")
    return {name: total / n_samples for name, total in totals.items()}
