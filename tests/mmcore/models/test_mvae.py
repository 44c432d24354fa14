"""MVAE (mmcore/models/mvae.py): the loss against sub-sampled ELBOs computed by hand, the posterior, the options.

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

from mmcore.models import build_model
from mmcore.models.mvae import MVAE
from mmcore.models.subsets import membership_matrix, nonempty_subsets, subset_is_observed

LATENT = 3
INPUT = 6


def make_model(n_modalities: int = 2, n_random_subsets: int = 0, seed: int = 0) -> MVAE:
    modalities = tiny_modalities(n_modalities, INPUT, LATENT, seed=seed)
    return MVAE(modalities, LATENT, n_random_subsets=n_random_subsets).double()


def loss_by_hand(model, data, mask, subsets, noise, beta):
    """−(1/B) Σ_samples Σ_{subsets S the sample has} ELBO_S, one sample and one subset at a time."""
    batch = next(iter(data.values())).shape[0]
    experts = {name: model.encoders[name](x) for name, x in data.items()}
    total = torch.zeros((), dtype=torch.float64)
    for t, subset in enumerate(subsets):
        for b in range(batch):
            if not all(bool(mask[name][b]) for name in subset):
                continue
            mean, logvar = precision_product_by_hand(
                [experts[name].mean[b] for name in subset], [experts[name].logvar[b] for name in subset], True
            )
            z = mean + torch.exp(0.5 * logvar) * noise[t, b]
            reconstruction = sum(
                model.reconstruction_weights[name]
                * gaussian_log_density_by_hand(data[name][b], model.decoders[name](z))
                for name in subset
            )
            total = total + reconstruction - beta * kl_standard_normal_by_hand(mean, logvar)
    return -total / batch


# ---------------------------------------------------------------------------------------------- the loss by hand
def test_loss_equals_joint_and_unimodal_elbos_by_hand(monkeypatch):
    model = make_model(2, n_random_subsets=0)
    model.reconstruction_weights["m0"] = 2.0
    # Samples 0-2 paired, 3 has m0 only, 4 has m1 only.
    data, mask = batch_with_presence({"m0": [1, 1, 1, 1, 0], "m1": [1, 1, 1, 0, 1]})
    noise = torch.randn(3, 5, LATENT, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    use_fixed_noise(monkeypatch, model, noise)

    output = model.loss(data, mask, beta=0.7)
    subsets = [("m0", "m1"), ("m0",), ("m1",)]
    expected = loss_by_hand(model, data, mask, subsets, noise, beta=0.7)
    torch.testing.assert_close(output.loss, expected, rtol=1e-10, atol=1e-10)

    terms = output.terms
    assert set(terms) == {"nll/m0", "nll/m1", "kl/joint", "kl/m0", "kl/m1"}
    recombined = 2.0 * terms["nll/m0"] + terms["nll/m1"] + 0.7 * (terms["kl/joint"] + terms["kl/m0"] + terms["kl/m1"])
    torch.testing.assert_close(output.loss, recombined)
    # The joint KL only counts the three paired samples.
    experts = {name: model.encoders[name](x) for name, x in data.items()}
    joint_kl = sum(
        kl_standard_normal_by_hand(
            *precision_product_by_hand(
                [experts["m0"].mean[b], experts["m1"].mean[b]], [experts["m0"].logvar[b], experts["m1"].logvar[b]], True
            )
        )
        for b in range(3)
    )
    torch.testing.assert_close(terms["kl/joint"], joint_kl / 5)


def test_loss_with_partial_samples_and_a_random_subset_is_section_2_2_by_hand(monkeypatch):
    """§2.2 (eq. 5 with k = 1): every sample is sub-sampled from the modalities it has, written out row by row.

    Row 0 (m0, m1, m2): ELBO(012) + ELBO(0) + ELBO(1) + ELBO(2) + ELBO(02) (the drawn subset).
    Row 1 (m0, m2): ELBO(02) as its full set + ELBO(0) + ELBO(2); the drawn (m0, m2) is not a proper subset.
    Row 2 (m0, m1): ELBO(01) + ELBO(0) + ELBO(1). Rows 3-5 (one modality): that modality's ELBO, once.
    The noise of the full-set ELBO is noise[0], of ELBO(i) noise[1 + i], of the random subset noise[4].
    """
    model = make_model(3, n_random_subsets=1)
    monkeypatch.setattr(model, "draw_random_subsets", lambda: [("m0", "m2")])
    presence = {"m0": [1, 1, 1, 0, 1, 0], "m1": [1, 0, 1, 1, 0, 0], "m2": [1, 1, 0, 0, 0, 1]}
    data, mask = batch_with_presence(presence, INPUT, seed=2)
    noise = torch.randn(5, 6, LATENT, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    use_fixed_noise(monkeypatch, model, noise)
    output = model.loss(data, mask, beta=1.3)

    experts = {name: model.encoders[name](x) for name, x in data.items()}

    def elbo(subset, b, row):
        mean, logvar = precision_product_by_hand(
            [experts[name].mean[b] for name in subset], [experts[name].logvar[b] for name in subset], True
        )
        z = mean + torch.exp(0.5 * logvar) * noise[row, b]
        log_p = sum(gaussian_log_density_by_hand(data[name][b], model.decoders[name](z)) for name in subset)
        return log_p - 1.3 * kl_standard_normal_by_hand(mean, logvar)

    one = {"m0": 1, "m1": 2, "m2": 3}  # noise rows of the unimodal ELBOs
    row0 = elbo(("m0", "m1", "m2"), 0, 0) + sum(elbo((m,), 0, one[m]) for m in one) + elbo(("m0", "m2"), 0, 4)
    row1 = elbo(("m0", "m2"), 1, 0) + elbo(("m0",), 1, 1) + elbo(("m2",), 1, 3)
    row2 = elbo(("m0", "m1"), 2, 0) + elbo(("m0",), 2, 1) + elbo(("m1",), 2, 2)
    row3, row4, row5 = elbo(("m1",), 3, 2), elbo(("m0",), 4, 1), elbo(("m2",), 5, 3)
    expected = -(row0 + row1 + row2 + row3 + row4 + row5) / 6
    torch.testing.assert_close(output.loss, expected, rtol=1e-10, atol=1e-10)
    assert "kl/random_subsets" in output.terms


def test_default_k_is_one_as_in_the_paper():
    """§5 / supplement: the paper's experiments use k = 1 random subset per step."""
    assert MVAE(tiny_modalities(3, INPUT, LATENT), LATENT).n_random_subsets == 1


