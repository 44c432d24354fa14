"""Tests of mmcore/metrics/likelihood.py against the linear-Gaussian model, where log p(x) is known exactly.

z ~ N(0, I), x_m = W_m z + b_m + σε: the marginal of any subset of modalities is Gaussian, N(b_S, W_S W_Sᵀ + σ²I),
and the exact posterior is Gaussian (diagonal here, by the choice of W). So: with the exact posterior as proposal
every importance weight equals p(x) and the estimate is exact for any K; with a wrong proposal the K = 1 estimate
averages to the closed-form ELBO, grows with K, and approaches log p(x).
"""

from __future__ import annotations

import math

import pytest
import torch
from metric_fakes import LinearGaussianVAE, linear_gaussian_parameters, loader_of, sample_linear_gaussian

from mmcore.metrics import importance_log_likelihood, test_log_likelihood
from mmcore.models import available_models, build_model
from mmcore.networks import MLP, mlp_encoder

NOISE_SCALE = 0.5


def linear_gaussian(kind: str = "exact", **shifts) -> LinearGaussianVAE:
    weights, offsets = linear_gaussian_parameters()
    return LinearGaussianVAE(weights, offsets, NOISE_SCALE, kind, **shifts)


def seeded_estimate(model, data, mask=None, n_samples=1, seed=0, **options):
    torch.manual_seed(seed)
    with torch.no_grad():
        return importance_log_likelihood(model, data, mask, n_samples, **options)


@pytest.mark.parametrize("kind", ["exact", "mixture"])
@pytest.mark.parametrize("n_samples", [1, 7])
def test_exact_posterior_gives_the_exact_likelihood_for_every_presence_pattern(kind, n_samples):
    model = linear_gaussian(kind)
    data = sample_linear_gaussian(model, 9, seed=0)
    mask = {
        "m0": torch.tensor([1, 1, 1, 0, 0, 0, 1, 1, 1], dtype=torch.bool),
        "m1": torch.tensor([1, 1, 0, 1, 1, 1, 0, 1, 1], dtype=torch.bool),
    }
    estimate = seeded_estimate(model, data, mask, n_samples, chunk_size=3)
    both = model.true_log_likelihood(data, ["m0", "m1"])
    only_m0 = model.true_log_likelihood(data, ["m0"])
    only_m1 = model.true_log_likelihood(data, ["m1"])
    expected = torch.where(mask["m0"] & mask["m1"], both, torch.where(mask["m0"], only_m0, only_m1))
    torch.testing.assert_close(estimate, expected, rtol=0, atol=1e-9)


def test_placeholder_values_of_missing_modalities_cannot_leak():
    """NaN where a modality is masked out must not reach the estimate (a mask product would give NaN)."""
    model = linear_gaussian()
    data = sample_linear_gaussian(model, 4, seed=1)
    mask = {"m0": torch.tensor([True, False, True, False]), "m1": torch.ones(4, dtype=torch.bool)}
    poisoned = {"m0": torch.where(mask["m0"].unsqueeze(-1), data["m0"], torch.nan), "m1": data["m1"]}
    estimate = seeded_estimate(model, poisoned, mask, 3)
    assert torch.isfinite(estimate).all()
    expected = torch.where(
        mask["m0"], model.true_log_likelihood(data, ["m0", "m1"]), model.true_log_likelihood(data, ["m1"])
    )
    torch.testing.assert_close(estimate, expected, rtol=0, atol=1e-9)


