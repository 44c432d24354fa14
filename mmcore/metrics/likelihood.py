"""Test log-likelihood by importance sampling (the IWAE bound of Burda, Grosse & Salakhutdinov 2016).

For the modalities X_S a sample has,

    log p(X_S) ≥ log 1/K Σ_k p(X_S | z_k) p(z_k) / q(z_k | X_S),   z_k ~ q(z | X_S),

with p(X_S | z) = Π_{m ∈ S} p(x_m | z) (the likelihoods unweighted) and q the model's posterior given X_S.
The bound tightens as K grows and equals log p(X_S) when q is the exact posterior; with K = 1 its
expectation is the ELBO. The K draws are made and decoded in chunks of ``chunk_size``, so memory stays
bounded while each chunk runs as one batched decoder call.

The posterior must have a ``log_prob`` (:class:`~mmcore.distributions.DiagonalGaussian`,
:class:`~mmcore.distributions.MixtureOfExperts`, :class:`~mmcore.distributions.DiagonalLaplace` all do).
The prior density defaults to ``model.prior(batch).log_prob``, right for every model whose ``prior`` is
one fixed distribution (N(0, I), or MMVAE's Laplace prior). A model whose ``prior`` is a mixture sampled one
component per sample (MEME's pseudo-sample prior) needs ``log_prior`` passed explicitly, or the estimate is
not a bound on its likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalBatch
from mmcore.metrics._evaluation import (
    NoEvaluableSamplesError,
    batches_on,
    evaluating,
    has_all,
    model_device,
    seeded,
    select,
)
from mmcore.models.base import MultimodalVAE

LogDensity = Callable[[Tensor], Tensor]
"""log p(z) for z of shape ``(*samples, batch, latent)``, summed over the latent axis."""


def _prior_log_density(model: MultimodalVAE, log_prior: LogDensity | None, z: Tensor) -> Tensor:
    if log_prior is not None:
        return log_prior(z)
    return model.prior(z.shape[-2], like=z).log_prob(z)


def importance_log_likelihood(
    model: MultimodalVAE,
    data: Mapping[str, Tensor],
    mask: Mapping[str, Tensor] | None = None,
    n_importance_samples: int = 1000,
    *,
    chunk_size: int = 64,
    log_prior: LogDensity | None = None,
) -> Tensor:
    """Per-sample IWAE estimate of log p(X_S) ``(batch,)``, S the modalities each sample has.

    Random draws use the global generator; :func:`test_log_likelihood` seeds them. A sample with no
    modality gets 0 (the posterior given nothing is the prior, so every weight is 1) for models whose
    empty posterior is the prior.
    """
    if n_importance_samples <= 0 or chunk_size <= 0:
        raise ValueError(
            f"n_importance_samples and chunk_size must be positive, got {n_importance_samples} and {chunk_size}"
        )
    present = model.presence(data, mask)
    names = [name for name in model.modality_names if name in data]
    posterior = model.posterior(data, mask)
    log_q = getattr(posterior, "log_prob", None)
    if not callable(log_q):
        raise TypeError(f"the posterior of {type(model).__name__} ({type(posterior).__name__}) has no log_prob")
    log_weights = []
    for start in range(0, n_importance_samples, chunk_size):
        z = posterior.rsample(min(chunk_size, n_importance_samples - start))  # (k, batch, latent)
        log_weight = _prior_log_density(model, log_prior, z) - log_q(z)
        for name in names:
            log_likelihood = model.log_likelihood(name, z, data[name])
            # torch.where, not a product with the mask: a placeholder's log-likelihood may be inf or NaN.
            log_weight = log_weight + torch.where(present[name], log_likelihood, torch.zeros_like(log_likelihood))
        log_weights.append(log_weight)
    return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(n_importance_samples)


def test_log_likelihood(
    model: MultimodalVAE,
    loader: Iterable[MultimodalBatch],
    n_importance_samples: int = 1000,
    *,
    chunk_size: int = 64,
    seed: int | None = 0,
    log_prior: LogDensity | None = None,
) -> dict[str, float]:
    """Mean IWAE log-likelihood (nats per sample) of the joint and of each modality alone.

    ``log_likelihood/joint``: log p(x_1, ..., x_M) over the samples that have every modality, with the
    posterior given all of them as proposal. ``log_likelihood/<m>``: log p(x_m) over the samples that have
    m, with the posterior given x_m alone as proposal (the bound a user holding only x_m can compute). A key
    is left out when no sample qualifies.
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key: str, estimates: Tensor) -> None:
        sums[key] = sums.get(key, 0.0) + float(estimates.double().sum())
        counts[key] = counts.get(key, 0) + int(estimates.numel())

    names = model.modality_names
    device = model_device(model)

    def estimate(data: dict[str, Tensor]) -> Tensor:
        return importance_log_likelihood(
            model, data, None, n_importance_samples, chunk_size=chunk_size, log_prior=log_prior
        )

    with evaluating(model), seeded(seed, device):
        for batch in batches_on(loader, device, need_labels=False):
            complete = has_all(batch, names)
            if bool(complete.any()):
                add("log_likelihood/joint", estimate(select(batch.data, names, complete)))
            for name in names:
                keep = has_all(batch, [name])
                if bool(keep.any()):
                    add(f"log_likelihood/{name}", estimate(select(batch.data, [name], keep)))
    if not counts:
        raise NoEvaluableSamplesError("the loader yielded no sample with any modality")
    return {key: sums[key] / counts[key] for key in sums}


test_log_likelihood.__test__ = False  # a metric, not a test: keep pytest from collecting it when imported
