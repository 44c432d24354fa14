"""The ``mmcore`` command: list the fusion models, train one on a named benchmark.

Only argument parsing and printing live here; training is the library call a notebook user and every
benchmark grid make (:func:`mmcore.benchmarking.training_run.train_on_benchmark`).
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from mmcore.benchmarking.training_run import (
    MODEL_FILE,
    RUN_CONFIG_FILE,
    ModelSpec,
    load_benchmark_splits,
    train_on_benchmark,
)
from mmcore.benchmarks_setup import BENCHMARKS, NETWORKS, get_benchmark
from mmcore.data.manifest import DATA_DIR_VARIABLE, ChecksumError, DataDirectoryError, ManifestError
from mmcore.data.mnist import MnistFormatError
from mmcore.interrupts import raise_on_sigterm
from mmcore.models import UnpairedDataError, available_models
from mmcore.training import TrainerConfig
from mmcore.training.checkpoint import CheckpointError, atomic_write_json
from mmcore.training.config import VALIDATION_MODES
from specvae_cli.path_checks import check_output_paths

TEST_METRICS_FILE = "test_metrics.json"


@click.group()
def main() -> None:
    """mmcore: multimodal variational autoencoders on a common engine."""
    # A stopped job (kill, a batch scheduler's SIGTERM) unwinds like Ctrl-C: no temporary output is left behind.
    raise_on_sigterm()


@main.command("models")
def models_command() -> None:
    """List every registered fusion model with a one-line description."""
    models = available_models()
    if not models:
        raise click.ClickException("no fusion models are registered")
    width = max(len(name) for name in models)
    for name, description in models.items():
        click.echo(f"{name:<{width}}  {description}")


def _parse_hidden_dims(_context: click.Context, _parameter: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated sizes such as 400 or 512,256, got {value!r}") from None
    if not dims or any(size <= 0 for size in dims):
        raise click.BadParameter(f"layer sizes must be positive integers, got {value!r}")
    return dims


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())


@main.command("train")
@click.option("--benchmark", type=click.Choice(sorted(BENCHMARKS)), required=True, help="Benchmark to train on.")
@click.option("--model", "model_name", required=True, help="Fusion model name (see `mmcore models`).")
@click.option("--supervision", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True,
              help="Share of training samples that keep every modality; the rest keep one.")
@click.option("--epochs", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--latent-dim", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--beta", type=click.FloatRange(min=0.0), default=1.0, show_default=True, help="Weight of KL terms.")
@click.option("--beta-warmup-epochs", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Epochs over which beta rises linearly from 0.")
@click.option("--network", type=click.Choice(NETWORKS), default="mlp", show_default=True)
@click.option("--hidden-dims", default="400", show_default=True, callback=_parse_hidden_dims,
              help="Hidden layer sizes of the encoders (decoders mirror them), comma-separated.")
@click.option("--validation-size", type=click.IntRange(min=1), default=None,
              help="Training images held out for validation (default: the benchmark's, 10,000 for MNIST).")
@click.option("--train-size", type=click.IntRange(min=1), default=None, help="Use only this many training images.")
@click.option("--validation-metric", default="loss", show_default=True,
              help="Validation metric that picks the best epoch.")
@click.option("--validation-mode", type=click.Choice(VALIDATION_MODES), default="min", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True,
              help="cpu or cuda[:index]; under torchrun every process takes cuda:LOCAL_RANK (pass plain cuda).")
@click.option("--num-threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice); 1 suits small networks.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar=DATA_DIR_VARIABLE,
              show_envvar=True, help="Data root holding e.g. mnist/mnist.npz.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check of the data files against data_manifests/.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for checkpoints, logs, the run configuration and the final weights.")
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in OUTPUT_DIR/checkpoints.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--checkpoint-every-steps", type=click.IntRange(min=1), default=None,
              help="Also checkpoint every N optimiser steps within epochs; --resume continues from that step.")
@click.option("--data-shards", type=click.IntRange(min=1), default=None,
              help="Round size of the stratified data order (default: number of processes); set it to N on one "
                   "process to replay an N-process run, or keep it when resuming with fewer processes.")
@click.option("--distributed-timeout", "distributed_timeout_s", type=click.FloatRange(min=0.0, min_open=True),
              default=1800.0, show_default=True,
              help="Seconds a process waits for the others (under torchrun) before it gives up with an error.")
def train_command(
    benchmark: str,
    model_name: str,
    supervision: float,
    epochs: int,
    latent_dim: int,
    batch_size: int,
    learning_rate: float,
    beta: float,
    beta_warmup_epochs: float,
    network: str,
    hidden_dims: tuple[int, ...],
    validation_size: int,
    train_size: int | None,
    validation_metric: str,
    validation_mode: str,
    seed: int,
    device: str,
    num_threads: int | None,
    data_dir: Path | None,
    no_verify: bool,
    output_dir: Path,
    resume: bool,
    no_progress: bool,
    checkpoint_every_steps: int | None,
    data_shards: int | None,
    distributed_timeout_s: float,
) -> None:
    """Train a fusion model on a benchmark; print the best epoch and its metrics.

    Example: mmcore train --benchmark mnist-split --model svae --supervision 0.1 --epochs 5 -o out/

    Under torchrun (torchrun --nproc-per-node 4 -m specvae_cli.mmcore_cli train ...) the same command trains on 4
    processes; --batch-size is the global batch, and only rank 0 writes files and prints.
    """
    if model_name not in available_models():
        raise click.BadParameter(
            f"unknown model {model_name!r}; available: {', '.join(available_models())}", param_hint="--model"
        )
    check_output_paths({}, {}, directories={"--output-dir": output_dir})  # before loading data and training
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    if validation_size is None:  # each benchmark has its own default (CUB has fewer images than MNIST)
        validation_size = get_benchmark(benchmark).validation_size
    try:
        splits = load_benchmark_splits(
            benchmark, data_dir, validation_size=validation_size, seed=seed, verify=not no_verify, train_size=train_size
        )
    except (DataDirectoryError, ChecksumError, ManifestError, MnistFormatError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    config = TrainerConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        beta=beta,
        beta_warmup_epochs=beta_warmup_epochs,
        seed=seed,
        device=device,
        validation_metric=validation_metric,
        validation_mode=validation_mode,
        progress=not no_progress,
        checkpoint_every_steps=checkpoint_every_steps,
        data_shards=data_shards,
        distributed_timeout_s=distributed_timeout_s,
    )
    spec = ModelSpec(benchmark, model_name, latent_dim, network=network, hidden_dims=hidden_dims)
    run_config = {
        "benchmark": benchmark,
        "model": model_name,
        "latent_dim": latent_dim,
        "supervision": supervision,
        "network": network,
        "hidden_dims": list(hidden_dims),
        "validation_size": validation_size,
        "train_size": len(splits.train),
        "data_verified": not no_verify,
    }
    try:
        outcome = train_on_benchmark(
            spec, splits, supervision, config, output_dir, run_config=run_config, resume=resume
        )
    except (UnpairedDataError, CheckpointError, KeyError, FloatingPointError, ValueError, RuntimeError) as error:
        # also the batch size vs the processes, the device and the launcher environment
        raise click.ClickException(f"training {model_name} on {benchmark} failed: {error}") from None
    if not outcome.is_main_process:  # only rank 0 writes and prints
        return
    result, test_metrics = outcome.fit, outcome.test_metrics
    if test_metrics is None:
        click.echo(f"no epoch trained (epochs={epochs}); weights written to {output_dir / MODEL_FILE}")
        return
    atomic_write_json(output_dir / TEST_METRICS_FILE, test_metrics)
    click.echo(f"best epoch {result.best_epoch}/{epochs} by validation {validation_metric} ({validation_mode})")
    click.echo(f"validation: {_format_metrics(result.best_metrics)}")
    click.echo(f"test: {_format_metrics(test_metrics)}")
    click.echo(
        f"written to {output_dir}: {MODEL_FILE}, {RUN_CONFIG_FILE}, training_log.csv, training_log.json, "
        f"{TEST_METRICS_FILE}, checkpoints/"
    )


def _register_subcommands() -> None:
    # `mmcore benchmark` lives in its own module; it only parses arguments for mmcore.benchmarking.
    from specvae_cli.mmcore_benchmark_cli import benchmark

    main.add_command(benchmark)


_register_subcommands()

if __name__ == "__main__":
    main()
