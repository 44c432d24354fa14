"""JMVAE-kl (mmcore/models/jmvae.py): the loss by hand, the paired-only rule, the posterior per presence pattern.

What every model promises (shapes, inference, training) is in test_model_contract.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import (
    batch_with_presence,
    gaussian_log_density_by_hand,
    kl_gaussians_by_hand,
    kl_standard_normal_by_hand,
    precision_product_by_hand,
    tiny_modalities,
    use_fixed_noise,
)

from mmcore.models import UnpairedDataError, build_model
from mmcore.models.jmvae import JMVAE

LATENT = 3
INPUT = 6


def make_model(n_modalities: int = 2, alpha: float = 1.0, seed: int = 0) -> JMVAE:
    return JMVAE(tiny_modalities(n_modalities, INPUT, LATENT, seed=seed), LATENT, alpha=alpha).double()


def paired_batch(n_modalities: int, batch: int, seed: int):
    return batch_with_presence({f"m{i}": [1] * batch for i in range(n_modalities)}, INPUT, seed=seed)


# ---------------------------------------------------------------------------------------------- the loss by hand
def test_loss_equals_jmvae_kl_objective_by_hand(monkeypatch):
    model = make_model(2, alpha=0.7)
    model.reconstruction_weights["m0"] = 1.5
    data, mask = paired_batch(2, 4, seed=1)
    noise = torch.randn(4, LATENT, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    use_fixed_noise(monkeypatch, model, noise)
    output = model.loss(data, mask, beta=0.5)

    joint = model.joint_encoder(data)
    unimodal = {name: model.encoders[name](x) for name, x in data.items()}
    total = torch.zeros((), dtype=torch.float64)
    for b in range(4):
        mean, logvar = joint.mean[b], joint.logvar[b]
        z = mean + torch.exp(0.5 * logvar) * noise[b]
        reconstruction = 1.5 * gaussian_log_density_by_hand(data["m0"][b], model.decoders["m0"](z))
        reconstruction = reconstruction + gaussian_log_density_by_hand(data["m1"][b], model.decoders["m1"](z))
        matching = sum(
            kl_gaussians_by_hand(mean, logvar, unimodal[name].mean[b], unimodal[name].logvar[b]) for name in data
        )
        total = total + reconstruction - 0.5 * kl_standard_normal_by_hand(mean, logvar) - 0.5 * 0.7 * matching
    torch.testing.assert_close(output.loss, -total / 4, rtol=1e-10, atol=1e-10)

    terms = output.terms
    assert set(terms) == {"nll/m0", "nll/m1", "kl/prior", "kl/unimodal_m0", "kl/unimodal_m1"}
    recombined = (
        1.5 * terms["nll/m0"]
        + terms["nll/m1"]
        + 0.5 * (terms["kl/prior"] + 0.7 * (terms["kl/unimodal_m0"] + terms["kl/unimodal_m1"]))
    )
    torch.testing.assert_close(output.loss, recombined)
    kl_m1 = kl_gaussians_by_hand(joint.mean, joint.logvar, unimodal["m1"].mean, unimodal["m1"].logvar).mean()
    torch.testing.assert_close(terms["kl/unimodal_m1"], kl_m1)


def test_three_modalities_have_one_matching_term_each():
    model = make_model(3, alpha=2.0)
    data, mask = paired_batch(3, 5, seed=3)
    terms = model.loss(data, mask).terms
    assert {name for name in terms if name.startswith("kl/unimodal_")} == {f"kl/unimodal_m{i}" for i in range(3)}
    assert all(terms[f"kl/unimodal_m{i}"] > 0 for i in range(3))


# ---------------------------------------------------------------------------------------------- paired data only
def test_unpaired_samples_raise_an_error_that_counts_them():
    model = make_model(2)
    data, mask = batch_with_presence({"m0": [1, 1, 0, 1, 1], "m1": [1, 0, 1, 1, 1]}, INPUT, seed=4)
    with pytest.raises(UnpairedDataError, match=r"paired samples only.* 2 of 5 samples") as error:
        model.loss(data, mask)
    assert "m0 missing in 1" in str(error.value) and "m1 missing in 1" in str(error.value)
    assert issubclass(UnpairedDataError, ValueError)


def test_a_modality_absent_from_the_batch_raises():
    model = make_model(2)
    data, _ = paired_batch(2, 3, seed=5)
    with pytest.raises(UnpairedDataError, match=r"paired samples only.*\['m1'\].*all 3 samples"):
        model.loss({"m0": data["m0"]})


def test_a_fully_paired_mask_is_accepted():
    model = make_model(2)
    data, mask = paired_batch(2, 3, seed=6)
    assert torch.isfinite(model.loss(data, mask).loss)
    torch.manual_seed(0)
    with_mask = model.loss(data, mask).loss
    torch.manual_seed(0)
    assert torch.equal(with_mask, model.loss(data).loss)


# ---------------------------------------------------------------------------------------------- posterior
def test_posterior_uses_the_joint_encoder_for_paired_samples_and_unimodal_ones_otherwise():
    model = make_model(3)
    presence = {"m0": [1, 1, 1, 0], "m1": [1, 0, 1, 0], "m2": [1, 0, 0, 0]}
    data, mask = batch_with_presence(presence, INPUT, seed=7)
    for name in data:
        data[name][~mask[name]] = math.nan
    posterior = model.posterior(data, mask)
    clean = {name: torch.where(mask[name].unsqueeze(-1), x, 0.0) for name, x in data.items()}
    joint = model.joint_encoder(clean)
    experts = {name: model.encoders[name](x) for name, x in clean.items()}
    torch.testing.assert_close(posterior.mean[0], joint.mean[0])
    torch.testing.assert_close(posterior.logvar[0], joint.logvar[0])
    torch.testing.assert_close(posterior.mean[1], experts["m0"].mean[1])
    torch.testing.assert_close(posterior.logvar[1], experts["m0"].logvar[1])
    # Two of three modalities: the product of the two unimodal experts (no encoder for that subset exists).
    mean, logvar = precision_product_by_hand(
        [experts["m0"].mean[2], experts["m1"].mean[2]], [experts["m0"].logvar[2], experts["m1"].logvar[2]], False
    )
    torch.testing.assert_close(posterior.mean[2], mean)
    torch.testing.assert_close(posterior.logvar[2], logvar)


def test_posterior_on_a_batch_missing_a_modality_is_finite_and_gives_it_no_gradient():
    # The loss refuses such a batch (see above); inference must still handle it cleanly.
    model = make_model(2)
    data, mask = batch_with_presence({"m0": [1, 1, 1], "m1": [0, 0, 0]}, INPUT, seed=8)
    data["m1"][:] = math.nan
    posterior = model.posterior(data, mask)
    assert torch.isfinite(posterior.mean).all() and torch.isfinite(posterior.logvar).all()
    torch.testing.assert_close(posterior.mean, model.encoders["m0"](data["m0"]).mean)
    (posterior.mean.sum() + posterior.logvar.sum()).backward()
    for network in (model.encoders["m1"], model.joint_encoder):
        for parameter in network.parameters():
            assert parameter.grad is None or torch.equal(parameter.grad, torch.zeros_like(parameter.grad))
    assert any(p.grad.abs().sum() > 0 for p in model.encoders["m0"].parameters())
    # Without the key at all, the unimodal expert alone.
    torch.testing.assert_close(model.posterior({"m0": data["m0"]}).mean, posterior.mean)


def test_build_model_passes_alpha_and_alpha_is_validated():
    assert build_model("jmvae", tiny_modalities(2, INPUT, LATENT), LATENT, alpha=0.1).alpha == 0.1
    with pytest.raises(ValueError, match="alpha"):
        make_model(2, alpha=-1.0)
