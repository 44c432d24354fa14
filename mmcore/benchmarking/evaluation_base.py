"""The base of every benchmark evaluation: its settings, the in-order test loader and the metrics all add.

:class:`BenchmarkEvaluation` computes a benchmark's own metrics (:meth:`~BenchmarkEvaluation.specific_metrics`,
one subclass per benchmark in :mod:`mmcore.benchmarking.evaluation` and :mod:`mmcore.benchmarking.cub_features`),
then, when the settings ask for them, linear latent classification and the IWAE test log-likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.loader import MultimodalLoader
from mmcore.data.splits import DataSplits
from mmcore.metrics import latent_classification_accuracy, test_log_likelihood
from mmcore.models.base import MultimodalVAE

JOINT_COHERENCE_SAMPLES = 10_000
"""Prior samples for joint coherence, as in MMVAE's and the seed's evaluation."""


@dataclass(frozen=True)
class EvaluationSettings:
    """How much evaluation a run gets: batch size, K of the log-likelihood (None: skipped), the latent probe,
    and the number of prior samples behind joint coherence."""

    batch_size: int = 500
    likelihood_samples: int | None = None
    latent_classification: bool = True
    joint_coherence_samples: int = JOINT_COHERENCE_SAMPLES
    seed: int = 0


def evaluation_loader(dataset: MultimodalDataset, batch_size: int) -> MultimodalLoader:
    """Batches of ``dataset`` in order (evaluation is deterministic given the metric's seed)."""
    return MultimodalLoader(dataset, batch_size)


def mixture_prior_log_density(model: MultimodalVAE) -> Callable[[Tensor], Tensor] | None:
    """log p(z) of a model whose prior is a mixture of pseudo-sample components (MEME), else None.

    Such a model's ``prior`` draws one component per sample, so its ``log_prob`` is not the prior's
    density; the IWAE bound needs log (1/C) Σ_c N(z; μ_c, σ_c²), computed here from the components.
    """
    components_of = getattr(model, "pseudo_sample_components", None)
    if not callable(components_of):
        return None

    def log_density(z: Tensor) -> Tensor:
        components = components_of()
        mean = components.mean.reshape(-1, model.latent_dim)  # (C, L)
        logvar = components.logvar.reshape(-1, model.latent_dim)
        difference = z.unsqueeze(-2) - mean  # (..., C, L)
        per_component = -0.5 * (difference.pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(per_component, dim=-1) - math.log(mean.shape[0])

    return log_density


class BenchmarkEvaluation:
    """Base class: ``evaluate(model, splits, settings)`` and the metric names the plot shows."""

    headline_metrics: tuple[str, ...] = ()
    latent_subsets: tuple[tuple[str, ...], ...] = ()

    def __init__(self) -> None:
        self.oracle_accuracies: dict[str, float | None] = {}

    def specific_metrics(
        self, model: MultimodalVAE, splits: DataSplits, settings: EvaluationSettings
    ) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self, model: MultimodalVAE, splits: DataSplits, settings: EvaluationSettings) -> dict[str, float]:
        """The benchmark's own metrics, then the latent probe and the log-likelihood if the settings ask."""
        results = self.specific_metrics(model, splits, settings)
        test_loader = evaluation_loader(splits.test, settings.batch_size)
        if settings.latent_classification:
            train_loader = evaluation_loader(splits.train, settings.batch_size)
            for subset in self.latent_subsets:
                results.update(latent_classification_accuracy(model, train_loader, test_loader, subset))
        if settings.likelihood_samples:
            results.update(
                test_log_likelihood(
                    model,
                    test_loader,
                    settings.likelihood_samples,
                    seed=settings.seed,
                    log_prior=mixture_prior_log_density(model),
                )
            )
        return results
