"""A model file round-trips weights and metadata, refuses foreign files, and is written atomically."""

import pytest
import torch
from safetensors.torch import save_file

from specvae.architecture import FINGERPRINT, SPECTRUM, ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.model_file import ModelFileError, ModelMetadata, load_model, read_metadata, save_model


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
