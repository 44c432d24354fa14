"""Time and peak memory of ``specvae annotate`` on three inputs, set against the targets the pipeline is held to.

============================================== ===================================================================
input                                          target (2 shared cores)
============================================== ===================================================================
``ten``: 10 spectra, a 69,120-row per-spectrum  warm fingerprint cache: <= 3 s, <= 1 GB
CSV (spectrum_id, identifier, smiles,
inchikey, monoisotopic_mass)
``casmi``: the 208 CASMI 2016 challenges, their warm <= 10 s, cold <= 120 s
official lists as a per-spectrum CSV
``pool``: a SMILES-only pool of 1,000,000 rows   peak memory <= 2 GB (and progress shown for every long stage)
============================================== ===================================================================

Each case is run as a user runs it: the ``specvae annotate`` command in a fresh process (wall clock, interpreter
start, imports and model loading included; peak resident memory from ``os.wait4``), ``--runs`` times, and the
median is reported with its ratio to the target. The same annotation is also timed inside one process
(``Annotator.annotate`` only: imports and model loading excluded), to separate what the pipeline costs from what
starting Python, torch and matchms costs.

Inputs are built in ``--work-dir`` from the data in ``$SPECVAE_DATA_DIR`` (once; reused when present):

- ``ten``: the CASMI 2016 candidate rows in challenge order, cut at 69,120 rows (spectrum ids = challenge names),
  with the spectra of the first 10 challenges;
- ``casmi``: what ``benchmarks/casmi_through_annotate.py`` writes (challenges.mgf, and candidates.csv with
  ``spectrum_id, identifier, name, smiles, inchi, inchikey``);
- ``pool``: the CASMI 2016 candidate SMILES and the SMILES of MassBank's records, repeated in order up to
  1,000,000 rows, in a CSV with one ``smiles`` column (no InChIKey, formula or mass), against the spectra of
  ``ten``.

A warm run reads a copy of ``--seed-cache`` (a fingerprint cache of the CASMI 2016 candidates; the original is never
written) after one untimed run has added what the copy lacks; a cold run starts from no cache. The pool is run once
(it takes minutes), with a copy of the seed cache ("seeded": the rows of MassBank structures are computed).

    SPECVAE_DATA_DIR=/work/shared/data python benchmarks/bench_annotation_targets.py --work-dir /tmp/targets \\
        --seed-cache /work/runs/accuracy/casmi_fp3.h5 --runs 3 -o benchmarks/results/annotation_targets.md
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TEN_ROWS = 69_120
TEN_SPECTRA = 10
POOL_ROWS = 1_000_000
CASMI_FILES = ("challenges_positive.mgf", "challenges_negative_massbank.mgf")


@dataclass
class Target:
    seconds: float | None = None
    gigabytes: float | None = None


@dataclass
class Measurement:
    case: str
    cache: str  # "warm", "cold" or "none"
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    peak_gb: list[float] = field(default_factory=list)
    in_process_seconds: list[float] = field(default_factory=list)
    target: Target = field(default_factory=Target)
    note: str = ""

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_gb(self) -> float:
        return statistics.median(self.peak_gb)


# ------------------------------------------------------------------------------------------------------- inputs
def _casmi_blocks(casmi_dir: Path) -> dict[str, str]:
    """Each challenge's MGF block by TITLE, in the files' order."""
    blocks: dict[str, str] = {}
    for name in CASMI_FILES:
        lines: list[str] = []
        title = None
        with open(casmi_dir / name, encoding="utf-8") as stream:
            for line in stream:
                stripped = line.strip()
                if stripped == "BEGIN IONS":
                    lines, title = [], None
                if stripped.startswith("TITLE="):
                    title = stripped[6:]
                lines.append(line)
                if stripped == "END IONS" and title:
                    blocks[title] = "".join(lines) + "\n"
    return blocks


def ten_inputs(casmi_dir: Path, work: Path) -> tuple[Path, Path]:
    """``ten.mgf`` and ``per_spectrum_69k.csv`` (see the module docstring)."""
    spectra, candidates = work / "ten.mgf", work / "per_spectrum_69k.csv"
    if spectra.is_file() and candidates.is_file():
        return spectra, candidates
    with gzip.open(casmi_dir / "candidates.csv.gz", "rt", encoding="utf-8", newline="") as stream:
        rows = sorted(csv.DictReader(stream), key=lambda row: row["challenge"])[:TEN_ROWS]
    names: list[str] = []
    with open(candidates, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["spectrum_id", "identifier", "smiles", "inchikey", "monoisotopic_mass"])
        for row in rows:
            writer.writerow(
                [row["challenge"], row["Identifier"], row["SMILES"], row["InChIKey"], row["MonoisotopicMass"]]
            )
            if row["challenge"] not in names:
                names.append(row["challenge"])
    blocks = _casmi_blocks(casmi_dir)
    spectra.write_text("".join(blocks[name] for name in names[:TEN_SPECTRA]), encoding="utf-8")
    return spectra, candidates


def casmi_inputs(casmi_dir: Path, work: Path) -> tuple[Path, Path]:
    """What benchmarks/casmi_through_annotate.py writes, in ``work/casmi``."""
    folder = work / "casmi"
    spectra, candidates = folder / "challenges.mgf", folder / "candidates.csv"
    if spectra.is_file() and candidates.is_file():
        return spectra, candidates
    script = Path(__file__).resolve().parent / "casmi_through_annotate.py"
    spec = importlib.util.spec_from_file_location("casmi_through_annotate", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    written_spectra, written_candidates, _ = module.write_inputs(casmi_dir, folder)
    return written_spectra, written_candidates


def _massbank_smiles(data_dir: Path) -> list[str]:
    smiles = []
    for name in ("massbank_positive.mgf.gz", "massbank_negative.mgf.gz"):
        with gzip.open(data_dir / "massbank" / name, "rt", encoding="utf-8", errors="replace") as stream:
            for line in stream:
                if line.startswith("SMILES="):
                    text = line[7:].strip()
                    if text and text.upper() not in ("N/A", "NA"):
                        smiles.append(text)
    return smiles


def pool_inputs(data_dir: Path, work: Path) -> Path:
    """``pool_1m.csv``: one ``smiles`` column, 1,000,000 rows (see the module docstring)."""
    pool = work / "pool_1m.csv"
    if pool.is_file():
        return pool
    with gzip.open(data_dir / "casmi2016" / "candidates.csv.gz", "rt", encoding="utf-8", newline="") as stream:
        smiles = [row["SMILES"] for row in csv.DictReader(stream) if row["SMILES"]]
    smiles += _massbank_smiles(data_dir)
    with open(pool, "w", encoding="utf-8", newline="") as out:
        out.write("smiles\n")
        for index in range(POOL_ROWS):
            out.write(smiles[index % len(smiles)] + "\n")
    return pool


# ------------------------------------------------------------------------------------------------- measuring
def specvae_command() -> str:
    beside = Path(sys.executable).parent / "specvae"
    return str(beside) if beside.is_file() else (shutil.which("specvae") or "specvae")


def run_once(command: list[str], log: Path) -> tuple[float, float]:
    """``(wall seconds, peak resident GB)`` of one command (exit codes 0 and 1 count as finished)."""
    with open(log, "w", encoding="utf-8") as stream:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"`{shlex.join(command)}` exited {process.returncode}:\n{tail}")
    return seconds, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def in_process_seconds(spectra: Path, candidates: Path, cache: Path | None, top_k: int, runs: int) -> list[float]:
    """``Annotator.annotate`` alone, ``runs`` times in this process (the first run warms what it caches)."""
    from specvae.annotator import Annotator
    from specvae.errors import ErrorReport

    annotator = Annotator.pretrained(fingerprint_cache=cache)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        annotator.annotate(spectra, candidates, top_k=top_k, errors=ErrorReport())
        seconds.append(time.perf_counter() - started)
    return seconds


def annotate_command(spectra: Path, candidates: Path, output: Path, cache: Path | None, workers: int) -> list[str]:
    command = [specvae_command(), "annotate", str(spectra), "--candidates", str(candidates), "-o", str(output)]
    command += ["--errors", str(output.with_suffix(".errors.tsv")), "--workers", str(workers)]
    if cache is not None:
        command += ["--fingerprint-cache", str(cache)]
    return command


def warm_cache(seed: Path, work: Path, name: str) -> Path:
    """A copy of the seed cache that runs may write to. The InChI cache beside it is left to the untimed first run
    (:func:`measure`): it then stores the digests of the InChI texts, which older caches lack."""
    copy = work / f"{name}.h5"
    if not copy.exists():
        shutil.copyfile(seed, copy)
    return copy


def measure(
    case: str,
    cache_kind: str,
    spectra: Path,
    candidates: Path,
    cache: Path | None,
    runs: int,
    target: Target,
    work: Path,
    workers: int,
    fresh_cache: bool = False,
) -> Measurement:
    output = work / f"{case}_{cache_kind}.tsv"
    command = annotate_command(spectra, candidates, output, cache, workers)
    measurement = Measurement(case, cache_kind, command, target=target)
    if cache_kind == "warm":  # one untimed run, so that the cache holds everything the timed runs ask for
        run_once(command, work / f"{case}_{cache_kind}_warm_up.log")
    for attempt in range(runs):
        if fresh_cache and cache is not None:
            for stale in cache.parent.glob(f"{cache.stem}*"):
                stale.unlink()
        seconds, gigabytes = run_once(command, work / f"{case}_{cache_kind}_{attempt}.log")
        measurement.seconds.append(seconds)
        measurement.peak_gb.append(gigabytes)
        print(f"{case} {cache_kind} run {attempt + 1}: {seconds:.1f} s, {gigabytes:.2f} GB", file=sys.stderr)
    return measurement


def verdict(value: float, limit: float | None) -> str:
    if limit is None:
        return "–"
    return f"{value / limit:.2f}× the target ({'met' if value <= limit else 'NOT met'})"


def report(measurements: Sequence[Measurement], command: str, runs: int) -> str:
    lines = [
        "# `specvae annotate` against its speed and memory targets",
        "",
        f"- command: `{command}`",
        f"- medians of {runs} runs each (cold runs: see the table); machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs shared with other jobs, load average at the end "
        + ", ".join(f"{value:.1f}" for value in os.getloadavg()),
        "- wall clock of the whole `specvae annotate` process (interpreter start, imports, model loading included); "
        "peak memory is its maximum resident set (fingerprint worker processes not included)",
        "",
        "| input | cache | runs | wall clock (median) | target | peak memory (median) | target | "
        "`Annotator.annotate` alone (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        inner = f"{statistics.median(m.in_process_seconds):.2f} s" if m.in_process_seconds else "–"
        runs_text = ", ".join(f"{s:.1f}" for s in m.seconds)
        time_target = f"≤ {m.target.seconds:g} s: " if m.target.seconds else ""
        memory_target = f"≤ {m.target.gigabytes:g} GB: " if m.target.gigabytes else ""
        lines.append(
            f"| {m.case} | {m.cache} | {len(m.seconds)} | {m.median_seconds:.1f} s ({runs_text}) | "
            f"{time_target}{verdict(m.median_seconds, m.target.seconds)} | {m.median_gb:.2f} GB | "
            f"{memory_target}{verdict(m.median_gb, m.target.gigabytes)} | {inner} |"
        )
    lines += ["", "Commands:", ""]
    lines += [
        f"- {m.case} ({m.cache}): `{shlex.join(m.command)}`" + (f" {m.note}" if m.note else "") for m in measurements
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("SPECVAE_DATA_DIR"), help="default: $SPECVAE_DATA_DIR")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--seed-cache", type=Path, required=True, help="fingerprint cache of the CASMI candidates")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=1, help="0: no cold CASMI run (it takes many minutes)")
    parser.add_argument("--pool-runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="--workers of the annotate runs")
    parser.add_argument("--only", default="ten,casmi,pool", help="comma-separated cases")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("give --data-dir or set SPECVAE_DATA_DIR")
    data_dir = Path(args.data_dir)
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    cases = set(args.only.split(","))
    measurements = []

    if "ten" in cases:
        spectra, candidates = ten_inputs(data_dir / "casmi2016", work)
        cache = warm_cache(args.seed_cache, work, "warm_ten")
        m = measure("ten", "warm", spectra, candidates, cache, args.runs, Target(3.0, 1.0), work, args.workers)
        m.in_process_seconds = in_process_seconds(spectra, candidates, cache, 10, args.runs)
        measurements.append(m)
    if "casmi" in cases:
        spectra, candidates = casmi_inputs(data_dir / "casmi2016", work)
        cache = warm_cache(args.seed_cache, work, "warm_casmi")
        m = measure("casmi", "warm", spectra, candidates, cache, args.runs, Target(10.0), work, args.workers)
        m.in_process_seconds = in_process_seconds(spectra, candidates, cache, 10, args.runs)
        measurements.append(m)
        if args.cold_runs > 0:
            cold = work / "cold" / "casmi_cold.h5"
            cold.parent.mkdir(exist_ok=True)
            cold_target = Target(120.0)
            measurements.append(
                measure(
                    "casmi", "cold", spectra, candidates, cold, args.cold_runs, cold_target, work, args.workers, True
                )
            )
    if "pool" in cases:
        spectra, _ = ten_inputs(data_dir / "casmi2016", work)
        pool = pool_inputs(data_dir, work)
        cache = warm_cache(args.seed_cache, work, "warm_pool")
        measurements.append(
            measure("pool", "seeded", spectra, pool, cache, args.pool_runs, Target(None, 2.0), work, args.workers)
        )

    command = shlex.join(["python", "benchmarks/bench_annotation_targets.py", *(argv or sys.argv[1:])])
    text = report(measurements, command, args.runs)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
