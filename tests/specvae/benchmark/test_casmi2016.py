"""The CASMI 2016 loader on the real files, and a benchmark report on a few of its challenges with tiny models.

The report test recomputes every rank in ``ranks.tsv`` from the scores in the submission files and every count in
``summary.json`` from ``ranks.tsv``, so the files agree with each other and with the tie rules.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections import Counter

import numpy as np
import pytest
from shared_helpers import real_data_path, write_tiny_model

from specvae.benchmark import load_casmi2016, run_benchmark, write_report
from specvae.benchmark.casmi2016 import CANDIDATE_FILE, SOLUTION_FILE, SPECTRUM_FILES
from specvae.benchmark.challenges import BenchmarkDataError
from specvae.benchmark.data_files import benchmark_directory
from specvae.benchmark.metrics import random_within_probability

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def casmi2016():
    return load_casmi2016(real_data_path("casmi2016/solutions.csv").parents[1])


def test_challenges_modes_candidates_and_answers(casmi2016) -> None:
    challenges = casmi2016.challenges
    assert len(challenges) == 208 and casmi2016.verified
    assert Counter(c.ion_mode for c in challenges) == {"positive": 127, "negative": 81}
    assert {c.name for c in challenges if c.ion_mode == "negative"} == {f"Challenge-{i:03d}" for i in range(1, 82)}
    assert all(c.spectrum is not None for c in challenges) and len(casmi2016.problems) == 0
    # 258,808 rows, 571 of which repeat an InChIKey within their challenge
    assert casmi2016.n_candidates == 258_237 and casmi2016.duplicate_candidates_dropped == 571
    sizes = [len(c.candidates) for c in challenges]
    assert (min(sizes), max(sizes)) == (1, 8_471)  # the longest list has 8,485 rows, 14 of them repeats
    # every answer's first block is in its list; two answers only as another stereoisomer (InChIKey differs)
    assert all(c.answer_first_block in c.candidates.first_blocks for c in challenges)
    exact_missing = [c.name for c in challenges if c.answer_inchikey not in c.candidates.inchikeys]
    assert exact_missing == ["Challenge-161", "Challenge-172"]
    first = challenges[0]
    assert (first.name, first.answer_inchikey, first.answer_name) == (
        "Challenge-001",
        "UWPJYQYRSWYIGZ-UHFFFAOYSA-N",
        "5-Aminonaphthalene-2-sulfonic acid",
    )


def test_directory_from_argument_or_environment(tmp_path, monkeypatch) -> None:
    folder = real_data_path("casmi2016/solutions.csv").parent
    assert benchmark_directory(folder.parent, "casmi2016", SOLUTION_FILE) == folder
    assert benchmark_directory(folder, "casmi2016", SOLUTION_FILE) == folder
    monkeypatch.setenv("SPECVAE_DATA_DIR", str(folder.parent))
    assert benchmark_directory(None, "casmi2016", SOLUTION_FILE) == folder
    with pytest.raises(BenchmarkDataError, match="solutions.csv"):
        benchmark_directory(tmp_path, "casmi2016", SOLUTION_FILE)
    monkeypatch.delenv("SPECVAE_DATA_DIR")
    monkeypatch.delenv("MMCORE_DATA_DIR", raising=False)
    with pytest.raises(BenchmarkDataError, match="--data-dir"):
        benchmark_directory(None, "casmi2016", SOLUTION_FILE)


def test_a_file_that_differs_from_the_manifest_is_refused(tmp_path) -> None:
    source = real_data_path("casmi2016/solutions.csv").parent
    copy = tmp_path / "casmi2016"
    copy.mkdir()
    for name in (*SPECTRUM_FILES, CANDIDATE_FILE):
        os.symlink(source / name, copy / name)
    shutil.copyfile(source / SOLUTION_FILE, copy / SOLUTION_FILE)
    with open(copy / SOLUTION_FILE, "a") as stream:
        stream.write("\n")
    with pytest.raises(BenchmarkDataError, match="solutions.csv: sha256 .* does not match the manifest"):
        load_casmi2016(tmp_path)


def _submission(path) -> tuple[np.ndarray, list[str]]:
    with open(path, newline="") as stream:
        rows = list(csv.reader(stream, delimiter="\t"))
    return np.array([float(row[1]) for row in rows]), [row[2] for row in rows]


def test_report_files_agree_with_each_other_and_the_tie_rules(casmi2016, tmp_path) -> None:
    # the two smallest lists of each mode with more than one candidate, plus the stereoisomer-rich Challenge-150
    chosen = []
    for mode in ("positive", "negative"):
        lists = sorted((len(c.candidates), c.name) for c in casmi2016.challenges if c.ion_mode == mode)
        chosen += [name for size, name in lists if size > 1][:2]
    chosen.append("Challenge-150")
    models = {
        mode: write_tiny_model(tmp_path / f"{mode}.specvae", mode, seed)
        for seed, mode in enumerate(["positive", "negative"])
    }
    other = write_tiny_model(tmp_path / "other.specvae", "positive", seed=7, fusion="vaevae")
    report = run_benchmark(
        casmi2016,
        model_paths=list(models.values()),
        comparisons=[("tiny VAEVAE", other)],
        challenge_names=chosen,
        n_workers=1,
        progress=False,
    )
    output = tmp_path / "report"
    write_report(report, output)
    summary = json.loads((output / "summary.json").read_text())
    with open(output / "ranks.tsv", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    main_label = summary["systems"][0]["label"]
    main_rows = [row for row in rows if row["system"] == main_label]
    assert sorted(row["challenge"] for row in main_rows) == sorted(chosen)
    # ranks recomputed from the submission scores: b better, t tied, a answers tied -> b + (t + 1) / (a + 1)
    by_name = {c.name: c for c in casmi2016.challenges}
    for row in main_rows:
        scores, keys = _submission(output / "submission" / f"{row['challenge']}.tsv")
        answer = np.array([key[:14] == by_name[row["challenge"]].answer_first_block for key in keys])
        best = scores[answer].max()
        better, tied = int((scores > best).sum()), scores == best
        expected = better + (tied.sum() + 1) / ((tied & answer).sum() + 1)
        assert int(row["optimistic_rank"]) == better + 1
        assert float(row["expected_rank"]) == pytest.approx(expected, rel=1e-5)
        assert int(row["n_candidates"]) == len(scores) == len(by_name[row["challenge"]].candidates)
        assert (scores >= 1.0).all()
    # the summary's counts are those of ranks.tsv; the random row is the closed form
    overall = summary["results"][main_label]["all"]
    for k in (1, 3, 5, 10, 20):
        assert overall["top_k"][str(k)] == sum(float(row["expected_rank"]) <= k for row in main_rows)
        assert overall["top_k_optimistic"][str(k)] == sum(int(row["optimistic_rank"]) <= k for row in main_rows)
        random_count = sum(
            random_within_probability(int(row["n_candidates"]), int(row["n_answer_candidates"]), k) for row in main_rows
        )
        assert summary["results"]["random ranking (expected)"]["all"]["top_k"][str(k)] == pytest.approx(random_count)
    assert summary["results"]["random ranking (expected)"]["all"]["mean_rank"] == pytest.approx(
        np.mean([(int(r["n_candidates"]) + 1) / (int(r["n_answer_candidates"]) + 1) for r in main_rows])
    )
    # the comparison system has no negative model: its negative challenges are counted but not ranked
    other_rows = [row for row in rows if row["system"] == "tiny VAEVAE"]
    assert sum(row["note"] == "no negative mode model" for row in other_rows) == 2
    assert summary["results"]["tiny VAEVAE"]["all"]["n_ranked"] == 3
    text = (output / "report.md").read_text()
    assert "InChIKey first block" in text and "expected rank" in text and "published, not run here" in text
    assert "No answer structure was in any model's training data" in text
    assert math.isclose(summary["data"]["n_challenges"], len(chosen))
    assert (output / "topk_curve.png").stat().st_size > 10_000
