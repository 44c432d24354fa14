"""Observation models p(x | z): how a decoder's output scores the data.

A decoder maps latent codes to *parameters* (logits, means); a :class:`Likelihood` turns parameters and
data into a per-sample log-likelihood, summed over every axis but the batch axis. Parameters may carry
extra leading sample axes (IWAE draws K latents per sample); the data broadcasts against them.

Likelihoods are ``nn.Module`` so that a learned scale is an ordinary parameter that the optimiser,
checkpoints and DDP see.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LOG_2PI = math.log(2.0 * math.pi)


def _sum_event_axes(elementwise: Tensor, event_dims: int) -> Tensor:
    """Sum the trailing ``event_dims`` axes (everything after the batch axis)."""
    if event_dims == 0:
        return elementwise
    return elementwise.sum(dim=tuple(range(-event_dims, 0)))


class Likelihood(nn.Module):
    """Base class: ``log_prob(params, x)`` per sample, plus the mean and a sample of p(x | z)."""

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) summed over the event axes; shape ``params.shape[:-event_dims]``."""
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        """The expected value of x (what reconstruction and cross-generation show)."""
        raise NotImplementedError

    def sample(self, params: Tensor) -> Tensor:
        raise NotImplementedError


class BernoulliLikelihood(Likelihood):
    """Bernoulli on [0, 1] data with logits as parameters (binarised or grey-level MNIST, fingerprints)."""

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        event_dims = x.dim() - 1
        target = x.to(params.dtype).expand_as(params)
        elementwise = -F.binary_cross_entropy_with_logits(params, target, reduction="none")
        return _sum_event_axes(elementwise, event_dims)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params))


class GaussianLikelihood(Likelihood):
    """Gaussian with the decoder output as mean and a fixed or learned scalar standard deviation."""

    def __init__(self, scale: float = 1.0, learn_scale: bool = False) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(scale))
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        log_scale = self.log_scale.to(params.dtype)
        # The squared error in one fused kernel (and its gradient in one more), the constants per sample:
        # IWAE-style models score K draws per sample, where separate elementwise passes cost about a matmul.
        params, target = torch.broadcast_tensors(params, x.to(params.dtype))
        squared_error = _sum_event_axes(F.mse_loss(params, target, reduction="none"), x.dim() - 1)
        n_event_elements = math.prod(x.shape[1:])
        return -0.5 * torch.exp(-2.0 * log_scale) * squared_error - n_event_elements * (log_scale + 0.5 * _LOG_2PI)

    def mean(self, params: Tensor) -> Tensor:
        return params

    def sample(self, params: Tensor) -> Tensor:
        return params + torch.exp(self.log_scale) * torch.randn_like(params)


class LaplaceLikelihood(Likelihood):
    """Laplace with the decoder output as location and a fixed or learned scalar scale (MMVAE images)."""

    def __init__(self, scale: float = 0.75, learn_scale: bool = False) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(scale))
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        log_scale = self.log_scale.to(params.dtype)
        elementwise = -(x - params).abs() * torch.exp(-log_scale) - log_scale - math.log(2.0)
        return _sum_event_axes(elementwise, x.dim() - 1)

    def mean(self, params: Tensor) -> Tensor:
        return params

    def sample(self, params: Tensor) -> Tensor:
        return torch.distributions.Laplace(params, torch.exp(self.log_scale)).sample()


class CategoricalLikelihood(Likelihood):
    """Categorical over a vocabulary for token sequences (CUB captions).

    ``params`` are logits ``(..., batch, length, vocabulary)``; ``x`` holds token ids ``(batch, length)``.
    Positions equal to ``padding_index`` are not scored.
    """

    def __init__(self, padding_index: int | None = None) -> None:
        super().__init__()
        self.padding_index = padding_index

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        log_probs = torch.log_softmax(params, dim=-1)
        tokens = x.long()
        if self.padding_index is not None:
            # A padding index outside the vocabulary (-100, say) would break the gather: look up token 0 instead.
            padding = tokens == self.padding_index
            tokens = tokens.masked_fill(padding, 0)
        index = tokens.expand(*log_probs.shape[:-1]).unsqueeze(-1)
        elementwise = log_probs.gather(-1, index).squeeze(-1)
        if self.padding_index is not None:
            elementwise = elementwise.masked_fill(padding, 0.0)
        return _sum_event_axes(elementwise, x.dim() - 1)

    def mean(self, params: Tensor) -> Tensor:
        """The most probable token per position (a categorical has no meaningful mean)."""
        return params.argmax(-1)

    def sample(self, params: Tensor) -> Tensor:
        return torch.distributions.Categorical(logits=params).sample()


LIKELIHOODS: dict[str, type[Likelihood]] = {
    "bernoulli": BernoulliLikelihood,
    "gaussian": GaussianLikelihood,
    "laplace": LaplaceLikelihood,
    "categorical": CategoricalLikelihood,
}
