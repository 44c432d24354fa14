"""CASMI 2016 accuracy measured through ``specvae annotate``, set beside ``specvae benchmark casmi2016``.

Both run the stages of :mod:`specvae.pipeline` (the benchmark plans its queries from the contest's challenges and
reads its own columnar lists; ``specvae annotate`` reads what a user writes), so their ranks must be equal. This
script checks that from the outside, as a user would:

1. writes into ``--work-dir`` what a user would write: ``challenges.mgf``, the two official challenge files
   concatenated (their TITLEs are the challenge names), and ``candidates.csv``, the official lists as per-spectrum
   rows ``spectrum_id, identifier, name, smiles, inchi, inchikey`` (the InChI kept so that RDKit can fall back on
   it where it refuses a SMILES);
2. runs ``specvae annotate`` on them as a subprocess, every candidate in the output (``--top-k`` above the longest
   list), and times it (wall clock, process start and imports included);
3. computes each challenge's rank of the answer from that output alone, as the benchmark defines it
   (:mod:`specvae.benchmark.metrics`): the answer is every candidate whose InChIKey first block is the solution's,
   and the expected rank under random tie-breaking is ``b + (t + 1) / (a + 1)``. The output's ``rank`` column
   (competition ranks of the full-precision scores) says which candidates are tied; the ``score`` column is printed
   to 6 significant digits, so it cannot (see :func:`answer_rank_from_rows`);
4. compares with ``ranks.tsv`` of a ``specvae benchmark casmi2016 -o DIR`` report of the same models and prints
   top-1/3/10 per ion mode from each path, how many challenges got equal ranks, and every challenge that differs
   with what the annotate run says about it (refused candidates, from ``--errors``).

    SPECVAE_DATA_DIR=/work/shared/data python benchmarks/casmi_through_annotate.py \\
        --work-dir /tmp/annotate_check --fingerprint-cache /tmp/annotate_check/casmi_fp.h5 \\
        --benchmark-report casmi_report/ -o benchmarks/results/casmi2016/annotate_vs_benchmark.md

``--challenge NAME`` (repeatable) restricts everything to some challenges (for a quick check with a small cache).
``--mass-columns`` adds the official formula and monoisotopic mass to the candidate CSV: a row that states its
InChIKey, formula and mass is trusted when read, one that does not has its SMILES parsed then (minutes for CASMI).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specvae.benchmark.casmi2016 import CANDIDATE_FILE, SOLUTION_FILE, SPECTRUM_FILES, read_casmi2016_solutions
from specvae.benchmark.metrics import AnswerRank, answer_rank, summarise_ranks
from specvae.candidates.candidate import inchikey_first_block

TOP_K = (1, 3, 10)
CANDIDATE_COLUMNS = ("spectrum_id", "identifier", "name", "smiles", "inchi", "inchikey")
MASS_COLUMNS = ("molecular_formula", "monoisotopic_mass")
ION_MODES = ("positive", "negative")


class ComparisonError(RuntimeError):
    """Inputs that cannot be compared: a missing file, challenge names that do not line up, a failed run."""


# ------------------------------------------------------------------------------------------------ inputs
def _mgf_blocks(path: Path) -> list[tuple[str, str]]:
    """``(TITLE, block text)`` of every ``BEGIN IONS`` ... ``END IONS`` block of an MGF file."""
    blocks, lines, title = [], [], None
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            stripped = line.strip()
            if stripped == "BEGIN IONS":
                lines, title = [], None
            if stripped.upper().startswith("TITLE="):
                title = stripped.split("=", 1)[1].strip()
            lines.append(line.rstrip("\n") + "\n")
            if stripped == "END IONS":
                if title is None:
                    raise ComparisonError(f"{path}: a spectrum without TITLE (block {len(blocks) + 1})")
                blocks.append((title, "".join(lines)))
    return blocks


def write_inputs(
    casmi_dir: Path, work_dir: Path, challenges: Sequence[str] | None = None, mass_columns: bool = False
) -> tuple[Path, Path, dict[str, dict[str, str]]]:
    """Write ``challenges.mgf`` and ``candidates.csv`` into ``work_dir``; returns their paths and the solutions.

    ``mass_columns`` adds the official formula and monoisotopic mass: with InChIKey, formula and mass stated,
    annotate trusts a row and parses its structure only when it needs the molecule; without them it parses every
    SMILES while reading the file.

    Checks that the spectra's TITLEs, the candidate file's challenge names and the solutions name the same
    challenges (raises :class:`ComparisonError` otherwise).
    """
    solutions = read_casmi2016_solutions(casmi_dir / SOLUTION_FILE)
    wanted = set(solutions) if challenges is None else set(challenges)
    unknown = sorted(wanted - set(solutions))
    if unknown:
        raise ComparisonError(f"{casmi_dir / SOLUTION_FILE}: no challenge named {', '.join(unknown)}")
    work_dir.mkdir(parents=True, exist_ok=True)

    spectra_path = work_dir / "challenges.mgf"
    titles = []
    with open(spectra_path, "w", encoding="utf-8") as out:
        for file_name in SPECTRUM_FILES:
            for title, block in _mgf_blocks(casmi_dir / file_name):
                titles.append(title)
                if title in wanted:
                    out.write(block + "\n")
    if len(titles) != len(set(titles)):
        raise ComparisonError(f"{casmi_dir}: a challenge TITLE occurs twice in {SPECTRUM_FILES}")
    if set(titles) != set(solutions):
        raise ComparisonError(
            f"{casmi_dir}: spectrum TITLEs and solutions differ: {sorted(set(titles) ^ set(solutions))[:5]}"
        )

    candidates_path = work_dir / "candidates.csv"
    named = set()
    with (
        gzip.open(casmi_dir / CANDIDATE_FILE, "rt", encoding="utf-8", newline="") as stream,
        open(candidates_path, "w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CANDIDATE_COLUMNS + (MASS_COLUMNS if mass_columns else ()))
        for row in csv.DictReader(stream):
            challenge = row["challenge"].strip()
            named.add(challenge)
            if challenge in wanted:
                fields = [challenge, row["Identifier"], row["CompoundName"], row["SMILES"], row["InChI"]]
                fields.append(row["InChIKey"])
                if mass_columns:
                    fields += [row["MolecularFormula"], row["MonoisotopicMass"]]
                writer.writerow(fields)
    if named != set(solutions):
        raise ComparisonError(
            f"{casmi_dir / CANDIDATE_FILE}: its challenge column and the solutions differ: "
            f"{sorted(named ^ set(solutions))[:5]}"
        )
    return spectra_path, candidates_path, {name: solutions[name] for name in sorted(wanted)}


def longest_list(candidates_path: Path) -> int:
    """Rows of the largest per-spectrum list: a ``--top-k`` at least this keeps every candidate."""
    counts: dict[str, int] = {}
    with open(candidates_path, encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            counts[row["spectrum_id"]] = counts.get(row["spectrum_id"], 0) + 1
    return max(counts.values(), default=1)


# ------------------------------------------------------------------------------------------------ annotate
def specvae_executable() -> str:
    """The ``specvae`` command of this interpreter's environment (what a user of it would type)."""
    beside = Path(sys.executable).parent / "specvae"
    if beside.is_file():
        return str(beside)
    found = shutil.which("specvae")
    if found is None:
        raise ComparisonError("no `specvae` command: install the project (pip install -e .)")
    return found


