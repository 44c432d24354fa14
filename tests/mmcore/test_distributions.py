"""Numeric tests of mmcore/distributions.py against closed forms, numerical integration and torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Laplace, Normal

from mmcore.distributions import (
    LOGVAR_MAX,
    LOGVAR_MIN,
    DiagonalGaussian,
    DiagonalLaplace,
    MixtureOfExperts,
    clamp_logvar,
    kl_divergence,
    kl_standard_normal,
    product_of_experts,
)

DTYPE = torch.float64


def random_experts(n_experts: int, batch: int, latent: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(n_experts, batch, latent, generator=generator, dtype=DTYPE)
    logvars = torch.randn(n_experts, batch, latent, generator=generator, dtype=DTYPE)
    return means, logvars


def closed_form_product(means, logvars, mask, prior_expert=False):
    """Precision-weighted product, written out: precision = Σ σ⁻², mean = Σ μ σ⁻² / precision."""
    precisions = torch.exp(-logvars) * mask.unsqueeze(-1).to(DTYPE)
    total_precision = precisions.sum(0) + (1.0 if prior_expert else 0.0)
    mean = (torch.where(mask.unsqueeze(-1), means, 0.0) * precisions).sum(0) / total_precision
    return mean, -torch.log(total_precision)


# ---------------------------------------------------------------------------------------------- product of experts
def test_product_of_experts_equals_precision_weighted_closed_form():
    means, logvars = random_experts(3, 5, 4, seed=0)
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 0, 1, 1, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    product = product_of_experts(means, logvars, mask)
    expected_mean, expected_logvar = closed_form_product(means, logvars, mask)
    torch.testing.assert_close(product.mean, expected_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(product.logvar, expected_logvar, rtol=1e-12, atol=1e-12)


def test_product_of_one_expert_is_that_expert():
    means, logvars = random_experts(1, 3, 2, seed=1)
    product = product_of_experts(means, logvars)
    torch.testing.assert_close(product.mean, means[0])
    torch.testing.assert_close(product.logvar, logvars[0])


def test_product_of_experts_in_one_dimension_matches_normalised_product_of_densities_on_a_grid():
    means = torch.tensor([[[0.7]], [[-1.2]], [[2.0]]], dtype=DTYPE)
    logvars = torch.log(torch.tensor([[[0.5]], [[2.0]], [[1.5]]], dtype=DTYPE))
    product = product_of_experts(means, logvars)

    grid = torch.linspace(-15.0, 15.0, 300_001, dtype=DTYPE)
    # Tensors, not Python floats: torch.distributions would turn floats into float32 parameters.
    experts = [Normal(m.reshape(()), torch.exp(0.5 * v.reshape(()))) for m, v in zip(means, logvars, strict=True)]
    log_density = sum(expert.log_prob(grid) for expert in experts)
    density = torch.exp(log_density - log_density.max())
    normaliser = torch.trapezoid(density, grid)
    numeric_mean = torch.trapezoid(grid * density, grid) / normaliser
    numeric_variance = torch.trapezoid((grid - numeric_mean) ** 2 * density, grid) / normaliser

    assert product.mean.item() == pytest.approx(numeric_mean.item(), abs=1e-10)
    assert product.variance.item() == pytest.approx(numeric_variance.item(), rel=1e-9)


def test_masked_out_expert_changes_nothing_even_if_nan_and_gets_zero_gradient():
    means, logvars = random_experts(3, 4, 2, seed=2)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    reference = product_of_experts(means[:2], logvars[:2], mask[:2])

    poisoned_means = means.clone()
    poisoned_logvars = logvars.clone()
    poisoned_means[2] = math.nan
    poisoned_logvars[2] = math.nan
    # Also poison the masked-out entries of the present experts.
    poisoned_means[0, 3] = math.nan
    poisoned_logvars[1, 1] = math.inf
    poisoned_means.requires_grad_(True)
    poisoned_logvars.requires_grad_(True)

    product = product_of_experts(poisoned_means, poisoned_logvars, mask)
    torch.testing.assert_close(product.mean, reference.mean)
    torch.testing.assert_close(product.logvar, reference.logvar)

    (product.mean.sum() + product.logvar.sum()).backward()
    assert torch.equal(poisoned_means.grad[2], torch.zeros_like(poisoned_means.grad[2]))
    assert torch.equal(poisoned_logvars.grad[2], torch.zeros_like(poisoned_logvars.grad[2]))
    assert torch.equal(poisoned_means.grad[0, 3], torch.zeros(2, dtype=DTYPE))
    assert torch.equal(poisoned_logvars.grad[1, 1], torch.zeros(2, dtype=DTYPE))
    assert torch.isfinite(poisoned_means.grad).all() and torch.isfinite(poisoned_logvars.grad).all()
    assert poisoned_means.grad[0, 0].abs().sum() > 0


def test_prior_expert_adds_a_standard_normal_factor():
    means, logvars = random_experts(2, 4, 3, seed=3)
    mask = torch.tensor([[1, 0, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    product = product_of_experts(means, logvars, mask, prior_expert=True)
    expected_mean, expected_logvar = closed_form_product(means, logvars, mask, prior_expert=True)
    torch.testing.assert_close(product.mean, expected_mean)
    torch.testing.assert_close(product.logvar, expected_logvar)
    # The same as an explicit N(0, I) expert that is always present.
    with_prior = product_of_experts(
        torch.cat([means, torch.zeros_like(means[:1])]),
        torch.cat([logvars, torch.zeros_like(logvars[:1])]),
        torch.cat([mask, torch.ones_like(mask[:1])]),
    )
    torch.testing.assert_close(product.mean, with_prior.mean)
    torch.testing.assert_close(product.logvar, with_prior.logvar)
    # A single unit-variance expert at mean m with the prior: precision 2, mean m / 2.
    single = product_of_experts(torch.full((1, 1, 1), 3.0, dtype=DTYPE), torch.zeros(1, 1, 1, dtype=DTYPE), None, True)
    assert single.mean.item() == pytest.approx(1.5)
    assert single.logvar.item() == pytest.approx(-math.log(2.0))


@pytest.mark.parametrize("prior_expert", [False, True])
def test_sample_with_no_expert_gets_standard_normal(prior_expert):
    means, logvars = random_experts(2, 3, 2, seed=4)
    means[:, 1] = math.nan
    mask = torch.tensor([[1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    product = product_of_experts(means, logvars, mask, prior_expert=prior_expert)
    assert torch.equal(product.mean[1], torch.zeros(2, dtype=DTYPE))
    assert torch.equal(product.logvar[1], torch.zeros(2, dtype=DTYPE))
    assert torch.isfinite(product.mean).all()


def test_product_of_experts_broadcasts_extra_axes():
    means, logvars = random_experts(2, 6, 3, seed=5)
    mask = torch.rand(2, 6, generator=torch.Generator().manual_seed(0)) > 0.3
    flat = product_of_experts(means, logvars, mask)
    shaped = product_of_experts(means.reshape(2, 2, 3, 3), logvars.reshape(2, 2, 3, 3), mask.reshape(2, 2, 3))
    torch.testing.assert_close(shaped.mean.reshape(6, 3), flat.mean)
    torch.testing.assert_close(shaped.logvar.reshape(6, 3), flat.logvar)


# ---------------------------------------------------------------------------------------------- KL and densities
def independent_normal(gaussian: DiagonalGaussian) -> Independent:
    return Independent(Normal(gaussian.mean, gaussian.std), 1)


def test_kl_divergence_matches_torch_distributions():
    means, logvars = random_experts(2, 5, 4, seed=6)
    q = DiagonalGaussian(means[0], logvars[0])
    p = DiagonalGaussian(means[1], logvars[1])
    expected = torch.distributions.kl_divergence(independent_normal(q), independent_normal(p))
    torch.testing.assert_close(kl_divergence(q, p), expected)
    assert torch.equal(kl_divergence(q, q), torch.zeros(5, dtype=DTYPE))


def test_kl_standard_normal_matches_torch_distributions():
    means, logvars = random_experts(1, 5, 4, seed=7)
    q = DiagonalGaussian(means[0], logvars[0])
    standard = DiagonalGaussian.standard((5, 4), like=means)
    expected = torch.distributions.kl_divergence(independent_normal(q), independent_normal(standard))
    torch.testing.assert_close(kl_standard_normal(q), expected)
    torch.testing.assert_close(kl_divergence(q, standard), expected)


def test_gaussian_log_prob_matches_torch_with_leading_sample_axes():
    means, logvars = random_experts(1, 4, 3, seed=8)
    gaussian = DiagonalGaussian(means[0], logvars[0])
    z = torch.randn(7, 4, 3, generator=torch.Generator().manual_seed(1), dtype=DTYPE)
    torch.testing.assert_close(gaussian.log_prob(z), independent_normal(gaussian).log_prob(z))
    assert gaussian.log_prob(z).shape == (7, 4)


def test_gaussian_rsample_with_given_noise_is_mean_plus_std_times_noise():
    means, logvars = random_experts(1, 4, 3, seed=9)
    gaussian = DiagonalGaussian(means[0], logvars[0])
    noise = torch.randn(2, 4, 3, dtype=DTYPE)
    torch.testing.assert_close(gaussian.rsample(noise=noise), means[0] + torch.exp(0.5 * logvars[0]) * noise)
    assert gaussian.rsample(5).shape == (5, 4, 3)


def test_laplace_log_prob_matches_torch():
    means, logvars = random_experts(1, 4, 3, seed=10)
    laplace = DiagonalLaplace(means[0], logvars[0])
    reference = Independent(Laplace(means[0], torch.exp(0.5 * logvars[0]) / math.sqrt(2.0)), 1)
    z = torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(2), dtype=DTYPE)
    torch.testing.assert_close(laplace.log_prob(z), reference.log_prob(z))


def test_laplace_rsample_is_the_inverse_cdf_of_the_given_uniform_noise():
    means, logvars = random_experts(1, 4, 3, seed=11)
    laplace = DiagonalLaplace(means[0], logvars[0])
    uniform = torch.rand(4, 3, generator=torch.Generator().manual_seed(3), dtype=DTYPE) - 0.5
    reference = Laplace(means[0], laplace.scale)
    torch.testing.assert_close(laplace.rsample(noise=uniform), reference.icdf(uniform + 0.5))


def test_laplace_rsample_has_the_right_mean_and_variance():
    # Fixed seed: the draw is the same on every run, so the tolerances below (about 5 standard errors) cannot flake.
    torch.manual_seed(1234)
    n_samples = 200_000
    mean = torch.tensor([1.5, -0.5], dtype=DTYPE)
    variance = torch.tensor([0.8, 3.0], dtype=DTYPE)
    laplace = DiagonalLaplace(mean, torch.log(variance))
    draws = laplace.rsample(n_samples)
    assert draws.shape == (n_samples, 2)
    mean_error = 5.0 * torch.sqrt(variance / n_samples)
    # Laplace kurtosis is 6, so the sample variance has standard error variance * sqrt(5 / n).
    variance_error = 5.0 * variance * math.sqrt(5.0 / n_samples)
    assert ((draws.mean(0) - mean).abs() < mean_error).all()
    assert ((draws.var(0) - variance).abs() < variance_error).all()


def test_clamp_logvar_bounds():
    clamped = clamp_logvar(torch.tensor([-100.0, 0.0, 100.0]))
    assert clamped.tolist() == [LOGVAR_MIN, 0.0, LOGVAR_MAX]


# ---------------------------------------------------------------------------------------------- mixture of experts
def mixture_fixture(seed: int = 12) -> tuple[MixtureOfExperts, torch.Tensor, torch.Tensor, torch.Tensor]:
    means, logvars = random_experts(3, 4, 2, seed=seed)
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.bool)
    return MixtureOfExperts(DiagonalGaussian(means, logvars), mask), means, logvars, mask


def manual_mixture_log_prob(z, means, logvars, mask):
    """log Σ_m w_m N(z; μ_m, σ_m²) with w_m = 1 / (number of present components), one sample at a time."""
    n_components, batch = mask.shape
    result = torch.empty(z.shape[:-1], dtype=DTYPE)
    for b in range(batch):
        present = [m for m in range(n_components) if mask[m, b]]
        densities = [
            torch.exp(Independent(Normal(means[m, b], torch.exp(0.5 * logvars[m, b])), 1).log_prob(z[..., b, :]))
            for m in present
        ]
        result[..., b] = torch.log(sum(densities) / len(present))
    return result


def test_mixture_log_prob_equals_manual_log_sum_exp():
    mixture, means, logvars, mask = mixture_fixture()
    z = 0.5 * torch.randn(5, 4, 2, generator=torch.Generator().manual_seed(4), dtype=DTYPE)
    torch.testing.assert_close(mixture.log_prob(z), manual_mixture_log_prob(z, means, logvars, mask))


def test_mixture_ignores_absent_components_even_if_nan():
    mixture, means, logvars, mask = mixture_fixture()
    poisoned_means = torch.where(mask.unsqueeze(-1), means, math.nan).requires_grad_(True)
    poisoned_logvars = torch.where(mask.unsqueeze(-1), logvars, math.nan).requires_grad_(True)
    poisoned = MixtureOfExperts(DiagonalGaussian(poisoned_means, poisoned_logvars), mask)
    z = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(5), dtype=DTYPE)
    torch.testing.assert_close(poisoned.log_prob(z), mixture.log_prob(z))
    torch.testing.assert_close(poisoned.mean, mixture.mean)
    torch.testing.assert_close(poisoned.logvar, mixture.logvar)
    assert torch.isfinite(poisoned.rsample(10)).all()

    (poisoned.log_prob(z).sum() + poisoned.mean.sum() + poisoned.logvar.sum()).backward()
    absent = ~mask.unsqueeze(-1).expand_as(means)
    assert torch.equal(poisoned_means.grad[absent], torch.zeros(int(absent.sum()), dtype=DTYPE))
    assert torch.equal(poisoned_logvars.grad[absent], torch.zeros(int(absent.sum()), dtype=DTYPE))
    assert torch.isfinite(poisoned_means.grad).all()


def test_mixture_moments_are_those_of_the_present_components():
    mixture, means, logvars, mask = mixture_fixture()
    for b in range(mask.shape[1]):
        present = mask[:, b]
        component_means = means[present, b]
        component_variances = torch.exp(logvars[present, b])
        expected_mean = component_means.mean(0)
        expected_variance = (component_variances + component_means**2).mean(0) - expected_mean**2
        torch.testing.assert_close(mixture.mean[b], expected_mean)
        torch.testing.assert_close(mixture.logvar[b], torch.log(expected_variance))


def test_mixture_rsample_draws_only_from_present_components():
    torch.manual_seed(0)
    # Far-apart, very narrow components: each draw reveals the component it came from.
    centres = torch.tensor([0.0, 100.0, 200.0], dtype=DTYPE)
    means = centres.reshape(3, 1, 1).expand(3, 4, 1).clone()
    logvars = torch.full((3, 4, 1), LOGVAR_MIN, dtype=DTYPE)
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]], dtype=torch.bool)
    means[~mask] = math.nan
    mixture = MixtureOfExperts(DiagonalGaussian(means, logvars), mask)
    draws = mixture.rsample(4000)
    assert draws.shape == (4000, 4, 1)
    assert torch.isfinite(draws).all()
    component = torch.round(draws[..., 0] / 100.0).long()  # (draws, batch)
    for b in range(4):
        drawn = set(component[:, b].tolist())
        assert drawn == {m for m in range(3) if mask[m, b]}
        # Uniform among the present components: 4000 draws, tolerance far beyond the binomial spread.
        counts = torch.bincount(component[:, b], minlength=3)[mask[:, b]].to(DTYPE)
        assert (counts / counts.sum() - 1.0 / len(counts)).abs().max() < 0.05
    assert mixture.rsample().shape == (4, 1)
