"""Tests of mmcore/models/vaevae.py: VAEVAE (b), VAEVAE (a) and VAEVAE*.

Losses are checked against the formulas written out by hand; the reference formulas of the SVAE/VAEVAE
family (Gaussian products, KLs, the per-sample objective) are shared with test_svae.py. What every model
promises (missing modalities, shapes, training) is in test_model_contract.py.
"""

from __future__ import annotations

from itertools import combinations

import pytest
import torch
from helpers import batch_missing_a_modality, correlated_batch, gradient_norm, tiny_modalities
from test_svae import (
    HIDDEN,
    INPUT,
    LATENT,
    POSTERIOR_ROWS,
    build,
    elbo_parts_by_hand,
    encoder_parameter_count,
    fixed_noise,
    forward_calls,
    gaussian_log_density,
    kl_by_hand,
    mixed_presence_posterior,
    mixed_two_modality_batch,
    product_by_hand,
    three_modality_batch,
)
from torch import Tensor

from mmcore.models.poe_family import PoEFamilyVAE
from mmcore.models.vaevae import VAEVAE, VAEVAEProduct, VAEVAEStar


# ---------------------------------------------------------------------- the networks, recomputed by hand
def unimodal_by_hand(model: PoEFamilyVAE, name: str, x: Tensor) -> tuple[Tensor, Tensor]:
    """q_i(z | x_i): the expert's body, then its linear head split into mean and (clamped) log-variance."""
    expert = model.unimodal[name]
    mean, logvar = expert.head.linear(expert.body(x)).chunk(2, dim=-1)
    return mean, torch.exp(logvar.clamp(-12.0, 8.0))


