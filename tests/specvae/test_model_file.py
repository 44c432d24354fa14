"""A model file round-trips weights and metadata, refuses foreign files, and is written atomically."""

import json
import struct
import warnings

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from specvae.architecture import FINGERPRINT, SPECTRUM, ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.model_file import (
    ModelFileError,
    ModelMetadata,
    UnverifiedModelWarning,
    load_model,
    read_metadata,
    save_model,
    weights_sha256,
    write_model_tensors,
)


def _metadata(config: ArchitectureConfig) -> ModelMetadata:
    return ModelMetadata(
        architecture=config,
        binning={"bin_width_da": 0.5, "max_mz_da": 25.0},
        fingerprint={"version": 1, "kept_bits": [0, 3, 5]},
        ion_mode="positive",
        training={"structures_inchikey14": ["AAAAAAAAAAAAAA", "BBBBBBBBBBBBBB"], "licenses": ["CC0"]},
    )


@pytest.mark.parametrize("fusion", ["svae", "vaevae"])
def test_round_trip_gives_identical_predictions(tmp_path, fusion):
    torch.manual_seed(0)
    config = ArchitectureConfig(n_bins=50, n_fingerprint_bits=12, fusion=fusion, latent_dim=4, hidden_dim=16)
    model = build_spectrum_fingerprint_model(config).eval()
    path = tmp_path / "model.specvae"
    save_model(path, model, _metadata(config))

    loaded, metadata = load_model(path)
    spectra = torch.zeros(3, 50)
    spectra[0, 7] = 1.0
    spectra[1, [3, 40]] = 0.5
    expected = model.cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    got = loaded.cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    torch.testing.assert_close(got, expected)
    assert metadata.architecture == config
    assert metadata.training_structures == {"AAAAAAAAAAAAAA", "BBBBBBBBBBBBBB"}
    assert read_metadata(path).binning == {"bin_width_da": 0.5, "max_mz_da": 25.0}


def test_foreign_files_are_refused_with_the_reason(tmp_path):
    not_safetensors = tmp_path / "notes.specvae"
    not_safetensors.write_text("hello")
    with pytest.raises(ModelFileError, match="notes.specvae"):
        read_metadata(not_safetensors)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFileError, match="without specvae metadata"):
        load_model(plain)


def test_newer_format_version_is_refused(tmp_path):
    config = ArchitectureConfig(n_bins=10, n_fingerprint_bits=4, latent_dim=2, hidden_dim=4)
    text = _metadata(config).to_json().replace('"format_version": 1', '"format_version": 99')
    with pytest.raises(ModelFileError, match="newer"):
        ModelMetadata.from_json(text, source="x.specvae")


def test_half_precision_halves_the_file_and_keeps_predictions_close(tmp_path):
    torch.manual_seed(0)
    config = ArchitectureConfig(n_bins=400, n_fingerprint_bits=30, latent_dim=4, hidden_dim=32)
    model = build_spectrum_fingerprint_model(config).eval()
    full, half = tmp_path / "full.specvae", tmp_path / "half.specvae"
    save_model(full, model, _metadata(config))
    save_model(half, model, _metadata(config), half_precision=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    spectra = torch.zeros(2, 400)
    spectra[0, [10, 200]] = 1.0
    expected = model.cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    got = loaded.cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    torch.testing.assert_close(got, expected, atol=5e-3, rtol=0)


# ----------------------------------------------------------------------------- integrity
def _saved(tmp_path, name="model.specvae", **sizes):
    torch.manual_seed(0)
    config = ArchitectureConfig(**{"n_bins": 40, "n_fingerprint_bits": 8, "latent_dim": 3, "hidden_dim": 6, **sizes})
    path = tmp_path / name
    save_model(path, build_spectrum_fingerprint_model(config), _metadata(config))
    return path


def _rewrite_header(path, edit_metadata=None, keep_checksums=True, restamp=False):
    """Rewrite a model file's header the way a hand edit would (weights untouched)."""
    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata())
    tensors = load_file(str(path))
    values = json.loads(header["specvae"])
    if edit_metadata is not None:
        edit_metadata(values)
    text = json.dumps(values)
    if restamp:
        write_model_tensors(path, tensors, text)
        return
    header["specvae"] = text
    if not keep_checksums:
        header.pop("specvae_sha256")
    save_file(tensors, str(path), metadata=header)


def _data_start(path) -> int:
    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


@pytest.mark.parametrize("position", [0.1, 0.5, 0.9])
def test_a_flipped_bit_in_the_weights_is_caught_naming_the_file(tmp_path, position):
    path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    start = _data_start(path)
    raw[start + int((len(raw) - start) * position)] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match=r"model\.specvae: the weights do not match their stored checksum"):
        load_model(path)


def test_a_relabelled_ion_mode_is_caught(tmp_path):
    path = _saved(tmp_path)
    _rewrite_header(path, lambda values: values.update(ion_mode="negative"))
    with pytest.raises(ModelFileError, match=r"model\.specvae: the metadata does not match its stored checksum"):
        load_model(path)
    with pytest.raises(ModelFileError, match="metadata does not match"):
        read_metadata(path)  # what `specvae info` shows is checked too


def test_a_file_without_checksums_loads_with_a_warning(tmp_path):
    path = _saved(tmp_path)
    _rewrite_header(path, keep_checksums=False)
    with pytest.warns(UnverifiedModelWarning, match="model.specvae: model file has no checksums"):
        load_model(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"fusion": "no-such-fusion"}, "unknown model 'no-such-fusion'"),
        ({"latent_dim": -3}, "latent_dim must be a positive integer"),
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"hidden_dim": "wide"}, "hidden_dim must be a positive integer"),
        ({"n_layers": 3}, "unknown architecture field"),
        ({"depth": 0}, "depth must be a positive integer"),
        ({"batch_norm": "yes"}, "batch_norm must be true or false"),
        ({"dropout": 1.5}, r"dropout must be a number in \[0, 1\)"),
        ({"hidden_dim": 100_000}, "has shape .* the metadata implies"),
        ({"n_bins": 10**9}, "has shape .* the metadata implies"),
        ({"fusion_options": {"nonsense": 1}}, "has no option"),
    ],
)
def test_bad_architecture_metadata_is_a_model_file_error_before_allocation(tmp_path, edit, message):
    """Even with valid checksums (a file written by a buggy tool), declared sizes are checked against the
    weights' shapes in the header before the model is built: a hidden width of 10^5 allocates nothing."""
    path = _saved(tmp_path)
    _rewrite_header(path, lambda values: values["architecture"].update(edit), restamp=True)
    with pytest.raises(ModelFileError, match=f"model.specvae: .*{message}"):
        load_model(path)


def test_an_unknown_ion_mode_is_refused(tmp_path):
    path = _saved(tmp_path)
    _rewrite_header(path, lambda values: values.update(ion_mode="sideways"), restamp=True)
    with pytest.raises(ModelFileError, match="ion mode must be one of"):
        read_metadata(path)


def test_restamping_keeps_weights_bit_identical(tmp_path):
    path = _saved(tmp_path)
    before = load_file(str(path))
    _rewrite_header(path, keep_checksums=False)
    with safe_open(str(path), framework="pt") as handle:
        text = handle.metadata()["specvae"]
    write_model_tensors(path, load_file(str(path)), text)
    after = load_file(str(path))
    assert weights_sha256(after) == weights_sha256(before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(path)
