"""Errors of benchmark grids, each naming what is wrong and where."""

from __future__ import annotations


class MissingBenchmarkDataError(FileNotFoundError):
    """A benchmark's data (or a file its evaluation needs) is not where the grid was told to look."""

    def __init__(self, benchmark: str, problem: str) -> None:
        super().__init__(
            f"benchmark {benchmark!r} cannot run: {problem}. See data_manifests/README.md for the files each "
            "benchmark needs and where to get them."
        )
        self.benchmark = benchmark


class GridSettingsMismatchError(ValueError):
    """A finished run in the output folder was trained with other settings than the grid now asks for."""
