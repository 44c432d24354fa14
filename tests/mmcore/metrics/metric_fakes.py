"""Models whose outputs the metric tests choose, so that every metric has a value known in advance.

:class:`ScriptedVAE` is a real :class:`~mmcore.models.base.MultimodalVAE` (the metrics see nothing else) whose
posterior and decoders are plain functions given by the test. :class:`LinearGaussianVAE` is the linear-Gaussian
model z ~ N(0, I), x_m = W_m z + b_m + σε, whose marginal likelihood and exact posterior are known in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.loader import MultimodalLoader
from mmcore.distributions import LOGVAR_MIN, DiagonalGaussian, MixtureOfExperts
from mmcore.likelihoods import GaussianLikelihood
from mmcore.modality import Modality
from mmcore.models.base import MultimodalVAE

N_CLASSES = 10


class FunctionModule(nn.Module):
    """An ``nn.Module`` computing a fixed function (a decoder chosen by the test)."""

    def __init__(self, function: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, z: Tensor) -> Tensor:
        return self.function(z)


PosteriorRule = Callable[[Mapping[str, Tensor], Mapping[str, Tensor]], object]
"""(presence per modality, data) -> a posterior."""


class ScriptedVAE(MultimodalVAE):
    """A model whose posterior rule and decoders are given as functions. Gaussian likelihoods: decode_mean = decoder."""

    name = "scripted-test-model"
    description = "a model whose outputs a test chooses (never registered)"

    def __init__(
        self,
        decoders: Mapping[str, Callable[[Tensor], Tensor]],
        latent_dim: int,
        posterior_rule: PosteriorRule,
        scale: float = 1.0,
    ) -> None:
        modalities = [
            Modality(name, nn.Identity(), 1, FunctionModule(function), GaussianLikelihood(scale))
            for name, function in decoders.items()
        ]
        super().__init__(modalities, latent_dim)
        # A parameter, so that prior() and the metrics find the model's dtype and device.
        self.anchor = nn.Parameter(torch.zeros(()))
        self.posterior_rule = posterior_rule

    def posterior(self, data, mask=None):
        return self.posterior_rule(self.presence(data, mask), data)

    def loss(self, data, mask=None, beta=1.0):
        raise NotImplementedError("a scripted model is for metrics only")


def one_hot(labels: Tensor, width: int = N_CLASSES) -> Tensor:
    return torch.nn.functional.one_hot(labels.long(), width).float()


def weighted_sum_posterior(weights: Mapping[str, float], latent_dim: int) -> PosteriorRule:
    """Posterior mean Σ_m w_m x_m over the present modalities (zero-padded to latent_dim), tiny variance."""

    def rule(present: Mapping[str, Tensor], data: Mapping[str, Tensor]) -> DiagonalGaussian:
        batch = next(iter(data.values())).shape[0]
        mean = torch.zeros(batch, latent_dim)
        for name, weight in weights.items():
            if name in data:
                padded = torch.nn.functional.pad(data[name], (0, latent_dim - data[name].shape[-1]))
                mean = mean + torch.where(present[name].unsqueeze(-1), weight * padded, torch.zeros_like(padded))
        return DiagonalGaussian(mean, torch.full_like(mean, LOGVAR_MIN))

    return rule


def first_block(z: Tensor) -> Tensor:
    return z[..., :N_CLASSES]


def second_block(z: Tensor) -> Tensor:
    return z[..., N_CLASSES : 2 * N_CLASSES]


def constant_class(label: int) -> Callable[[Tensor], Tensor]:
    def decoder(z: Tensor) -> Tensor:
        return one_hot(torch.full(z.shape[:-1], label), N_CLASSES).to(z)

    return decoder


def zeros_decoder(z: Tensor) -> Tensor:
    return torch.zeros(*z.shape[:-1], N_CLASSES, dtype=z.dtype)


def argmax_of(name: str) -> Callable[[Mapping[str, Tensor]], Tensor]:
    """A perfect 'oracle' for one-hot modalities: the index of the largest entry."""

    def classify(data: Mapping[str, Tensor]) -> Tensor:
        return data[name].argmax(-1)

    return classify


def loader_of(
    data: Mapping[str, Tensor], labels: Tensor | None, mask: Mapping[str, Tensor] | None = None, batch_size: int = 64
) -> MultimodalLoader:
    return MultimodalLoader(MultimodalDataset(data, mask, labels), batch_size)


# ---------------------------------------------------------------------------------------------- linear-Gaussian
class LinearGaussianVAE(MultimodalVAE):
    """z ~ N(0, I_L), x_m | z ~ N(W_m z + b_m, σ² I); each W_mᵀW_m is diagonal, so exact posteriors are diagonal.

    ``posterior_kind``: ``"exact"`` (the true posterior given the present modalities), ``"shifted"`` (the exact one
    with its mean moved by ``mean_shift`` and log-variance by ``logvar_shift``), ``"mixture"`` (a two-component
    mixture of the exact posterior with itself).
    """

    name = "linear-gaussian-test-model"
    description = "the linear-Gaussian model with closed-form likelihood (never registered)"

    def __init__(
        self,
        weights: Mapping[str, Tensor],
        offsets: Mapping[str, Tensor],
        noise_scale: float,
        posterior_kind: str = "exact",
        mean_shift: float = 0.0,
        logvar_shift: float = 0.0,
    ) -> None:
        latent_dim = next(iter(weights.values())).shape[1]
        modalities = []
        for name, weight in weights.items():
            decoder = nn.Linear(latent_dim, weight.shape[0]).double()
            with torch.no_grad():
                decoder.weight.copy_(weight)
                decoder.bias.copy_(offsets[name])
            likelihood = GaussianLikelihood(noise_scale).double()
            # Exactly log σ in float64 (the buffer starts as float32, off by ~1e-8).
            likelihood.log_scale = torch.tensor(math.log(noise_scale), dtype=torch.float64)
            modalities.append(Modality(name, nn.Identity(), 1, decoder, likelihood))
        super().__init__(modalities, latent_dim)
        self.weights = {name: weight.double() for name, weight in weights.items()}
        self.offsets = {name: offset.double() for name, offset in offsets.items()}
        self.noise_scale = noise_scale
        self.posterior_kind = posterior_kind
        self.mean_shift = mean_shift
        self.logvar_shift = logvar_shift

    def exact_posterior(self, data, mask=None) -> DiagonalGaussian:
        present = self.presence(data, mask)
        batch = self.batch_size(data)
        variance = self.noise_scale**2
        precision = torch.ones(batch, self.latent_dim, dtype=torch.float64)
        information = torch.zeros(batch, self.latent_dim, dtype=torch.float64)
        for name in self.modality_names:
            if name not in data:
                continue
            weight = self.weights[name]
            keep = present[name].unsqueeze(-1)
            residual = torch.where(keep, data[name] - self.offsets[name], torch.zeros_like(data[name]))
            precision = precision + torch.where(keep, (weight**2).sum(0) / variance, torch.zeros_like(precision))
            information = information + residual @ weight / variance
        return DiagonalGaussian(information / precision, -torch.log(precision))

    def posterior(self, data, mask=None):
        exact = self.exact_posterior(data, mask)
        if self.posterior_kind == "exact":
            return exact
        if self.posterior_kind == "shifted":
            return DiagonalGaussian(exact.mean + self.mean_shift, exact.logvar + self.logvar_shift)
        if self.posterior_kind == "mixture":
            components = DiagonalGaussian(torch.stack([exact.mean] * 2), torch.stack([exact.logvar] * 2))
            return MixtureOfExperts(components, torch.ones(2, exact.mean.shape[0], dtype=torch.bool))
        raise ValueError(self.posterior_kind)

    def loss(self, data, mask=None, beta=1.0):
        raise NotImplementedError("a closed-form test model")

    # ------------------------------------------------------------------ closed forms
    def true_log_likelihood(self, data: Mapping[str, Tensor], names: Sequence[str]) -> Tensor:
        """log N(x_S; b_S, W_S W_Sᵀ + σ² I) per sample, S = ``names``."""
        weight = torch.cat([self.weights[name] for name in names])
        offset = torch.cat([self.offsets[name] for name in names])
        x = torch.cat([data[name] for name in names], dim=-1)
        covariance = weight @ weight.T + self.noise_scale**2 * torch.eye(weight.shape[0], dtype=torch.float64)
        return torch.distributions.MultivariateNormal(offset, covariance).log_prob(x)

    def elbo(self, data: Mapping[str, Tensor], names: Sequence[str], q: DiagonalGaussian) -> Tensor:
        """E_q[Σ_m log p(x_m | z)] − KL(q ‖ N(0, I)) in closed form."""
        variance = self.noise_scale**2
        expected = torch.zeros(q.mean.shape[0], dtype=torch.float64)
        for name in names:
            weight = self.weights[name]
            residual = data[name] - q.mean @ weight.T - self.offsets[name]
            spread = (torch.exp(q.logvar) * (weight**2).sum(0)).sum(-1)
            dimension = weight.shape[0]
            expected = expected - 0.5 * ((residual**2).sum(-1) + spread) / variance
            expected = expected - 0.5 * dimension * math.log(2 * math.pi * variance)
        kl = 0.5 * (torch.exp(q.logvar) + q.mean**2 - 1.0 - q.logvar).sum(-1)
        return expected - kl


def linear_gaussian_parameters() -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Two 3-dimensional modalities of a 2-dimensional latent; W_mᵀW_m diagonal (orthogonal columns)."""
    weights = {
        "m0": torch.tensor([[1.2, 0.0], [0.0, 0.5], [0.0, 0.5]], dtype=torch.float64),
        "m1": torch.tensor([[0.6, 0.0], [0.0, 0.8], [0.8, 0.0]], dtype=torch.float64),
    }
    offsets = {
        "m0": torch.tensor([0.5, -1.0, 0.25], dtype=torch.float64),
        "m1": torch.tensor([0.0, 2.0, -0.5], dtype=torch.float64),
    }
    return weights, offsets


def sample_linear_gaussian(model: LinearGaussianVAE, n_samples: int, seed: int) -> dict[str, Tensor]:
    """Data drawn from the model itself."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n_samples, model.latent_dim, generator=generator, dtype=torch.float64)
    return {
        name: z @ model.weights[name].T
        + model.offsets[name]
        + model.noise_scale
        * torch.randn(n_samples, model.weights[name].shape[0], generator=generator, dtype=torch.float64)
        for name in model.modality_names
    }
