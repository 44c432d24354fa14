"""The benchmark report: what was run, on what, with which guarantee, and how well; written as files.

``write_report(report, directory)`` writes (each file atomically):

- ``report.md``: the data and its checksums, the models and their training data, the no-answer-in-training
  guarantee (or a prominent warning when forced), the matching and tie rules, the top-k tables per ion mode and
  overall, the comparison table (systems, random ranking, published results marked as not run here), timings;
- ``summary.json``: the same numbers, machine-readable;
- ``ranks.tsv``: one row per challenge and system (mode, candidates, answer present, optimistic and expected rank,
  whether rank 1 is right and the confidence of rank 1);
- ``topk_curve.png``: share of challenges with the answer within the top k against k, per system;
- ``reliability_<system>.png``: the reliability diagram of each system whose models carry a fitted confidence;
- ``submission/<challenge>.tsv``: the main system's ranking in the contest submission format.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mmcore.atomic import atomic_write_text
from specvae.benchmark.challenges import BenchmarkData
from specvae.benchmark.evaluation import SystemRun
from specvae.benchmark.leakage import LeakageCheck
from specvae.benchmark.metrics import TOP_K, RankSummary, head_to_head, summarise_random, summarise_ranks
from specvae.benchmark.models import System
from specvae.benchmark.plot import plot_reliability_diagram, plot_top_k_curves
from specvae.benchmark.published import PublishedResult
from specvae.benchmark.submission import write_submission
from specvae.confidence import model_confidence
from specvae.pipeline.fingerprints import CandidateFingerprints

RANDOM_LABEL = "random ranking (expected)"
GROUPS = ("positive", "negative", "all")


@dataclass
class BenchmarkReport:
    """Everything a run produced; :func:`write_report` turns it into files."""

    data: BenchmarkData
    ion_modes: tuple[str, ...]
    systems: list[System]
    runs: list[SystemRun]
    random_lists: dict[str, tuple[int, int]]
    leakage: list[LeakageCheck]
    forced: bool
    bits: CandidateFingerprints
    fingerprint_cache: str | None
    n_workers: int
    timings: dict[str, float]
    command: str = ""
    published: tuple[PublishedResult, ...] = ()
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    load_average: float = field(default_factory=lambda: os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)

    @property
    def main(self) -> SystemRun:
        return self.runs[0]

    def groups(self) -> list[str]:
        """The table groups present: each chosen ion mode with challenges, and "all"."""
        present = {challenge.ion_mode for challenge in self.data.challenges}
        return [mode for mode in ("positive", "negative") if mode in present and mode in self.ion_modes] + ["all"]

    def _random(self, group: str) -> list[tuple[int, int]]:
        return [
            self.random_lists[challenge.name]
            for challenge in self.data.challenges
            if group == "all" or challenge.ion_mode == group
        ]

    def summaries(self) -> dict[str, dict[str, RankSummary]]:
        """``{system label (and the random ranking): {group: summary}}``."""
        table: dict[str, dict[str, RankSummary]] = {}
        for run in self.runs:
            table[run.label] = {
                group: summarise_ranks(run.ranks(None if group == "all" else group)) for group in self.groups()
            }
        table[RANDOM_LABEL] = {group: summarise_random(self._random(group)) for group in self.groups()}
        return table

    def confidence_results(self, run: SystemRun) -> tuple[np.ndarray, np.ndarray]:
        """``(confidence, rank_one_right)`` of every challenge the system ranked with a confidence."""
        rows = [
            (result.confidence, result.rank_one_right)
            for result in run.results
            if result.confidence is not None and result.rank_one_right is not None
        ]
        pairs = np.array(rows, dtype=np.float64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def reliability_plot_names(self) -> dict[str, str]:
        """``{system label: reliability diagram file name}`` for the systems with a confidence on some challenge."""
        names: dict[str, str] = {}
        for run in self.runs:
            if not self.confidence_results(run)[0].size:
                continue
            stem = "reliability_" + (re.sub(r"[^a-z0-9]+", "_", run.label.lower()).strip("_") or "system")
            name, number = f"{stem}.png", 2
            while name in names.values():
                name, number = f"{stem}_{number}.png", number + 1
            names[run.label] = name
        return names

    def confidence_summary(self, run: SystemRun, system: System) -> dict:
        """The confidence section's numbers for one system (JSON-able); ``fitted`` names the modes whose model
        carries a fitted confidence, and the other keys are present when some challenge got a confidence."""
        fits = {mode: model_confidence(model.metadata.training) for mode, model in system.models.items()}
        summary: dict = {
            "fitted": {mode: None if fit is None else fit.to_dict() for mode, fit in fits.items()},
            "n_challenges": 0,
        }
        confidence, right = self.confidence_results(run)
        if not confidence.size:
            return summary
        summary.update(
            n_challenges=int(confidence.size),
            mean_confidence=float(confidence.mean()),
            share_right_at_rank_1=float(right.mean()),
            precision_at_confidence=[
                {"threshold": threshold, "n": n, "share_right": share}
                for threshold, n, share in precision_at_confidence(confidence, right)
            ],
            reliability_bins=[
                {"low": low, "high": high, "n": n, "mean_confidence": mean, "share_right": share}
                for low, high, n, mean, share in reliability_bins(confidence, right)
            ],
        )
        return summary

    def headline(self) -> str:
        """One line for the terminal: the main system's top-1/3/10 over all challenges."""
        summary = summarise_ranks(self.main.ranks())
        return (
            f"{self.data.name}, {self.main.label}: top-1 {_count(summary.top_k[1])}, top-3 {_count(summary.top_k[3])}, "
            f"top-10 {_count(summary.top_k[10])} of {summary.n_challenges} challenges (expected ranks; "
            f"{summary.n_answer_missing} answers missing from their lists); {self.timings.get('total_s', 0):.1f} s"
        )

    def to_dict(self) -> dict:
        """The machine-readable summary (``summary.json``)."""
        return {
            "benchmark": self.data.name,
            "description": self.data.description,
            "created": self.created,
            "command": self.command,
            "data": {
                "directory": str(self.data.directory),
                "files_sha256": self.data.files,
                "verified_against_manifest": self.data.verified,
                "n_challenges": len(self.data.challenges),
                "n_challenges_by_mode": {
                    mode: sum(c.ion_mode == mode for c in self.data.challenges) for mode in ("positive", "negative")
                },
                "n_candidates": self.data.n_candidates,
                "duplicate_candidate_rows_dropped": self.data.duplicate_candidates_dropped,
                "n_problems": len(self.data.problems),
            },
            "matching": "InChIKey first block (stereo-insensitive); best rank over the answer's first-block matches",
            "ties": "headline = expected rank under random tie-breaking; optimistic = competition rank",
            "systems": [
                {"label": system.label, "models": {mode: model.describe() for mode, model in system.models.items()}}
                for system in self.systems
            ],
            "training_overlap": [
                {
                    "system": check.system,
                    "ion_mode": check.ion_mode,
                    "model": check.model_path,
                    "overlap_inchikey14": None if check.overlap is None else list(check.overlap),
                    "n_answers_checked": check.n_answers_checked,
                }
                for check in self.leakage
            ],
            "forced": self.forced,
            "results": {
                label: {group: summary.to_dict() for group, summary in groups.items()}
                for label, groups in self.summaries().items()
            },
            "head_to_head": {
                run.label: {
                    group: head_to_head(
                        self.main.ranks(None if group == "all" else group), run.ranks(None if group == "all" else group)
                    ).__dict__
                    for group in self.groups()
                }
                for run in self.runs[1:]
            },
            "confidence": {
                run.label: self.confidence_summary(run, system)
                for run, system in zip(self.runs, self.systems, strict=True)
            },
            "published_not_run_here": [
                {
                    "method": result.method,
                    "team": result.team,
                    "top_k": {str(k): v for k, v in result.top_k().items()},
                    "n_challenges": result.n_challenges,
                    "mean_rank": result.mean_rank,
                    "median_rank": result.median_rank,
                    "note": result.note,
                    "source": result.source,
                }
                for result in self.published
            ],
            "fingerprints": {
                "n_distinct_candidates": self.bits.n_distinct,
                "n_computed_now": self.bits.n_computed,
                "n_without_fingerprint": len(self.bits.failures),
                "cache": self.fingerprint_cache,
                "workers": self.n_workers,
                "seconds": round(self.bits.seconds, 3),
            },
            "timings_s": {name: round(value, 3) for name, value in self.timings.items()},
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1min": round(self.load_average, 2),
                "python": platform.python_version(),
            },
        }


