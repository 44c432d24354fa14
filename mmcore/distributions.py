"""Latent distributions and their algebra: diagonal Gaussians, Laplaces, products and mixtures of experts.

Every fusion model in :mod:`mmcore.models` builds its posterior from the pieces in this module, so
the numerics (log-variance clamping, precision weighting in log space, masking of missing experts)
live in exactly one place and are tested once (``tests/mmcore/test_distributions.py``).

Conventions
-----------
* Tensors have shape ``(..., batch, latent_dim)``; log-densities and KLs sum over the last axis.
* A *mask* marks which experts are present per sample: shape ``(n_experts, batch)``, boolean.
  A masked-out expert contributes zero precision and zero gradient, whatever its encoder produced
  (even NaN), which is what lets every model train on partially paired data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOGVAR_MIN = -12.0
"""Smallest log-variance an encoder may output (std ≈ 2.5e-3); keeps precisions finite."""
LOGVAR_MAX = 8.0
"""Largest log-variance an encoder may output (std ≈ 55); keeps samples finite."""

_LOG_2PI = math.log(2.0 * math.pi)


def clamp_logvar(logvar: Tensor) -> Tensor:
    """Clamp a log-variance into ``[LOGVAR_MIN, LOGVAR_MAX]``.

    Why: a few exploding encoder outputs early in training otherwise give infinite precisions in a
    product of experts, and then NaN losses.
    """
    return logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


def draw_standard_normal(
    shape: torch.Size | tuple[int, ...], like: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Standard normal noise with the dtype and device of ``like``."""
    return torch.randn(shape, dtype=like.dtype, device=like.device, generator=generator)


@dataclass(frozen=True)
class DiagonalGaussian:
    """A Gaussian with diagonal covariance, parametrised by mean and log-variance."""

    mean: Tensor
    logvar: Tensor

    @classmethod
    def standard(cls, shape: tuple[int, ...], like: Tensor | None = None) -> DiagonalGaussian:
        """The N(0, I) prior with the given shape (dtype/device of ``like`` when given)."""
        kwargs = {} if like is None else {"dtype": like.dtype, "device": like.device}
        zeros = torch.zeros(shape, **kwargs)
        return cls(zeros, zeros)

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def variance(self) -> Tensor:
        return torch.exp(self.logvar)

    def rsample(self, n_samples: int | None = None, noise: Tensor | None = None) -> Tensor:
        """Reparametrised sample ``mean + std * noise``; shape ``(n_samples, *mean.shape)`` if n_samples.

        ``noise`` (standard normal, broadcastable) may be given to make a computation deterministic,
        as the hand-computed ELBO tests do.
        """
        shape = self.mean.shape if n_samples is None else (n_samples, *self.mean.shape)
        if noise is None:
            noise = draw_standard_normal(shape, self.mean)
        return self.mean + self.std * noise

    def log_prob(self, z: Tensor) -> Tensor:
        """Log-density summed over the latent axis; broadcasts leading sample axes of ``z``."""
        squared = (z - self.mean) ** 2 * torch.exp(-self.logvar)
        return -0.5 * (squared + self.logvar + _LOG_2PI).sum(-1)

    def detach(self) -> DiagonalGaussian:
        """A copy through which no gradient flows (the 'stop-gradient' of DReG and MEME)."""
        return DiagonalGaussian(self.mean.detach(), self.logvar.detach())

    def index(self, index: Tensor | slice) -> DiagonalGaussian:
        """Select samples along the batch axis (the second-to-last axis)."""
        return DiagonalGaussian(self.mean[..., index, :], self.logvar[..., index, :])


@dataclass(frozen=True)
class DiagonalLaplace:
    """A Laplace distribution with independent coordinates (MMVAE's alternative posterior).

    Parametrised by location and log-*variance* so that encoders and clamping are shared with
    :class:`DiagonalGaussian`; the Laplace scale is ``b = sqrt(variance / 2)``.
    """

    mean: Tensor
    logvar: Tensor

    @property
    def scale(self) -> Tensor:
        return torch.exp(0.5 * self.logvar) / math.sqrt(2.0)

    def rsample(self, n_samples: int | None = None, noise: Tensor | None = None) -> Tensor:
        """Reparametrised sample through the inverse CDF; ``noise`` is uniform on (-1/2, 1/2)."""
        shape = self.mean.shape if n_samples is None else (n_samples, *self.mean.shape)
        if noise is None:
            eps = torch.finfo(self.mean.dtype).eps
            noise = torch.rand(shape, dtype=self.mean.dtype, device=self.mean.device) - 0.5
            noise = noise.clamp(-0.5 + eps, 0.5 - eps)
        return self.mean - self.scale * noise.sign() * torch.log1p(-2.0 * noise.abs())

    def log_prob(self, z: Tensor) -> Tensor:
        scale = self.scale
        return (-(z - self.mean).abs() / scale - torch.log(2.0 * scale)).sum(-1)

    def detach(self) -> DiagonalLaplace:
        return DiagonalLaplace(self.mean.detach(), self.logvar.detach())


def kl_divergence(q: DiagonalGaussian, p: DiagonalGaussian) -> Tensor:
    """KL(q ‖ p) between diagonal Gaussians in closed form, summed over the latent axis."""
    ratio = torch.exp(q.logvar - p.logvar)
    squared = (q.mean - p.mean) ** 2 * torch.exp(-p.logvar)
    return 0.5 * (ratio + squared - 1.0 + p.logvar - q.logvar).sum(-1)


def kl_standard_normal(q: DiagonalGaussian) -> Tensor:
    """KL(q ‖ N(0, I)), summed over the latent axis."""
    return 0.5 * (torch.exp(q.logvar) + q.mean**2 - 1.0 - q.logvar).sum(-1)


