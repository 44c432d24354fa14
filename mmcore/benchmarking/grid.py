"""Run a benchmark grid: every model at every supervision level, one Trainer run each, resumable.

Layout of the output folder::

    <output>/grid_config.json                 what the grid was asked to do (rewritten on every call)
    <output>/oracles/                         cached oracle classifiers (see mmcore.metrics.oracles)
    <output>/runs/<model>__s<level>/          one folder per run:
        run_config.json                         the run's settings (benchmark, model, level, protocol, budget)
        checkpoints/, training_log.csv/.json    the Trainer's checkpoints and epoch log
        model.safetensors                       the best epoch's weights
        metrics.json                            written last: its presence marks the run as finished
    <output>/results.csv, results.md, accuracy_vs_supervision.png

A run whose ``metrics.json`` exists is skipped, so an interrupted grid continues where it stopped (an
interrupted *run* continues from its last checkpoint). A finished run trained with other settings is not
silently mixed into the table: the grid stops with a :class:`GridSettingsMismatchError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmcore.atomic import atomic_write_text
from mmcore.benchmarking.budget import BUDGETS, Budget
from mmcore.benchmarking.errors import GridSettingsMismatchError, MissingBenchmarkDataError
from mmcore.benchmarking.evaluation import OracleSource, prepare_evaluation
from mmcore.benchmarking.evaluation_base import JOINT_COHERENCE_SAMPLES, BenchmarkEvaluation, EvaluationSettings
from mmcore.benchmarking.report import write_results
from mmcore.benchmarking.training_run import (
    RUN_CONFIG_FILE,
    ModelSpec,
    json_text,
    load_benchmark_splits,
    paired_count,
    train_on_benchmark,
)
from mmcore.benchmarks_setup import Benchmark, Protocol, get_benchmark, get_protocol
from mmcore.data.manifest import DataDirectoryError
from mmcore.data.polymnist import BackgroundImageError
from mmcore.data.splits import DataSplits
from mmcore.models import UnpairedDataError, available_models
from mmcore.training import TrainerConfig

RUNS_DIR = "runs"
ORACLE_DIR = "oracles"
METRICS_FILE = "metrics.json"
GRID_CONFIG_FILE = "grid_config.json"

Log = Callable[[str], None]


@dataclass(frozen=True)
class GridConfig:
    """What a grid trains and evaluates.

    ``protocol`` defaults to the benchmark's (:data:`~mmcore.benchmarks_setup.PROTOCOLS`); ``epochs``
    replaces the budget-scaled epochs when given. ``load_options`` go to the benchmark's loader
    (``background_dir`` for PolyMNIST, ``image_source`` for CUB); ``evaluation_options`` to its evaluation
    (``word_vectors`` for CUB). ``validation_size`` overrides the benchmark's (capped by the budget).
    ``model_options`` go to every model's constructor (``build_model``), e.g. ``{"estimator": "elbo"}`` for MMVAE:
    give them with one model at a time, since other models do not take the same options.
    ``unimodal_copies`` trains on the seed code's data instead of the described protocol (see
    :func:`~mmcore.training.supervision.with_unimodal_copies`).
    """

    benchmark: str
    models: tuple[str, ...]
    supervision_levels: tuple[float, ...]
    output_dir: Path
    budget: Budget = BUDGETS["cpu-session"]
    protocol: Protocol | None = None
    epochs: int | None = None
    validation_size: int | None = None
    seed: int = 0
    data_dir: Path | None = None
    verify: bool = True
    device: str = "cpu"
    oracle_dir: Path | None = None
    load_options: Mapping[str, Any] = field(default_factory=dict)
    evaluation_options: Mapping[str, Any] = field(default_factory=dict)
    model_options: Mapping[str, Any] = field(default_factory=dict)
    unimodal_copies: bool = False
    evaluation_batch_size: int = 500
    progress: bool = False

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("a grid needs at least one model")
        if not self.supervision_levels:
            raise ValueError("a grid needs at least one supervision level")
        for level in self.supervision_levels:
            if not 0.0 <= level <= 1.0:
                raise ValueError(f"supervision levels must lie in [0, 1], got {level}")
        if len(set(self.models)) != len(self.models) or len(set(self.supervision_levels)) != len(
            self.supervision_levels
        ):
            raise ValueError(f"models and supervision levels must not repeat: {self.models}, {self.supervision_levels}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")

    @property
    def resolved_protocol(self) -> Protocol:
        return self.protocol if self.protocol is not None else get_protocol(self.benchmark)

    @property
    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else self.budget.epochs(self.resolved_protocol.epochs)

    @property
    def oracle_cache(self) -> Path:
        return self.oracle_dir if self.oracle_dir is not None else Path(self.output_dir) / ORACLE_DIR


@dataclass
class RunRecord:
    """One cell of the grid: its settings, its status (trained / skipped / failed) and its metrics."""

    model: str
    supervision: float
    status: str
    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def run_name(model: str, supervision: float) -> str:
    """The folder name of a run: ``svae__s0.1``."""
    return f"{model}__s{supervision:g}"


def parse_supervision_levels(text: str) -> tuple[float, ...]:
    """``"1.0,0.1,0.01"`` -> ``(1.0, 0.1, 0.01)``."""
    try:
        levels = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"supervision levels must be comma-separated numbers (1.0,0.1,0.01), got {text!r}") from None
    if not levels:
        raise ValueError("give at least one supervision level")
    return levels


def load_grid_data(config: GridConfig, benchmark: Benchmark) -> DataSplits:
    """The benchmark's splits under the budget; missing files become a :class:`MissingBenchmarkDataError`."""
    budget = config.budget
    validation_size = config.validation_size if config.validation_size is not None else benchmark.validation_size
    try:
        return load_benchmark_splits(
            config.benchmark,
            config.data_dir,
            validation_size=budget.validation_size(validation_size),
            seed=config.seed,
            verify=config.verify,
            train_size=budget.max_train_size,
            test_size=budget.max_test_size,
            **config.load_options,
        )
    except (DataDirectoryError, BackgroundImageError) as error:
        raise MissingBenchmarkDataError(config.benchmark, str(error)) from None


