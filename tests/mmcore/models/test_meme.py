"""MEME (mmcore/models/meme.py): the mutual-supervision objective against per-sample hand computations.

What every model promises (missing modalities, shapes, training) is in test_model_contract.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import correlated_batch, tiny_modalities
from torch import nn
from torch.distributions import Normal

from mmcore.distributions import DiagonalGaussian, MixtureOfExperts
from mmcore.modality import Modality
from mmcore.models import build_model
from mmcore.models.meme import MEME, infer_input_shape
from mmcore.networks import MLP, ConvImageEncoder

LATENT = 3


def make_model(n_modalities: int = 2, seed: int = 0, **options) -> MEME:
    torch.manual_seed(seed)
    options.setdefault("n_pseudo_samples", 5)
    options.setdefault("n_marginal_samples", 4)
    return build_model("meme", tiny_modalities(n_modalities, latent_dim=LATENT, seed=seed), LATENT, **options)


class FixedNoise:
    """Stands in for ``model.noise`` ``(S, M, batch, latent)``: fixed draws per modality slot.

    Slot m's draws depend only on m (not on how many modalities the batch holds), so a batch with and
    without a missing modality's key get the same draws for the others.
    """

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(shape))
        n_draws, n_slots, *rest = shape
        slots = [
            torch.randn((n_draws, *rest), generator=torch.Generator().manual_seed(100 * self.seed + slot))
            for slot in range(n_slots)
        ]
        return torch.stack(slots, dim=1).to(like.dtype)


def weighted_log_likelihood(model: MEME, name: str, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """λ log N(x; decoder(z), 1) summed over the data axis, with torch.distributions."""
    return model.reconstruction_weights[name] * Normal(model.decoders[name](z), 1.0).log_prob(x).sum(-1)


def hand_objective(model: MEME, data, mask, noise: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Per-sample MEME objective written from the bound, one sample at a time (differentiable).

    ``noise``: ``(K + K', M, batch, latent)`` over the modalities in ``data``, as the model asks for it.
    """
    names = [name for name in model.modality_names if name in data]
    n_draws, n_all = model.n_samples, noise.shape[0]
    alpha = model.supervision_weight
    objectives = []
    for b in range(noise.shape[2]):
        present = [i for i, name in enumerate(names) if mask is None or name not in mask or mask[name][b]]
        experts, draws = {}, {}
        for i in present:
            encoded = model.encoders[names[i]](data[names[i]][b : b + 1])
            experts[i] = Normal(encoded.mean[0], torch.exp(0.5 * encoded.logvar[0]))
            draws[i] = experts[i].mean + experts[i].stddev * noise[:, i, b]  # (S, L)

        def log_likelihood(j: int, z: torch.Tensor, b: int = b) -> torch.Tensor:
            return weighted_log_likelihood(model, names[j], z, data[names[j]][b])

        if len(present) >= 2:
            # App. E eq. 11: one direction per present x_i, supervised by all the others Y together.
            directions = []
            for i in present:
                others = [j for j in present if j != i]
                z = draws[i]
                own = log_likelihood(i, z[:n_draws])
                other = sum(log_likelihood(j, z) for j in others)  # log p(Y | z) = Σ_j log p(x_j | z): (S,)
                log_marginal = torch.logsumexp(other, 0) - math.log(n_all)  # log q(Y | x_i)
                ratio = torch.exp(other[:n_draws] - log_marginal).detach()
                fit = z[:n_draws]
                if model.conditional_prior == "mixture":  # R_e = 1/|Y| Σ_j q_j(z | x_j)
                    components = torch.stack([experts[j].log_prob(fit).sum(-1) for j in others])
                    log_prior_y = torch.logsumexp(components, 0) - math.log(len(others))
                else:  # R_e ∝ ∏_j q_j(z | x_j): precision Σ 1/σ_j², mean Σ μ_j/σ_j² / precision
                    precision = sum(1.0 / experts[j].variance for j in others)
                    mean = sum(experts[j].mean / experts[j].variance for j in others) / precision
                    log_prior_y = Normal(mean, precision.rsqrt()).log_prob(fit).sum(-1)
                log_density_ratio = log_prior_y - experts[i].log_prob(fit).sum(-1)
                inner = own - other[:n_draws] + beta * log_density_ratio
                directions.append((ratio * inner).mean() + alpha * log_marginal)
            objectives.append(torch.stack(directions).mean())
        elif len(present) == 1:
            (i,) = present
            z = draws[i][:n_draws]
            pseudo_log_probs = []
            for other_name in model.modality_names:
                if other_name == names[i]:
                    continue
                pseudo = model.encoders[other_name](model.pseudo_samples[other_name])
                component = Normal(pseudo.mean, torch.exp(0.5 * pseudo.logvar))
                pseudo_log_probs.append(component.log_prob(z.unsqueeze(1)).sum(-1))  # (K, N)
            pseudo_log_probs = torch.cat(pseudo_log_probs, dim=1)
            log_prior = torch.logsumexp(pseudo_log_probs, 1) - math.log(pseudo_log_probs.shape[1])
            unimodal = log_likelihood(i, z) + beta * (log_prior - experts[i].log_prob(z).sum(-1))
            objectives.append(unimodal.mean())
        else:
            objectives.append(torch.zeros(()))
    return torch.stack(objectives)


