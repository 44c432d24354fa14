"""MMVAE (mmcore/models/mmvae.py): bounds against per-sample hand computations, DReG gradients, Laplace path.

What every model promises (missing modalities, shapes, training) is in test_model_contract.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import correlated_batch, tiny_modalities
from torch.distributions import Laplace, Normal

from mmcore.distributions import DiagonalGaussian, DiagonalLaplace, MixtureOfExperts
from mmcore.models import build_model
from mmcore.models.mmvae import MMVAE, standard_laplace_from_normal

LATENT = 3


def make_model(n_modalities: int = 2, seed: int = 0, **options) -> MMVAE:
    torch.manual_seed(seed)
    return build_model("mmvae", tiny_modalities(n_modalities, latent_dim=LATENT, seed=seed), LATENT, **options)


class FixedNoise:
    """Stands in for ``model.noise``: the same standard normal draws for every call of a given shape."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(shape))
        return torch.randn(shape, generator=torch.Generator().manual_seed(self.seed), dtype=like.dtype)


def mixed_batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Six samples of three modalities: paired, m0 only, m1 only, none; m2 missing from the whole batch."""
    data = correlated_batch(6, n_modalities=3, seed=3)
    mask = {
        "m0": torch.tensor([True, True, True, False, False, True]),
        "m1": torch.tensor([True, False, True, True, False, False]),
        "m2": torch.zeros(6, dtype=torch.bool),
    }
    return data, mask


def hand_bound(model: MMVAE, data, mask, noise: torch.Tensor, beta: float = 1.0):
    """Per-sample bound and Monte Carlo KL written from the paper, one sample at a time, with torch.distributions.

    ``noise`` has the layout the model asks for: ``(K, M, batch, latent)`` over the modalities in ``data``.
    """
    names = [name for name in model.modality_names if name in data]
    batch = next(iter(data.values())).shape[0]
    n_draws = noise.shape[0]
    laplace = model.posterior_family == "laplace"
    bounds, kls = [], []
    for b in range(batch):
        present = [i for i, name in enumerate(names) if mask is None or mask[name][b]]
        if not present:
            bounds.append(torch.zeros(()))
            kls.append(torch.zeros(()))
            continue
        experts = {}
        for i in present:
            encoded = model.encoders[names[i]](data[names[i]][b : b + 1])
            std = torch.exp(0.5 * encoded.logvar[0])
            experts[i] = Laplace(encoded.mean[0], std / math.sqrt(2.0)) if laplace else Normal(encoded.mean[0], std)
        prior = Laplace(torch.zeros(LATENT), torch.ones(LATENT)) if laplace else Normal(0.0, 1.0)
        log_weights = torch.zeros(n_draws, len(present))
        kl = torch.zeros(n_draws, len(present))
        for column, m in enumerate(present):
            for k in range(n_draws):
                if laplace:
                    z = experts[m].icdf(Normal(0.0, 1.0).cdf(noise[k, m, b]))
                else:
                    z = experts[m].mean + experts[m].stddev * noise[k, m, b]
                log_q = torch.logsumexp(torch.stack([experts[j].log_prob(z).sum() for j in present]), 0)
                log_q = log_q - math.log(len(present))
                log_p = prior.log_prob(z).sum()
                log_likelihood = sum(
                    model.reconstruction_weights[names[d]]
                    * Normal(model.decoders[names[d]](z), 1.0).log_prob(data[names[d]][b]).sum()
                    for d in present
                )
                log_weights[k, column] = log_likelihood + beta * (log_p - log_q)
                kl[k, column] = log_q - log_p
        if model.estimator == "elbo":
            bound = log_weights.mean()
        elif model.variant == "stratified":
            bound = torch.logsumexp(log_weights.flatten(), 0) - math.log(log_weights.numel())
        else:
            bound = (torch.logsumexp(log_weights, 0) - math.log(n_draws)).mean()
        bounds.append(bound)
        kls.append(kl.mean())
    return torch.stack(bounds), torch.stack(kls)


# ---------------------------------------------------------------------------------------------- loss values
@pytest.mark.parametrize("posterior", ["gaussian", "laplace"])
@pytest.mark.parametrize("variant", ["stratified", "looser"])
@pytest.mark.parametrize("estimator", ["elbo", "iwae", "dreg"])
def test_loss_equals_hand_computed_bound_on_partially_paired_batch(estimator, variant, posterior):
    model = make_model(3, estimator=estimator, variant=variant, posterior=posterior, n_importance_samples=3)
    data, mask = mixed_batch()
    del data["m2"]  # m2: absent key; its mask (all False) stays
    model.noise = FixedNoise()
    output = model.loss(data, mask, beta=0.7)
    noise = FixedNoise()((3, 2, 6, LATENT), torch.zeros(()))
    with torch.no_grad():
        bounds, kls = hand_bound(model, data, mask, noise, beta=0.7)
    torch.testing.assert_close(output.loss, -bounds.sum() / 6, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(output.terms["bound"], bounds.sum() / 6, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(output.terms["kl/mixture"], kls.sum() / 6, rtol=1e-5, atol=1e-5)
    assert output.terms["nll/m2"] == 0


def test_elbo_terms_add_up_to_the_loss():
    """For the ELBO, loss = Σ λ_i nll_i + β kl (all batch averages over the same draws)."""
    model = make_model(2, estimator="elbo", n_importance_samples=4)
    model.reconstruction_weights["m1"] = 2.5
    data = correlated_batch(8)
    output = model.loss(data, beta=0.3)
    expected = output.terms["nll/m0"] + 2.5 * output.terms["nll/m1"] + 0.3 * output.terms["kl/mixture"]
    torch.testing.assert_close(output.loss, expected, rtol=1e-5, atol=1e-5)


def test_sample_with_one_modality_is_a_unimodal_iwae():
    model = make_model(2, estimator="iwae", variant="stratified", n_importance_samples=5)
    data = correlated_batch(4)
    mask = {"m0": torch.ones(4, dtype=torch.bool), "m1": torch.zeros(4, dtype=torch.bool)}
    model.noise = FixedNoise()
    loss = model.loss(data, mask).loss
    noise = FixedNoise()((5, 2, 4, LATENT), torch.zeros(()))
    with torch.no_grad():
        encoded = model.encoders["m0"](data["m0"])
        q = Normal(encoded.mean, torch.exp(0.5 * encoded.logvar))
        z = q.mean + q.stddev * noise[:, 0]  # (K, B, L)
        log_weights = (
            Normal(model.decoders["m0"](z), 1.0).log_prob(data["m0"]).sum(-1)
            + Normal(0.0, 1.0).log_prob(z).sum(-1)
            - q.log_prob(z).sum(-1)
        )
        iwae = torch.logsumexp(log_weights, 0) - math.log(5)
    torch.testing.assert_close(loss, -iwae.mean(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- IWAE vs ELBO
def test_looser_iwae_with_one_sample_equals_the_elbo_exactly():
    elbo, iwae = make_model(2, estimator="elbo"), make_model(2, estimator="iwae", variant="looser")
    iwae.n_importance_samples = 1
    data, mask = correlated_batch(8), {"m1": torch.tensor([True, False] * 4)}
    elbo.noise, iwae.noise = FixedNoise(), FixedNoise()
    assert torch.equal(elbo.loss(data, mask).loss, iwae.loss(data, mask).loss)


def test_stratified_iwae_with_one_sample_per_component_is_the_elbo_for_one_modality_and_above_it_otherwise():
    elbo = make_model(2, estimator="elbo")
    iwae = make_model(2, estimator="iwae", variant="stratified", n_importance_samples=1)
    data = correlated_batch(8)
    unpaired = {"m1": torch.zeros(8, dtype=torch.bool)}
    elbo.noise, iwae.noise = FixedNoise(), FixedNoise()
    assert torch.equal(elbo.loss(data, unpaired).loss, iwae.loss(data, unpaired).loss)
    # With both modalities the stratified bound is a log-mean-exp over the M draws: above their mean (Jensen).
    elbo.noise, iwae.noise = FixedNoise(), FixedNoise()
    assert iwae.loss(data).loss < elbo.loss(data).loss


@pytest.mark.parametrize("variant", ["stratified", "looser"])
def test_iwae_bound_is_above_the_elbo_on_average(variant):
    torch.manual_seed(0)
    elbo = make_model(2, estimator="elbo", n_importance_samples=1)
    iwae = make_model(2, estimator="iwae", variant=variant, n_importance_samples=10)
    data = correlated_batch(16)
    with torch.no_grad():
        elbo_bounds = torch.stack([elbo.loss(data).terms["bound"] for _ in range(200)])
        iwae_bounds = torch.stack([iwae.loss(data).terms["bound"] for _ in range(200)])
    gap = iwae_bounds.mean() - elbo_bounds.mean()
    standard_error = (iwae_bounds.var() / 200 + elbo_bounds.var() / 200).sqrt()
    assert gap > 5 * standard_error, (gap, standard_error)


@pytest.mark.parametrize("variant", ["stratified", "looser"])
def test_iwae_is_never_below_the_elbo_of_the_same_draws(variant):
    elbo = make_model(2, estimator="elbo", n_importance_samples=6)
    iwae = make_model(2, estimator="iwae", variant=variant, n_importance_samples=6)
    data = correlated_batch(16)
    for seed in range(5):
        elbo.noise, iwae.noise = FixedNoise(seed), FixedNoise(seed)
        assert iwae.loss(data).loss <= elbo.loss(data).loss


# ---------------------------------------------------------------------------------------------- DReG
def gradients(model: MMVAE, prefix: str) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if name.startswith(prefix)}


@pytest.mark.parametrize("variant", ["stratified", "looser"])
def test_dreg_has_the_iwae_value_and_decoder_gradients_but_other_encoder_gradients(variant):
    iwae = make_model(2, estimator="iwae", variant=variant, n_importance_samples=4)
    dreg = make_model(2, estimator="dreg", variant=variant, n_importance_samples=4)
    dreg.load_state_dict(iwae.state_dict())
    data, mask = correlated_batch(8), {"m0": torch.tensor([True] * 6 + [False] * 2)}
    iwae.noise, dreg.noise = FixedNoise(), FixedNoise()
    iwae_loss, dreg_loss = iwae.loss(data, mask).loss, dreg.loss(data, mask).loss
    assert torch.equal(iwae_loss, dreg_loss)
    iwae_loss.backward()
    dreg_loss.backward()
    for name, grad in gradients(iwae, "decoders").items():
        torch.testing.assert_close(gradients(dreg, "decoders")[name], grad, rtol=1e-5, atol=1e-6)
    iwae_encoder, dreg_encoder = gradients(iwae, "encoders"), gradients(dreg, "encoders")
    difference = sum((iwae_encoder[name] - dreg_encoder[name]).abs().sum() for name in iwae_encoder)
    scale = sum(grad.abs().sum() for grad in iwae_encoder.values())
    assert difference > 1e-2 * scale


@pytest.mark.parametrize("variant", ["stratified", "looser"])
def test_dreg_encoder_gradient_matches_the_hand_computed_estimator_for_two_samples(variant):
    """∇_φ = -1/B Σ_b Σ_{m,k} v_mk ŵ_mk ∂log w_mk/∂z · ∂z_mk/∂φ, with q_Φ in log w held fixed (Tucker et al. 2018)."""
    model = make_model(2, estimator="dreg", variant=variant, n_importance_samples=2)
    data = correlated_batch(5)
    model.noise = FixedNoise()
    model.loss(data).loss.backward()
    model_gradients = gradients(model, "encoders")

    noise = FixedNoise()((2, 2, 5, LATENT), torch.zeros(()))
    names = model.modality_names
    experts = [model.encoders[name](data[name]) for name in names]
    means = torch.stack([e.mean for e in experts])  # (M, B, L)
    stds = torch.exp(0.5 * torch.stack([e.logvar for e in experts]))
    z = means + stds * noise  # (K, M, B, L), differentiable in φ
    z_fixed = z.detach().requires_grad_()
    mixture = Normal(means.detach(), stds.detach())
    log_q = torch.logsumexp(mixture.log_prob(z_fixed.unsqueeze(2)).sum(-1), dim=2) - math.log(2)  # (K, M, B)
    log_p = Normal(0.0, 1.0).log_prob(z_fixed).sum(-1)
    log_likelihood = sum(Normal(model.decoders[n](z_fixed), 1.0).log_prob(data[n]).sum(-1) for n in names)
    log_weights = log_likelihood + log_p - log_q  # (K, M, B)
    with torch.no_grad():
        if variant == "stratified":
            normalised = torch.softmax(log_weights.flatten(0, 1), 0).reshape(log_weights.shape)
            value_weights = normalised
        else:
            normalised = torch.softmax(log_weights, 0)
            value_weights = normalised / 2
    (path_derivative,) = torch.autograd.grad((value_weights * log_weights).sum(), z_fixed)
    encoder_parameters = [p for name, p in model.named_parameters() if name.startswith("encoders")]
    hand = torch.autograd.grad(z, encoder_parameters, grad_outputs=-normalised.unsqueeze(-1) * path_derivative / 5)
    names_in_order = [name for name, _ in model.named_parameters() if name.startswith("encoders")]
    for name, grad in zip(names_in_order, hand, strict=True):
        torch.testing.assert_close(model_gradients[name], grad, rtol=1e-4, atol=1e-6)


def straightforward_log_likelihood(model: MMVAE):
    """Every draw of every component decoded, the samples without the modality masked out afterwards."""

    def compute(name, z, x, present, counted, n_counted):
        log_likelihood = model.log_likelihood(name, z, torch.where(present.unsqueeze(-1), x, 0.0))
        return torch.where(present, log_likelihood, torch.zeros_like(log_likelihood))

    return compute


@pytest.mark.parametrize(
    ("estimator", "variant"), [("dreg", "looser"), ("dreg", "stratified"), ("iwae", "looser"), ("elbo", "looser")]
)
def test_decoding_only_the_counted_draws_gives_the_straightforward_loss_and_gradients(monkeypatch, estimator, variant):
    model = make_model(3, seed=4, estimator=estimator, variant=variant, n_importance_samples=4).double()
    generator = torch.Generator().manual_seed(5)
    presence = torch.rand(3, 30, generator=generator) < 0.5
    presence[:, :6] = True
    presence[:, -2:] = False  # samples with nothing are computed as if complete, then dropped
    data = {f"m{i}": torch.randn(30, 6, generator=generator, dtype=torch.float64) for i in range(3)}
    mask = {f"m{i}": presence[i] for i in range(3)}
    monkeypatch.setattr(model, "noise", FixedNoise(6))

    def loss_and_gradients():
        model.zero_grad(set_to_none=True)
        output = model.loss(data, mask, beta=0.6)
        output.loss.backward()
        return output, [p.grad.clone() for p in model.parameters()]

    output, grads = loss_and_gradients()
    monkeypatch.setattr(model, "_component_log_likelihood", straightforward_log_likelihood(model))
    expected, expected_grads = loss_and_gradients()
    torch.testing.assert_close(output.loss, expected.loss, rtol=1e-12, atol=1e-12)
    for name, value in expected.terms.items():
        torch.testing.assert_close(output.terms[name], value, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


def test_dreg_loss_runs_without_gradient():
    model = make_model(2, estimator="dreg")
    with torch.no_grad():
        assert torch.isfinite(model.loss(correlated_batch(4)).loss)


# ---------------------------------------------------------------------------------------------- Laplace
def test_laplace_draws_follow_the_laplace_inverse_cdf():
    noise = torch.linspace(-6.0, 6.0, 101, dtype=torch.float64)
    expected = Laplace(0.0, 1.0).icdf(Normal(0.0, 1.0).cdf(noise))
    # The reference loses digits in 1 - 2|Φ(ε) - ½| for large ε; the log_ndtr route does not.
    torch.testing.assert_close(standard_laplace_from_normal(noise), expected, rtol=1e-7, atol=1e-9)
    tails = standard_laplace_from_normal(torch.tensor([-40.0, 40.0]))
    assert torch.isfinite(tails).all() and tails[0] < -700 and tails[1] > 700


def test_laplace_prior_and_posterior_densities_match_torch_distributions():
    model = make_model(2, posterior="laplace", estimator="elbo")
    prior = model.prior(4)
    assert isinstance(prior, DiagonalLaplace)
    torch.testing.assert_close(prior.scale, torch.ones(4, LATENT))  # the paper's unit-scale prior
    z = torch.randn(5, 4, LATENT)
    torch.testing.assert_close(prior.log_prob(z), Laplace(0.0, 1.0).log_prob(z).sum(-1))
    data = correlated_batch(4)
    posterior = model.posterior(data)
    assert isinstance(posterior.components, DiagonalLaplace)
    encoded = model.encoders["m1"](data["m1"])
    reference = Laplace(encoded.mean, torch.exp(0.5 * encoded.logvar) / math.sqrt(2.0))
    torch.testing.assert_close(posterior.components.log_prob(z.unsqueeze(-3))[:, 1], reference.log_prob(z).sum(-1))


def test_learned_prior_scale_receives_gradient_and_fixed_one_is_a_buffer():
    fixed = make_model(2, posterior="laplace")
    assert "prior_logvar" not in dict(fixed.named_parameters())
    learned = make_model(2, posterior="laplace", learn_prior_scale=True)
    learned.loss(correlated_batch(4)).loss.backward()
    assert learned.prior_logvar.grad is not None and learned.prior_logvar.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- missing data, posterior
def test_a_modality_missing_from_the_batch_is_neither_encoded_nor_decoded():
    """Without m2's key exactly its encoder and decoder get no gradient (test_model_contract.py shows that masking
    m2 out in every sample then trains them no more than leaving it out)."""
    data, mask = mixed_batch()
    model = make_model(3)
    model.loss({k: v for k, v in data.items() if k != "m2"}, mask).loss.backward()
    untouched = {name for name, parameter in model.named_parameters() if parameter.grad is None}
    assert untouched == {name for name, _ in model.named_parameters() if ".m2." in name}


def test_posterior_is_a_mixture_of_the_present_experts():
    model = make_model(3)
    data, mask = mixed_batch()
    posterior = model.posterior(data, mask)
    assert isinstance(posterior, MixtureOfExperts)
    assert isinstance(posterior.components, DiagonalGaussian)
    assert posterior.mean.shape == (6, LATENT) and posterior.logvar.shape == (6, LATENT)
    with torch.no_grad():
        m0, m1 = model.encoders["m0"](data["m0"]), model.encoders["m1"](data["m1"])
        torch.testing.assert_close(posterior.mean[0], (m0.mean[0] + m1.mean[0]) / 2)
        torch.testing.assert_close(posterior.mean[1], m0.mean[1])
        torch.testing.assert_close(posterior.logvar[1], m0.logvar[1])
        torch.testing.assert_close(posterior.mean[3], m1.mean[3])


# ---------------------------------------------------------------------------------------------- options
def test_defaults_and_options():
    assert make_model(2, estimator="elbo").n_importance_samples == 1
    assert make_model(2, estimator="iwae").n_importance_samples == 10
    assert make_model(2).estimator == "dreg"
    for bad in ({"estimator": "rws"}, {"variant": "tight"}, {"posterior": "cauchy"}, {"n_importance_samples": 0}):
        with pytest.raises(ValueError):
            make_model(2, **bad)
    model = make_model(2, n_importance_samples=3)
    model.noise = FixedNoise()
    model.loss(correlated_batch(4))
    assert model.noise.calls == [(3, 2, 4, LATENT)]  # all components and draws in one noise call