@dataclass
class AnnotateRun:
    command: list[str]
    seconds: float
    returncode: int
    log: Path


def run_annotate(
    spectra: Path,
    candidates: Path,
    output: Path,
    errors: Path,
    top_k: int,
    fingerprint_cache: Path | None,
    models: Sequence[str],
    log: Path,
) -> AnnotateRun:
    """Run ``specvae annotate`` as a user would; exit code 1 (some records refused) still gives a full output."""
    command = [specvae_executable(), "annotate", str(spectra), "--candidates", str(candidates), "-o", str(output)]
    command += ["--errors", str(errors), "--top-k", str(top_k)]
    if fingerprint_cache is not None:
        command += ["--fingerprint-cache", str(fingerprint_cache)]
    for model in models:
        command += ["--model", str(model)]
    for stale in (output, errors):
        stale.unlink(missing_ok=True)
    with open(log, "w", encoding="utf-8") as log_stream:
        started = time.perf_counter()
        completed = subprocess.run(command, stdout=log_stream, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - started
    if completed.returncode not in (0, 1) or not output.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise ComparisonError(f"`{shlex.join(command)}` exited {completed.returncode}; log {log}:\n{tail}")
    return AnnotateRun(command, seconds, completed.returncode, log)


# ------------------------------------------------------------------------------------------------ ranks
@dataclass
class AnnotatedRow:
    rank: int
    score: float
    identifier: str
    inchikey: str
    n_candidates: int


def read_annotations(path: Path) -> dict[str, list[AnnotatedRow]]:
    """The rows of a ``specvae annotate`` TSV output, grouped by spectrum id."""
    grouped: dict[str, list[AnnotatedRow]] = {}
    with open(path, encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            grouped.setdefault(row["spectrum_id"], []).append(
                AnnotatedRow(
                    rank=int(row["rank"]),
                    score=float(row["score"]) if row["score"] else float("nan"),
                    identifier=row["identifier"],
                    inchikey=row["inchikey"].strip().upper(),
                    n_candidates=int(row["n_candidates"]),
                )
            )
    return grouped


def answer_rank_from_rows(rows: Sequence[AnnotatedRow], answer_inchikey: str) -> AnswerRank:
    """The benchmark's :func:`~specvae.benchmark.metrics.answer_rank` of one spectrum's annotate output.

    Ties come from the ``rank`` column: annotate gives equal competition ranks exactly to equal full-precision
    scores, so ``-rank`` orders and ties the rows as the scores themselves do. The printed ``score`` (6 significant
    digits) would tie candidates whose scores differ beyond the sixth digit. Raises :class:`ComparisonError` when
    the output is incomplete (``--top-k`` below the list) or its ranks contradict its scores.
    """
    if rows and len(rows) != rows[0].n_candidates:
        raise ComparisonError(f"{len(rows)} rows for a list of {rows[0].n_candidates}: raise --top-k")
    ranks = [row.rank for row in rows]
    for before, after in zip(rows, rows[1:], strict=False):  # annotate writes rows best first
        if after.rank < before.rank or (after.rank > before.rank and after.score > before.score):
            raise ComparisonError(f"ranks {before.rank}, {after.rank} contradict scores {before.score}, {after.score}")
    answer = inchikey_first_block(answer_inchikey)
    is_answer = [inchikey_first_block(row.inchikey) == answer for row in rows]
    return answer_rank(-np.asarray(ranks, dtype=np.float64), np.asarray(is_answer, dtype=bool))


def answer_rank_from_printed_scores(rows: Sequence[AnnotatedRow], answer_inchikey: str) -> AnswerRank:
    """Like :func:`answer_rank_from_rows` but tying on the printed (rounded) scores: what a user reading the
    ``score`` column alone would compute."""
    answer = inchikey_first_block(answer_inchikey)
    is_answer = np.array([inchikey_first_block(row.inchikey) == answer for row in rows], dtype=bool)
    return answer_rank(np.array([row.score for row in rows], dtype=np.float64), is_answer)


@dataclass
class BenchmarkRank:
    ion_mode: str
    n_candidates: int
    rank: AnswerRank | None
    note: str


def read_benchmark_ranks(report_dir: Path, system: str | None = None) -> tuple[str, dict[str, BenchmarkRank]]:
    """``(system label, {challenge: rank})`` from a benchmark report's ``ranks.tsv`` (default: its first system)."""
    path = report_dir / "ranks.tsv"
    if not path.is_file():
        raise ComparisonError(f"{path}: no such file (give the -o folder of `specvae benchmark casmi2016`)")
    ranks: dict[str, BenchmarkRank] = {}
    with open(path, encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            system = system or row["system"]
            if row["system"] != system:
                continue
            if not row["expected_rank"] and row["answer_present"] not in ("0", "False"):
                rank = None  # not ranked (no spectrum, no model)
            elif row["answer_present"] in ("0", "False"):
                rank = AnswerRank(present=False)
            else:
                expected = float(row["expected_rank"])
                rank = AnswerRank(present=True, optimistic=int(row["optimistic_rank"]), expected=expected)
            ranks[row["challenge"]] = BenchmarkRank(row["ion_mode"], int(row["n_candidates"]), rank, row["note"])
    if not ranks:
        raise ComparisonError(f"{path}: no row for system {system!r}")
    return system or "", ranks


# ------------------------------------------------------------------------------------------------ errors
@dataclass
class RefusedRecords:
    """What the annotate run's ``--errors`` file says. Candidate rows are named there by their row number (rows
    refused while reading) or by their identifier (refused at fingerprinting), with their name as title."""

    spectra: dict[str, str] = field(default_factory=dict)  # challenge -> reason
    candidates: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # record -> [(title, reason)]
    n_rows: int = 0

    def reasons_for(self, row: AnswerRow) -> list[str]:
        """Why a candidate row was refused (empty when the errors file does not name it)."""
        named = self.candidates.get(str(row.record), []) + self.candidates.get(row.identifier, [])
        return [reason for title, reason in named if title in (row.name, "")]


def read_refused(errors_path: Path, spectra_path: Path) -> RefusedRecords:
    refused = RefusedRecords()
    if not errors_path.is_file():
        return refused
    with open(errors_path, encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            refused.n_rows += 1
            if row["file"] == str(spectra_path):
                refused.spectra[row["title"] or row["record"]] = row["reason"]
            else:
                refused.candidates.setdefault(row["record"], []).append((row["title"], row["reason"]))
    return refused


@dataclass(frozen=True)
class AnswerRow:
    """A row of the written candidate file whose structure is its challenge's answer (same first block)."""

    record: int
    identifier: str
    name: str
    inchikey: str


def answer_rows(candidates_path: Path, solutions: dict[str, dict[str, str]]) -> dict[str, list[AnswerRow]]:
    """``{challenge: [answer rows]}`` of the written candidate file (record numbers as annotate counts them)."""
    found: dict[str, list[AnswerRow]] = {}
    with open(candidates_path, encoding="utf-8", newline="") as stream:
        for record, row in enumerate(csv.DictReader(stream), start=1):
            solution = solutions.get(row["spectrum_id"])
            if solution and inchikey_first_block(row["inchikey"]) == inchikey_first_block(solution["inchikey"]):
                found.setdefault(row["spectrum_id"], []).append(
                    AnswerRow(record, row["identifier"], row["name"], row["inchikey"].strip().upper())
                )
    return found


# ------------------------------------------------------------------------------------------------ comparison
@dataclass
class ChallengeComparison:
    challenge: str
    ion_mode: str
    annotate: AnswerRank | None
    benchmark: AnswerRank | None
    annotate_candidates: int | None
    benchmark_candidates: int | None
    printed_score_rank: AnswerRank | None
    reason: str = ""

    @property
    def same(self) -> bool:
        """Equal optimistic and expected ranks; expected ranks as ``ranks.tsv`` prints them (``:g``)."""
        return _rank_key(self.annotate) == _rank_key(self.benchmark)


def _rank_key(rank: AnswerRank | None) -> tuple | None:
    if rank is None:
        return None
    if not rank.present:
        return (False,)
    return (True, rank.optimistic, f"{rank.expected:g}")


def _fmt_rank(rank: AnswerRank | None) -> str:
    if rank is None:
        return "not ranked"
    if not rank.present:
        return "answer missing"
    return f"{rank.expected:g} (optimistic {rank.optimistic})"


def explain(
    comparison: ChallengeComparison,
    rows: Sequence[AnnotatedRow],
    refused: RefusedRecords,
    answers: Sequence[AnswerRow],
) -> str:
    """What the annotate run says about a challenge whose ranks differ."""
    if comparison.challenge in refused.spectra:
        return f"spectrum refused by annotate: {refused.spectra[comparison.challenge]}"
    if not rows:
        return "no annotate output for this spectrum"
    reasons = []
    output_keys = {row.inchikey for row in rows}
    for answer in answers:
        if answer.inchikey not in output_keys:
            why = "; ".join(refused.reasons_for(answer)) or "no error recorded"
            reasons.append(f"answer candidate {answer.identifier} ({answer.inchikey}) not ranked by annotate: {why}")
    if (
        comparison.benchmark_candidates is not None
        and comparison.annotate_candidates != comparison.benchmark_candidates
    ):
        reasons.append(
            f"annotate ranked {comparison.annotate_candidates} candidates, "
            f"the benchmark {comparison.benchmark_candidates}"
        )
    answer_keys = {answer.inchikey for answer in answers}
    best = min((row for row in rows if row.inchikey in answer_keys), key=lambda row: row.rank, default=None)
    if not reasons and best is not None:
        near = sum(1 for row in rows if row.score == best.score and row.rank != best.rank)
        if near:
            reasons.append(
                f"{near} candidate(s) score the same as the answer to 6 significant digits but rank apart: a near-tie "
                "that the two paths' floating-point sums can order differently"
            )
    return (
        "; ".join(reasons)
        or "as many candidates in both; a candidate scored in one path has no score in the other, or scores differ"
    )


def compare(
    solutions: dict[str, dict[str, str]],
    annotations: dict[str, list[AnnotatedRow]],
    benchmark: dict[str, BenchmarkRank],
    refused: RefusedRecords,
    answers: dict[str, list[AnswerRow]],
) -> list[ChallengeComparison]:
    comparisons = []
    for challenge, solution in sorted(solutions.items()):
        rows = annotations.get(challenge, [])
        annotate = answer_rank_from_rows(rows, solution["inchikey"]) if rows else None
        printed = answer_rank_from_printed_scores(rows, solution["inchikey"]) if rows else None
        bench = benchmark.get(challenge)
        comparison = ChallengeComparison(
            challenge=challenge,
            ion_mode=solution["ion_mode"],
            annotate=annotate,
            benchmark=bench.rank if bench else None,
            annotate_candidates=rows[0].n_candidates if rows else None,
            benchmark_candidates=bench.n_candidates if bench else None,
            printed_score_rank=printed,
        )
        if bench is None:
            comparison.reason = "not in the benchmark report"
        elif not comparison.same:
            comparison.reason = explain(comparison, rows, refused, answers.get(challenge, []))
        comparisons.append(comparison)
    return comparisons


def top_k_table(comparisons: Sequence[ChallengeComparison]) -> list[str]:
    """Markdown rows: top-k counts (expected ranks) per ion mode and path."""
    lines = [
        "| path | challenges | n | " + " | ".join(f"top {k}" for k in TOP_K) + " | median rank |",
        "|---|---|---|" + "---|" * len(TOP_K) + "---|",
    ]
    groups = [(mode, [c for c in comparisons if c.ion_mode == mode]) for mode in ION_MODES]
    groups.append(("all", list(comparisons)))
    for path_name, attribute in (("`specvae annotate`", "annotate"), ("`specvae benchmark casmi2016`", "benchmark")):
        for mode, members in groups:
            if not members:
                continue
            summary = summarise_ranks([getattr(c, attribute) for c in members], TOP_K)
            counts = " | ".join(f"{summary.top_k[k]:g}" for k in TOP_K)
            median = "–" if summary.median_rank is None else f"{summary.median_rank:g}"
            lines.append(f"| {path_name} | {mode} | {len(members)} | {counts} | {median} |")
    return lines


def difference_lines(comparisons: Sequence[ChallengeComparison]) -> list[str]:
    differing = [c for c in comparisons if not c.same]
    if not differing:
        return ["No challenge differs."]
    lines = [
        "| challenge | mode | annotate rank | benchmark rank | annotate candidates | benchmark candidates | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in differing:
        lines.append(
            f"| {c.challenge} | {c.ion_mode} | {_fmt_rank(c.annotate)} | {_fmt_rank(c.benchmark)} | "
            f"{c.annotate_candidates if c.annotate_candidates is not None else '–'} | "
            f"{c.benchmark_candidates if c.benchmark_candidates is not None else '–'} | {c.reason} |"
        )
    return lines


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_paths(models: Sequence[str]) -> list[Path]:
    if models:
        return [Path(model) for model in models]
    from specvae.annotator import pretrained_model_path

    return [pretrained_model_path(mode) for mode in ION_MODES]


def report_text(
    comparisons: Sequence[ChallengeComparison],
    run: AnnotateRun,
    system: str,
    benchmark_dir: Path,
    refused: RefusedRecords,
    models: Iterable[Path],
    input_seconds: float,
    script_command: str,
    candidate_header: str,
) -> str:
    n_same = sum(c.same for c in comparisons)
    printed_differs = sum(
        1
        for c in comparisons
        if c.annotate is not None
        and c.printed_score_rank is not None
        and c.annotate.expected != c.printed_score_rank.expected
    )
    annotate_missing = sum(1 for c in comparisons if c.annotate is None)
    lines = [
        "# CASMI 2016 through `specvae annotate` against `specvae benchmark casmi2016`",
        "",
        "Both paths rank the official candidate lists of the same challenges with the same models; ranks are expected "
        "ranks under random tie-breaking, the answer matched on the InChIKey first block "
        "(`specvae/benchmark/metrics.py`). The annotate ranks are computed from its output file alone "
        "(ties from its `rank` column).",
        "",
        f"- script: `{script_command}`",
        f"- annotate: `{shlex.join(run.command)}` (exit code {run.returncode})",
        f"- annotate wall clock: **{run.seconds:.1f} s** (process start, imports, reading {Path(run.command[4]).name}, "
        f"fingerprint cache, prediction, ranking, writing); writing the inputs: {input_seconds:.1f} s",
        f"- candidate CSV columns: `{candidate_header}`",
        f"- benchmark report: `{benchmark_dir}` (system {system!r})",
        "- models: " + ", ".join(f"`{path}` (sha256 {_sha256(path)[:12]})" for path in models),
        f"- records refused by annotate (`--errors`): {refused.n_rows} "
        f"({len(refused.spectra)} spectra); spectra without annotate output: {annotate_missing}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        + ", ".join(f"{value:.1f}" for value in os.getloadavg()),
        "",
        "## Top k (expected ranks)",
        "",
        *top_k_table(comparisons),
        "",
        f"**Equal ranks: {n_same} of {len(comparisons)} challenges.**",
        "",
        f"Ranks computed from the printed `score` column instead of the `rank` column (6 significant digits, so "
        f"scores that differ further down tie): {printed_differs} challenge(s) would get another expected rank.",
        "",
        "## Challenges whose ranks differ",
        "",
        *difference_lines(comparisons),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("SPECVAE_DATA_DIR"), help="default: $SPECVAE_DATA_DIR")
    parser.add_argument("--model", action="append", default=[], help="model file (repeatable; default: shipped)")
    parser.add_argument("--fingerprint-cache", type=Path, help="HDF5 fingerprint cache passed to annotate")
    parser.add_argument("--work-dir", type=Path, required=True, help="where inputs and annotate outputs go")
    parser.add_argument("--benchmark-report", type=Path, required=True, help="-o folder of specvae benchmark casmi2016")
    parser.add_argument("--system", help="system label in the report's ranks.tsv (default: its first)")
    parser.add_argument("--challenge", action="append", help="only this challenge (repeatable)")
    parser.add_argument(
        "--mass-columns",
        action="store_true",
        help="also write the official molecular formula and monoisotopic mass into the candidate CSV",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the table as Markdown")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("give --data-dir or set SPECVAE_DATA_DIR")
    casmi_dir = Path(args.data_dir) / "casmi2016"

    started = time.perf_counter()
    spectra_path, candidates_path, solutions = write_inputs(casmi_dir, args.work_dir, args.challenge, args.mass_columns)
    top_k = longest_list(candidates_path)
    input_seconds = time.perf_counter() - started

    output = args.work_dir / "annotations.tsv"
    errors = args.work_dir / "errors.tsv"
    run = run_annotate(
        spectra_path,
        candidates_path,
        output,
        errors,
        top_k,
        args.fingerprint_cache,
        args.model,
        args.work_dir / "annotate.log",
    )
    print(f"annotate: {run.seconds:.1f} s wall clock (exit code {run.returncode})", file=sys.stderr)

    system, benchmark = read_benchmark_ranks(args.benchmark_report, args.system)
    refused = read_refused(errors, spectra_path)
    comparisons = compare(
        solutions, read_annotations(output), benchmark, refused, answer_rows(candidates_path, solutions)
    )
    script_command = shlex.join(["python", "benchmarks/casmi_through_annotate.py", *(argv or sys.argv[1:])])
    with open(candidates_path, encoding="utf-8") as stream:
        candidate_header = stream.readline().strip()
    text = report_text(
        comparisons,
        run,
        system,
        args.benchmark_report,
        refused,
        model_paths(args.model),
        input_seconds,
        script_command,
        candidate_header,
    )
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0 if all(c.same for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
