"""What every registered fusion model promises, parametrised over ``available_models()``.

The per-model test files keep their own mathematics (losses and posteriors by hand, model-specific networks);
this file holds what all models share: registration, owned networks, shape errors, missing modalities, the
posterior of a sample with nothing observed, save/load round trips, inference shapes and a training run.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import batch_missing_a_modality, batch_with_presence, correlated_batch, single_thread, tiny_modalities

from mmcore import load_model, save_model
from mmcore.models import MODELS as REGISTERED
from mmcore.models import UnpairedDataError, available_models, build_model
from mmcore.models.base import BatchShapeError

INPUT = 6
LATENT = 3
MODELS = sorted(available_models())
# Each registered model with its default options, and the options that change what inference returns.
CONFIGURATIONS = [pytest.param(name, {}, id=name) for name in MODELS] + [
    pytest.param("mmvae", {"posterior": "laplace"}, id="mmvae-laplace"),
]


def make(name: str, n_modalities: int = 3, seed: int = 0, hidden: int = 8, **options):
    torch.manual_seed(seed)
    modalities = tiny_modalities(n_modalities, INPUT, LATENT, hidden=hidden, seed=seed)
    return build_model(name, modalities, LATENT, **options)


def fixed_noise(shape, like):
    generator = torch.Generator().manual_seed(5)
    return torch.randn(tuple(shape), generator=generator, dtype=like.dtype)


def loss_or_skip(model, data, mask):
    """The model's loss, or a skip for a model that trains on fully paired samples only (JMVAE)."""
    try:
        return model.loss(data, mask)
    except UnpairedDataError:
        pytest.skip(f"{model.name} trains on fully paired samples only")


# ---------------------------------------------------------------------------------------------- construction
@pytest.mark.parametrize("name", MODELS)
def test_registered_under_its_name_with_a_description(name):
    model = make(name)
    assert isinstance(model, REGISTERED[name]) and model.name == name
    assert available_models()[name]


@pytest.mark.parametrize("name", MODELS)
def test_two_models_from_one_modality_list_share_no_parameter(name):
    modalities = tiny_modalities(3, INPUT, LATENT)
    first, second = (build_model(name, modalities, LATENT) for _ in range(2))
    first_storage = {p.data_ptr() for p in first.parameters()}
    assert not first_storage & {p.data_ptr() for p in second.parameters()}
    assert not first_storage & {p.data_ptr() for m in modalities for p in m.encoder.parameters()}


@pytest.mark.parametrize("name", MODELS)
def test_wrong_shapes_name_the_modality_and_both_shapes(name):
    model = make(name)
    data = correlated_batch(4, 3, INPUT)
    with pytest.raises(BatchShapeError, match=r"'m1'.*\(batch, 6\).*\(4, 5\)"):
        model.loss({**data, "m1": data["m1"][:, :5]})
    with pytest.raises(BatchShapeError, match="'m2'"):
        model.loss({**data, "m2": data["m2"][:3]})
    with pytest.raises(BatchShapeError, match=r"mask of modality 'm0': expected shape \(4,\), given \(3,\)"):
        model.loss(data, {"m0": torch.ones(3, dtype=torch.bool)})


# ---------------------------------------------------------------------------------------------- missing modalities
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("missing_by", ["mask", "absent key"])
def test_a_missing_modality_gives_a_finite_loss_and_no_gradient(name, missing_by):
    model = make(name)
    data, mask = batch_missing_a_modality(missing_by, INPUT)
    torch.manual_seed(0)
    output = loss_or_skip(model, data, mask)
    assert torch.isfinite(output.loss)
    assert all(torch.isfinite(value) for value in output.terms.values())
    output.loss.backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), parameter_name
    for parameter in model.decoders["m2"].parameters():
        if missing_by == "absent key":
            assert parameter.grad is None  # an absent modality is never decoded
        else:
            assert parameter.grad is None or not parameter.grad.any()
    for modality in ("m0", "m1"):
        gradients = [p.grad for p in model.decoders[modality].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in gradients)


@pytest.mark.parametrize("name", MODELS)
def test_placeholders_of_missing_samples_do_not_change_the_loss(name):
    model = make(name)
    data, mask = batch_missing_a_modality("mask", INPUT)
    losses = []
    for placeholder in (math.nan, 0.0, 1e3):
        filled = {key: torch.where(mask[key].unsqueeze(-1), x, placeholder) for key, x in data.items()}
        torch.manual_seed(0)
        losses.append(loss_or_skip(model, filled, mask).loss)
    assert torch.equal(losses[0], losses[1]) and torch.equal(losses[0], losses[2])


@pytest.mark.parametrize("name", MODELS)
def test_networks_unused_when_a_modality_is_absent_get_no_gradient_when_it_is_masked_out(name):
    """A modality masked out in every sample trains nothing that the batch without its key leaves unused."""
    absent, masked = make(name), make(name)
    loss_or_skip(absent, *batch_missing_a_modality("absent key", INPUT)).loss.backward()
    masked.loss(*batch_missing_a_modality("mask", INPUT)).loss.backward()
    unused = {key for key, parameter in absent.named_parameters() if parameter.grad is None}
    assert {key for key, _ in absent.decoders["m2"].named_parameters(prefix="decoders.m2")} <= unused
    for key, parameter in masked.named_parameters():
        if key in unused:
            assert parameter.grad is None or not parameter.grad.any(), key


