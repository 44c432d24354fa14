"""Small builders shared by the model tests: tiny modalities and correlated synthetic batches."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from mmcore.likelihoods import LIKELIHOODS
from mmcore.modality import Modality
from mmcore.networks import MLP, mlp_encoder


def tiny_modalities(
    n_modalities: int = 2,
    input_dim: int = 6,
    latent_dim: int = 3,
    hidden: int = 8,
    likelihood: str = "gaussian",
    seed: int = 0,
) -> list[Modality]:
    """``n_modalities`` small MLP modalities named ``m0``, ``m1``, ... with reproducible weights.

    The global random state is left untouched: the weights come from a forked generator seeded with ``seed``.
    """
    modalities = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index in range(n_modalities):
            encoder, feature_dim = mlp_encoder(input_dim, [hidden])
            decoder = MLP(latent_dim, [hidden], input_dim)
            modalities.append(Modality(f"m{index}", encoder, feature_dim, decoder, LIKELIHOODS[likelihood]()))
    return modalities


def batch_with_presence(
    presence: dict[str, list[int]], input_dim: int = 6, seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Random data and a boolean mask for a presence pattern (``{"m0": [1, 0, ...], ...}``).

    The masked-out entries hold random values, not zeros, so a model that lets them leak is caught.
    """
    generator = torch.Generator().manual_seed(seed)
    batch = len(next(iter(presence.values())))
    data = {name: torch.randn(batch, input_dim, generator=generator, dtype=dtype) for name in presence}
    mask = {name: torch.tensor(flags, dtype=torch.bool) for name, flags in presence.items()}
    return data, mask


def use_fixed_noise(monkeypatch, model, noise: Tensor) -> None:
    """Make ``model.noise`` return ``noise``, checking that the model asks for exactly that shape."""

    def fixed(shape, like):
        assert tuple(shape) == tuple(noise.shape), f"the model asked for noise of shape {tuple(shape)}"
        return noise.to(like.dtype)

    monkeypatch.setattr(model, "noise", fixed)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run a training loop on one thread (the test machine's cores are shared), restoring the setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def correlated_batch(
    batch_size: int,
    n_modalities: int = 2,
    input_dim: int = 6,
    shared_dim: int = 2,
    noise_scale: float = 0.1,
    signal_scale: float = 1.0,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Modalities that are noisy linear views of one shared low-dimensional code (so fusion has something to learn)."""
    generator = torch.Generator().manual_seed(seed)
    shared = torch.randn(batch_size, shared_dim, generator=generator)
    data = {}
    for index in range(n_modalities):
        projection = torch.randn(shared_dim, input_dim, generator=generator)
        noise = noise_scale * torch.randn(batch_size, input_dim, generator=generator)
        data[f"m{index}"] = signal_scale * shared @ projection + noise
    return data


# ---------------------------------------------------------------------------------------------- ELBO parts by hand
# Written out from the formulas, independently of mmcore.distributions, for the hand-computed loss tests.
def gaussian_log_density_by_hand(x: Tensor, mean: Tensor, scale: float = 1.0) -> Tensor:
    """Σ_d log N(x_d; mean_d, scale²)."""
    return (-0.5 * ((x - mean) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2.0 * math.pi)).sum(-1)


def kl_standard_normal_by_hand(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, I)), summed over the last axis."""
    return 0.5 * (torch.exp(logvar) + mean**2 - 1.0 - logvar).sum(-1)


def kl_gaussians_by_hand(mean_q: Tensor, logvar_q: Tensor, mean_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(q ‖ p) of diagonal Gaussians, summed over the last axis."""
    variance_ratio = torch.exp(logvar_q) / torch.exp(logvar_p)
    squared_distance = (mean_q - mean_p) ** 2 / torch.exp(logvar_p)
    return 0.5 * (variance_ratio + squared_distance - 1.0 - torch.log(variance_ratio)).sum(-1)


def precision_product_by_hand(means: list[Tensor], logvars: list[Tensor], prior_expert: bool) -> tuple[Tensor, Tensor]:
    """Mean and log-variance of a product of Gaussian experts (plus an N(0, I) expert if ``prior_expert``)."""
    precision = sum(torch.exp(-logvar) for logvar in logvars) + (1.0 if prior_expert else 0.0)
    weighted_means = sum(mean * torch.exp(-logvar) for mean, logvar in zip(means, logvars, strict=True))
    return weighted_means / precision, -torch.log(precision)


def batch_missing_a_modality(
    missing_by: str, input_dim: int = 6, seed: int = 6
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Five samples of ``m0``, ``m1``, ``m2``: (m0, m1), m0 alone, m1 alone, (m0, m1), nothing.

    ``m2`` is missing from every sample, masked out (NaN data, an all-False mask) if ``missing_by`` is ``"mask"``,
    or left out of the batch and the mask if it is ``"absent key"``. Every missing entry is NaN, so a placeholder
    that reaches the loss shows.
    """
    if missing_by not in ("mask", "absent key"):
        raise ValueError(f"missing_by must be 'mask' or 'absent key', got {missing_by!r}")
    presence = {"m0": [1, 1, 0, 1, 0], "m1": [1, 0, 1, 1, 0], "m2": [0, 0, 0, 0, 0]}
    data, mask = batch_with_presence(presence, input_dim, seed=seed, dtype=torch.float32)
    for name in data:
        data[name][~mask[name]] = math.nan
    if missing_by == "absent key":
        del data["m2"], mask["m2"]
    return data, mask


def gradient_norm(module: torch.nn.Module) -> float:
    """Σ |gradient| over a module's parameters (a parameter without a gradient counts zero)."""
    return sum(0.0 if p.grad is None else float(p.grad.abs().sum()) for p in module.parameters())
