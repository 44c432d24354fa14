"""Calibration of predicted bits: it lowers held-out log-loss, folding it into the last layer is exact, and a
trained model file is calibrated end to end through the command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_baseline import train_tiny_model

from specvae.calibration import (
    BitCalibration,
    fit_bit_calibration,
    fold_into_linear,
    mean_log_loss,
    probabilities_to_logits,
)
from specvae.model_file import load_model
from specvae.prediction import predict_fingerprint_probabilities
from specvae.training_set_reader import TrainingSet
from specvae_cli.specvae_cli import main


def overconfident_predictions(n_spectra: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bits whose true probability is sigmoid(l) but whose prediction is sigmoid(3 l + 1): too sure, and biased."""
    generator = np.random.default_rng(seed)
    true_logits = generator.normal(0.0, 1.5, size=(n_spectra, 8))
    bits = generator.random((n_spectra, 8)) < 1 / (1 + np.exp(-true_logits))
    predicted = 1 / (1 + np.exp(-(3 * true_logits + 1)))
    return predicted, bits


@pytest.mark.parametrize("kind", ["platt", "temperature", "bit-temperature"])
def test_calibration_lowers_the_log_loss_of_unseen_spectra(kind: str) -> None:
    fit_probabilities, fit_bits = overconfident_predictions(2000, seed=0)
    test_probabilities, test_bits = overconfident_predictions(2000, seed=1)
    calibration = fit_bit_calibration(fit_probabilities, fit_bits, kind)
    before = mean_log_loss(test_probabilities, test_bits)
    after = mean_log_loss(calibration.apply(test_probabilities), test_bits)
    assert after < before - 0.05
    # The generating map is known: scale 1/3 undoes the over-confidence (Platt also removes the bias).
    assert calibration.scale == pytest.approx(np.full(8, 1 / 3), abs=0.06)
    if kind == "platt":
        assert calibration.shift == pytest.approx(np.full(8, -1 / 3), abs=0.12)
    else:
        assert np.all(calibration.shift == 0)
    if kind == "temperature":
        assert np.unique(calibration.scale).size == 1


def test_folding_into_the_last_layer_gives_the_calibrated_probabilities() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    inputs = torch.randn(10, 4)
    before = torch.sigmoid(layer(inputs)).detach().numpy().astype(np.float64)
    calibration = BitCalibration("platt", np.array([0.5, 2.0, 1.0]), np.array([0.1, -0.3, 0.0]))
    fold_into_linear(layer, calibration)
    after = torch.sigmoid(layer(inputs)).detach().numpy()
    assert after == pytest.approx(calibration.apply(before), abs=1e-5)
    assert probabilities_to_logits(np.array([0.5]))[0] == pytest.approx(0.0)


def test_refuses_mismatched_shapes_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="same non-empty"):
        fit_bit_calibration(np.zeros((3, 2)), np.zeros((3, 3), dtype=bool))


def test_one_temperature_never_changes_a_ranking() -> None:
    probabilities, _ = overconfident_predictions(5, seed=2)
    candidates = np.random.default_rng(3).random((20, 8)) < 0.5
    calibration = BitCalibration("temperature", np.full(8, 0.4), np.zeros(8))

    def scores(p: np.ndarray) -> np.ndarray:
        return np.where(candidates, np.log(p), np.log1p(-p)).sum(axis=1)

    for row in probabilities:
        assert np.array_equal(np.argsort(scores(row)), np.argsort(scores(calibration.apply(row[None])[0])))


def test_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="kind"):
        fit_bit_calibration(np.full((3, 2), 0.5), np.zeros((3, 2), dtype=bool), kind="isotonic")


def test_calibrate_command_writes_a_calibrated_model_with_its_report(tmp_path) -> None:
    training_set, model_path = train_tiny_model(tmp_path)
    calibrated_path = tmp_path / "calibrated.specvae"
    arguments = ["calibrate", str(model_path), str(training_set), "-o", str(calibrated_path), "--kind", "platt"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output

    model, metadata = load_model(model_path)
    calibrated, calibrated_metadata = load_model(calibrated_path)
    report = calibrated_metadata.training["calibration"]
    assert report["kind"] == "platt" and report["command"].startswith("specvae ")
    assert report["held_out_log_loss_after"] > 0 and report["held_out_spectra"] > 0
    assert calibrated_metadata.fingerprint == metadata.fingerprint
    # Only the predicted bits changed: same inputs, different (calibrated) probabilities.
    data = TrainingSet.load(training_set, "positive")
    spectra = data.spectra[data.spectra_in("validation")]
    plain = predict_fingerprint_probabilities(model, spectra)
    adjusted = predict_fingerprint_probabilities(calibrated, spectra)
    assert plain.shape == adjusted.shape and not np.allclose(plain, adjusted, atol=1e-3)
    # A calibrated model is not calibrated twice.
    result = CliRunner().invoke(main, ["calibrate", str(calibrated_path), str(training_set), "-o", str(tmp_path / "x")])
    assert result.exit_code != 0 and "calibrated already" in str(result.exception) + result.output
