"""A/B of two versions of the code on the ten-spectra target of issue 13, run alternately on the same machine.

`specvae annotate` of the ten spectra against the 69,120-row per-spectrum CSV with a warm fingerprint cache (a fresh
copy of the same cache for every run), the shipped models. "before" runs with ``--before`` (a `git worktree` of the
older commit) first on ``PYTHONPATH``, "after" with the installed code. Prints each run's wall clock and peak memory
(``os.wait4``), the medians, the median of the pairs' ratios and whether every pair wrote byte-identical output.

Why alternate: this machine's load changes by the minute; pairs taken side by side compare the code, not the load.

    python benchmarks/ab_annotate_ten.py --rounds 6 --before /tmp/before --targets /tmp/w13/targets

``--targets`` is the work directory of ``bench_annotation_targets.py`` (``ten.mgf``, ``per_spectrum_69k.csv`` and
the warm cache ``warm_ten.h5`` its warm-up run leaves).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--before", required=True, help="source tree of the older code (put first on PYTHONPATH)")
    parser.add_argument("--targets", required=True, type=Path, help="work directory of bench_annotation_targets.py")
    args = parser.parse_args()
    specvae = str(Path(sys.executable).with_name("specvae"))
    walls: dict[str, list[float]] = {"before": [], "after": []}
    memory: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="ab_ten_") as scratch:
        for round_index in range(args.rounds):
            for name in ("before", "after") if round_index % 2 == 0 else ("after", "before"):
                run = Path(scratch) / f"{round_index}_{name}"
                run.mkdir()
                shutil.copy(args.targets / "warm_ten.h5", run / "cache.h5")
                env = dict(os.environ, PYTHONPATH=args.before) if name == "before" else dict(os.environ)
                command = [
                    specvae, "annotate", str(args.targets / "ten.mgf"),
                    "--candidates", str(args.targets / "per_spectrum_69k.csv"),
                    "-o", str(run / "out.tsv"), "--errors", str(run / "errors.tsv"),
                    "--workers", "2", "--fingerprint-cache", str(run / "cache.h5"),
                ]  # fmt: skip
                start = time.perf_counter()
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                _, _, usage = os.wait4(process.pid, 0)
                walls[name].append(time.perf_counter() - start)
                memory[name].append(usage.ru_maxrss / 1e6)
                print(f"{name} {walls[name][-1]:.2f} s {memory[name][-1]:.2f} GB load {os.getloadavg()[0]:.1f}")
        identical = all(
            filecmp.cmp(Path(scratch) / f"{r}_before/out.tsv", Path(scratch) / f"{r}_after/out.tsv", shallow=False)
            for r in range(args.rounds)
        )
    ratios = [after / before for after, before in zip(walls["after"], walls["before"], strict=True)]
    for name, times in walls.items():
        runs = ", ".join(f"{t:.2f}" for t in times)
        peak = statistics.median(memory[name])
        print(f"{name}: median {statistics.median(times):.2f} s ({runs}), peak {peak:.2f} GB")
    print(f"after/before: median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")
    print(f"outputs identical in every pair: {identical}")


if __name__ == "__main__":
    main()