def subset_network_by_hand(model: VAEVAE, data: dict[str, Tensor], subset: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """q_S(z | x_S): each member's own body, features concatenated in model order, one linear head."""
    network = model.subset_encoders["+".join(subset)]
    features = torch.cat([network.bodies[name](data[name]) for name in subset], dim=-1)
    mean, logvar = network.head.linear(features).chunk(2, dim=-1)
    return mean, torch.exp(logvar.clamp(-12.0, 8.0))


def posteriors_by_hand(model: PoEFamilyVAE, data: dict[str, Tensor]) -> dict[tuple[str, ...], tuple[Tensor, Tensor]]:
    """q(z | x_S) of every non-empty subset: a subset network (VAEVAE b) or a product of unimodal experts (a)."""
    names = model.modality_names
    single = {name: unimodal_by_hand(model, name, data[name]) for name in names}
    posteriors = {}
    for subset in (s for size in range(1, len(names) + 1) for s in combinations(names, size)):
        if len(subset) == 1:
            posteriors[subset] = single[subset[0]]
        elif isinstance(model, VAEVAE):
            posteriors[subset] = subset_network_by_hand(model, data, subset)
        else:
            experts = [single[name] for name in subset]
            posteriors[subset] = product_by_hand([e[0] for e in experts], [e[1] for e in experts], [1.0] * len(subset))
    return posteriors


def _gradients(module: torch.nn.Module) -> list[Tensor | None]:
    return [parameter.grad for parameter in module.parameters()]


# ---------------------------------------------------------------------- registry and construction
def test_registry_names_give_each_architecture_and_objective() -> None:
    b, a, star = build("vaevae"), build("vaevae-a"), build("vaevae-star")
    assert type(b) is VAEVAE and b.objective == "vaevae"
    assert type(a) is VAEVAEProduct and a.objective == "vaevae"
    assert type(star) is VAEVAEStar and star.objective == "svae"
    assert set(b.subset_encoders) == {"m0+m1"} and not hasattr(a, "subset_encoders")
    with pytest.raises(ValueError, match="unknown objective"):
        build("vaevae", objective="iwae")


def test_unimodal_experts_reuse_the_users_encoders_and_subset_networks_are_fresh() -> None:
    modalities = tiny_modalities(2, input_dim=INPUT, latent_dim=LATENT, hidden=HIDDEN)
    model = VAEVAE(modalities, LATENT)
    own = model.unimodal["m0"].body
    assert own is not modalities[0].encoder  # a copy the model owns, with the user's weights
    assert torch.equal(own[0].layers[0].weight, modalities[0].encoder[0].layers[0].weight)
    joint_body = model.subset_encoders["m0+m1"].bodies["m0"]
    assert joint_body is not modalities[0].encoder
    assert not torch.equal(joint_body[0].layers[0].weight, modalities[0].encoder[0].layers[0].weight)


# ---------------------------------------------------------------------- the loss against the formulas
@pytest.mark.parametrize("weighting", ["sample", "paper"])
@pytest.mark.parametrize("name", ["vaevae", "vaevae-star", "vaevae-a"])
def test_two_modality_loss_equals_the_formulas(name: str, weighting: str) -> None:
    """VAEVAE: paired L(x1, x2), unpaired L_i; VAEVAE*: paired L + L1 + L2. β and λ weights included.

    Weights: 1/B per sample (``sample``), or a mean per expectation of eq. 22 (``paper``, the default).
    """
    model = build(name, weights=(1.5, 1.0), weighting=weighting).double()
    model.noise = fixed_noise
    data, mask = mixed_two_modality_batch()  # 0-2 paired, 3-4 only m0, 5 only m1, 6 nothing; NaN placeholders
    beta = 0.4
    output = model.loss(data, mask, beta=beta)

    clean = {key: torch.nan_to_num(value, nan=0.0) for key, value in data.items()}
    eps = fixed_noise((7, LATENT), clean["m0"])
    q0 = unimodal_by_hand(model, "m0", clean["m0"])
    q1 = unimodal_by_hand(model, "m1", clean["m1"])
    if name == "vaevae-a":
        joint = product_by_hand([q0[0], q1[0]], [q0[1], q1[1]], [1.0, 1.0])
    else:
        joint = subset_network_by_hand(model, clean, ("m0", "m1"))
    standard = (torch.zeros_like(q0[0]), torch.ones_like(q0[1]))

    def log_p(modality: str, posterior: tuple[Tensor, Tensor]) -> Tensor:
        z = posterior[0] + posterior[1].sqrt() * eps
        return gaussian_log_density(clean[modality], model.decoders[modality](z))

    paired_l = (
        1.5 * log_p("m0", joint) + log_p("m1", joint) - beta * kl_by_hand(*joint, *q0) - beta * kl_by_hand(*joint, *q1)
    )
    l1 = 1.5 * log_p("m0", q0) - beta * kl_by_hand(*q0, *standard)
    l2 = log_p("m1", q1) - beta * kl_by_hand(*q1, *standard)
    paired, just0, just1 = slice(0, 3), slice(3, 5), slice(5, 6)
    w_paired, w_just0, w_just1 = (1 / 7, 1 / 7, 1 / 7) if weighting == "sample" else (1 / 3, 1 / 2, 1.0)
    objective = w_paired * paired_l[paired].sum() + w_just0 * l1[just0].sum() + w_just1 * l2[just1].sum()
    if name == "vaevae-star":
        objective = objective + w_paired * (l1[paired].sum() + l2[paired].sum())
    torch.testing.assert_close(output.loss, -objective, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        output.terms["kl/q(m0,m1)||q(m1)"], w_paired * kl_by_hand(*joint, *q1)[paired].sum(), rtol=1e-10, atol=1e-10
    )
    weighted = 1.5 * output.terms["nll/m0"] + output.terms["nll/m1"]
    kls = sum(value for key, value in output.terms.items() if key.startswith("kl/"))
    torch.testing.assert_close(output.loss, weighted + beta * kls, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("weighting", ["paper", "sample"])
@pytest.mark.parametrize("name", ["vaevae", "vaevae-star", "vaevae-a"])
def test_three_modality_loss_is_eqs_29_to_32(name: str, weighting: str) -> None:
    """VAEVAE with three modalities, the journal's eqs. 29-32 written out term by term.

    Fully paired rows: L123 (eq. 29: all three reconstructed, KL to q01, q12, q02) + L01 + L02 + L12 (eq. 30: only
    the pair reconstructed, KL to q0, q1, q2 *and* N(0, I)); no L_i (eq. 31 puts it on unpaired data only).
    Row 3 (m0, m1): the two-modality paired term, + L_0 + L_1 for the SVAE objective (VAEVAE*, eq. 19).
    Unpaired rows: L_i. ``paper``: a mean per presence pattern (eq. 22); ``sample``: Σ / B.
    """
    model = build(name, n_modalities=3, weights=(2.0, 1.0, 0.5), weighting=weighting).double()
    model.noise = fixed_noise
    data, mask, clean = three_modality_batch(seed=9)
    beta = 0.8
    output = model.loss(data, mask, beta=beta)

    eps = fixed_noise((8, LATENT), clean["m0"])
    q = posteriors_by_hand(model, clean)
    q0, q1, q2 = q["m0",], q["m1",], q["m2",]
    q01, q02, q12, q012 = q["m0", "m1"], q["m0", "m2"], q["m1", "m2"], q["m0", "m1", "m2"]
    prior = (torch.zeros_like(q0[0]), torch.ones_like(q0[1]))
    log_p, kl = elbo_parts_by_hand(model, clean, eps, {"m0": 2.0, "m1": 1.0, "m2": 0.5}, beta)

    l012 = log_p("m0", q012) + log_p("m1", q012) + log_p("m2", q012) - kl(q012, q01) - kl(q012, q12) - kl(q012, q02)
    l01 = log_p("m0", q01) + log_p("m1", q01) - kl(q01, q0) - kl(q01, q1) - kl(q01, q2) - kl(q01, prior)
    l02 = log_p("m0", q02) + log_p("m2", q02) - kl(q02, q0) - kl(q02, q1) - kl(q02, q2) - kl(q02, prior)
    l12 = log_p("m1", q12) + log_p("m2", q12) - kl(q12, q0) - kl(q12, q1) - kl(q12, q2) - kl(q12, prior)
    l0 = log_p("m0", q0) - kl(q0, prior)
    l1 = log_p("m1", q1) - kl(q1, prior)
    l2 = log_p("m2", q2) - kl(q2, prior)
    l_row3 = log_p("m0", q01) + log_p("m1", q01) - kl(q01, q0) - kl(q01, q1)
    if name == "vaevae-star":
        l_row3 = l_row3 + l0 + l1
    paired = l012 + l01 + l02 + l12
    if weighting == "paper":
        objective = paired[0:3].mean() + l_row3[3] + l0[4:6].mean() + l1[6] + l2[7]
    else:
        objective = (paired[0:3].sum() + l_row3[3] + l0[4:6].sum() + l1[6] + l2[7]) / 8
    torch.testing.assert_close(output.loss, -objective, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------- gradient routing
def test_joint_network_gets_no_gradient_from_unpaired_samples() -> None:
    model = build("vaevae")
    data = correlated_batch(6, input_dim=INPUT)
    mask = {"m0": torch.tensor([True] * 3 + [False] * 3), "m1": torch.tensor([False] * 3 + [True] * 3)}
    model.loss(data, mask).loss.backward()
    assert all(grad is None or not grad.any() for grad in _gradients(model.subset_encoders["m0+m1"]))
    assert gradient_norm(model.unimodal["m0"]) > 0.0 and gradient_norm(model.unimodal["m1"]) > 0.0


@pytest.mark.parametrize("weighting", ["sample", "paper"])
def test_unpaired_samples_do_not_change_the_joint_networks_gradient(weighting: str) -> None:
    """Mixed batch of B samples vs its P paired samples alone: B · grad(mixed) = P · grad(paired) as loss = Σ/B
    (``sample``); grad(mixed) = grad(paired) as the paired expectation is a mean over paired samples (``paper``)."""
    model = build("vaevae", weighting=weighting).double()
    model.noise = lambda shape, like: torch.full(shape, 0.3, dtype=like.dtype)  # the same ε for every sample
    data = {key: x.double() for key, x in correlated_batch(10, input_dim=INPUT, seed=4).items()}
    mask = {
        "m0": torch.tensor([True, True, True, True, False, True, False, True, True, False]),
        "m1": torch.tensor([True, False, True, True, True, False, True, True, False, False]),
    }
    paired = mask["m0"] & mask["m1"]
    joint = model.subset_encoders["m0+m1"]

    model.zero_grad()
    model.loss(data, mask).loss.backward()
    batch, n_paired = (10, int(paired.sum())) if weighting == "sample" else (1, 1)
    mixed = [batch * p.grad.clone() for p in joint.parameters()]
    model.zero_grad()
    model.loss({key: x[paired] for key, x in data.items()}).loss.backward()
    alone = [n_paired * p.grad.clone() for p in joint.parameters()]
    assert any(grad.abs().sum() > 0 for grad in alone)
    for from_mixed, from_paired in zip(mixed, alone, strict=True):
        torch.testing.assert_close(from_mixed, from_paired, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["vaevae", "vaevae-a", "vaevae-star"])
@pytest.mark.parametrize("how", ["absent key", "mask"])
def test_a_missing_modality_trains_no_network_reading_it_and_the_others_all(name: str, how: str) -> None:
    """m2 missing everywhere: q_2 and every subset network with m2 get no gradient; q_0, q_1, q_01 learn."""
    model = build(name, n_modalities=3)
    model.loss(*batch_missing_a_modality(how, INPUT)).loss.backward()
    reading_m2 = [model.unimodal["m2"], model.decoders["m2"]]
    if name != "vaevae-a":
        reading_m2 += [network for key, network in model.subset_encoders.items() if "m2" in key.split("+")]
    for network in reading_m2:
        assert gradient_norm(network) == 0.0
    for network in [model.unimodal["m0"], model.unimodal["m1"], model.decoders["m0"]]:
        assert all(grad is not None and torch.isfinite(grad).all() for grad in _gradients(network))
        assert gradient_norm(network) > 0.0
    if name != "vaevae-a":
        assert gradient_norm(model.subset_encoders["m0+m1"]) > 0.0


def test_parameter_count_is_a_network_per_subset() -> None:
    """Seed: k·n·2ⁿ⁻¹ encoder parameters. Exactly: a subset S has |S| bodies and a head on |S|·f features, so
    Σ_S (|S|·body + 2L·|S|·f + 2L) = n·2ⁿ⁻¹·(body + 2L·f) + (2ⁿ − 1)·2L, with L the latent size, f the features."""
    body = INPUT * HIDDEN + HIDDEN  # one Linear(6 -> 8) feature network, f = HIDDEN features
    for n in (2, 3, 4):
        model = build("vaevae", n_modalities=n)
        encoder_parameters = encoder_parameter_count(model)
        k = body + 2 * LATENT * HIDDEN
        assert encoder_parameters == k * n * 2 ** (n - 1) + (2**n - 1) * 2 * LATENT
        assert model.subset_encoders.__len__() + len(model.unimodal) == 2**n - 1
        # VAEVAE (a) keeps only the n unimodal experts.
        assert sum(p.numel() for p in build("vaevae-a", n_modalities=n).unimodal.parameters()) == n * (
            body + 2 * LATENT * HIDDEN + 2 * LATENT
        )


def test_each_network_runs_once_per_step() -> None:
    model = build("vaevae", n_modalities=3)
    networks = {f"q_{name}": model.unimodal[name] for name in model.modality_names}
    networks |= {f"q_{key}": network for key, network in model.subset_encoders.items()}
    networks |= {f"decoder {name}": model.decoders[name] for name in model.modality_names}
    assert forward_calls(model, networks) == {label: 1 for label in networks}


# ---------------------------------------------------------------------- inference
@pytest.mark.parametrize("name", ["vaevae", "vaevae-a"])
def test_posterior_takes_each_samples_own_modalities(name: str) -> None:
    model = build(name, n_modalities=3)
    data, posterior = mixed_presence_posterior(model)
    with torch.no_grad():
        by_hand = posteriors_by_hand(model, data)
    for row, subset in POSTERIOR_ROWS:
        torch.testing.assert_close(posterior.mean[row], by_hand[subset][0][row])
        torch.testing.assert_close(posterior.variance[row], by_hand[subset][1][row])
