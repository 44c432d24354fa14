"""The ``mmcore`` command: model listing, and training on a benchmark end to end."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import numpy as np
import pytest
import safetensors.torch
import torch
from click.testing import CliRunner

from mmcore.benchmarks_setup import get_benchmark
from mmcore.data.manifest import DATA_DIR_VARIABLE
from mmcore.models import MODELS, available_models, build_model
from specvae_cli.mmcore_cli import main

FIRST_MODEL = sorted(available_models())[0] if available_models() else "none-registered"
TINY = ["--latent-dim", "4", "--hidden-dims", "16", "--batch-size", "16", "--no-progress"]


@pytest.fixture()
def runner() -> Iterator[CliRunner]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: thread synchronisation would cost more than it saves
    yield CliRunner()
    torch.set_num_threads(threads)


@pytest.fixture()
def fake_data_dir(tmp_path):
    """A data root whose mnist/mnist.npz has MNIST's layout but random pixels (so it fails verification)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    np.savez(
        root / "mnist" / "mnist.npz",
        x_train=rng.integers(0, 256, (80, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 80, dtype=np.uint8),
        x_test=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 12, dtype=np.uint8),
    )
    return root


def _train(runner, *arguments, env=None):
    return runner.invoke(main, ["train", *arguments], env=env, catch_exceptions=False)


def test_models_lists_every_registered_model_with_its_description(runner):
    result = runner.invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    models = available_models()
    assert len(lines) == len(models) >= 1
    for line, (name, description) in zip(lines, models.items(), strict=True):
        assert line.split()[0] == name
        assert line.endswith(description)


def test_models_with_an_empty_registry_fails(runner, monkeypatch):
    for name in list(MODELS):
        monkeypatch.delitem(MODELS, name)
    result = runner.invoke(main, ["models"])
    assert result.exit_code != 0 and "no fusion models" in result.output


def test_train_writes_checkpoint_logs_config_and_weights(runner, fake_data_dir, tmp_path):
    out = tmp_path / "run"
    result = _train(
        runner, "--benchmark", "mnist-split", "--model", FIRST_MODEL, "--epochs", "2", "--validation-size", "20",
        "--data-dir", str(fake_data_dir), "--no-verify", "-o", str(out), *TINY,
    )
    assert result.exit_code == 0, result.output
    assert "best epoch" in result.output and "validation: loss" in result.output and "test: loss" in result.output
    config = json.loads((out / "run_config.json").read_text())
    assert config["model"] == FIRST_MODEL and config["benchmark"] == "mnist-split"
    assert config["train_size"] == 60 and config["paired_train_samples"] == 60
    assert config["trainer"]["epochs"] == 2 and config["trainer"]["seed"] == 0
    with open(out / "training_log.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert "train/loss" in rows[0] and "validation/loss" in rows[0]
    assert json.loads((out / "training_log.json").read_text())[1]["epoch"] == 2
    assert {"best.safetensors", "epoch-0002.safetensors", "epoch-0002.state.pt"} <= {
        path.name for path in (out / "checkpoints").iterdir()
    }
    # The written weights load into a freshly built model of the same configuration.
    fresh = build_model(FIRST_MODEL, get_benchmark("mnist-split").modalities(4, hidden_dims=(16,)), 4)
    fresh.load_state_dict(safetensors.torch.load_file(str(out / "model.safetensors")))
    assert "loss" in json.loads((out / "test_metrics.json").read_text())


def test_train_resumes_from_the_output_directory(runner, fake_data_dir, tmp_path):
    out = tmp_path / "run"
    common = ["--benchmark", "mnist-split", "--model", FIRST_MODEL, "--validation-size", "20", "--no-verify",
              "--data-dir", str(fake_data_dir), "-o", str(out), *TINY]
    assert _train(runner, *common, "--epochs", "1").exit_code == 0
    result = _train(runner, *common, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.output
    records = json.loads((out / "training_log.json").read_text())
    assert [record["epoch"] for record in records] == [1, 2]


def test_data_dir_comes_from_the_environment(runner, fake_data_dir, tmp_path):
    result = _train(
        runner, "--benchmark", "mnist-split-3", "--model", FIRST_MODEL, "--epochs", "1", "--validation-size", "20",
        "--no-verify", "-o", str(tmp_path / "run"), *TINY, env={DATA_DIR_VARIABLE: str(fake_data_dir)},
    )
    assert result.exit_code == 0, result.output
    assert "nll/middle" in result.output


def test_missing_data_dir_explains_how_to_set_it(runner, tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    result = _train(runner, "--benchmark", "mnist-split", "--model", FIRST_MODEL, "-o", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "--data-dir" in result.output and DATA_DIR_VARIABLE in result.output


def test_checksum_mismatch_is_reported_unless_verification_is_off(runner, fake_data_dir, tmp_path):
    result = _train(
        runner, "--benchmark", "mnist-split", "--model", FIRST_MODEL, "--data-dir", str(fake_data_dir),
        "-o", str(tmp_path / "run"),
    )
    assert result.exit_code != 0
    assert "sha256" in result.output and "mnist.npz" in result.output and "--no-verify" in result.output


def test_unknown_model_lists_the_available_ones(runner, fake_data_dir, tmp_path):
    result = runner.invoke(
        main, ["train", "--benchmark", "mnist-split", "--model", "no-such-model", "--data-dir", str(fake_data_dir),
               "-o", str(tmp_path / "run")],
    )
    assert result.exit_code == 2
    assert "no-such-model" in result.output and FIRST_MODEL in result.output


@pytest.mark.data
@pytest.mark.parametrize("benchmark", ["mnist-split", "mnist-split-3"])
def test_train_on_real_mnist(runner, data_dir, tmp_path, benchmark):
    """``data_dir`` is real_data_path(".") from tests/conftest.py; the archive is sha256-verified."""
    out = tmp_path / "run"
    result = _train(
        runner, "--benchmark", benchmark, "--model", FIRST_MODEL, "--epochs", "2", "--train-size", "500",
        "--validation-size", "200", "--supervision", "1.0", "--data-dir", str(data_dir), "-o", str(out), *TINY,
        "--batch-size", "50",
    )
    assert result.exit_code == 0, result.output
    records = json.loads((out / "training_log.json").read_text())
    assert records[1]["train/loss"] < records[0]["train/loss"]
    assert json.loads((out / "run_config.json").read_text())["data_verified"] is True
