"""Tests of mmcore/models/svae.py (SVAE and SVAE*) and the objectives of mmcore/models/poe_family.py.

The losses are checked against the seed's formulas written out by hand (Kutuzova et al. 2021, eqs. 19-22):
products of experts from variances, closed-form Gaussian KLs, Gaussian log-densities, one sample at a time.
What every model promises (missing modalities, shapes, training) is in test_model_contract.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import batch_missing_a_modality, correlated_batch, gradient_norm, tiny_modalities
from torch import Tensor

from mmcore.models import build_model
from mmcore.models.poe_family import PoEFamilyVAE
from mmcore.models.svae import SVAE, SVAEStar

LATENT = 3
INPUT = 6
HIDDEN = 8
# eqs. 29-32 on the fully paired batch of test_three_modality_fully_paired_batch_value (one geometric-mean posterior
# per pair instead of the paper's two gives 143.78878799729017 there).
EXPECTED_FULLY_PAIRED_SVAE = 146.65845670690845


# ---------------------------------------------------------------------- formulas written out by hand
def fixed_noise(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """One fixed standard-normal draw per (sample, latent coordinate), repeated over any leading axes.

    Every reparametrised sample of a step then uses the same ε for a given data point, however the model
    groups its draws, so a test can replay them.
    """
    generator = torch.Generator().manual_seed(1234)
    return torch.randn(tuple(shape[-2:]), generator=generator, dtype=like.dtype).expand(shape)


def product_by_hand(means: list[Tensor], variances: list[Tensor], powers: list[float]) -> tuple[Tensor, Tensor]:
    """∏ N(μ_k, σ_k²)^{a_k}: precision Σ a_k/σ_k², mean Σ a_k μ_k/σ_k² / precision; returns (mean, variance)."""
    precision = sum(power / variance for power, variance in zip(powers, variances, strict=True))
    weighted = sum(power * mean / variance for power, mean, variance in zip(powers, means, variances, strict=True))
    return weighted / precision, 1.0 / precision


def kl_by_hand(mean_q: Tensor, var_q: Tensor, mean_p: Tensor, var_p: Tensor) -> Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) summed over the latent axis."""
    return 0.5 * (var_q / var_p + (mean_q - mean_p) ** 2 / var_p - 1.0 + torch.log(var_p / var_q)).sum(-1)


def gaussian_log_density(x: Tensor, mean: Tensor) -> Tensor:
    """log N(x; mean, 1) summed over the last axis (the tiny modalities' unit-scale Gaussian likelihood)."""
    return (-0.5 * (x - mean) ** 2 - 0.5 * math.log(2.0 * math.pi)).sum(-1)


def elbo_parts_by_hand(model, clean: dict[str, Tensor], eps: Tensor, weights: dict[str, float], beta: float):
    """λ_i log p(x_i | z) and β·KL(q ‖ p) as functions of Gaussian posteriors (mean, variance), z = μ + σ·eps."""

    def log_p(modality: str, posterior: tuple[Tensor, Tensor]) -> Tensor:
        z = posterior[0] + posterior[1].sqrt() * eps
        return weights[modality] * gaussian_log_density(clean[modality], model.decoders[modality](z))

    def kl(q: tuple[Tensor, Tensor], p: tuple[Tensor, Tensor]) -> Tensor:
        return beta * kl_by_hand(*q, *p)

    return log_p, kl


def expert_by_hand(model: SVAE, reader: str, slot: str, x: Tensor) -> tuple[Tensor, Tensor]:
    """q_reader^slot(z | x): the expert's body, then its linear head split into mean and log-variance."""
    expert = model.experts[reader][slot]
    mean, logvar = expert.head.linear(expert.body(x)).chunk(2, dim=-1)
    return mean, torch.exp(logvar.clamp(-12.0, 8.0))