def run_settings(config: GridConfig, model: str, supervision: float, splits: DataSplits) -> dict[str, Any]:
    """Everything that determines a run's result; a finished run is reused only if these are equal."""
    protocol = config.resolved_protocol
    return {
        "benchmark": config.benchmark,
        "model": model,
        "supervision": supervision,
        "seed": config.seed,
        "epochs": config.resolved_epochs,
        "protocol": protocol.to_dict(),
        "budget": config.budget.to_dict(),
        "train_size": len(splits.train),
        "validation_size": len(splits.validation),
        "test_size": len(splits.test),
        "load_options": {name: str(value) for name, value in config.load_options.items()},
        **({"model_options": dict(config.model_options)} if config.model_options else {}),
        **({"unimodal_copies": True} if config.unimodal_copies else {}),
    }


def _check_same_settings(path: Path, saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    saved_json, wanted_json = json.loads(json_text(saved)), json.loads(json_text(wanted))
    different = sorted(key for key in set(saved_json) | set(wanted_json) if saved_json.get(key) != wanted_json.get(key))
    if different:
        raise GridSettingsMismatchError(
            f"{path}: this run was started with other settings ({', '.join(different)} differ); "
            "use another output folder, or delete the run's folder to train it anew"
        )


def train_and_evaluate(
    config: GridConfig,
    model_name: str,
    supervision: float,
    splits: DataSplits,
    evaluation: BenchmarkEvaluation,
    settings: dict[str, Any],
    run_dir: Path,
) -> RunRecord:
    """One training run (resumed from its checkpoints if any), the test loss, and the benchmark's metrics."""
    protocol = config.resolved_protocol
    spec = ModelSpec(
        config.benchmark,
        model_name,
        protocol.latent_dim,
        network=protocol.network,
        hidden_dims=protocol.hidden_dims,
        likelihood=protocol.likelihood,
        model_options=config.model_options,
    )
    trainer_config = TrainerConfig(
        epochs=settings["epochs"],
        batch_size=protocol.batch_size,
        learning_rate=protocol.learning_rate,
        beta=protocol.beta,
        beta_warmup_epochs=protocol.beta_warmup_epochs,
        seed=config.seed,
        device=config.device,
        progress=config.progress,
    )
    outcome = train_on_benchmark(
        spec,
        splits,
        supervision,
        trainer_config,
        run_dir,
        run_config=settings,
        unimodal_copies=config.unimodal_copies,
        resume=True,
    )
    started = time.perf_counter()
    metrics = {f"test/{name}": value for name, value in (outcome.test_metrics or {}).items()}
    evaluation_settings = EvaluationSettings(
        batch_size=config.evaluation_batch_size,
        likelihood_samples=config.budget.likelihood_samples,
        latent_classification=config.budget.latent_classification,
        joint_coherence_samples=min(JOINT_COHERENCE_SAMPLES, len(splits.test)),
        seed=config.seed,
    )
    metrics.update(evaluation.evaluate(outcome.model, splits, evaluation_settings))
    info = {
        "best_epoch": outcome.fit.best_epoch,
        "epochs": settings["epochs"],
        "train_samples": len(outcome.train_data),
        "paired_train_samples": paired_count(outcome.train_data),
        "train_seconds": round(outcome.train_seconds, 1),
        "eval_seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(run_dir / METRICS_FILE, json_text({"settings": settings, "info": info, "metrics": metrics}))
    return RunRecord(model_name, supervision, "trained", run_dir, metrics, info)


def _format_headline(metrics: Mapping[str, float], names: Sequence[str]) -> str:
    shown = [f"{name} {metrics[name]:.3f}" for name in names if name in metrics]
    return ", ".join(shown) if shown else "no headline metric"


def run_grid(config: GridConfig, log: Log = print) -> list[RunRecord]:
    """Train and evaluate every (model, supervision level) of ``config``; write the tables and the plot.

    Returns one :class:`RunRecord` per cell, in model-major order. Unknown models fail before any work;
    missing data fails before any training (:class:`MissingBenchmarkDataError`). A model that cannot learn
    from the given data (JMVAE with unpaired samples) or whose loss turns non-finite is recorded as failed
    and the grid goes on.
    """
    unknown = [name for name in config.models if name not in available_models()]
    if unknown:
        raise KeyError(f"unknown models {unknown}; available: {', '.join(available_models())}")
    benchmark = get_benchmark(config.benchmark)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    log(f"{config.benchmark}: loading data (budget {config.budget.name})")
    splits = load_grid_data(config, benchmark)
    log(
        f"{config.benchmark}: {len(splits.train)} training, {len(splits.validation)} validation, "
        f"{len(splits.test)} test samples; preparing the evaluation (oracles in {config.oracle_cache})"
    )
    evaluation = prepare_evaluation(
        config.benchmark,
        splits,
        OracleSource(config.oracle_cache, config.device),
        data_dir=config.data_dir,
        verify=config.verify,
        options=config.evaluation_options,
    )
    grid_description = {
        "benchmark": config.benchmark,
        "models": list(config.models),
        "supervision_levels": list(config.supervision_levels),
        "epochs": config.resolved_epochs,
        "protocol": config.resolved_protocol.to_dict(),
        "budget": config.budget.to_dict(),
        "seed": config.seed,
        "oracle_test_accuracy": evaluation.oracle_accuracies,
        "headline_metrics": list(evaluation.headline_metrics),
    }
    atomic_write_text(output_dir / GRID_CONFIG_FILE, json_text(grid_description))

    cells = [(model, level) for model in config.models for level in config.supervision_levels]
    records = []
    for position, (model_name, supervision) in enumerate(cells, start=1):
        run_dir = output_dir / RUNS_DIR / run_name(model_name, supervision)
        settings = run_settings(config, model_name, supervision, splits)
        prefix = f"[{position}/{len(cells)}] {model_name} at supervision {supervision:g}"
        metrics_path = run_dir / METRICS_FILE
        if metrics_path.is_file():
            saved = json.loads(metrics_path.read_text(encoding="utf-8"))
            _check_same_settings(metrics_path, saved.get("settings", {}), settings)
            record = RunRecord(model_name, supervision, "skipped", run_dir, saved["metrics"], saved.get("info", {}))
            log(f"{prefix}: finished before, skipped ({_format_headline(record.metrics, evaluation.headline_metrics)})")
            records.append(record)
            continue
        started_config = run_dir / RUN_CONFIG_FILE
        if started_config.is_file():  # an interrupted run resumes from its checkpoints only with its own settings
            saved = json.loads(started_config.read_text(encoding="utf-8"))
            _check_same_settings(started_config, {key: saved.get(key) for key in settings}, settings)
        run_dir.mkdir(parents=True, exist_ok=True)
        log(f"{prefix}: training {settings['epochs']} epochs on {settings['train_size']} samples")
        try:
            record = train_and_evaluate(config, model_name, supervision, splits, evaluation, settings, run_dir)
        except (UnpairedDataError, FloatingPointError) as error:
            log(f"{prefix}: failed: {error}")
            records.append(RunRecord(model_name, supervision, "failed", run_dir, info={"error": str(error)}))
            continue
        log(
            f"{prefix}: done in {record.info['train_seconds']:.0f} s (best epoch {record.info['best_epoch']}); "
            f"{_format_headline(record.metrics, evaluation.headline_metrics)}"
        )
        records.append(record)
    paths = write_results(output_dir, config.benchmark, records, evaluation.headline_metrics)
    log(f"{config.benchmark}: results written to {', '.join(str(path) for path in paths)}")
    return records
