"""A minimal product-of-experts VAE for the trainer tests: the trainer must not depend on any real model."""

from __future__ import annotations

import torch
from torch import nn

from mmcore.distributions import kl_standard_normal, product_of_experts
from mmcore.likelihoods import GaussianLikelihood
from mmcore.modality import Modality
from mmcore.models.base import LossOutput, MultimodalVAE
from mmcore.networks import MLP, mlp_encoder


class ToyPoEVAE(MultimodalVAE):
    """q(z | x_S) = PoE of the present experts; loss = -ELBO of the present modalities, batch-averaged."""

    name = "toy-poe"
    description = "test-only product-of-experts VAE"

    def __init__(self, modalities, latent_dim):
        super().__init__(modalities, latent_dim)
        self.experts = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})

    def posterior(self, data, mask=None):
        present = self.presence(data, mask)
        batch = self.batch_size(data)
        like = next(iter(data.values()))
        means, logvars = [], []
        for name in self.modality_names:
            if name in data:
                expert = self.experts[name](data[name])
                means.append(expert.mean)
                logvars.append(expert.logvar)
            else:
                zeros = torch.zeros(batch, self.latent_dim, dtype=torch.float32, device=like.device)
                means.append(zeros)
                logvars.append(zeros)
        mask_stack = torch.stack([present[name] for name in self.modality_names])
        return product_of_experts(torch.stack(means), torch.stack(logvars), mask_stack)

    def loss(self, data, mask=None, beta=1.0):
        present = self.presence(data, mask)
        batch = self.batch_size(data)
        posterior = self.posterior(data, mask)
        z = self.rsample(posterior)
        total = beta * kl_standard_normal(posterior)
        terms = {"kl/posterior": kl_standard_normal(posterior).mean()}
        for name in self.modality_names:
            if name not in data:
                continue
            log_likelihood = self.log_likelihood(name, z, data[name])
            log_likelihood = torch.where(present[name], log_likelihood, torch.zeros_like(log_likelihood))
            total = total - self.reconstruction_weights[name] * log_likelihood
            terms[f"nll/{name}"] = -log_likelihood.sum() / batch
        return LossOutput(total.sum() / batch, terms)


def toy_modalities(n_modalities: int = 2, input_dim: int = 5, latent_dim: int = 2, hidden: int = 8):
    modalities = []
    for index in range(n_modalities):
        encoder, feature_dim = mlp_encoder(input_dim, [hidden])
        decoder = MLP(latent_dim, [hidden], input_dim)
        modalities.append(Modality(f"m{index}", encoder, feature_dim, decoder, GaussianLikelihood()))
    return modalities


def toy_model(seed: int = 0, n_modalities: int = 2, input_dim: int = 5, latent_dim: int = 2) -> ToyPoEVAE:
    """A freshly initialised toy model; the same seed gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ToyPoEVAE(toy_modalities(n_modalities, input_dim, latent_dim), latent_dim)


def correlated_data(n_samples: int = 40, input_dim: int = 5, n_modalities: int = 2, seed: int = 1):
    """Modalities that are noisy linear views of one shared 2-d factor."""
    generator = torch.Generator().manual_seed(seed)
    factor = torch.randn(n_samples, 2, generator=generator)
    data = {}
    for index in range(n_modalities):
        projection = torch.randn(2, input_dim, generator=generator)
        data[f"m{index}"] = factor @ projection + 0.1 * torch.randn(n_samples, input_dim, generator=generator)
    return data
