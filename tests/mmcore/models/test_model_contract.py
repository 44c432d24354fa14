"""What every registered fusion model promises, parametrised over ``available_models()``.

The per-model test files keep their own mathematics (losses by hand); this file holds the blocks they all
shared: missing modalities, shape errors, owned networks, save/load round trips, inference shapes and a short
training run.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import batch_with_presence, correlated_batch, single_thread, tiny_modalities

from mmcore import load_model, save_model
from mmcore.models import UnpairedDataError, available_models, build_model
from mmcore.models.base import BatchShapeError

INPUT = 6
LATENT = 3
MODELS = sorted(available_models())


def make(name: str, n_modalities: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(name, tiny_modalities(n_modalities, INPUT, LATENT, seed=seed), LATENT)


def fixed_noise(shape, like):
    generator = torch.Generator().manual_seed(5)
    return torch.randn(tuple(shape), generator=generator, dtype=like.dtype)


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


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("missing_by", ["mask", "absent key"])
def test_a_missing_modality_gives_a_finite_loss_and_no_gradient(name, missing_by):
    model = make(name)
    presence = {"m0": [1, 1, 0, 1, 0], "m1": [1, 0, 1, 1, 0], "m2": [0, 0, 0, 0, 0]}
    if name == "jmvae":  # JMVAE learns from fully paired samples only (and refuses others)
        presence = {"m0": [1, 1, 1], "m1": [1, 1, 1], "m2": [0, 0, 0]}
    data, mask = batch_with_presence(presence, INPUT, seed=6, dtype=torch.float32)
    for modality in data:
        data[modality][~mask[modality]] = math.nan
    if missing_by == "absent key":
        del data["m2"], mask["m2"]
    torch.manual_seed(0)
    try:
        output = model.loss(data, mask)
    except UnpairedDataError:
        pytest.skip(f"{name} trains on fully paired samples only")
    assert torch.isfinite(output.loss)
    assert all(torch.isfinite(value) for value in output.terms.values())
    output.loss.backward()
    for parameter in model.decoders["m2"].parameters():
        assert parameter.grad is None or not parameter.grad.any()
    for modality in ("m0", "m1"):
        gradients = [p.grad for p in model.decoders[modality].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in gradients)


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


@pytest.mark.parametrize("name", MODELS)
def test_inference_outputs_have_the_right_shapes(name):
    model = make(name)
    data = correlated_batch(4, 3, INPUT)
    assert model.posterior(data).mean.shape == (4, LATENT)
    crossed = model.cross_generate(data, ["m0"])
    assert set(crossed) == {"m1", "m2"} and crossed["m1"].shape == (4, INPUT)
    assert {key: value.shape for key, value in model.generate(3).items()} == {f"m{k}": (3, INPUT) for k in range(3)}


@pytest.mark.parametrize("name", MODELS)
def test_a_short_training_run_lowers_the_loss(name):
    model = make(name, n_modalities=2)
    data = correlated_batch(48, 2, INPUT, signal_scale=3.0, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    with single_thread():
        for _ in range(80):
            optimizer.zero_grad()
            loss = model.loss(data).loss
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, (losses[:5], losses[-5:])
