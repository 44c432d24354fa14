"""``specvae benchmark``: rank contest challenges and write a report. Argument parsing only.

The lead attaches ``benchmark`` to the ``specvae`` group (``main.add_command(benchmark)``); the work is done by
:mod:`specvae.benchmark`, which a notebook can call too.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from specvae_cli.cache_options import cache_error_message, rebuild_cache_option, report_moved_aside
from specvae_cli.path_checks import check_output_paths
from specvae_cli.training_options import capacity_options, convergence_options

EXIT_REFUSED = 3


def _common_options(function):
    """Options shared by every contest subcommand."""
    decorators = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False),
            help="Data root holding the benchmark folder (or the folder itself); default $SPECVAE_DATA_DIR.",
        ),
        click.option(
            "--model",
            "model_paths",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False),
            help="Model file(s) to benchmark, one per ion mode; default: the models shipped with specvae.",
        ),
        click.option(
            "--compare",
            "comparisons",
            multiple=True,
            metavar="LABEL=PATH",
            help="A model to set beside the main one (repeat; the same LABEL for a positive and a negative model).",
        ),
        click.option(
            "--mode",
            "ion_mode",
            type=click.Choice(["positive", "negative", "both"]),
            default="both",
            show_default=True,
        ),
        click.option("--output", "-o", type=click.Path(file_okay=False), required=True, help="Report folder."),
        click.option("--fingerprint-cache", type=click.Path(dir_okay=False), help="HDF5 cache of candidate bits."),
        rebuild_cache_option,
        click.option("--workers", type=int, default=2, show_default=True, help="Processes computing fingerprints."),
        click.option(
            "--challenge",
            "challenge_names",
            multiple=True,
            help="Only these challenges (repeat); default: all of the chosen ion modes.",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Run even if a model's training structures include an answer (the report says so prominently).",
        ),
        click.option("--no-verify", is_flag=True, help="Do not check the data files' sha256 against the manifest."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _command_line() -> str:
    """The command as a user would type it (``specvae benchmark <subcommand> ...``), rebuilt from the parsed
    parameters, so that it is right however the command was started (console script, ``python -m``, tests)."""
    context = click.get_current_context()
    arguments: list[str] = []
    options: list[str] = []
    for parameter in context.command.params:
        value = context.params.get(parameter.name)
        if isinstance(parameter, click.Argument):
            arguments += [str(item) for item in (value if isinstance(value, tuple) else (value,)) if item is not None]
            continue
        if value is None or value is False or value == () or value == parameter.default:
            continue
        flag = max(parameter.opts, key=len)
        if getattr(parameter, "is_flag", False):
            options.append(flag)
        else:
            for item in value if isinstance(value, tuple) else (value,):
                options += [flag, str(item)]
    return shlex.join(["specvae", "benchmark", context.info_name or "", *arguments, *options])


def _parse_comparisons(comparisons: tuple[str, ...]) -> list[tuple[str, str]]:
    parsed = []
    for text in comparisons:
        label, separator, path = text.partition("=")
        if not separator or not label.strip() or not path.strip():
            raise click.BadParameter(f"expected LABEL=PATH, got {text!r}", param_hint="--compare")
        if not Path(path).is_file():
            raise click.BadParameter(f"{path}: no such model file", param_hint="--compare")
        parsed.append((label.strip(), path.strip()))
    return parsed


def _run(benchmark_name: str, options: dict, command: str) -> None:
    started = time.perf_counter()
    import specvae.benchmark
    from specvae.benchmark import BenchmarkRefusedError, run_benchmark, write_report
    from specvae.errors import SpecvaeError
    from specvae.model_file import ModelFileError

    timings = {"import_s": time.perf_counter() - started}
    check_output_paths(  # the report folder is found unwritable now, not after the whole benchmark
        {"--model": options["model_paths"]},
        {},
        caches={"--fingerprint-cache": options["fingerprint_cache"]},
        directories={"--output": options["output"]},
    )
    modes = ("positive", "negative") if options["ion_mode"] == "both" else (options["ion_mode"],)
    try:
        step = time.perf_counter()
        loader = getattr(specvae.benchmark, f"load_{benchmark_name}")
        data = loader(options["data_dir"], verify=not options["no_verify"])
        timings["read_data_s"] = time.perf_counter() - step
        report = run_benchmark(
            data,
            model_paths=list(options["model_paths"]),
            comparisons=_parse_comparisons(options["comparisons"]),
            ion_modes=modes,
            challenge_names=list(options["challenge_names"]) or None,
            fingerprint_cache=options["fingerprint_cache"],
            rebuild_cache=options["rebuild_cache"],
            n_workers=options["workers"],
            force=options["force"],
            command=command,
            started=started,
            timings=timings,
        )
    except BenchmarkRefusedError as error:
        click.echo(f"refused: {error}", err=True)
        sys.exit(EXIT_REFUSED)
    except (SpecvaeError, ModelFileError, ValueError, OSError) as error:
        raise click.ClickException(cache_error_message(error)) from error
    if options["fingerprint_cache"] is not None:
        report_moved_aside(options["fingerprint_cache"], report.bits.moved_aside)
    written = write_report(report, options["output"])
    click.echo(report.headline(), err=True)
    click.echo(f"report: {written}", err=True)


@click.group()
def benchmark() -> None:
    """Benchmark models on contest data (CASMI) and write a report with tables, a plot and submission files."""


@benchmark.command()
@_common_options
def casmi2016(**options) -> None:
    """CASMI 2016 Categories 2+3: 208 challenges with the official candidate lists."""
    _run("casmi2016", options, _command_line())


@benchmark.command()
@_common_options
def casmi2017(**options) -> None:
    """CASMI 2017: the automatic-ranking challenges (046-243) of the official release, from --data-dir."""
    _run("casmi2017", options, _command_line())


@benchmark.command("train-baseline")
@click.argument("training_set", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Model file to write.")
@click.option("--mode", "ion_mode", type=click.Choice(["positive", "negative"]), default="positive", show_default=True)
@click.option("--latent-dim", type=int, default=64, show_default=True, help="Width of the bottleneck layer.")
@click.option("--hidden-dim", type=int, default=192, show_default=True)
@convergence_options
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--min-bit-count", type=int, default=10, show_default=True)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), help="Resumable checkpoints and logs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--num-threads", type=int, default=None, help="torch threads (default: torch's choice).")
@click.option(
    "--formula-dropout",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=None,
    help="Also read each spectrum's molecular formula, left out of this share of the training rows "
    "(the network then predicts with and without a formula).",
)
@click.option(
    "--input-pool",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Read groups of this many consecutive bins summed as one (10: 1 Da from 0.1 Da bins).",
)
@capacity_options
def train_baseline(
    training_set,
    output,
    ion_mode,
    latent_dim,
    hidden_dim,
    epochs,
    early_stopping_patience,
    lr_decay_patience,
    calibration,
    batch_size,
    learning_rate,
    min_bit_count,
    checkpoint_dir,
    seed,
    num_threads,
    formula_dropout,
    input_pool,
    depth,
    batch_norm,
    dropout,
) -> None:
    """Train the feed-forward spectrum->fingerprint baseline on TRAINING_SET as `specvae train` trains a VAE."""
    import torch

    from specvae.baseline import train_feedforward_model
    from specvae.training import TrainingOptions

    check_output_paths(
        {"TRAINING_SET": training_set}, {"--output": output}, directories={"--checkpoint-dir": checkpoint_dir}
    )
    if num_threads:
        torch.set_num_threads(num_threads)
    options = TrainingOptions(
        ion_mode=ion_mode,
        latent_dim=latent_dim,
        hidden_dim=hidden_dim,
        epochs=epochs,
        early_stopping_patience=early_stopping_patience,
        lr_decay_patience=lr_decay_patience,
        calibration=calibration,
        batch_size=batch_size,
        learning_rate=learning_rate,
        min_bit_count=min_bit_count,
        seed=seed,
        formula_dropout=formula_dropout,
        input_pool=input_pool,
        depth=depth,
        batch_norm=batch_norm,
        dropout=dropout,
    )
    record = train_feedforward_model(training_set, output, options, checkpoint_dir, command=_command_line())
    click.echo(
        f"best epoch {record['best_epoch']}: "
        + ", ".join(f"{k}={v:.4g}" for k, v in record["validation_metrics"].items())
        + f"; {record['seconds']} s -> {output}",
        err=True,
    )


if __name__ == "__main__":
    benchmark()