def test_random_subsets_are_distinct_proper_subsets_of_at_least_two_modalities():
    model = make_model(3, n_random_subsets=2)
    torch.manual_seed(0)
    seen = set()
    for _ in range(30):
        drawn = model.draw_random_subsets()
        assert len(drawn) == 2 and len(set(drawn)) == 2
        assert all(len(subset) == 2 for subset in drawn)
        seen.update(drawn)
    assert seen == {("m0", "m1"), ("m0", "m2"), ("m1", "m2")}
    assert model.elbo_subsets()[:4] == [("m0", "m1", "m2"), ("m0",), ("m1",), ("m2",)]
    # More subsets asked for than there are: all of them, once each.
    assert sorted(make_model(3, n_random_subsets=10).draw_random_subsets()) == sorted(seen)
    # With two modalities there is no proper subset of size two.
    assert make_model(2, n_random_subsets=3).draw_random_subsets() == []
    with pytest.raises(ValueError, match="n_random_subsets"):
        make_model(2, n_random_subsets=-1)


def test_subset_helpers():
    subsets = nonempty_subsets(["a", "b", "c"])
    assert subsets == [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")]
    membership = membership_matrix(subsets, ["a", "b", "c"])
    assert membership.shape == (7, 3) and membership.sum().item() == 12
    presence = torch.tensor([[True, False], [True, True], [False, True]])  # a, b, c for two samples
    observed = subset_is_observed(membership, presence)
    assert observed[:, 0].tolist() == [True, True, False, True, False, False, False]
    assert observed[:, 1].tolist() == [False, True, True, False, False, True, False]


# ---------------------------------------------------------------------------------------------- posterior
def test_posterior_is_the_product_of_present_experts_and_the_prior():
    model = make_model(2)
    data, mask = batch_with_presence({"m0": [1, 1, 0, 0], "m1": [1, 0, 1, 0]}, seed=4)
    data["m0"][2:] = math.nan  # placeholders may be anything
    posterior = model.posterior(data, mask)
    experts = {name: model.encoders[name](x) for name, x in data.items()}
    for b, names in enumerate([["m0", "m1"], ["m0"], ["m1"]]):
        mean, logvar = precision_product_by_hand(
            [experts[name].mean[b] for name in names], [experts[name].logvar[b] for name in names], True
        )
        torch.testing.assert_close(posterior.mean[b], mean)
        torch.testing.assert_close(posterior.logvar[b], logvar)


def test_build_model_passes_the_number_of_random_subsets():
    assert build_model("mvae", tiny_modalities(2, INPUT, LATENT), LATENT, n_random_subsets=2).n_random_subsets == 2


def test_decoding_only_the_counted_draws_gives_the_straightforward_loss_and_gradients(monkeypatch):
    model = make_model(3, n_random_subsets=2, seed=3)
    generator = torch.Generator().manual_seed(4)
    presence = torch.rand(3, 30, generator=generator) < 0.6
    presence[:, :6] = True
    presence[:, -1] = False
    data, mask = batch_with_presence({f"m{i}": presence[i].int().tolist() for i in range(3)}, INPUT, seed=5)

    def straightforward(name, z, x, counted):
        """Every draw decoded, the ones that do not count masked out afterwards."""
        log_likelihood = model.log_likelihood(name, z, torch.where(mask[name].unsqueeze(-1), x, 0.0))
        return torch.where(counted, log_likelihood, torch.zeros_like(log_likelihood))

    def loss_and_gradients():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(6)  # the same random subsets and noise for both
        output = model.loss(data, mask, beta=0.9)
        output.loss.backward()
        return output, [p.grad.clone() for p in model.parameters()]

    output, grads = loss_and_gradients()
    monkeypatch.setattr(model, "_counted_log_likelihood", straightforward)
    expected, expected_grads = loss_and_gradients()
    torch.testing.assert_close(output.loss, expected.loss, rtol=1e-12, atol=1e-12)
    for name, value in expected.terms.items():
        torch.testing.assert_close(output.terms[name], value, rtol=1e-12, atol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)
