"""Benchmark grids: every model × every supervision level trained, evaluated and tabulated.

``mmcore benchmark`` (``cli/mmcore_benchmark_cli.py``) is a thin wrapper around :func:`run_grid`::

    config = GridConfig("mnist-split", ("svae", "mmvae"), (1.0, 0.1, 0.01), Path("out"),
                        budget=parse_budget("cpu-session"))
    records = run_grid(config)     # out/results.csv, results.md, accuracy_vs_supervision.png

Each cell of a grid, and ``mmcore train``, is one :func:`train_on_benchmark` call.
"""

from mmcore.benchmarking.budget import BUDGETS, Budget, BudgetError, parse_budget
from mmcore.benchmarking.errors import GridSettingsMismatchError, MissingBenchmarkDataError
from mmcore.benchmarking.evaluation import OracleSource, prepare_evaluation
from mmcore.benchmarking.evaluation_base import BenchmarkEvaluation, EvaluationSettings
from mmcore.benchmarking.grid import GridConfig, RunRecord, parse_supervision_levels, run_grid, run_name
from mmcore.benchmarking.report import write_results
from mmcore.benchmarking.training_run import ModelSpec, TrainingOutcome, load_benchmark_splits, train_on_benchmark
from mmcore.benchmarks_setup import PROTOCOLS, Protocol, get_protocol

__all__ = [
    "BUDGETS",
    "PROTOCOLS",
    "BenchmarkEvaluation",
    "Budget",
    "BudgetError",
    "EvaluationSettings",
    "GridConfig",
    "GridSettingsMismatchError",
    "MissingBenchmarkDataError",
    "ModelSpec",
    "OracleSource",
    "Protocol",
    "RunRecord",
    "TrainingOutcome",
    "get_protocol",
    "load_benchmark_splits",
    "parse_budget",
    "parse_supervision_levels",
    "prepare_evaluation",
    "run_grid",
    "run_name",
    "train_on_benchmark",
    "write_results",
]