@pytest.mark.parametrize("name", MODELS)
def test_a_sample_with_no_modality_has_the_standard_normal_as_posterior(name):
    model = make(name)
    data, mask = batch_missing_a_modality("mask", INPUT)  # sample 4 has nothing
    posterior = model.posterior(data, mask)
    torch.testing.assert_close(posterior.mean[4], torch.zeros(LATENT), rtol=0.0, atol=0.0)
    torch.testing.assert_close(posterior.logvar[4], torch.zeros(LATENT), rtol=0.0, atol=0.0)


# ---------------------------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", MODELS)
def test_save_and_load_round_trip(name, tmp_path):
    model = make(name).double()
    path = save_model(
        model,
        tmp_path / "model.safetensors",
        modalities="helpers:tiny_modalities",
        modality_options={"n_modalities": 3, "input_dim": INPUT, "latent_dim": LATENT, "seed": 9},
    )
    loaded = load_model(path).double()
    assert type(loaded) is type(model)
    data = {key: value.double() for key, value in correlated_batch(4, 3, INPUT).items()}
    for version in (model, loaded):
        version.noise = fixed_noise
    for first, second in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(first, second)
    torch.manual_seed(1)
    expected = model.loss(data).loss
    torch.manual_seed(1)
    torch.testing.assert_close(loaded.loss(data).loss, expected)
    torch.testing.assert_close(loaded.posterior(data).mean, model.posterior(data).mean)


# ---------------------------------------------------------------------------------------------- inference
@pytest.mark.parametrize(("name", "options"), CONFIGURATIONS)
def test_inference_outputs_have_the_right_shapes(name, options):
    model = make(name, **options)
    all_shapes = {f"m{k}": (5, INPUT) for k in range(3)}
    presence = {"m0": [1, 1, 0, 1, 0], "m1": [1, 0, 1, 1, 0], "m2": [1, 0, 0, 0, 0]}
    data, mask = batch_with_presence(presence, INPUT, seed=7, dtype=torch.float32)
    for key in data:
        data[key][~mask[key]] = math.nan
    posterior = model.posterior(data, mask)
    assert posterior.mean.shape == (5, LATENT) and posterior.logvar.shape == (5, LATENT)
    assert posterior.rsample().shape == (5, LATENT) and posterior.rsample(4).shape == (4, 5, LATENT)
    reconstructed = model.reconstruct(data, mask)
    assert {key: value.shape for key, value in reconstructed.items()} == all_shapes
    assert all(torch.isfinite(value).all() for value in reconstructed.values())

    paired = correlated_batch(5, 3, INPUT)
    assert {key: value.shape for key, value in model.reconstruct(paired).items()} == all_shapes
    assert {key: value.shape for key, value in model.reconstruct({"m1": paired["m1"]}).items()} == all_shapes
    crossed = model.cross_generate(paired, ["m0"])
    assert {key: value.shape for key, value in crossed.items()} == {"m1": (5, INPUT), "m2": (5, INPUT)}
    crossed = model.cross_generate(paired, ["m0", "m2"])
    assert list(crossed) == ["m1"] and crossed["m1"].shape == (5, INPUT)
    sampled = model.cross_generate(paired, ["m1"], sample_latent=True)
    assert {key: value.shape for key, value in sampled.items()} == {"m0": (5, INPUT), "m2": (5, INPUT)}
    assert all(torch.isfinite(value).all() for value in sampled.values())
    generated = model.generate(3)
    assert {key: value.shape for key, value in generated.items()} == {f"m{k}": (3, INPUT) for k in range(3)}


# ---------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", MODELS)
def test_training_lowers_the_loss_and_learns_cross_generation(name):
    """300 Adam steps on a partially paired batch (fully paired for a model that refuses unpaired samples).

    The loss falls below half its starting value, and each modality predicted from the other alone has an
    error below a tenth of the data's variance (about 9 here).
    """
    model = make(name, n_modalities=2, hidden=16)
    data = correlated_batch(64, 2, INPUT, signal_scale=3.0, seed=1)
    # A quarter of the samples lack m0, another quarter lack m1.
    mask = {"m0": torch.arange(64) % 4 != 0, "m1": torch.arange(64) % 4 != 1}
    try:
        model.loss(data, mask)
    except UnpairedDataError:
        mask = None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    with single_thread():
        for _ in range(300):
            optimizer.zero_grad()
            loss = model.loss(data, mask).loss
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.5 * first, (first, last)
    for source, target in (("m0", "m1"), ("m1", "m0")):
        error = ((model.cross_generate(data, [source])[target] - data[target]) ** 2).mean()
        assert error < 0.1 * data[target].var(), (source, target, error)
