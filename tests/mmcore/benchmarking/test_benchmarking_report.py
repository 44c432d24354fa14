"""Result tables and plots from hand-made run records: columns, cells, and a valid PNG."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from mmcore.benchmarking.report import RESULTS_PLOT, csv_text, markdown_text, result_rows, write_results

HEADLINE = ("accuracy/from_top+bottom", "accuracy/from_top")


@dataclass
class Run:
    model: str
    supervision: float
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


RUNS = [
    Run(
        "svae",
        1.0,
        "trained",
        {"accuracy/from_top": 0.8125, "accuracy/from_top+bottom": 0.95, "test/loss": 218.34},
        {"epochs": 10, "best_epoch": 9, "train_seconds": 33.84},
    ),
    Run(
        "svae",
        0.01,
        "skipped",
        {"accuracy/from_top": 0.5, "accuracy/from_top+bottom": 0.75, "latent_accuracy/top": 0.7},
        {"epochs": 10, "best_epoch": 10},
    ),
    Run("jmvae", 0.01, "failed", {}, {"error": "JMVAE trains on paired samples only"}),
]


def test_csv_has_run_columns_then_headline_then_other_metrics():
    text = csv_text(result_rows("mnist-split", RUNS), HEADLINE)
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert header[:4] == ["benchmark", "model", "supervision", "status"]
    assert header[10:] == ["accuracy/from_top+bottom", "accuracy/from_top", "latent_accuracy/top", "test/loss"]
    assert [row["status"] for row in rows] == ["trained", "skipped", "failed"]
    assert rows[0]["accuracy/from_top"] == "0.8125" and rows[0]["best_epoch"] == "9"
    assert rows[0]["latent_accuracy/top"] == "" and rows[2]["accuracy/from_top"] == ""  # missing metrics stay empty


def test_markdown_rounds_metrics_and_marks_missing_cells():
    text = markdown_text("mnist-split", result_rows("mnist-split", RUNS), HEADLINE)
    lines = text.splitlines()
    assert lines[0] == "# mnist-split"
    assert lines[2] == (
        "| model | supervision | accuracy/from_top+bottom | accuracy/from_top | latent_accuracy/top | test/loss | "
        "best_epoch | epochs | train_seconds | status |"
    )
    assert lines[4] == "| svae | 1 | 0.950 | 0.812 | – | 218.3 | 9 | 10 | 33.8 | trained |"
    assert lines[5] == "| svae | 0.01 | 0.750 | 0.500 | 0.700 | – | 10 | 10 | – | skipped |"
    assert lines[6].startswith("| jmvae | 0.01 | – | – | – | – |") and lines[6].endswith("| failed |")


def test_plot_is_a_png_with_one_panel_per_headline_metric(tmp_path):
    paths = write_results(tmp_path, "mnist-split", RUNS, HEADLINE)
    assert [path.name for path in paths] == ["results.csv", "results.md", RESULTS_PLOT]
    with Image.open(tmp_path / RESULTS_PLOT) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width > height > 0  # two panels side by side
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_plot_handles_a_zero_supervision_level(tmp_path):
    runs = [Run("svae", level, "trained", {"accuracy/from_top": 0.1 + level}) for level in (0.0, 0.1, 1.0)]
    write_results(tmp_path, "mnist-split", runs, ("accuracy/from_top",))
    with Image.open(tmp_path / RESULTS_PLOT) as image:
        image.verify()