def test_one_sample_averages_to_the_elbo_and_more_samples_approach_the_likelihood():
    model = linear_gaussian("shifted", mean_shift=0.4, logvar_shift=0.7)
    names = ["m0", "m1"]
    data = sample_linear_gaussian(model, 4000, seed=2)
    elbo = model.elbo(data, names, model.posterior(data))
    truth = model.true_log_likelihood(data, names)
    assert float((truth - elbo).mean()) > 0.3, "the test needs a proposal far from the posterior"

    single = seeded_estimate(model, data, n_samples=1, seed=3)
    standard_error = float((single - elbo).std()) / math.sqrt(len(single))
    assert float(single.mean()) == pytest.approx(float(elbo.mean()), abs=4 * standard_error)

    subset = {name: value[:300] for name, value in data.items()}
    means = [float(seeded_estimate(model, subset, n_samples=k, seed=4, chunk_size=256).mean()) for k in (1, 16, 256)]
    assert means[0] < means[1] < means[2]
    converged = seeded_estimate(model, subset, n_samples=8192, seed=5, chunk_size=2048)
    assert float(converged.mean()) == pytest.approx(float(truth[:300].mean()), abs=0.01)
    assert float(converged.mean()) <= float(truth[:300].mean()) + 0.002  # a lower bound, up to Monte Carlo noise


def test_test_log_likelihood_averages_joint_and_unimodal_estimates_over_the_right_samples():
    model = linear_gaussian()
    data = sample_linear_gaussian(model, 50, seed=6)
    mask = {"m0": torch.arange(50) % 5 != 0, "m1": torch.arange(50) % 7 != 0}
    result = test_log_likelihood(model, loader_of(data, None, mask, batch_size=16), n_importance_samples=5)
    both = mask["m0"] & mask["m1"]
    expected = {
        "log_likelihood/joint": float(model.true_log_likelihood(data, ["m0", "m1"])[both].mean()),
        "log_likelihood/m0": float(model.true_log_likelihood(data, ["m0"])[mask["m0"]].mean()),
        "log_likelihood/m1": float(model.true_log_likelihood(data, ["m1"])[mask["m1"]].mean()),
    }
    assert result == pytest.approx(expected, abs=1e-9)


def test_seeded_estimates_repeat_and_leave_the_global_random_state_alone():
    model = linear_gaussian("shifted", mean_shift=0.3)
    loader = loader_of(sample_linear_gaussian(model, 20, seed=7), None)
    state = torch.get_rng_state()
    first = test_log_likelihood(model, loader, n_importance_samples=4, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    assert test_log_likelihood(model, loader, n_importance_samples=4, seed=11) == first
    assert test_log_likelihood(model, loader, n_importance_samples=4, seed=12) != first


# ---------------------------------------------------------------------------------------------- every registered model
def tiny_modalities(latent_dim: int = 3, input_dim: int = 6, hidden: int = 8):
    from mmcore.likelihoods import GaussianLikelihood
    from mmcore.modality import Modality

    modalities = []
    for index in range(2):
        encoder, feature_dim = mlp_encoder(input_dim, [hidden])
        modalities.append(
            Modality(f"m{index}", encoder, feature_dim, MLP(latent_dim, [hidden], input_dim), GaussianLikelihood())
        )
    return modalities


MODEL_CASES = [(name, {}) for name in sorted(available_models())] + [("mmvae", {"posterior": "laplace"})]


@pytest.mark.parametrize(("model_name", "options"), MODEL_CASES, ids=[f"{n}{o}" for n, o in MODEL_CASES])
def test_every_registered_model_gets_finite_estimates_that_grow_with_k(model_name, options):
    """Gaussian and mixture posteriors (and MMVAE's Laplace mixture with its Laplace prior) all work."""
    torch.manual_seed(0)
    model = build_model(model_name, tiny_modalities(), latent_dim=3, **options)
    generator = torch.Generator().manual_seed(1)
    shared = torch.randn(64, 2, generator=generator)
    data = {f"m{index}": shared @ torch.randn(2, 6, generator=generator) for index in range(2)}
    mask = {"m0": torch.arange(64) % 4 != 0, "m1": torch.arange(64) % 4 != 1}
    loader = loader_of(data, None, mask, batch_size=32)
    one = test_log_likelihood(model, loader, n_importance_samples=1)
    many = test_log_likelihood(model, loader, n_importance_samples=64)
    assert set(one) == {"log_likelihood/joint", "log_likelihood/m0", "log_likelihood/m1"}
    assert all(math.isfinite(value) for value in [*one.values(), *many.values()])
    # An untrained model's posterior is a poor proposal: the IWAE bound must rise clearly with K.
    assert all(many[key] > one[key] for key in one)
