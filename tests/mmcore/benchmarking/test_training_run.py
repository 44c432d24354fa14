"""One training run on a benchmark (mmcore/benchmarking/training_run.py): files, the training set, the test loss."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from grid_helpers import N_TEST, N_TRAIN, VALIDATION, write_fake_mnist

from mmcore.benchmarking.training_run import (
    MODEL_FILE,
    RUN_CONFIG_FILE,
    ModelSpec,
    load_benchmark_splits,
    paired_count,
    train_on_benchmark,
)
from mmcore.data.manifest import DATA_DIR_VARIABLE, DataDirectoryError
from mmcore.training import TrainerConfig

SPEC = ModelSpec("mnist-split", "mopoe", latent_dim=3, hidden_dims=(8,))


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = write_fake_mnist(tmp_path_factory.mktemp("data"))
    return load_benchmark_splits("mnist-split", root, validation_size=VALIDATION, verify=False)


def test_splits_take_the_benchmarks_validation_size_unless_given(tmp_path, monkeypatch):
    root = write_fake_mnist(tmp_path, n_train=10_050)
    splits = load_benchmark_splits("mnist-split", root, verify=False, test_size=5)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (50, 10_000, 5)
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    with pytest.raises(DataDirectoryError, match=DATA_DIR_VARIABLE):
        load_benchmark_splits("mnist-split", None)


def test_a_run_writes_its_description_and_weights_and_returns_the_seeded_test_loss(splits, tmp_path):
    config = TrainerConfig(epochs=2, batch_size=25, seed=3)
    outcome = train_on_benchmark(SPEC, splits, 0.5, config, tmp_path, run_config={"note": "tiny"})
    assert outcome.is_main_process and outcome.fit.best_epoch in (1, 2)
    assert len(outcome.train_data) == N_TRAIN - VALIDATION and paired_count(outcome.train_data) == 50
    description = json.loads((tmp_path / RUN_CONFIG_FILE).read_text())
    assert description["note"] == "tiny" and description["paired_train_samples"] == 50
    assert description["processes"] == 1 and description["trainer"]["seed"] == 3
    assert description["trainer"]["checkpoint_dir"] == str(tmp_path / "checkpoints")
    assert (tmp_path / "training_log.csv").is_file() and any((tmp_path / "checkpoints").iterdir())
    weights = safetensors.torch.load_file(str(tmp_path / MODEL_FILE))
    assert all(torch.equal(weights[key], value) for key, value in outcome.model.state_dict().items())
    # The test loss is seeded by the run's seed: the same model and data give the same numbers again.
    assert set(outcome.test_metrics) >= {"loss"}
    again = train_on_benchmark(SPEC, splits, 0.5, config, tmp_path / "again")
    assert again.test_metrics == outcome.test_metrics
    assert len(splits.test) == N_TEST


def test_unimodal_copies_add_every_sample_once_per_modality_to_the_paired_share(splits, tmp_path):
    config = TrainerConfig(epochs=1, batch_size=25)
    outcome = train_on_benchmark(SPEC, splits, 0.5, config, tmp_path, unimodal_copies=True)
    assert len(outcome.train_data) == 50 + 2 * 100 and paired_count(outcome.train_data) == 50


def test_no_epoch_gives_no_test_loss(splits, tmp_path):
    outcome = train_on_benchmark(SPEC, splits, 1.0, TrainerConfig(epochs=0), tmp_path)
    assert outcome.fit.best_epoch is None and outcome.test_metrics is None
    assert (tmp_path / MODEL_FILE).is_file()
