"""A smoke grid on a fake MNIST: files, one row per run, numbers that match a recomputation, resumability."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import safetensors.torch
import torch
from grid_helpers import N_TEST, N_TRAIN, TINY_PROTOCOL, VALIDATION, tiny_grid, write_fake_mnist
from PIL import Image

from mmcore.benchmarking import GridSettingsMismatchError, parse_budget, run_grid
from mmcore.benchmarking.evaluation import OracleSource, mnist_oracle
from mmcore.benchmarks_setup import get_benchmark
from mmcore.data.loader import MultimodalLoader
from mmcore.data.mnist import MNIST_SPLIT_PARTS, mnist_split_data
from mmcore.metrics import ViewClassifier, joined_rows_view, mnist_split_accuracy
from mmcore.models import build_model
from mmcore.training import validation_loss

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory):
    """The smoke grid run once for the module: (config, records, log lines)."""
    root = write_fake_mnist(tmp_path_factory.mktemp("data"))
    config = tiny_grid(root, tmp_path_factory.mktemp("grid"))
    lines: list[str] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        records = run_grid(config, log=lines.append)
    finally:
        torch.set_num_threads(threads)
    return config, records, lines


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_grid_writes_one_row_per_run_and_every_file(finished_grid):
    config, records, lines = finished_grid
    out = config.output_dir
    rows = _read_csv(out / "results.csv")
    assert [(row["model"], float(row["supervision"])) for row in rows] == [
        ("svae", 1.0),
        ("svae", 0.5),
        ("vaevae", 1.0),
        ("vaevae", 0.5),
    ]
    assert [record.status for record in records] == ["trained"] * 4
    n_train = N_TRAIN - VALIDATION
    for row in rows:
        assert int(row["train_samples"]) == n_train
        assert int(row["paired_train_samples"]) == round(float(row["supervision"]) * n_train)  # 100 and 50
        assert (row["epochs"], row["best_epoch"]) == ("1", "1")
        for key in ("accuracy/from_top+bottom", "accuracy/from_top", "accuracy/from_bottom"):
            correct = float(row[key]) * N_TEST  # an accuracy is a count of test digits
            assert abs(correct - round(correct)) < 1e-6 and 0 <= correct <= N_TEST
        assert row["latent_accuracy/top+bottom"] and row["log_likelihood/joint"]
    markdown = (out / "results.md").read_text()
    assert markdown.count("\n| svae |") == 2 and markdown.count("\n| vaevae |") == 2
    assert "| accuracy/from_top+bottom | accuracy/from_top | accuracy/from_bottom |" in markdown
    plot = (out / "accuracy_vs_supervision.png").read_bytes()
    assert plot.startswith(PNG_SIGNATURE)
    with Image.open(out / "accuracy_vs_supervision.png") as image:
        image.verify()
        assert image.size[0] > 300 and image.size[1] > 200
    for name in ("svae__s1", "svae__s0.5", "vaevae__s1", "vaevae__s0.5"):
        run = out / "runs" / name
        for file in ("metrics.json", "run_config.json", "model.safetensors", "training_log.csv"):
            assert (run / file).is_file(), f"{name}/{file} missing"
    grid = json.loads((out / "grid_config.json").read_text())
    assert grid["headline_metrics"] == ["accuracy/from_top+bottom", "accuracy/from_top", "accuracy/from_bottom"]
    assert sum("training 1 epochs on 100 samples" in line for line in lines) == 4


def test_table_values_are_the_metrics_of_the_saved_model(finished_grid):
    """Reload one run's weights and recompute its accuracies and test loss: they equal the table's."""
    config, records, _ = finished_grid
    record = next(record for record in records if record.model == "vaevae" and record.supervision == 0.5)
    splits = mnist_split_data(config.data_dir, validation_size=VALIDATION, verify=False)
    modalities = get_benchmark("mnist-split").modalities(4, network="mlp", hidden_dims=(16,))
    model = build_model("vaevae", modalities, 4)
    model.load_state_dict(safetensors.torch.load_file(str(record.run_dir / "model.safetensors")))
    oracle = mnist_oracle(OracleSource(config.oracle_cache), config.data_dir, verify=False)
    assert oracle.from_cache
    classify = ViewClassifier(oracle.classifier, joined_rows_view(MNIST_SPLIT_PARTS))
    accuracies = mnist_split_accuracy(model, MultimodalLoader(splits.test, 16), classify, seed=config.seed)
    for key, value in accuracies.items():
        assert record.metrics[key] == value
    with torch.random.fork_rng(devices=[]):  # the grid seeds the test loss's noise with the grid's seed
        torch.manual_seed(config.seed)
        loss = validation_loss(model.eval(), MultimodalLoader(splits.test, TINY_PROTOCOL.batch_size))["loss"]
    assert record.metrics["test/loss"] == pytest.approx(loss, rel=1e-6)
    row = next(
        row
        for row in _read_csv(config.output_dir / "results.csv")
        if row["model"] == "vaevae" and row["supervision"] == "0.5"
    )
    assert float(row["accuracy/from_top"]) == accuracies["accuracy/from_top"]


def test_rerun_skips_finished_runs_and_resumes_a_lost_one(finished_grid, tmp_path):
    config, records, _ = finished_grid
    lost = config.output_dir / "runs" / "svae__s0.5" / "metrics.json"
    before = {record.run_dir.name: record.metrics for record in records}
    kept = config.output_dir / "runs" / "vaevae__s1" / "metrics.json"
    kept_stamp = kept.stat().st_mtime_ns
    lost.unlink()
    lines: list[str] = []
    again = run_grid(config, log=lines.append)
    assert [record.status for record in again] == ["skipped", "trained", "skipped", "skipped"]
    assert sum("finished before, skipped" in line for line in lines) == 3
    assert kept.stat().st_mtime_ns == kept_stamp
    # The lost run resumes from its last checkpoint (epoch 1 of 1): the same weights, so the same numbers.
    assert again[1].metrics == before["svae__s0.5"]
    assert len(_read_csv(config.output_dir / "results.csv")) == 4


def test_rerun_with_other_settings_is_refused(finished_grid):
    config, _, _ = finished_grid
    with pytest.raises(GridSettingsMismatchError, match=r"svae__s1/metrics.json: .*epochs"):
        run_grid(tiny_grid(config.data_dir, config.output_dir, epochs=2), log=lambda line: None)


def test_budget_scales_the_epochs_and_caps_the_data(tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    budget = dataclasses.replace(parse_budget("0.5"), max_train_size=50, latent_classification=False)
    config = tiny_grid(
        root,
        tmp_path / "grid",
        models=("svae",),
        supervision_levels=(1.0,),
        budget=budget,
        protocol=dataclasses.replace(TINY_PROTOCOL, epochs=4),
    )
    assert config.resolved_epochs == 2  # 4 protocol epochs × 0.5
    (record,) = run_grid(config, log=lambda line: None)
    with open(record.run_dir / "training_log.csv", newline="") as stream:
        epochs = [row["epoch"] for row in csv.DictReader(stream)]
    assert epochs == ["1", "2"]
    assert record.info["train_samples"] == 50 and record.info["epochs"] == 2
    assert not any(key.startswith("latent_accuracy/") for key in record.metrics)