# ---------------------------------------------------------------- formatting helpers
def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _rank(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _count_share(summary: RankSummary, k: int, optimistic: bool = False) -> str:
    counts = summary.top_k_optimistic if optimistic else summary.top_k
    return f"{_count(counts[k])} ({100 * summary.share(k, optimistic):.1f}%)"


def _listing(value: object) -> str:
    """A stored list (or its JSON text, as training records keep it) as comma-separated text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _group_name(group: str) -> str:
    return {"positive": "positive mode", "negative": "negative mode", "all": "all challenges"}[group]


def _main_table(summaries: dict[str, RankSummary], groups: list[str], optimistic: bool) -> str:
    header = [
        "challenges",
        "n",
        *[f"top {k}" for k in TOP_K],
        "median rank",
        "mean rank",
        "answer missing",
        "not ranked",
    ]
    rows = []
    for group in groups:
        summary = summaries[group]
        median = summary.median_rank_optimistic if optimistic else summary.median_rank
        mean = summary.mean_rank_optimistic if optimistic else summary.mean_rank
        rows.append(
            [
                _group_name(group),
                str(summary.n_challenges),
                *[_count_share(summary, k, optimistic) for k in TOP_K],
                _rank(median),
                _rank(mean),
                str(summary.n_answer_missing),
                str(summary.n_challenges - summary.n_ranked),
            ]
        )
    return _table(header, rows)


def _comparison_table(report: BenchmarkReport) -> str:
    summaries = report.summaries()
    header = ["system", "challenges", *[f"top {k}" for k in TOP_K], "median rank", "mean rank", "ranked"]
    rows = []
    for group in report.groups():
        for label, groups in summaries.items():
            summary = groups[group]
            rows.append(
                [
                    f"{label}" if label != report.main.label else f"**{label}**",
                    _group_name(group),
                    *[_count(summary.top_k[k]) for k in TOP_K],
                    _rank(summary.median_rank),
                    _rank(summary.mean_rank),
                    f"{summary.n_ranked}/{summary.n_challenges}",
                ]
            )
        if group == "all":
            for result in report.published:
                counts = result.top_k()
                rows.append(
                    [
                        f"{result.method} ({result.team}; {result.note}) — *published, not run here*",
                        f"all {result.n_challenges}",
                        *[str(counts[k]) if k in counts else "" for k in TOP_K],
                        _rank(result.median_rank),
                        _rank(result.mean_rank),
                        "",
                    ]
                )
    return _table(header, rows)


def _head_to_head_table(report: BenchmarkReport) -> str:
    header = [
        "main vs",
        "challenges",
        "compared",
        f"{report.main.label} better",
        "other better",
        "equal",
        "sign test p",
    ]
    rows = []
    for run in report.runs[1:]:
        for group in report.groups():
            mode = None if group == "all" else group
            result = head_to_head(report.main.ranks(mode), run.ranks(mode))
            if not result.n_compared:
                continue
            rows.append(
                [
                    run.label,
                    _group_name(group),
                    str(result.n_compared),
                    str(result.first_better),
                    str(result.second_better),
                    str(result.ties),
                    f"{result.sign_test_p:.3g}",
                ]
            )
    return _table(header, rows)


def _model_lines(report: BenchmarkReport) -> list[str]:
    return [
        f"- **{system.label}, {mode} mode**: {_model_description(model.describe())}"
        for system in report.systems
        for mode, model in system.models.items()
    ]


def _model_description(info: dict[str, Any]) -> str:
    """One model's line: what it is, what it learned from, how it was chosen; a field the file lacks is left out
    (an ensemble has no latent size, epoch or training-set file of its own: its members' are named instead)."""
    metrics = info["validation_metrics"] or {}
    shape = "" if info.get("members") else f"latent {info['latent_dim']}, hidden {info['hidden_dim']}, "
    parts = [
        f"`{info['file_name']}` ({info['kind']}, {shape}{info['n_kept_bits']} kept bits, "
        f"{info['n_parameters']:,} parameters)."
    ]
    if info.get("members"):
        members = "; ".join(_member_text(member) for member in info["members"])
        parts.append(f"The mean prediction of {len(info['members'])} networks: {members}.")
    data = [
        f"sources {_listing(info['sources'])}" if info["sources"] else None,
        f"licenses {_listing(info['licenses'])}" if info["licenses"] else None,
        f"{info['n_training_spectra']} spectra" if info["n_training_spectra"] is not None else None,
        f"{info['n_training_structures']} structures" if info["n_training_structures"] is not None else None,
        f"{info['excluded_inchikey14_count']} structures excluded when the training set was prepared"
        if info["excluded_inchikey14_count"] is not None
        else None,
    ]
    if any(data):
        where = f" `{info['training_set']}`" if info["training_set"] else ""
        parts.append(f"Training data{where}: {'; '.join(fact for fact in data if fact)}.")
    whose = "of the networks' mean " if info.get("members") else ""
    chosen = [
        f"best epoch {info['best_epoch']}" if info["best_epoch"] is not None else None,
        f"validation top-1 {whose}{metrics['retrieval_top1']:.3f}" if "retrieval_top1" in metrics else None,
        f"fragment formula weight {info['fragment_weight']:g}" if info.get("fragment_weight") is not None else None,
        f"formula conditioning weight {info['formula_weight']:g}" if info.get("formula_weight") is not None else None,
    ]
    if any(chosen):
        text = "; ".join(fact for fact in chosen if fact)
        parts.append(f"{text[0].upper()}{text[1:]}.")
    if info["command"]:
        parts.append(f"Command: `{info['command']}`.")
    return " ".join(parts)


def _member_text(member: dict[str, Any]) -> str:
    facts = [
        f"{member['n_training_spectra']} spectra of `{member['training_set']}`" if member["training_set"] else None,
        f"best epoch {member['best_epoch']}" if member["best_epoch"] is not None else None,
        f"validation top-1 {member['validation_top1']:.3f}" if member["validation_top1"] is not None else None,
    ]
    known = ", ".join(fact for fact in facts if fact)
    return f"{member['kind']} `{member['file_name']}`" + (f" ({known})" if known else "")


def _guarantee_lines(report: BenchmarkReport) -> list[str]:
    if report.forced and not all(check.clean for check in report.leakage):
        lines = ["> **WARNING: run with --force. Some models may have seen answer structures in training; their", ">"]
        lines[0] += " results are not a fair benchmark.**"
        lines += [f"> - {check.describe()}" for check in report.leakage if not check.clean]
        return lines
    return [
        "No answer structure was in any model's training data: every model file stores the InChIKey first blocks of "
        "every structure in its training-set file (all splits), and none of them equals the first block of an answer "
        "of the challenges that model ranked (checked before ranking; a model failing the check is refused).",
        "",
        *[f"- {check.describe()}" for check in report.leakage],
    ]


def _confidence_lines(report: BenchmarkReport) -> list[str]:
    lines = [
        "## Annotation confidence",
        "",
        "The confidence of an annotation is the calibrated probability that its rank-1 skeleton is right: "
        "`specvae fit-confidence` fits it on the validation spectra of a model's training set and stores it in the "
        "model file, and `specvae annotate` prints it in its `confidence` column. Here each challenge's ranking gets "
        "it from the same function (`specvae.confidence.rank_one_confidence`), and it is checked against the "
        "answers: rank 1 is right when the answer's skeleton alone scores best, right for 1/k of a challenge when k "
        "skeletons tie for the best score, wrong otherwise (answer missing from the list included); this is what the "
        "confidence predicts. Per challenge: `ranks.tsv`, columns `confidence` and `rank_one_right`.",
        "",
    ]
    plots = report.reliability_plot_names()
    for run, system in zip(report.runs, report.systems, strict=True):
        summary = report.confidence_summary(run, system)
        lines += [f"### {run.label}", ""]
        fitted = {mode: fit for mode, fit in summary["fitted"].items() if fit is not None}
        if not fitted:
            lines += [
                "Its models carry no fitted confidence (`specvae fit-confidence` adds one to a model file): "
                "no precision or reliability table.",
                "",
            ]
            continue
        for mode, fit in fitted.items():
            lines.append(f"- {mode} mode model: confidence fitted on {fit.get('fitted_on') or 'unrecorded spectra'}.")
        for mode in sorted(summary["fitted"].keys() - fitted.keys()):
            not_counted = sum(result.ion_mode == mode and result.rank is not None for result in run.results)
            lines.append(
                f"- {mode} mode model: no fitted confidence; the challenges it ranked ({not_counted}) are not "
                "counted here."
            )
        lines.append("")
        if not summary["n_challenges"]:
            lines += ["No challenge was ranked with a confidence.", ""]
            continue
        confidence, right = report.confidence_results(run)
        lines += [
            f"{summary['n_challenges']} challenges with a confidence: mean confidence "
            f"{summary['mean_confidence']:.3f}, rank 1 right on {summary['share_right_at_rank_1']:.1%} of them "
            "(a calibrated confidence has the two equal).",
            "",
            confidence_markdown(confidence, right, heading="####"),
            f"![reliability diagram of {run.label}]({plots[run.label]})",
            "",
        ]
    return lines


def report_markdown(report: BenchmarkReport) -> str:
    """The text of ``report.md``."""
    data = report.data
    summaries = report.summaries()
    main = summaries[report.main.label]
    by_mode = {mode: sum(c.ion_mode == mode for c in data.challenges) for mode in ("positive", "negative")}
    timing_rows = [
        [name.removesuffix("_s").replace("_", " "), f"{value:.2f}"] for name, value in report.timings.items()
    ]
    lines = [
        f"# {data.name} benchmark: {report.main.label}",
        "",
        *(_guarantee_lines(report) if report.forced else []),
        f"{data.description}. Report written {report.created}.",
        "",
        f"Command: `{report.command}`" if report.command else "",
        "",
        "## Data",
        "",
        f"{len(data.challenges)} challenges ({by_mode['positive']} positive, {by_mode['negative']} negative mode) "
        f"from `{data.directory}`; {data.n_candidates:,} candidates in their lists "
        f"(in the candidate files, {data.duplicate_candidates_dropped} rows repeat an InChIKey within their list: "
        "dropped, first kept); "
        f"{report.bits.n_distinct:,} distinct candidate structures (InChIKey with the SMILES and InChI of its row), "
        f"{len(report.bits.failures)} without a fingerprint "
        "(neither the SMILES nor the InChI gives the structure the InChIKey names, by the rule of "
        "`specvae.fingerprints.candidate_row_fingerprints`; they rank below every scored candidate). "
        f"{len(data.problems)} input records could not be used.",
        "",
        f"Files (sha256; {data.verification or ('verified' if data.verified else 'not verified')}):",
        "",
        *[f"- `{name}` {digest}" for name, digest in data.files.items()],
        "",
        "## Models and training data",
        "",
        *_model_lines(report),
        "",
        *(_guarantee_lines(report) if not report.forced else []),
        "",
        "## Matching and ties",
        "",
        "The answer is matched on the **InChIKey first block** (the skeleton; stereo-insensitive): every candidate "
        "whose first block equals the answer's counts as the answer, and a challenge's rank is the best rank over "
        "them. "
        "Candidates with equal scores (stereoisomers share every fingerprint bit, and so do some other structures) are "
        "tied. The **optimistic rank** puts the answer first in its tied group (competition ranking); the **expected "
        "rank** is its expected position when the tied group is ordered at random: `b + (t + 1) / (a + 1)` for `b` "
        "better candidates and `a` answer candidates among `t` tied ones (the mean of the tied positions when `a = 1`, "
        "as the CASMI organisers rank ties). **The headline numbers use the expected rank**: top k counts challenges "
        "with expected rank ≤ k. Shares are out of all challenges of the group; a challenge whose answer is not in its "
        "list, or that could not be ranked, counts as a miss and is left out of the mean and median rank.",
        "",
        f"## {report.main.label}: expected ranks (headline)",
        "",
        _main_table(main, report.groups(), optimistic=False),
        "",
        f"## {report.main.label}: optimistic ranks (ties resolved in the answer's favour)",
        "",
        _main_table(main, report.groups(), optimistic=True),
        "",
        "## Comparison (same challenges, same candidate lists)",
        "",
        "Counts of challenges with the answer within the top k (expected ranks). The random ranking row gives expected "
        "counts, `Σ P(rank ≤ k)` with `P = min(k, n)/n` for one answer candidate among `n` (generally "
        "`1 − C(n−a, k)/C(n, k)`), and the mean/median of the expected ranks `(n + 1)/(a + 1)`. Published rows are "
        "CASMI 2016 Category 2 contest results, **not run here** (their own candidate handling and tie rules).",
        "",
        _comparison_table(report),
        "",
        *(
            [
                "Head to head: on how many challenges (answer in the list, ranked by both) each system puts the "
                "answer higher (lower expected rank), and the two-sided sign test of that split.",
                "",
                _head_to_head_table(report),
                "",
            ]
            if len(report.runs) > 1
            else []
        ),
        "![top-k curve](topk_curve.png)",
        "",
        *_confidence_lines(report),
        "## Files",
        "",
        "- `ranks.tsv`: one row per challenge and system (ion mode, candidates, answer candidates, optimistic and "
        "expected rank, tied group size, the share of rank 1 that is right and the confidence of rank 1).",
        "- `reliability_<system>.png`: share of rank 1 right against confidence, per system with a fitted confidence.",
        "- `summary.json`: every number of this report.",
        f"- `submission/<challenge>.tsv`: the ranking of {report.main.label} in the CASMI submission format "
        "(no header; SMILES, score, InChIKey; score = log-likelihood − list minimum + 1, 0 without a fingerprint). "
        "The official file name is `<participant>-<category>-<challenge>.txt`.",
        "",
        "## Timings",
        "",
        f"Fingerprint cache: `{report.fingerprint_cache}`; {report.bits.n_computed:,} structures fingerprinted in this "
        f"run with {report.n_workers} worker process(es); {os.cpu_count()} CPUs visible, shared with other work "
        f"(load average {report.load_average:.1f} when ranking finished). Total: from the start of the command "
        "(imports included) to the last file written; the interpreter's own start and exit are not included.",
        "",
        _table(["step", "seconds"], timing_rows),
        "",
    ]
    return "\n".join(lines)


RANKS_COLUMNS = (
    "challenge",
    "ion_mode",
    "system",
    "n_candidates",
    "n_answer_candidates",
    "answer_present",
    "optimistic_rank",
    "expected_rank",
    "n_tied",
    "rank_one_right",
    "confidence",
    "note",
)


def ranks_tsv(report: BenchmarkReport) -> str:
    """The text of ``ranks.tsv``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(RANKS_COLUMNS)
    for run in report.runs:
        for result in run.results:
            rank = result.rank
            writer.writerow(
                [
                    result.challenge,
                    result.ion_mode,
                    run.label,
                    result.n_candidates,
                    result.n_answer_candidates,
                    "" if rank is None else int(rank.present),
                    "" if rank is None or rank.optimistic is None else rank.optimistic,
                    "" if rank is None or rank.expected is None else f"{rank.expected:g}",
                    "" if rank is None else rank.n_tied,
                    "" if result.rank_one_right is None else f"{result.rank_one_right:g}",
                    "" if result.confidence is None else f"{result.confidence:.6g}",
                    result.reason,
                ]
            )
    return buffer.getvalue()


def write_report(report: BenchmarkReport, directory: str | os.PathLike[str]) -> Path:
    """Write every report file into ``directory`` (created if needed); returns the path of ``report.md``.

    The time spent writing the plot, the ranks and the submission files is added to the report's timings before
    ``summary.json`` and ``report.md`` are written.
    """
    started = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "ranks.tsv", ranks_tsv(report))
    panels = []
    for group in report.groups():
        ranks = {run.label: run.ranks(None if group == "all" else group) for run in report.runs}
        panels.append((group, ranks, report._random(group)))
    # Published results count all of the contest's challenges: draw them only over the same challenges.
    published = [result for result in report.published if result.n_challenges == len(report.data.challenges)]
    plot_top_k_curves(
        directory / "topk_curve.png", panels, published, title=f"{report.data.name}: answer within the top k"
    )
    plot_names = report.reliability_plot_names()
    for run in report.runs:
        name = plot_names.get(run.label)
        if name is not None:
            confidence, right = report.confidence_results(run)
            plot_reliability_diagram(
                directory / name, confidence, right, label=run.label, title=f"{report.data.name}: {run.label}"
            )
    write_submission(directory / "submission", report.data.challenges, report.main)
    # writing belongs to the run's total: keep "total" the last entry, now including it
    written = time.perf_counter() - started
    total = report.timings.pop("total_s", 0.0)
    report.timings["write_report_files_s"] = written
    report.timings["total_s"] = total + written
    atomic_write_text(directory / "summary.json", json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(directory / "report.md", report_markdown(report))
    return directory / "report.md"


# ------------------------------------------------------------------------------------------------ confidence
CONFIDENCE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
"""Low thresholds included: on contest lists the confidence rarely exceeds 0.3."""


def precision_at_confidence(
    confidences: Sequence[float] | np.ndarray,
    rank_one_right: Sequence[float] | np.ndarray,
    thresholds: tuple[float, ...] = CONFIDENCE_THRESHOLDS,
) -> list[tuple[float, int, float | None]]:
    """``(t, n annotations with confidence >= t, share of them whose rank 1 is right)`` per threshold.

    ``rank_one_right`` is 1 or 0 per annotation, or the fraction of a tie at rank 1 that is right
    (:func:`specvae.confidence.rank_one_correctness`); at t = 0.5 at least half should be right for the confidence
    to be worth acting on.
    """
    confidence = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(rank_one_right, dtype=np.float64)
    rows = []
    for threshold in thresholds:
        chosen = confidence >= threshold
        n = int(chosen.sum())
        rows.append((threshold, n, float(right[chosen].mean()) if n else None))
    return rows


def reliability_bins(
    confidences: Sequence[float] | np.ndarray, rank_one_right: Sequence[float] | np.ndarray, n_bins: int = 10
) -> list[tuple[float, float, int, float | None, float | None]]:
    """``(low, high, n, mean confidence, share right)`` per equal-width confidence bin (each bin holds its lower
    edge; the last one holds 1 too): the reliability diagram's points (a calibrated confidence lies on the
    diagonal). ``rank_one_right`` as in :func:`precision_at_confidence`."""
    confidence = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(rank_one_right, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for index in range(n_bins):
        chosen = which == index
        n = int(chosen.sum())
        mean = float(confidence[chosen].mean()) if n else None
        share = float(right[chosen].mean()) if n else None
        rows.append((float(edges[index]), float(edges[index + 1]), n, mean, share))
    return rows


def confidence_markdown(
    confidences: Sequence[float] | np.ndarray, rank_one_right: Sequence[float] | np.ndarray, heading: str = "###"
) -> str:
    """One system's confidence tables: precision at confidence >= t, and the reliability table (``heading``: the
    markdown level of their titles)."""
    precision = _table(
        ["confidence ≥", "annotations", "rank 1 right"],
        [
            [f"{t:g}", str(n), "–" if share is None else f"{share:.1%}"]
            for t, n, share in precision_at_confidence(confidences, rank_one_right)
        ],
    )
    reliability = _table(
        ["confidence bin", "annotations", "mean confidence", "rank 1 right"],
        [
            [
                f"{low:.1f}–{high:.1f}",
                str(n),
                "–" if mean is None else f"{mean:.3f}",
                "–" if share is None else f"{share:.1%}",
            ]
            for low, high, n, mean, share in reliability_bins(confidences, rank_one_right)
        ],
    )
    return f"{heading} Precision at confidence\n\n{precision}\n\n{heading} Reliability\n\n{reliability}\n"