def check_against_hand(model: MEME, data, mask, beta: float = 1.0) -> None:
    """Loss value and every parameter's gradient equal the hand computation's."""
    n_modalities = len([name for name in model.modality_names if name in data])
    batch = next(iter(data.values())).shape[0]
    model.noise = FixedNoise()
    model.zero_grad()
    loss = model.loss(data, mask, beta=beta).loss
    loss.backward()
    model_gradients = {name: p.grad for name, p in model.named_parameters()}
    model.zero_grad()
    noise = FixedNoise()((model.n_samples + model.n_marginal_samples, n_modalities, batch, LATENT), torch.zeros(()))
    hand_loss = -hand_objective(model, data, mask, noise, beta).sum() / batch
    hand_loss.backward()
    torch.testing.assert_close(loss, hand_loss, rtol=1e-5, atol=1e-5)
    for name, parameter in model.named_parameters():
        if parameter.grad is None:
            assert model_gradients[name] is None or torch.count_nonzero(model_gradients[name]) == 0, name
        else:
            torch.testing.assert_close(model_gradients[name], parameter.grad, rtol=1e-4, atol=1e-5, msg=name)


# ---------------------------------------------------------------------------------------------- loss values
def test_paired_loss_is_the_bidirectional_bound():
    model = make_model(2, n_samples=2)
    check_against_hand(model, correlated_batch(4), None, beta=0.6)


def test_weights_enter_the_bound_as_tempered_likelihoods():
    model = make_model(2, n_samples=2, supervision_weight=3.0)
    model.reconstruction_weights["m1"] = 0.5
    check_against_hand(model, correlated_batch(4), None)


def test_unpaired_samples_are_vaes_with_the_pseudo_sample_prior_of_the_other_modality():
    model = make_model(2)
    data = correlated_batch(5)
    mask = {"m0": torch.tensor([True, True, False, False, True]), "m1": torch.tensor([True, False, True, False, False])}
    check_against_hand(model, data, mask, beta=1.3)


@pytest.mark.parametrize("conditional_prior", ["mixture", "product"])
def test_three_modalities_follow_appendix_e_eq_11(conditional_prior):
    """Rows: all three (eq. 11: three directions, each supervised by the other two combined), two pairs, and
    single modalities; with |S| = 2 the combination is one encoder and the term is L_Bi."""
    model = make_model(3, n_samples=2, conditional_prior=conditional_prior)
    data = correlated_batch(5, n_modalities=3)
    mask = {
        "m0": torch.tensor([True, True, True, False, True]),
        "m1": torch.tensor([True, True, False, False, False]),
        "m2": torch.tensor([True, False, True, True, False]),
    }
    check_against_hand(model, data, mask)


def test_the_combination_matters_only_with_three_modalities_present():
    data = correlated_batch(4, n_modalities=3)
    losses = {}
    for combination in ("mixture", "product"):
        model = make_model(3, conditional_prior=combination)
        model.noise = FixedNoise()
        pairs_only = {"m0": torch.ones(4, dtype=torch.bool), "m1": torch.ones(4, dtype=torch.bool)}
        pairs_only["m2"] = torch.zeros(4, dtype=torch.bool)
        losses[combination] = (model.loss(data).loss, model.loss(data, pairs_only).loss)
    assert not torch.allclose(losses["mixture"][0], losses["product"][0])
    torch.testing.assert_close(losses["mixture"][1], losses["product"][1])
    with pytest.raises(ValueError, match="conditional_prior"):
        make_model(3, conditional_prior="sum")


