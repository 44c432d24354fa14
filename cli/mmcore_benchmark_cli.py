"""``mmcore benchmark``: train and evaluate a grid of models × supervision levels on one benchmark.

Only argument parsing and printing live here; the work is :func:`mmcore.benchmarking.run_grid`, which a
notebook user can call with the same :class:`~mmcore.benchmarking.GridConfig`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import torch

from mmcore.benchmarking import (
    BUDGETS,
    BudgetError,
    GridConfig,
    GridSettingsMismatchError,
    MissingBenchmarkDataError,
    get_protocol,
    parse_budget,
    parse_supervision_levels,
    run_grid,
)
from mmcore.benchmarks_setup import BENCHMARKS, NETWORKS
from mmcore.data.cub import IMAGE_SOURCES
from mmcore.data.manifest import DATA_DIR_VARIABLE, ChecksumError, ManifestError
from mmcore.data.mnist import MnistFormatError
from mmcore.likelihoods import LIKELIHOODS
from mmcore.training.checkpoint import CheckpointError
from specvae_cli.path_checks import check_output_paths


def _parse_sizes(_context: click.Context, _parameter: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated sizes such as 400 or 512,256, got {value!r}") from None
    if not sizes or min(sizes) <= 0:
        raise click.BadParameter(f"layer sizes must be positive integers, got {value!r}")
    return sizes


def _parse_models(_context: click.Context, _parameter: click.Parameter, value: str) -> tuple[str, ...]:
    models = tuple(part.strip() for part in value.split(",") if part.strip())
    if not models:
        raise click.BadParameter("name at least one model, e.g. --models svae,mmvae")
    return models


def _parse_levels(_context: click.Context, _parameter: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        levels = parse_supervision_levels(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if any(not 0.0 <= level <= 1.0 for level in levels):
        raise click.BadParameter(f"supervision levels must lie in [0, 1], got {value!r}")
    return levels


def _parse_model_options(
    _context: click.Context, _parameter: click.Parameter, values: tuple[str, ...]
) -> dict[str, object]:
    """KEY=VALUE pairs; a VALUE that reads as JSON (numbers, true/false) is converted, anything else stays text."""
    options: dict[str, object] = {}
    for item in values:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, e.g. estimator=elbo, got {item!r}")
        try:
            options[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            options[key.strip()] = text
    return options


@click.command("benchmark", epilog="Benchmarks (BENCHMARK): " + ", ".join(sorted(BENCHMARKS)) + ".")
@click.argument("benchmark_name", metavar="BENCHMARK", type=click.Choice(sorted(BENCHMARKS)))
@click.option("--models", required=True, callback=_parse_models,
              help="Comma-separated fusion models (see `mmcore models`), e.g. svae,vaevae,mmvae.")
@click.option("--supervision", default="1.0,0.1,0.01", show_default=True, callback=_parse_levels,
              help="Comma-separated supervision levels: the share of training samples that keep every modality.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the runs, the oracles, results.csv, results.md and accuracy_vs_supervision.png.")
@click.option("--budget", "budget_text", default="cpu-session", show_default=True,
              help=f"A preset ({', '.join(BUDGETS)}) or a multiplier of the protocol's epochs (e.g. 0.1).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Train exactly this many epochs (instead of the budget-scaled protocol epochs).")
@click.option("--latent-dim", type=click.IntRange(min=1), default=None, help="Override the protocol's latent size.")
@click.option("--network", type=click.Choice(NETWORKS), default=None, help="Override the protocol's networks.")
@click.option("--hidden-dims", default=None, callback=_parse_sizes,
              help="Override the hidden sizes (MLP layers; for conv networks the feature size), comma-separated.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the protocol's batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0.0, min_open=True), default=None)
@click.option("--likelihood", type=click.Choice(sorted(LIKELIHOODS)), default=None,
              help="Override the image modalities' likelihood.")
@click.option("--model-option", "model_options", multiple=True, callback=_parse_model_options, metavar="KEY=VALUE",
              help="Passed to the model's constructor (repeat), e.g. --model-option estimator=elbo for MMVAE.")
@click.option("--unimodal-copies", is_flag=True,
              help="Train as the seed's code does: the paired share plus every sample's modalities alone (all "
                   "samples, every supervision level) instead of the described protocol.")
@click.option("--validation-size", type=click.IntRange(min=1), default=None,
              help="Held-out training samples (CUB: images) for picking the best epoch; capped by the budget.")
@click.option("--likelihood-samples", type=click.IntRange(min=1), default=None,
              help="Also compute the IWAE test log-likelihood with K importance samples (the paper budget uses 1000).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:index].")
@click.option("--num-threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice); 1 suits small networks on a shared machine.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar=DATA_DIR_VARIABLE,
              show_envvar=True, help="Data root holding e.g. mnist/mnist.npz.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check of the data files against data_manifests/.")
@click.option("--oracle-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache of the oracle classifiers (default OUTPUT_DIR/oracles); share it between grids.")
@click.option("--background-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="polymnist: folder with the five original background images.")
@click.option("--image-source", type=click.Choice(IMAGE_SOURCES), default=None,
              help="cub: images (64×64 pixels) or features (cub/features/*.npy; needed for CCA coherence).")
@click.option("--word-vectors", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="cub: word vectors (.vec text) that embed captions for CCA coherence.")
@click.option("--progress", is_flag=True, help="Show the trainer's progress bar within each run.")
def benchmark(
    benchmark_name: str,
    models: tuple[str, ...],
    supervision: tuple[float, ...],
    output_dir: Path,
    budget_text: str,
    epochs: int | None,
    latent_dim: int | None,
    network: str | None,
    hidden_dims: tuple[int, ...] | None,
    batch_size: int | None,
    learning_rate: float | None,
    likelihood: str | None,
    model_options: dict[str, object],
    unimodal_copies: bool,
    validation_size: int | None,
    likelihood_samples: int | None,
    seed: int,
    device: str,
    num_threads: int | None,
    data_dir: Path | None,
    no_verify: bool,
    oracle_dir: Path | None,
    background_dir: Path | None,
    image_source: str | None,
    word_vectors: Path | None,
    progress: bool,
) -> None:
    """Train every model at every supervision level on BENCHMARK; write result tables and plots.

    Example: mmcore benchmark mnist-split --models svae,vaevae,mmvae --supervision 1.0,0.1,0.01 -o out/

    A rerun with the same output folder skips finished runs and resumes interrupted ones.
    """
    try:
        budget = parse_budget(budget_text)
    except BudgetError as error:
        raise click.BadParameter(str(error), param_hint="--budget") from None
    if likelihood_samples is not None:
        budget = dataclasses.replace(budget, likelihood_samples=likelihood_samples)
    overrides = {
        "latent_dim": latent_dim, "network": network, "hidden_dims": hidden_dims, "batch_size": batch_size,
        "learning_rate": learning_rate, "likelihood": likelihood,
    }
    protocol = dataclasses.replace(
        get_protocol(benchmark_name), **{name: value for name, value in overrides.items() if value is not None}
    )
    load_options: dict[str, object] = {}
    if background_dir is not None:
        load_options["background_dir"] = background_dir
    if image_source is not None:
        load_options["image_source"] = image_source
    evaluation_options = {} if word_vectors is None else {"word_vectors": word_vectors}
    check_output_paths({}, {}, directories={"--output-dir": output_dir})  # before any run of the grid
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        config = GridConfig(
            benchmark=benchmark_name, models=models, supervision_levels=supervision, output_dir=output_dir,
            budget=budget, protocol=protocol, epochs=epochs, validation_size=validation_size, seed=seed,
            data_dir=data_dir, verify=not no_verify, device=device, oracle_dir=oracle_dir,
            load_options=load_options, evaluation_options=evaluation_options, model_options=model_options,
            unimodal_copies=unimodal_copies, progress=progress,
        )
        click.echo(
            f"{benchmark_name}: {len(models)} models × {len(supervision)} supervision levels, "
            f"{config.resolved_epochs} epochs each (protocol {protocol.epochs} × budget {budget.name}), "
            f"latent {protocol.latent_dim}, {protocol.network} networks {list(protocol.hidden_dims)}, "
            f"batch {protocol.batch_size}"
        )
        run_grid(config, log=click.echo)
    except (MissingBenchmarkDataError, GridSettingsMismatchError, ChecksumError, ManifestError, MnistFormatError,
            CheckpointError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise click.ClickException(message) from None


if __name__ == "__main__":
    benchmark()
