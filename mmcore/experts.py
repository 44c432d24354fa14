"""Encoders that output a Gaussian over the latent space: single-modality experts and subset networks."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, clamp_logvar


def fresh_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with the same architecture and newly initialised parameters.

    Why: models such as SVAE need several networks of one architecture (q_i^j for every pair); the user
    describes the architecture once, and every copy must start from its own random initialisation.
    """
    clone = copy.deepcopy(module)
    for submodule in clone.modules():
        reset = getattr(submodule, "reset_parameters", None)
        if callable(reset):
            reset()
    return clone


class GaussianHead(nn.Module):
    """Linear map from features to a Gaussian's mean and (clamped) log-variance."""

    def __init__(self, feature_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(feature_dim, 2 * latent_dim)

    def forward(self, features: Tensor) -> DiagonalGaussian:
        mean, logvar = self.linear(features).chunk(2, dim=-1)
        return DiagonalGaussian(mean, clamp_logvar(logvar))


class ExpertEncoder(nn.Module):
    """q(z | x_i): the modality's feature network followed by a Gaussian head."""

    def __init__(self, body: nn.Module, feature_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.body = body
        self.head = GaussianHead(feature_dim, latent_dim)

    def forward(self, x: Tensor) -> DiagonalGaussian:
        return self.head(self.body(x))


class SubsetEncoder(nn.Module):
    """q(z | x_S) for a subset S of modalities: each member's own feature network, concatenated, one head.

    This is VAEVAE (b)'s joint network (Wu & Goodman 2019) and, for n modalities, the network per subset of
    the VAEVAE family; its parameters grow with |S|, which gives the k·n·2ⁿ⁻¹ count of the seed paper.
    """

    def __init__(self, bodies: Mapping[str, nn.Module], feature_dims: Mapping[str, int], latent_dim: int) -> None:
        super().__init__()
        self.names = list(bodies)
        self.bodies = nn.ModuleDict(bodies)
        self.head = GaussianHead(sum(feature_dims[name] for name in self.names), latent_dim)

    def forward(self, data: Mapping[str, Tensor]) -> DiagonalGaussian:
        features = torch.cat([self.bodies[name](data[name]) for name in self.names], dim=-1)
        return self.head(features)
