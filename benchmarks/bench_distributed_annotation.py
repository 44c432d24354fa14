"""Spectra annotated per second: one process against a local Dask cluster of 1 and of 2 workers.

Workload, built reproducibly in ``--work-dir`` (no randomness with real data; seeded otherwise):

- with ``SPECVAE_DATA_DIR`` (see data_manifests/): the MassBank positive-mode records of CASMI 2016 positive
  answers, taking answers in order of how many records they have (ties by challenge name) until ``--spectra``
  (2,000) records, kept in file order; and a pool of ``--candidates`` (1,000) candidates, the first rows of each
  of those challenges' official candidate lists (same formula as the answer, so every spectrum has about a dozen
  candidates within 10 ppm, more where two challenges share a formula);
- without it: synthetic spectra (seeded random peaks) at the masses of the example candidates shipped with
  specvae (a pool of 286 rows; ``--candidates`` is then ignored).

The shipped positive model ranks them, top 10, 10 ppm, with a warm fingerprint cache (filled before timing).
Timed, each the median of ``--repeats`` runs: ``Annotator.annotate`` in this process; ``annotate_distributed``
on a ``LocalCluster`` of 1 and of 2 worker processes (one thread each) started once per cluster size, the first
run of each (models sent to the workers, workers importing specvae) reported apart. Every run's results are
compared with the one-process results (ranks, identifiers, scores with ==).

    SPECVAE_DATA_DIR=/work/shared/data python benchmarks/bench_distributed_annotation.py \\
        -o benchmarks/results/distributed_annotation.md
"""

from __future__ import annotations

import os

# One thread for every numerical library in this process and (through Dask's nanny) in the workers.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import collections  # noqa: E402
import csv  # noqa: E402
import gzip  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import resources  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

PROTON_DA = 1.007276
CANDIDATE_COLUMNS = [
    "Identifier",
    "CompoundName",
    "MonoisotopicMass",
    "MolecularFormula",
    "SMILES",
    "InChI",
    "InChIKey",
]


