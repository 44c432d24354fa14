"""The ``benchmark`` click command: a smoke grid end to end, option overrides, and readable errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner
from grid_helpers import write_fake_mnist

from specvae_cli.mmcore_benchmark_cli import benchmark

TINY = "--latent-dim 3 --network mlp --hidden-dims 12 --batch-size 40 --validation-size 20 --no-verify --num-threads 1"


def smoke_grid(models: str, supervision: str, root, out, *extra: str) -> list[str]:
    """Arguments of a smoke-budget grid on the fake MNIST in ``root``, writing to ``out``."""
    common = ["mnist-split", "--models", models, "--supervision", supervision, "--budget", "smoke"]
    return [*common, "--data-dir", str(root), "-o", str(out), *TINY.split(), *extra]


@pytest.fixture()
def runner():
    threads = torch.get_num_threads()
    yield CliRunner()
    torch.set_num_threads(threads)


def test_benchmark_command_runs_a_grid_and_reports_each_run(runner, tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    out = tmp_path / "out"
    arguments = smoke_grid("svae,mvae", "1.0", root, out)
    result = runner.invoke(benchmark, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 models × 1 supervision levels, 1 epochs each (protocol 200 × budget smoke), latent 3" in result.output
    assert "[1/2] svae at supervision 1: training 1 epochs on 100 samples" in result.output
    assert "[2/2] mvae at supervision 1: done in" in result.output
    with open(out / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["model"] for row in rows] == ["svae", "mvae"]
    run_config = json.loads((out / "runs" / "mvae__s1" / "run_config.json").read_text())
    assert run_config["protocol"]["latent_dim"] == 3 and run_config["protocol"]["hidden_dims"] == [12]
    assert run_config["trainer"]["batch_size"] == 40 and run_config["budget"]["name"] == "smoke"
    again = runner.invoke(benchmark, arguments, catch_exceptions=False)
    assert again.exit_code == 0 and again.output.count("finished before, skipped") == 2


def test_bad_budget_and_models_are_rejected(runner, tmp_path):
    result = runner.invoke(benchmark, ["mnist-split", "--models", "svae", "--budget", "huge", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "unknown budget 'huge'" in result.output and "cpu-session" in result.output
    result = runner.invoke(benchmark, ["mnist-split", "--models", "svae", "--supervision", "2", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "supervision levels must lie in [0, 1]" in result.output
    result = runner.invoke(
        benchmark, ["mnist-split", "--models", "svae,nope", "-o", str(tmp_path), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "unknown models ['nope']" in result.output


def test_missing_data_is_a_one_line_error(runner, tmp_path):
    result = runner.invoke(
        benchmark,
        [
            "mnist-svhn",
            "--models",
            "svae",
            "-o",
            str(tmp_path / "out"),
            "--data-dir",
            str(write_fake_mnist(tmp_path / "data")),
            "--no-verify",
        ],
    )
    assert result.exit_code == 1
    assert "Error: benchmark 'mnist-svhn' cannot run: svhn/train_32x32.mat not found" in result.output
    assert "Traceback" not in result.output


def test_model_options_reach_the_model_and_the_run_settings(runner, tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    out = tmp_path / "out"
    options = ["--model-option", "estimator=elbo", "--model-option", "posterior=laplace"]
    arguments = smoke_grid("mmvae", "1.0", root, out, *options, "--model-option", "n_importance_samples=1")
    result = runner.invoke(benchmark, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_config = json.loads((out / "runs" / "mmvae__s1" / "run_config.json").read_text())
    # JSON-looking values are converted (1 is an int), the rest stay text.
    assert run_config["model_options"] == {"estimator": "elbo", "posterior": "laplace", "n_importance_samples": 1}
    # Other options are other settings: the finished run is not silently reused for them.
    changed = [*arguments[:-1], "n_importance_samples=2"]
    refused = runner.invoke(benchmark, changed, catch_exceptions=False)
    assert refused.exit_code == 1 and "model_options" in refused.output

    unknown_option = smoke_grid("mmvae", "1.0", root, tmp_path / "other", "--model-option", "colour=blue")
    unknown = runner.invoke(benchmark, unknown_option, catch_exceptions=False)
    assert unknown.exit_code == 1 and "model 'mmvae' has no option(s) ['colour']" in unknown.output
    assert "estimator" in unknown.output
    malformed = runner.invoke(benchmark, smoke_grid("mmvae", "1.0", root, out, "--model-option", "estimator"))
    assert malformed.exit_code == 2 and "expected KEY=VALUE" in malformed.output


def test_unimodal_copies_train_on_the_seed_codes_data(runner, tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    out = tmp_path / "out"
    arguments = smoke_grid("svae", "0.5", root, out, "--unimodal-copies")
    result = runner.invoke(benchmark, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_dir = out / "runs" / "svae__s0.5"
    assert json.loads((run_dir / "run_config.json").read_text())["unimodal_copies"] is True
    # 100 training images: 50 paired, plus every image's top and bottom alone.
    info = json.loads((run_dir / "metrics.json").read_text())["info"]
    assert info["train_samples"] == 250 and info["paired_train_samples"] == 50


def test_help_lists_every_benchmark(runner):
    from mmcore.benchmarks_setup import BENCHMARKS

    result = runner.invoke(benchmark, ["--help"])
    assert result.exit_code == 0
    listed = " ".join(result.output.split()).replace("- ", "-")  # undo click's wrapping inside names
    for name in BENCHMARKS:
        assert name in listed, name