def product_of_experts(
    means: Tensor,
    logvars: Tensor,
    mask: Tensor | None = None,
    prior_expert: bool = False,
) -> DiagonalGaussian:
    """Precision-weighted product of Gaussian experts, computed in log space.

    ``means`` and ``logvars`` have shape ``(n_experts, ..., batch, latent)``; ``mask`` has shape
    ``(n_experts, ..., batch)`` and marks present experts. The product of Gaussians N(μ_i, σ_i²) is
    Gaussian with precision Σ_i σ_i⁻² and mean Σ_i μ_i σ_i⁻² / Σ_i σ_i⁻²; here both are taken as a
    log-sum-exp and a softmax over ``-logvar``, which stays finite for clamped log-variances.

    A masked-out expert contributes exactly nothing: zero precision and zero gradient, even if its
    mean or log-variance is NaN. With ``prior_expert`` an N(0, I) expert joins the product (MVAE).
    A sample with no present expert gets N(0, I): the posterior given nothing is the prior.
    """
    if mask is None:
        mask = torch.ones(means.shape[:-1], dtype=torch.bool, device=means.device)
    mask = mask.to(torch.bool)
    expanded = mask.unsqueeze(-1).expand_as(means)
    means = torch.where(expanded, means, torch.zeros_like(means))
    log_precisions = torch.where(expanded, -logvars, torch.full_like(logvars, -math.inf))

    # The prior expert is always present with MVAE; otherwise it stands in only for empty samples.
    prior_present = torch.ones_like(mask[0]) if prior_expert else ~mask.any(0)
    prior_log_precision = torch.where(
        prior_present.unsqueeze(-1).expand_as(means[0]),
        torch.zeros_like(means[0]),
        torch.full_like(means[0], -math.inf),
    )
    log_precisions = torch.cat([log_precisions, prior_log_precision.unsqueeze(0)], 0)
    means = torch.cat([means, torch.zeros_like(means[:1])], 0)

    weights = torch.softmax(log_precisions, dim=0)
    joint_mean = (weights * means).sum(0)
    joint_logvar = -torch.logsumexp(log_precisions, dim=0)
    return DiagonalGaussian(joint_mean, joint_logvar)


@dataclass(frozen=True)
class MixtureOfExperts:
    """A uniform mixture over the present components (MMVAE, MoPoE's subset mixture).

    ``components`` is a Gaussian (or Laplace) with a leading component axis ``(n_components, batch, latent)``;
    ``mask`` ``(n_components, batch)`` marks the components that take part for each sample.
    ``mean``/``logvar`` give the mixture's moment-matched Gaussian (used for reconstruction and
    embeddings); :meth:`rsample` draws from a random present component per sample.
    """

    components: DiagonalGaussian | DiagonalLaplace
    mask: Tensor

    @property
    def weights(self) -> Tensor:
        present = self.mask.to(self.components.mean.dtype)
        return present / present.sum(0, keepdim=True).clamp_min(1.0)

    def present_components(self) -> DiagonalGaussian | DiagonalLaplace:
        """The components with every absent one replaced by a standard one (zero mean and log-variance).

        Why: weighting an absent component by zero is not enough, 0 · NaN = NaN in the value and in the
        gradient; selecting with ``torch.where`` keeps an absent component's values, even NaN, out of the
        mixture's moments, samples and density, and gives them exactly zero gradient.
        """
        keep = self.mask.unsqueeze(-1)
        mean, logvar = self.components.mean, self.components.logvar
        return type(self.components)(
            torch.where(keep, mean, torch.zeros_like(mean)), torch.where(keep, logvar, torch.zeros_like(logvar))
        )

    @property
    def mean(self) -> Tensor:
        return (self.weights.unsqueeze(-1) * self.present_components().mean).sum(0)

    @property
    def logvar(self) -> Tensor:
        weights = self.weights.unsqueeze(-1)
        components = self.present_components()
        mean = (weights * components.mean).sum(0)
        second_moment = (weights * (torch.exp(components.logvar) + components.mean**2)).sum(0)
        return torch.log((second_moment - mean**2).clamp_min(math.exp(LOGVAR_MIN)))

    def choose_components(self, n_samples: int | None = None) -> Tensor:
        """Index of a uniformly chosen present component for every (sample, batch element)."""
        n_components, batch = self.mask.shape
        probabilities = self.weights.T  # (batch, n_components)
        # A sample with no present component falls back to a uniform choice (its weights are zero).
        has_component = probabilities.sum(-1, keepdim=True) > 0
        probabilities = torch.where(has_component, probabilities, torch.ones_like(probabilities))
        draws = 1 if n_samples is None else n_samples
        chosen = torch.multinomial(probabilities, draws, replacement=True).T  # (draws, batch)
        return chosen[0] if n_samples is None else chosen

    def rsample(self, n_samples: int | None = None) -> Tensor:
        """Draw from one present component per sample (reparametrised within that component)."""
        draws = self.present_components().rsample(n_samples)  # (*n, n_components, batch, latent)
        chosen = self.choose_components(n_samples)  # (*n, batch)
        index = chosen.unsqueeze(-2).unsqueeze(-1).expand(*chosen.shape[:-1], 1, chosen.shape[-1], draws.shape[-1])
        return draws.gather(-3, index).squeeze(-3)

    def log_prob(self, z: Tensor) -> Tensor:
        """log Σ_m w_m q_m(z) for ``z`` of shape ``(*samples, batch, latent)``."""
        component_log_probs = self.present_components().log_prob(z.unsqueeze(-3))  # (*samples, n_components, batch)
        return torch.logsumexp(component_log_probs + torch.log(self.weights), dim=-2)
