"""MoPoE-VAE (mmcore/models/mopoe.py): the loss by hand for fixed subset draws, the subset draw, the mixture posterior.

What every model promises (missing modalities, shapes, training) is in test_model_contract.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import (
    batch_with_presence,
    gaussian_log_density_by_hand,
    kl_standard_normal_by_hand,
    precision_product_by_hand,
    tiny_modalities,
    use_fixed_noise,
)

from mmcore.distributions import DiagonalGaussian, MixtureOfExperts, kl_standard_normal
from mmcore.models.mopoe import MoPoE
from mmcore.models.subsets import stack_experts, subset_products, zero_missing

LATENT = 3
INPUT = 6


def make_model(n_modalities: int = 2, seed: int = 0) -> MoPoE:
    return MoPoE(tiny_modalities(n_modalities, INPUT, LATENT, seed=seed), LATENT).double()


def loss_by_hand(model, data, mask, drawn_subsets, noise, beta):
    """−(1/B) Σ_b [Σ_{m present} λ_m log p(x_m | z_b) − β KL(q̃(z | X_{S_b}) ‖ p(z))] with z_b from the drawn S_b."""
    batch = len(drawn_subsets)
    experts = {name: model.encoders[name](x) for name, x in data.items()}
    total = torch.zeros((), dtype=torch.float64)
    for b, subset in enumerate(drawn_subsets):
        present = [name for name in data if mask[name][b]]
        if not present:
            continue  # nothing to reconstruct, and the prior's KL to itself is zero
        mean, logvar = precision_product_by_hand(
            [experts[name].mean[b] for name in subset], [experts[name].logvar[b] for name in subset], False
        )
        z = mean + torch.exp(0.5 * logvar) * noise[b]
        reconstruction = sum(
            model.reconstruction_weights[name] * gaussian_log_density_by_hand(data[name][b], model.decoders[name](z))
            for name in present
        )
        total = total + reconstruction - beta * kl_standard_normal_by_hand(mean, logvar)
    return -total / batch


# ---------------------------------------------------------------------------------------------- the loss by hand
def test_loss_by_hand_with_the_subset_draw_fixed(monkeypatch):
    model = make_model(2)
    model.reconstruction_weights["m1"] = 0.5
    assert model.subsets == [("m0",), ("m1",), ("m0", "m1")]
    # Samples 0-2 paired, 3 has m0 only, 4 has m1 only.
    data, mask = batch_with_presence({"m0": [1, 1, 1, 1, 0], "m1": [1, 1, 1, 0, 1]}, INPUT, seed=1)
    drawn = torch.tensor([0, 1, 2, 0, 1])

    def draw(observed):
        # The sampler is offered exactly the subsets each sample has.
        expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
        assert torch.equal(observed, expected)
        return drawn

    monkeypatch.setattr(model, "draw_subsets", draw)
    noise = torch.randn(5, LATENT, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    use_fixed_noise(monkeypatch, model, noise)

    output = model.loss(data, mask, beta=0.8)
    subsets = [model.subsets[index] for index in drawn.tolist()]
    expected = loss_by_hand(model, data, mask, subsets, noise, beta=0.8)
    torch.testing.assert_close(output.loss, expected, rtol=1e-10, atol=1e-10)
    terms = output.terms
    assert set(terms) == {"nll/m0", "nll/m1", "kl/subset"}
    torch.testing.assert_close(output.loss, terms["nll/m0"] + 0.5 * terms["nll/m1"] + 0.8 * terms["kl/subset"])


def test_loss_by_hand_when_each_sample_has_a_single_possible_subset(monkeypatch):
    # No patching of the draw: every sample has one modality (or none), so its subset is forced.
    model = make_model(3)
    presence = {"m0": [1, 0, 0, 1, 0], "m1": [0, 1, 0, 0, 0], "m2": [0, 0, 1, 0, 0]}
    data, mask = batch_with_presence(presence, INPUT, seed=3)
    data["m1"][~mask["m1"]] = math.nan
    noise = torch.randn(5, LATENT, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    use_fixed_noise(monkeypatch, model, noise)
    output = model.loss(data, mask)
    subsets = [("m0",), ("m1",), ("m2",), ("m0",), ("m0",)]  # the last sample has nothing: its draw is irrelevant
    clean = {name: torch.where(mask[name].unsqueeze(-1), x, 0.0) for name, x in data.items()}
    expected = loss_by_hand(model, clean, mask, subsets, noise, beta=1.0)
    torch.testing.assert_close(output.loss, expected, rtol=1e-10, atol=1e-10)


def straightforward_loss(model, data, mask, chosen, noise, beta):
    """Every expert on every (zeroed) sample, the products of all 2ⁿ − 1 subsets, the drawn one gathered, every
    modality decoded for every sample and the absent ones masked out: what the loss computes with fewer rows."""
    present = model.presence(data, mask)
    means, logvars, presence = stack_experts(model.encoders, data, present, model.modality_names)
    products = subset_products(means, logvars, presence, model.membership, prior_expert=False)
    index = chosen.reshape(1, -1, 1).expand(1, -1, LATENT)
    mean, logvar = products.mean.gather(0, index)[0], products.logvar.gather(0, index)[0]
    z = mean + torch.exp(0.5 * logvar) * noise
    batch = len(chosen)
    loss = beta * kl_standard_normal(DiagonalGaussian(mean, logvar)).sum() / batch
    for name in model.modality_names:
        log_likelihood = model.log_likelihood(name, z, zero_missing(data[name], present[name]))
        nll = -torch.where(present[name], log_likelihood, torch.zeros_like(log_likelihood)).sum() / batch
        loss = loss + model.reconstruction_weights[name] * nll
    return loss


@pytest.mark.parametrize("batch_norm", [False, True])
def test_loss_and_gradients_equal_the_straightforward_computation(monkeypatch, batch_norm):
    model = make_model(3, seed=6)
    if batch_norm:  # a network whose rows depend on each other is run on the whole batch
        for encoder in model.encoders.values():
            encoder.body = torch.nn.Sequential(encoder.body, torch.nn.BatchNorm1d(8).double())
        model.decoders["m1"] = torch.nn.Sequential(torch.nn.BatchNorm1d(LATENT).double(), model.decoders["m1"])
    generator = torch.Generator().manual_seed(7)
    presence = torch.rand(3, 40, generator=generator) < 0.6
    presence[:, :8] = True  # some paired samples; the last column keeps nothing
    presence[:, -1] = False
    data, mask = batch_with_presence({f"m{i}": presence[i].int().tolist() for i in range(3)}, INPUT, seed=8)
    observed = (~model.membership.unsqueeze(-1) | presence.unsqueeze(0)).all(1)
    torch.manual_seed(9)
    chosen = model.draw_subsets(observed)
    assert len(set(chosen.tolist())) == 7
    monkeypatch.setattr(model, "draw_subsets", lambda observed: chosen)
    noise = torch.randn(40, LATENT, generator=generator, dtype=torch.float64)
    use_fixed_noise(monkeypatch, model, noise)

    def loss_and_gradients(compute):
        model.zero_grad(set_to_none=True)
        loss = compute()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss, gradients = loss_and_gradients(lambda: model.loss(data, mask, beta=0.7).loss)
    expected, expected_gradients = loss_and_gradients(
        lambda: straightforward_loss(model, data, mask, chosen, noise, beta=0.7)
    )
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for gradient, expected_gradient in zip(gradients, expected_gradients, strict=True):
        torch.testing.assert_close(gradient, expected_gradient, rtol=1e-10, atol=1e-12)


def test_subset_draw_is_uniform_among_the_subsets_a_sample_has():
    model = make_model(3)
    # Three presence patterns, each repeated 3000 times: {m0, m1, m2}, {m0, m2}, {m1}.
    pattern = torch.tensor([[1, 1, 0], [1, 0, 1], [1, 1, 0]], dtype=torch.bool)  # modality x pattern
    presence = pattern.repeat_interleave(3000, dim=1)
    observed = (~model.membership.unsqueeze(-1) | presence.unsqueeze(0)).all(1)
    torch.manual_seed(0)
    drawn = model.draw_subsets(observed)
    assert observed.gather(0, drawn.unsqueeze(0)).all()  # never a subset the sample lacks
    for index, n_allowed in enumerate([7, 3, 1]):
        counts = torch.bincount(drawn[index * 3000 : (index + 1) * 3000], minlength=7)
        allowed = observed[:, index * 3000]
        assert (counts[~allowed] == 0).all()
        frequencies = counts[allowed].double() / 3000
        # Fixed seed; the tolerance is several binomial standard deviations (at most 0.009 here).
        assert (frequencies - 1.0 / n_allowed).abs().max() < 0.04


# ---------------------------------------------------------------------------------------------- posterior
def test_posterior_is_the_mixture_over_the_products_of_present_subsets():
    model = make_model(2)
    data, mask = batch_with_presence({"m0": [1, 1, 0, 0], "m1": [1, 0, 1, 0]}, INPUT, seed=5)
    data["m1"][~mask["m1"]] = math.nan
    posterior = model.posterior(data, mask)
    assert isinstance(posterior, MixtureOfExperts)
    assert posterior.mask.tolist() == [[True, True, False, True], [True, False, True, True], [True, False, False, True]]
    clean = {name: torch.where(mask[name].unsqueeze(-1), x, 0.0) for name, x in data.items()}
    experts = {name: model.encoders[name](x) for name, x in clean.items()}
    for index, subset in enumerate(model.subsets):
        mean, logvar = precision_product_by_hand(
            [experts[name].mean[0] for name in subset], [experts[name].logvar[0] for name in subset], False
        )
        torch.testing.assert_close(posterior.components.mean[index, 0], mean)
        torch.testing.assert_close(posterior.components.logvar[index, 0], logvar)
    # A sample with one modality: the mixture is that expert.
    torch.testing.assert_close(posterior.mean[1], experts["m0"].mean[1])
    torch.testing.assert_close(posterior.logvar[2], experts["m1"].logvar[2])
    # The paired sample's mixture mean is the average of its three components' means.
    torch.testing.assert_close(posterior.mean[0], posterior.components.mean[:, 0].mean(0))
    assert torch.isfinite(posterior.rsample(5)).all()