# ------------------------------------------------------------------------------------------------- workload
def real_workload(data_dir: Path, work_dir: Path, n_spectra: int, n_candidates: int) -> tuple[Path, Path, str]:
    """MassBank spectra of CASMI 2016 positive answers and a pool from those challenges' candidate lists."""
    with (data_dir / "casmi2016" / "solutions.csv").open(newline="") as stream:
        challenge_of = {
            row["INCHIKEY"]: row["ChallengeName"]
            for row in csv.DictReader(stream)
            if row["ION_MODE"].strip() == "POSITIVE"
        }
    blocks: list[tuple[str, str]] = []  # (challenge, record text) in file order
    with gzip.open(data_dir / "massbank" / "massbank_positive.mgf.gz", "rt") as stream:
        block: list[str] | None = None
        inchikey = None
        for line in stream:
            stripped = line.strip()
            if stripped == "BEGIN IONS":
                block, inchikey = [line], None
            elif block is not None:
                block.append(line)
                if stripped.startswith("INCHIKEY="):
                    inchikey = stripped.removeprefix("INCHIKEY=")
                elif stripped == "END IONS":
                    if inchikey in challenge_of:
                        blocks.append((challenge_of[inchikey], "".join(block)))
                    block = None
    counts = collections.Counter(challenge for challenge, _ in blocks)
    chosen: list[str] = []
    total = 0
    for challenge in sorted(counts, key=lambda name: (-counts[name], name)):
        if total >= n_spectra:
            break
        chosen.append(challenge)
        total += counts[challenge]
    chosen_set = set(chosen)
    records = [text for challenge, text in blocks if challenge in chosen_set][:n_spectra]
    spectra = work_dir / "spectra.mgf"
    spectra.write_text("\n".join(records))

    lists: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    with gzip.open(data_dir / "casmi2016" / "candidates.csv.gz", "rt", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["challenge"] in chosen_set:
                lists[row["challenge"]].append(row)
    per_challenge, remainder = divmod(n_candidates, len(chosen))
    pool = []
    for position, challenge in enumerate(chosen):
        pool.extend(lists[challenge][: per_challenge + (position < remainder)])
    candidates = work_dir / "pool.csv"
    _write_candidates(candidates, pool)
    description = (
        f"{len(records)} MassBank positive records of {len(chosen)} CASMI 2016 positive answers; a pool of {len(pool)} "
        f"candidates, the first {per_challenge}-{per_challenge + 1} rows of each of those challenges' lists"
    )
    return spectra, candidates, description


def synthetic_workload(work_dir: Path, n_spectra: int, seed: int) -> tuple[Path, Path, str]:
    """Seeded random spectra at the masses of the shipped example candidates (positive mode, [M+H]+)."""
    rows = list(csv.DictReader(resources.files("specvae").joinpath("examples/example_candidates.csv").open()))
    candidates = work_dir / "pool.csv"
    _write_candidates(candidates, rows)
    masses = sorted({round(float(row["MonoisotopicMass"]), 3) for row in rows})
    rng = np.random.default_rng(seed)
    blocks = []
    for index in range(n_spectra):
        precursor = float(rng.choice(masses)) + PROTON_DA
        mz = np.sort(rng.uniform(40.0, precursor - 1.0, size=int(rng.integers(5, 40))))
        peaks = "\n".join(f"{m:.4f} {i:.1f}" for m, i in zip(mz, rng.uniform(1, 1000, size=mz.size), strict=True))
        blocks.append(
            f"BEGIN IONS\nTITLE=synthetic-{index:05d}\nPEPMASS={precursor:.5f}\nCHARGE=1+\nIONMODE=POSITIVE\n"
            f"ADDUCT=[M+H]+\n{peaks}\nEND IONS\n"
        )
    spectra = work_dir / "spectra.mgf"
    spectra.write_text("\n".join(blocks))
    return spectra, candidates, f"{n_spectra} synthetic spectra (seed {seed}); the {len(rows)} example candidates"


def _write_candidates(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, CANDIDATE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------------------------------- timing
def same_results(expected, got) -> bool:
    if [a.spectrum_id for a in expected] != [a.spectrum_id for a in got]:
        return False
    return all(
        [row.as_dict() for row in a.ranked] == [row.as_dict() for row in b.ranked]
        for a, b in zip(expected, got, strict=True)
    )


def time_runs(run, repeats: int, worker_cpu=None) -> tuple[list[float], list[float], list[float], object]:
    """Wall seconds, this process's CPU seconds and the busiest worker's CPU seconds of each run, and the last result.

    CPU seconds do not depend on what else the machine runs, so they tell what the work costs where wall-clock
    times on a shared machine cannot.
    """
    walls, client_cpu, busiest_worker_cpu, result = [], [], [], None
    for _ in range(repeats):
        workers_before = worker_cpu() if worker_cpu else {}
        cpu_before, start = time.process_time(), time.perf_counter()
        result = run()
        walls.append(time.perf_counter() - start)
        client_cpu.append(time.process_time() - cpu_before)
        workers_after = worker_cpu() if worker_cpu else {}
        busiest_worker_cpu.append(max((workers_after[w] - workers_before[w] for w in workers_after), default=0.0))
    return walls, client_cpu, busiest_worker_cpu, result


def _process_cpu_seconds() -> float:
    return time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spectra", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Dask cluster sizes to time.")
    parser.add_argument("--seed", type=int, default=0, help="Synthetic workload only.")
    parser.add_argument("--work-dir", type=Path, help="Where the workload and cache go (default: a temporary folder).")
    parser.add_argument("-o", "--output", type=Path, help="Write the Markdown report here.")
    arguments = parser.parse_args()

    import dask
    import distributed
    import torch

    from specvae.annotator import Annotator, pretrained_model_path
    from specvae.distributed import annotate_distributed
    from specvae.errors import ErrorReport

    temporary = None
    if arguments.work_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="specvae-bench-distributed-")
        arguments.work_dir = Path(temporary.name)
    arguments.work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = os.environ.get("SPECVAE_DATA_DIR")
    if data_dir:
        spectra, candidates, workload = real_workload(
            Path(data_dir), arguments.work_dir, arguments.spectra, arguments.candidates
        )
    else:
        spectra, candidates, workload = synthetic_workload(arguments.work_dir, arguments.spectra, arguments.seed)
    cache = arguments.work_dir / "cache.h5"
    model = pretrained_model_path("positive")
    load_before = os.getloadavg()

    annotator = Annotator.load(model, fingerprint_cache=cache)
    warm_errors = ErrorReport()
    start = time.perf_counter()
    reference = annotator.annotate(spectra, candidates, errors=warm_errors)  # fills the cache: not timed
    warm_up_s = time.perf_counter() - start
    n_annotated = len(reference)
    mean_candidates = float(np.mean([a.n_candidates for a in reference]))
    print(
        f"workload: {workload}; {n_annotated} annotated, {len(warm_errors)} errors; cache filled in {warm_up_s:.1f} s"
    )

    rows = []
    walls, client_cpu, _, result = time_runs(lambda: annotator.annotate(spectra, candidates), arguments.repeats)
    identical = same_results(reference, result)
    rows.append(("one process (`Annotator.annotate`)", "-", walls, client_cpu, None, None, None, identical))
    print(f"one process: {[f'{d:.2f}' for d in walls]} s")
    for n_workers in arguments.workers:
        start = time.perf_counter()
        with (
            distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            cluster_start_s = time.perf_counter() - start

            def run(client=client):
                # The loaded annotator, as the one-process path uses: loading the model is not what is timed.
                return annotate_distributed(
                    annotator, spectra, candidates, scheduler=client, chunk_size=arguments.chunk_size
                )

            first_s, _, _, first = time_runs(run, 1)
            walls, client_cpu, worker_cpu, result = time_runs(
                run, arguments.repeats, lambda client=client: client.run(_process_cpu_seconds)
            )
        identical = same_results(reference, first) and same_results(reference, result)
        name = f"Dask `LocalCluster`, chunks of {arguments.chunk_size}"
        rows.append((name, n_workers, walls, client_cpu, worker_cpu, first_s[0], cluster_start_s, identical))
        print(f"dask {n_workers} worker(s): {[f'{d:.2f}' for d in walls]} s (first {first_s[0]:.2f} s)")
    load_after = os.getloadavg()

    report = render(
        arguments,
        workload,
        n_annotated,
        len(warm_errors),
        mean_candidates,
        rows,
        load_before,
        load_after,
        {"torch": torch.__version__, "dask": dask.__version__, "distributed": distributed.__version__},
    )
    print(report)
    if arguments.output:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(report)
    if temporary is not None:
        temporary.cleanup()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def render(arguments, workload, n_annotated, n_errors, mean_candidates, rows, load_before, load_after, versions) -> str:
    n_spectra = arguments.spectra
    median = statistics.median
    one_process_s = median(rows[0][2])
    one_process_cpu = median(rows[0][3])
    wall_by_workers = {row[1]: median(row[2]) for row in rows[1:]}
    lines = [
        "# Distributed annotation: spectra per second on 1 and 2 Dask workers",
        "",
        "Command: `SPECVAE_DATA_DIR=... python benchmarks/bench_distributed_annotation.py "
        f"--spectra {arguments.spectra} --candidates {arguments.candidates} --chunk-size {arguments.chunk_size} "
        f"--repeats {arguments.repeats} -o benchmarks/results/distributed_annotation.md`",
        "",
        f"Workload: {workload}. {n_annotated} of {n_spectra} spectra ranked ({n_errors} records reported as errors: "
        f"no precursor, or no candidate within 10 ppm), {mean_candidates:.1f} candidates per ranked spectrum on "
        "average; the shipped positive model, top 10, warm fingerprint cache. Each time is the whole call: reading "
        "the spectrum and candidate files, cleaning, prediction, ranking, merging.",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs shared with other work: load average "
        f"{load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} (1/5/15 min) before, "
        f"{load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} after. Python {platform.python_version()}, "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + ".",
        "",
        "## Wall-clock (what this machine gave)",
        "",
        f"| path | workers | median s ({arguments.repeats} runs) | runs (s) | spectra / s | vs one process "
        "| first run s | cluster start s | results identical |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, workers, walls, _, _, first_s, start_s, identical in rows:
        lines.append(
            f"| {name} | {workers} | {median(walls):.2f} | {', '.join(f'{d:.2f}' for d in walls)} "
            f"| {n_spectra / median(walls):.0f} | {one_process_s / median(walls):.2f}× "
            f"| {'' if first_s is None else f'{first_s:.2f}'} | {'' if start_s is None else f'{start_s:.1f}'} "
            f"| {'yes' if identical else 'NO'} |"
        )
    if 1 in wall_by_workers and 2 in wall_by_workers:
        lines += ["", f"**2 workers / 1 worker, wall-clock: {wall_by_workers[1] / wall_by_workers[2]:.2f}×.**"]
    lines += [
        "",
        "## CPU seconds per process (what the work costs, whatever else runs)",
        "",
        "Client: this process (with a `LocalCluster`, the scheduler runs in it too). Busiest worker: the largest "
        "CPU time of one worker process in the run. With one free core per process a run takes at least the CPU "
        "time of its busiest process, so `spectra / busiest process CPU s` estimates the throughput on free cores: "
        "optimistic in assuming the processes overlap perfectly, pessimistic in that CPU time measured on a crowded "
        "machine is itself inflated (shared caches, hyper-threads).",
        "",
        "| path | workers | client CPU s | busiest worker CPU s | CPU estimate, spectra / s | vs one process |",
        "|---|---|---|---|---|---|",
    ]
    bound_by_workers = {}
    for name, workers, _, client_cpu, worker_cpu, _, _, _ in rows:
        busiest = max(median(client_cpu), median(worker_cpu) if worker_cpu else 0.0)
        bound_by_workers[workers] = busiest
        worker_cell = "" if worker_cpu is None else f"{median(worker_cpu):.2f}"
        lines.append(
            f"| {name} | {workers} | {median(client_cpu):.2f} | {worker_cell} "
            f"| {n_spectra / busiest:.0f} | {one_process_cpu / busiest:.2f}× |"
        )
    if 1 in bound_by_workers and 2 in bound_by_workers:
        lines += ["", f"**2 workers / 1 worker, CPU estimate: {bound_by_workers[1] / bound_by_workers[2]:.2f}×.**"]
    lines += [
        "",
        "## Reading the numbers",
        "",
        "- The machine has 2 cores and other engineers' jobs were running (see the load average), while a 2-worker "
        "run needs 3 busy processes (the client parses the file and fills the cache, the workers clean, predict and "
        "rank). The wall-clock ratio is therefore a lower bound on what 2 free cores give; the CPU estimate is the "
        "better guide. On a cluster, the client's CPU time per spectrum (parsing, about a third of a millisecond "
        "per record, and, with a `LocalCluster`, the scheduler) is the serial part that caps the speed-up: with the "
        "client's CPU seconds above, about `spectra / client CPU s` spectra per second however many workers.",
        "- A worker spends more CPU than the same steps cost in one process (cleaning, binning, prediction and "
        "ranking of these 2,000 spectra took 1.3-1.6 CPU s when called in one process on this machine). Measured "
        "parts of the difference: a chunk predicts the whole prediction batches it touches, up to 63 spectra of its "
        "neighbours at each end (about 0.1 s here); pickling records in and results out (under 0.1 s); an idle "
        "Dask worker's own threads use 2% of a core. The rest is not pinned down; Dask's per-task handling and "
        "cache effects of switching between processes on 2 crowded cores are the likely part.",
        "- A Dask call pays a fixed cost that the one-process path does not (scattering the candidate pool, three "
        "tasks per chunk, the merge); 'first run' adds sending the models (once per worker) and the workers "
        "importing specvae. The cluster start is paid once per cluster.",
        "- 'results identical': every run's ranks, identifiers and scores equal the one-process results exactly.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
