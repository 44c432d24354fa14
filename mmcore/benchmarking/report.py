"""A grid's results as files: one table row per run (CSV and Markdown), and metrics against supervision (PNG).

Every file is written atomically (:mod:`mmcore.atomic`), so a reader never sees half a table, and a grid
interrupted while writing leaves the previous version in place. The plot follows the seed's Figures 6-8:
one panel per headline metric, the supervision level on a log axis, one line per model.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from mmcore.atomic import atomic_output, atomic_write_text

RESULTS_CSV = "results.csv"
RESULTS_MARKDOWN = "results.md"
RESULTS_PLOT = "accuracy_vs_supervision.png"

RUN_COLUMNS = (
    "benchmark",
    "model",
    "supervision",
    "status",
    "best_epoch",
    "epochs",
    "train_samples",
    "paired_train_samples",
    "train_seconds",
    "eval_seconds",
)
"""Columns that describe a run; the metric columns follow them."""


class RunLike(Protocol):
    """What the report needs of a run (:class:`mmcore.benchmarking.grid.RunRecord` has it)."""

    model: str
    supervision: float
    status: str
    metrics: dict[str, float]
    info: dict[str, Any]


def result_rows(benchmark: str, records: Iterable[RunLike]) -> list[dict[str, Any]]:
    """One flat dictionary per run: the run columns, then every metric by its name."""
    rows = []
    for record in records:
        row: dict[str, Any] = {
            "benchmark": benchmark,
            "model": record.model,
            "supervision": record.supervision,
            "status": record.status,
        }
        for column in RUN_COLUMNS[4:]:
            row[column] = record.info.get(column)
        row.update(record.metrics)
        rows.append(row)
    return rows


def metric_columns(rows: Sequence[Mapping[str, Any]], headline: Sequence[str]) -> list[str]:
    """Headline metrics first (in their order), then every other metric name, sorted."""
    names = {name for row in rows for name in row if name not in RUN_COLUMNS}
    return [name for name in headline if name in names] + sorted(names - set(headline))


def csv_text(rows: Sequence[Mapping[str, Any]], headline: Sequence[str]) -> str:
    """The rows as CSV with a header; a run without some metric has an empty cell there."""
    columns = [*RUN_COLUMNS, *metric_columns(rows, headline)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: ("" if row.get(name) is None else row.get(name)) for name in columns})
    return buffer.getvalue()


def _cell(value: Any, name: str) -> str:
    if value is None or value == "":
        return "–"
    if name == "supervision":
        return f"{float(value):g}"
    if isinstance(value, float):
        if name.startswith(("test/", "log_likelihood/")) or name.endswith("seconds"):
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def markdown_text(benchmark: str, rows: Sequence[Mapping[str, Any]], headline: Sequence[str]) -> str:
    """A Markdown table: model, supervision, the headline metrics, the latent probes, test loss, epochs, time."""
    metrics = metric_columns(rows, headline)
    shown = [name for name in metrics if name in headline or name.startswith("latent_accuracy/")]
    shown += [name for name in ("test/loss",) if name in metrics]
    shown += [name for name in metrics if name.startswith("log_likelihood/")]
    columns = ["model", "supervision", *shown, "best_epoch", "epochs", "train_seconds", "status"]
    lines = [f"# {benchmark}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(name), name) for name in columns) + " |")
    return "\n".join(lines) + "\n"


def _x_scale(levels: Sequence[float]) -> tuple[str, dict[str, float]]:
    positive = [level for level in levels if level > 0]
    if not positive:
        return "linear", {}
    if len(positive) == len(levels):
        return "log", {}
    return "symlog", {"linthresh": min(positive)}


def plot_png(rows: Sequence[Mapping[str, Any]], headline: Sequence[str], path: Path, title: str) -> None:
    """One panel per headline metric: the metric against the supervision level, one line per model."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the plot is a file
    import matplotlib.pyplot as plt

    finished = [row for row in rows if row.get("status") != "failed"]
    panels = [name for name in headline if any(name in row for row in finished)] or ["(no finished run)"]
    columns = min(3, len(panels))
    n_rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(n_rows, columns, figsize=(4.2 * columns, 3.4 * n_rows), squeeze=False)
    levels = sorted({float(row["supervision"]) for row in finished})
    scale, scale_options = _x_scale(levels)
    models = list(dict.fromkeys(row["model"] for row in finished))
    for axis, metric in zip(axes.flat, panels, strict=False):
        for model in models:
            points = sorted(
                (float(row["supervision"]), float(row[metric]))
                for row in finished
                if row["model"] == model and metric in row
            )
            if points:
                axis.plot([x for x, _ in points], [y for _, y in points], marker="o", label=model)
        axis.set_xscale(scale, **scale_options)
        axis.set_title(metric, fontsize=9)
        axis.set_xlabel("supervision level (share of paired samples)")
        axis.grid(True, alpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.08, 1, 0.95))
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)


def write_results(output_dir: Path, benchmark: str, records: Sequence[RunLike], headline: Sequence[str]) -> list[Path]:
    """Write ``results.csv``, ``results.md`` and ``accuracy_vs_supervision.png`` into ``output_dir``."""
    rows = result_rows(benchmark, records)
    output_dir = Path(output_dir)
    paths = [output_dir / RESULTS_CSV, output_dir / RESULTS_MARKDOWN, output_dir / RESULTS_PLOT]
    atomic_write_text(paths[0], csv_text(rows, headline))
    atomic_write_text(paths[1], markdown_text(benchmark, rows, headline))
    plot_png(rows, headline, paths[2], f"{benchmark}: metrics against supervision level")
    return paths
