"""Contest benchmarks (CASMI 2016, CASMI 2017): rank every challenge's official candidates and report how well.

Example::

    from specvae.benchmark import load_casmi2016, run_benchmark, write_report
    report = run_benchmark(load_casmi2016("/data"), fingerprint_cache="casmi2016.fp.h5", n_workers=2)
    write_report(report, "benchmarks/results/casmi2016")
"""

from specvae.benchmark.casmi2016 import load_casmi2016
from specvae.benchmark.casmi2017 import load_casmi2017
from specvae.benchmark.challenges import BenchmarkData, BenchmarkDataError, CandidateList, Challenge
from specvae.benchmark.leakage import BenchmarkRefusedError, check_training_overlap
from specvae.benchmark.metrics import (
    AnswerRank,
    RankSummary,
    answer_rank,
    random_expected_rank,
    random_within_probability,
    summarise_random,
    summarise_ranks,
)
from specvae.benchmark.report import BenchmarkReport, write_report
from specvae.benchmark.runner import run_benchmark

__all__ = [
    "AnswerRank",
    "BenchmarkData",
    "BenchmarkDataError",
    "BenchmarkRefusedError",
    "BenchmarkReport",
    "CandidateList",
    "Challenge",
    "RankSummary",
    "answer_rank",
    "check_training_overlap",
    "load_casmi2016",
    "load_casmi2017",
    "random_expected_rank",
    "random_within_probability",
    "run_benchmark",
    "summarise_random",
    "summarise_ranks",
    "write_report",
]
