"""Build the accuracy ablation table from trained model files and CASMI 2016 benchmark reports.

Each row of ``benchmarks/results/accuracy/README.md`` is one setting: a model per ion mode (its validation
retrieval, best epoch and epochs run come from the model file's training record) and the CASMI 2016 result of
that pair of models (``summary.json`` of ``specvae benchmark casmi2016 -o DIR``, expected ranks).

    python benchmarks/accuracy_table.py ROWS.json > table.md

``ROWS.json`` lists ``{"label": ..., "positive": MODEL, "negative": MODEL, "casmi": REPORT_DIR, "system": LABEL}``;
``system`` names the system inside that report (the ``--compare`` label, or the report's first system). A path
starting with ``RUNS/`` is read under ``$RUNS`` (default ``runs/accuracy``, as in reproduce_accuracy_ablation.sh).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from specvae.baseline import FEEDFORWARD
from specvae.model_file import read_metadata


def model_columns(path: str | None) -> dict:
    if not path:
        return {}
    metadata = read_metadata(path)
    training = metadata.training
    metrics = training.get("validation_metrics", {})
    calibration = training.get("calibration") or {}
    return {
        "kind": metadata.architecture.fusion,
        "top1": metrics.get("retrieval_top1"),
        "top10": metrics.get("retrieval_top10"),
        "best_epoch": training.get("best_epoch"),
        "epochs_run": len(training["history"]) if "history" in training else None,
        "calibrated_top1": calibration.get("held_out_top1_after"),
        "uncalibrated_top1": calibration.get("held_out_top1_before"),
        "feedforward": metadata.architecture.fusion == FEEDFORWARD,
    }


def casmi_columns(report_dir: str | None, system: str | None) -> dict:
    if not report_dir:
        return {}
    summary = json.loads((Path(report_dir) / "summary.json").read_text())
    results = summary["results"]
    name = system or next(iter(results))
    out = {}
    for mode in ("positive", "negative"):
        top = results[name].get(mode, {}).get("top_k", {})
        out[mode] = tuple(top.get(k) for k in ("1", "3", "10"))
    both = [sum(value or 0 for value in pair) for pair in zip(out["positive"], out["negative"], strict=True)]
    out["both"] = tuple(both)
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if not value.is_integer() else f"{int(value)}"
    return str(value)


def _resolve(value):
    if isinstance(value, str) and value.startswith("RUNS/"):
        return str(Path(os.environ.get("RUNS", "runs/accuracy")) / value[len("RUNS/") :])
    return value


def main(rows_path: str) -> None:
    rows = [{key: _resolve(value) for key, value in row.items()} for row in json.loads(Path(rows_path).read_text())]
    print(
        "| setting | val. top-1 pos / neg | val. top-10 pos / neg | best / run epochs pos, neg "
        "| CASMI top-1/3/10 pos | neg | both |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        positive, negative = model_columns(row.get("positive")), model_columns(row.get("negative"))
        casmi = casmi_columns(row.get("casmi"), row.get("system"))
        top1 = f"{_fmt(positive.get('top1'))} / {_fmt(negative.get('top1'))}"
        top10 = f"{_fmt(positive.get('top10'))} / {_fmt(negative.get('top10'))}"
        epochs = (
            f"{_fmt(positive.get('best_epoch'))}/{_fmt(positive.get('epochs_run'))}, "
            f"{_fmt(negative.get('best_epoch'))}/{_fmt(negative.get('epochs_run'))}"
        )
        present = {"positive": bool(row.get("positive")), "negative": bool(row.get("negative")), "both": True}
        if casmi and not (present["positive"] and present["negative"]):  # one mode's row: "both" is that mode alone
            casmi["both"] = casmi["positive" if present["positive"] else "negative"]
        cells = [
            "/".join(_fmt(v) for v in casmi[mode]) if casmi and present[mode] else "–"
            for mode in ("positive", "negative", "both")
        ]
        print(f"| {row['label']} | {top1} | {top10} | {epochs} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
