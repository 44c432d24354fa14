"""Validation metrics: what the trainer calls after every epoch to pick the best epoch.

A metric is any callable ``(model, validation_loader) -> dict[str, float]``; the loader yields
:class:`~mmcore.data.dataset.MultimodalBatch` objects already on the model's device. The trainer puts the
model in eval mode and disables gradients around the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from mmcore.data.dataset import MultimodalBatch
from mmcore.models.base import MultimodalVAE

ValidationMetric = Callable[[MultimodalVAE, Iterable[MultimodalBatch]], dict[str, float]]


def validation_loss(model: MultimodalVAE, loader: Iterable[MultimodalBatch], beta: float = 1.0) -> dict[str, float]:
    """The model's loss and every loss term, averaged over all validation samples.

    Batches are weighted by their size, so the result does not depend on the batch size. ``beta`` should
    be the final KL weight (not the warm-up value), so that every epoch is judged by the same objective.
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
    if n_samples == 0:
        raise ValueError("the validation set is empty")
    return {name: float(total / n_samples) for name, total in totals.items()}