def test_supervision_weight_scales_only_log_q_of_y_given_x():
    """The loss is affine in α (the ratio p(y|z)/q(y|x) does not depend on α)."""
    data = correlated_batch(4)
    values = []
    for alpha in (0.0, 1.0, 2.0):
        model = make_model(2, supervision_weight=alpha)
        model.noise = FixedNoise()
        values.append(model.loss(data).loss)
    torch.testing.assert_close(values[2] - values[1], values[1] - values[0], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------- missing data
def test_modality_missing_from_the_batch_trains_only_through_the_pseudo_sample_prior():
    data = correlated_batch(6)
    mask = {"m0": torch.ones(6, dtype=torch.bool), "m1": torch.zeros(6, dtype=torch.bool)}
    absent, masked = make_model(2), make_model(2)
    absent.noise, masked.noise = FixedNoise(), FixedNoise()
    absent_loss = absent.loss({"m0": data["m0"]}, mask)
    masked_loss = masked.loss({"m0": data["m0"], "m1": torch.full_like(data["m1"], torch.nan)}, mask)
    torch.testing.assert_close(absent_loss.loss, masked_loss.loss)
    absent_loss.loss.backward()
    masked_loss.loss.backward()
    for (name, p_absent), p_masked in zip(absent.named_parameters(), masked.parameters(), strict=True):
        if name.startswith("decoders.m1"):
            assert p_absent.grad is None and (p_masked.grad is None or torch.count_nonzero(p_masked.grad) == 0)
            continue
        assert p_absent.grad is not None and torch.isfinite(p_absent.grad).all(), name
        torch.testing.assert_close(p_masked.grad, p_absent.grad, msg=name)
    # The encoder and pseudo-samples of m1 form the prior of the m0-only samples: that is how they learn here.
    assert torch.count_nonzero(absent.pseudo_samples["m1"].grad) > 0
    assert torch.count_nonzero(absent.pseudo_samples["m0"].grad) == 0  # no m1-only sample needs m0's prior


def test_posterior_is_the_mixture_of_the_present_encoders():
    model = make_model(2)
    data = correlated_batch(5)
    posterior = model.posterior(data, {"m1": torch.tensor([True, False, True, False, False])})
    assert isinstance(posterior, MixtureOfExperts)
    with torch.no_grad():
        m0 = model.encoders["m0"](data["m0"])
        torch.testing.assert_close(posterior.mean[1], m0.mean[1])  # one modality: its own encoder


# ---------------------------------------------------------------------------------------------- pseudo-samples, options
def test_prior_draws_pseudo_sample_components():
    model = make_model(2)
    with torch.no_grad():
        components = model.pseudo_sample_components()
        prior = model.prior(20)
    assert isinstance(prior, DiagonalGaussian) and prior.mean.shape == (20, LATENT)
    candidates = components.mean.reshape(-1, LATENT)
    distances = (prior.mean.unsqueeze(1) - candidates.unsqueeze(0)).abs().sum(-1)
    assert torch.all(distances.min(1).values == 0)


def test_pseudo_samples_are_parameters_initialised_from_data():
    model = make_model(2, n_pseudo_samples=3)
    assert {name for name, _ in model.named_parameters() if name.startswith("pseudo")} == {
        "pseudo_samples.m0",
        "pseudo_samples.m1",
    }
    assert model.pseudo_samples["m0"].shape == (3, 6)
    data = correlated_batch(4)
    mask = {"m0": torch.tensor([False, True, True, True])}
    model.initialise_pseudo_samples(data, mask)
    torch.testing.assert_close(model.pseudo_samples["m0"].detach(), data["m0"][1:4])
    torch.testing.assert_close(model.pseudo_samples["m1"].detach(), data["m1"][:3])


def test_input_shapes_and_errors():
    assert infer_input_shape(nn.Sequential(MLP(6, [4], 4), nn.ReLU()), "m0") == (6,)
    image = Modality(
        "image", ConvImageEncoder((1, 8, 8), feature_dim=4), 4, MLP(LATENT, [4], 64), tiny_modalities()[0].likelihood
    )
    with pytest.raises(ValueError, match="image"):
        build_model("meme", [image, *tiny_modalities(1, latent_dim=LATENT)], LATENT)
    model = build_model(
        "meme", [image, *tiny_modalities(1, latent_dim=LATENT)], LATENT, pseudo_sample_shapes={"image": (1, 8, 8)}
    )
    assert model.pseudo_samples["image"].shape == (64, 1, 8, 8)
    with pytest.raises(KeyError, match="nope"):
        make_model(2, pseudo_sample_shapes={"nope": (3,)})
    with pytest.raises(TypeError, match="m0"):
        make_model(2).loss({"m0": torch.zeros(2, 6, dtype=torch.long), "m1": torch.zeros(2, 6)})
    for bad in ({"n_samples": 0}, {"n_marginal_samples": -1}, {"n_pseudo_samples": 0}, {"supervision_weight": -1.0}):
        with pytest.raises(ValueError):
            make_model(2, **bad)
    model = make_model(2, n_samples=2, n_marginal_samples=3)
    model.noise = FixedNoise()
    model.loss(correlated_batch(4))
    assert model.noise.calls == [(5, 2, 4, LATENT)]  # every draw of every encoder in one call