def subset_posterior_by_hand(model: SVAE, data: dict[str, Tensor], subset: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """The SVAE rule: own experts for present slots, geometric mean of replacement experts for missing ones."""
    means, variances, powers = [], [], []
    for slot in model.modality_names:
        readers = [slot] if slot in subset else list(subset)
        for reader in readers:
            mean, variance = expert_by_hand(model, reader, slot, data[reader])
            means.append(mean)
            variances.append(variance)
            powers.append(1.0 if slot in subset else 1.0 / len(subset))
    return product_by_hand(means, variances, powers)


def mixed_two_modality_batch(batch: int = 7) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Samples 0-2 paired, 3-4 only m0, 5 only m1, 6 nothing; NaN placeholders where a modality is missing."""
    data = {name: x.double() for name, x in correlated_batch(batch, input_dim=INPUT, seed=3).items()}
    mask = {
        "m0": torch.tensor([True, True, True, True, True, False, False]),
        "m1": torch.tensor([True, True, True, False, False, True, False]),
    }
    for name in data:
        data[name][~mask[name]] = float("nan")
    return data, mask


def encoder_parameter_count(model: PoEFamilyVAE) -> int:
    """The parameters of every encoder network the model owns (all but its decoders and likelihoods)."""
    decoders = [*model.decoders.parameters(), *model.likelihoods.parameters()]
    return sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in decoders)


def forward_calls(model: PoEFamilyVAE, networks: dict[str, torch.nn.Module]) -> dict[str, int]:
    """How often each named network runs while the loss of a three-modality batch of mixed presence is computed."""
    data = correlated_batch(6, n_modalities=3, input_dim=INPUT)
    mask = {name: torch.tensor([True, True, False, True, True, True]) for name in data}
    mask["m2"] = torch.tensor([True, False, True, False, True, False])
    calls: dict[str, int] = {}
    for label, network in networks.items():
        network.register_forward_hook(
            lambda module, inputs, output, label=label: calls.update({label: calls.get(label, 0) + 1})
        )
    model.loss(data, mask)
    return calls


# Rows of mixed_presence_posterior's batch and the modalities each has; row 3 has none.
POSTERIOR_ROWS = [(0, ("m0", "m1", "m2")), (1, ("m0",)), (2, ("m1",)), (4, ("m0", "m1"))]


def mixed_presence_posterior(model: PoEFamilyVAE):
    """A three-modality batch whose rows have the modalities of POSTERIOR_ROWS, and the model's posterior of it."""
    data = correlated_batch(5, n_modalities=3, input_dim=INPUT)
    mask = {
        "m0": torch.tensor([True, True, False, False, True]),
        "m1": torch.tensor([True, False, True, False, True]),
        "m2": torch.tensor([True, False, False, False, False]),
    }
    return data, model.posterior(data, mask)


def build(name: str, n_modalities: int = 2, weights: tuple[float, ...] | None = None, **options) -> PoEFamilyVAE:
    modalities = tiny_modalities(n_modalities, input_dim=INPUT, latent_dim=LATENT, hidden=HIDDEN, seed=7)
    for modality, weight in zip(modalities, weights or (), strict=False):
        modality.reconstruction_weight = weight
    torch.manual_seed(11)
    return build_model(name, modalities, LATENT, **options)


# ---------------------------------------------------------------------- registry and options
def test_registry_names_pair_the_architecture_with_each_objective() -> None:
    assert type(build("svae")) is SVAE and build("svae").objective == "svae"
    assert type(build("svae-star")) is SVAEStar and build("svae-star").objective == "vaevae"
    assert build("svae", objective="vaevae").objective == "vaevae"
    with pytest.raises(ValueError, match="unknown objective"):
        build("svae", objective="elbo")


def test_own_expert_reuses_the_users_encoder_and_replacements_are_fresh() -> None:
    modalities = tiny_modalities(2, input_dim=INPUT, latent_dim=LATENT, hidden=HIDDEN)
    model = SVAE(modalities, LATENT)
    own = model.experts["m0"]["m0"].body
    assert own is not modalities[0].encoder  # a copy the model owns, with the user's weights
    assert torch.equal(own[0].layers[0].weight, modalities[0].encoder[0].layers[0].weight)
    replacement = model.experts["m0"]["m1"].body
    assert replacement is not modalities[0].encoder
    assert not torch.equal(replacement[0].layers[0].weight, modalities[0].encoder[0].layers[0].weight)


# ---------------------------------------------------------------------- the loss against the formulas
@pytest.mark.parametrize("weighting", ["sample", "paper"])
@pytest.mark.parametrize("name", ["svae", "svae-star"])
def test_two_modality_loss_equals_the_seed_formulas(name: str, weighting: str) -> None:
    """SVAE: paired L + L1 + L2, unpaired L_i (eqs. 19-22); SVAE*: paired L only. β and λ weights included.

    ``sample``: every sample's terms weigh 1/B (the only behaviour before the option); ``paper`` (the default):
    eq. 22's three expectations E_paired, E_unpaired(x1), E_unpaired(x2) are each a mean over their own samples.
    """
    model = build(name, weights=(1.0, 2.0), weighting=weighting).double()
    model.noise = fixed_noise
    data, mask = mixed_two_modality_batch()
    beta = 0.7
    output = model.loss(data, mask, beta=beta)

    clean = {key: torch.nan_to_num(value, nan=0.0) for key, value in data.items()}
    eps = fixed_noise((7, LATENT), clean["m0"])
    e00, v00 = expert_by_hand(model, "m0", "m0", clean["m0"])
    e01, v01 = expert_by_hand(model, "m0", "m1", clean["m0"])  # the seed's q*_2(z | x1)
    e11, v11 = expert_by_hand(model, "m1", "m1", clean["m1"])
    e10, v10 = expert_by_hand(model, "m1", "m0", clean["m1"])  # the seed's q*_1(z | x2)
    joint = product_by_hand([e00, e11], [v00, v11], [1.0, 1.0])
    only0 = product_by_hand([e00, e01], [v00, v01], [1.0, 1.0])
    only1 = product_by_hand([e11, e10], [v11, v10], [1.0, 1.0])
    standard = (torch.zeros_like(e00), torch.ones_like(v00))

    def draw(posterior):
        return posterior[0] + posterior[1].sqrt() * eps

    def log_p(modality, z):
        return gaussian_log_density(clean[modality], model.decoders[modality](z))

    z_joint, z0, z1 = draw(joint), draw(only0), draw(only1)
    paired_l = (
        log_p("m0", z_joint)
        + 2.0 * log_p("m1", z_joint)
        - beta * kl_by_hand(*joint, *only0)
        - beta * kl_by_hand(*joint, *only1)
    )
    unimodal_l1 = log_p("m0", z0) - beta * kl_by_hand(*only0, *standard)
    unimodal_l2 = 2.0 * log_p("m1", z1) - beta * kl_by_hand(*only1, *standard)

    paired, just0, just1 = slice(0, 3), slice(3, 5), slice(5, 6)
    # Per-sample weights: 1/7 each, or 1/(samples of the same presence pattern): 1/3 paired, 1/2 and 1/1 unpaired.
    w_paired, w_just0, w_just1 = (1 / 7, 1 / 7, 1 / 7) if weighting == "sample" else (1 / 3, 1 / 2, 1.0)
    objective = (
        w_paired * paired_l[paired].sum() + w_just0 * unimodal_l1[just0].sum() + w_just1 * unimodal_l2[just1].sum()
    )
    if name == "svae":
        objective = objective + w_paired * (unimodal_l1[paired].sum() + unimodal_l2[paired].sum())
    torch.testing.assert_close(output.loss, -objective, rtol=1e-10, atol=1e-10)

    expected_nll0 = -(w_paired * log_p("m0", z_joint)[paired].sum() + w_just0 * log_p("m0", z0)[just0].sum())
    if name == "svae":
        expected_nll0 = expected_nll0 - w_paired * log_p("m0", z0)[paired].sum()
    torch.testing.assert_close(output.terms["nll/m0"], expected_nll0, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        output.terms["kl/q(m0,m1)||q(m0)"],
        w_paired * kl_by_hand(*joint, *only0)[paired].sum(),
        rtol=1e-10,
        atol=1e-10,
    )
    # The terms are unweighted parts of the loss.
    weighted = output.terms["nll/m0"] + 2.0 * output.terms["nll/m1"]
    kls = sum(value for key, value in output.terms.items() if key.startswith("kl/"))
    torch.testing.assert_close(output.loss, weighted + beta * kls, rtol=1e-10, atol=1e-10)


def test_weightings_agree_on_a_batch_with_one_presence_pattern() -> None:
    """A fully paired batch has one expectation: eq. 22's weighting and 1/B are the same."""
    data = {name: x.double() for name, x in correlated_batch(5, input_dim=INPUT, seed=2).items()}
    losses = []
    for weighting in ("sample", "paper"):
        model = build("svae", weighting=weighting).double()
        model.noise = fixed_noise
        losses.append(model.loss(data).loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="unknown weighting"):
        build("svae", weighting="batch")


def test_subset_posterior_of_three_modalities_uses_geometric_mean_of_replacements() -> None:
    model = build("svae", n_modalities=3).double()
    data = {name: x.double() for name, x in correlated_batch(5, n_modalities=3, input_dim=INPUT).items()}
    e = {(r, s): expert_by_hand(model, r, s, data[r]) for r in model.modality_names for s in model.modality_names}
    # q(z | x0, x1) ∝ q_0^0 q_1^1 (q_0^2 q_1^2)^{1/2}
    mean, variance = product_by_hand(
        [e["m0", "m0"][0], e["m1", "m1"][0], e["m0", "m2"][0], e["m1", "m2"][0]],
        [e["m0", "m0"][1], e["m1", "m1"][1], e["m0", "m2"][1], e["m1", "m2"][1]],
        [1.0, 1.0, 0.5, 0.5],
    )
    posterior = model.subset_posterior(data, ("m1", "m0"))  # any order of the names
    torch.testing.assert_close(posterior.mean, mean)
    torch.testing.assert_close(posterior.variance, variance)
    # q(z | x2) ∝ q_2^0 q_2^1 q_2^2: one modality fills every slot.
    mean, variance = product_by_hand(
        [e["m2", s][0] for s in model.modality_names], [e["m2", s][1] for s in model.modality_names], [1.0] * 3
    )
    posterior = model.subset_posterior(data, ("m2",))
    torch.testing.assert_close(posterior.mean, mean)
    torch.testing.assert_close(posterior.variance, variance)


def three_modality_batch(seed: int) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """Rows 0-2 have m0, m1, m2; row 3 m0 and m1; rows 4-5 only m0; row 6 only m1; row 7 only m2.

    Returns the data (NaN where missing), the mask, and the data with zeros where missing.
    """
    data = {key: x.double() for key, x in correlated_batch(8, n_modalities=3, input_dim=INPUT, seed=seed).items()}
    rows = [(1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 0), (1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    mask = {f"m{k}": torch.tensor([bool(row[k]) for row in rows]) for k in range(3)}
    clean = {key: torch.where(mask[key].unsqueeze(-1), x, torch.zeros_like(x)) for key, x in data.items()}
    for key in data:
        data[key][~mask[key]] = float("nan")
    return data, mask, clean


@pytest.mark.parametrize("name", ["svae", "svae-star"])
def test_three_modality_loss_is_eqs_29_to_32_with_two_posteriors_per_pair(name: str) -> None:
    """SVAE, three modalities (journal eqs. 29-38, f(q(z|xi,xj)) = f(q_i(z|xi,xj)) + f(q_j(z|xi,xj))), by hand.

    Posteriors (eqs. 33, 35-37): q123 ∝ q_0^0 q_1^1 q_2^2; q^i_ij ∝ q_i^i q_j^j q_i^k and q^j_ij ∝ q_i^i q_j^j q_j^k;
    q_i ∝ q_i^0 q_i^1 q_i^2. On the fully paired rows: L123 (eq. 29, KL to both posteriors of each pair) + Σ_pairs
    L_ij (eq. 30: reconstruct x_i, x_j only, KL to q_0, q_1, q_2 and N(0, I), summed over both posteriors); no L_i
    (eq. 31: unpaired only). Row 3 (m0, m1 only) is a two-modality paired sample: eq. 19's paired line over both
    posteriors of the pair, plus L_0 + L_1 under the SVAE objective. Unpaired rows: L_i. Each presence pattern's
    terms are averaged over its rows (eq. 22 weighting).
    """
    model = build(name, n_modalities=3, weights=(1.0, 0.5, 3.0)).double()
    model.noise = fixed_noise
    data, mask, clean = three_modality_batch(seed=5)
    beta = 1.3
    output = model.loss(data, mask, beta=beta)

    eps = fixed_noise((8, LATENT), clean["m0"])
    e = {(r, s): expert_by_hand(model, r, s, clean[r]) for r in ("m0", "m1", "m2") for s in ("m0", "m1", "m2")}

    def poe(*experts):
        return product_by_hand([e[x][0] for x in experts], [e[x][1] for x in experts], [1.0] * len(experts))

    q012 = poe(("m0", "m0"), ("m1", "m1"), ("m2", "m2"))
    q01 = [poe(("m0", "m0"), ("m1", "m1"), ("m0", "m2")), poe(("m0", "m0"), ("m1", "m1"), ("m1", "m2"))]
    q02 = [poe(("m0", "m0"), ("m2", "m2"), ("m0", "m1")), poe(("m0", "m0"), ("m2", "m2"), ("m2", "m1"))]
    q12 = [poe(("m1", "m1"), ("m2", "m2"), ("m1", "m0")), poe(("m1", "m1"), ("m2", "m2"), ("m2", "m0"))]
    q0 = poe(("m0", "m0"), ("m0", "m1"), ("m0", "m2"))
    q1 = poe(("m1", "m0"), ("m1", "m1"), ("m1", "m2"))
    q2 = poe(("m2", "m0"), ("m2", "m1"), ("m2", "m2"))
    prior = (torch.zeros_like(q0[0]), torch.ones_like(q0[1]))
    log_p, kl = elbo_parts_by_hand(model, clean, eps, {"m0": 1.0, "m1": 0.5, "m2": 3.0}, beta)

    # eq. 29
    l012 = log_p("m0", q012) + log_p("m1", q012) + log_p("m2", q012)
    for pair in (q01, q12, q02):
        l012 = l012 - kl(q012, pair[0]) - kl(q012, pair[1])
    # eq. 30, each pair's two posteriors
    l_pairs = 0.0
    for (i, j), pair in ((("m0", "m1"), q01), (("m0", "m2"), q02), (("m1", "m2"), q12)):
        for q in pair:
            l_pairs = l_pairs + log_p(i, q) + log_p(j, q) - kl(q, q0) - kl(q, q1) - kl(q, q2) - kl(q, prior)
    # eqs. 20-21 / 31
    l0 = log_p("m0", q0) - kl(q0, prior)
    l1 = log_p("m1", q1) - kl(q1, prior)
    l2 = log_p("m2", q2) - kl(q2, prior)
    # row 3: eq. 19's paired line over both posteriors of (m0, m1); + L_0 + L_1 for the SVAE objective
    l_row3 = sum(log_p("m0", q) + log_p("m1", q) - kl(q, q0) - kl(q, q1) for q in q01)
    if name == "svae":
        l_row3 = l_row3 + l0 + l1

    objective = (
        (l012 + l_pairs)[0:3].mean() + l_row3[3] + l0[4:6].mean() + l1[6] + l2[7]  # one mean per presence pattern
    )
    torch.testing.assert_close(output.loss, -objective, rtol=1e-10, atol=1e-10)


def test_three_modality_fully_paired_batch_value() -> None:
    """A fully paired three-modality batch: eqs. 29-32 by hand against the loss, and the value recorded."""
    model = build("svae", n_modalities=3).double()
    model.noise = fixed_noise
    data = {key: x.double() for key, x in correlated_batch(4, n_modalities=3, input_dim=INPUT, seed=5).items()}
    eps = fixed_noise((4, LATENT), data["m0"])
    names = ("m0", "m1", "m2")
    e = {(r, s): expert_by_hand(model, r, s, data[r]) for r in names for s in names}

    def poe(*experts):
        return product_by_hand([e[x][0] for x in experts], [e[x][1] for x in experts], [1.0] * len(experts))

    def log_p(modality, q):
        return gaussian_log_density(data[modality], model.decoders[modality](q[0] + q[1].sqrt() * eps))

    prior = (torch.zeros(4, LATENT, dtype=torch.float64), torch.ones(4, LATENT, dtype=torch.float64))
    whole = poe(*[(m, m) for m in names])
    single = {m: poe(*[(m, s) for s in names]) for m in names}
    pairs = {
        (i, j): [poe((i, i), (j, j), (r, k)) for r in (i, j)]
        for i, j, k in (("m0", "m1", "m2"), ("m0", "m2", "m1"), ("m1", "m2", "m0"))
    }
    total = sum(log_p(m, whole) for m in names)  # eq. 29
    for pair in pairs.values():
        total = total - kl_by_hand(*whole, *pair[0]) - kl_by_hand(*whole, *pair[1])
    for (i, j), pair in pairs.items():  # eq. 30
        for q in pair:
            total = total + log_p(i, q) + log_p(j, q) - kl_by_hand(*q, *prior)
            total = total - sum(kl_by_hand(*q, *single[m]) for m in names)
    expected = -total.mean()
    torch.testing.assert_close(model.loss(data).loss, expected, rtol=1e-10, atol=1e-10)
    assert abs(float(expected.detach()) - EXPECTED_FULLY_PAIRED_SVAE) < 1e-6


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("name", ["svae", "svae-star"])
@pytest.mark.parametrize("how", ["absent key", "mask"])
def test_a_missing_modality_trains_none_of_its_experts_and_the_others_all(name: str, how: str) -> None:
    """m2 missing everywhere: none of q_2^s learns; q_0^s and q_1^s of every slot s, q_0^2 and q_1^2 included, do."""
    model = build(name, n_modalities=3)
    model.loss(*batch_missing_a_modality(how, INPUT)).loss.backward()
    for slot in model.modality_names:
        assert gradient_norm(model.experts["m2"][slot]) == 0.0
    for reader in ("m0", "m1"):
        for slot in model.modality_names:  # replacement experts for the missing slot m2 are used by q(z | x_S)
            grads = [p.grad for p in model.experts[reader][slot].parameters()]
            assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert gradient_norm(model.experts["m0"]["m2"]) > 0.0


def test_unpaired_samples_alone_train_every_expert_including_replacements() -> None:
    """The seed's key feature of SVAE: no paired sample needed for any expert to learn."""
    model = build("svae")
    data = correlated_batch(6, input_dim=INPUT)
    mask = {"m0": torch.tensor([True] * 3 + [False] * 3), "m1": torch.tensor([False] * 3 + [True] * 3)}
    model.loss(data, mask).loss.backward()
    for reader in ("m0", "m1"):
        for slot in ("m0", "m1"):
            assert gradient_norm(model.experts[reader][slot]) > 0.0, (reader, slot)


def test_parameter_count_is_n_squared_experts() -> None:
    """Seed: k·n² encoder parameters; exactly n² · (body + head) for identical modality networks."""
    body = INPUT * HIDDEN + HIDDEN  # one Linear(6 -> 8) feature network
    head = HIDDEN * 2 * LATENT + 2 * LATENT  # Linear(8 -> 2·latent)
    for n in (2, 3, 4):
        model = build("svae", n_modalities=n)
        encoder_parameters = encoder_parameter_count(model)
        assert encoder_parameters == n**2 * (body + head)
        assert encoder_parameters == sum(p.numel() for p in model.experts.parameters())


def test_each_expert_and_decoder_runs_once_per_step() -> None:
    """Efficiency: every subset posterior shares the expert passes, and each decoder sees one stack of latents."""
    model = build("svae", n_modalities=3)
    networks = {f"q_{r}^{s}": model.experts[r][s] for r in model.modality_names for s in model.modality_names}
    networks |= {f"decoder {name}": model.decoders[name] for name in model.modality_names}
    assert forward_calls(model, networks) == {label: 1 for label in networks}


# ---------------------------------------------------------------------- inference
def test_posterior_takes_each_samples_own_modalities() -> None:
    model = build("svae", n_modalities=3)
    data, posterior = mixed_presence_posterior(model)
    for row, subset in POSTERIOR_ROWS:
        expected = model.subset_posterior(data, subset)
        torch.testing.assert_close(posterior.mean[row], expected.mean[row])
        torch.testing.assert_close(posterior.logvar[row], expected.logvar[row])
