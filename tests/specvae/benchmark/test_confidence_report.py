"""The benchmark's annotation confidence: precision at confidence >= t, the reliability bins and diagram on
synthetic and hand-computed inputs; and on a small CASMI 2017 release, the confidence of each ranking (the number
`specvae annotate` prints for the same list), the share of rank 1 right, their columns in ranks.tsv, and the
report's section per system (a table and a diagram, or the note that the models have no fitted confidence)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_casmi2017 import ASPIRIN, BENZOIC_ACID, CAFFEINE, SALICYLIC_ACID, THEOPHYLLINE, write_release

from specvae.benchmark import load_casmi2017, run_benchmark, write_report
from specvae.benchmark.plot import plot_reliability_diagram
from specvae.benchmark.report import confidence_markdown, precision_at_confidence, reliability_bins
from specvae.confidence import ConfidenceModel, add_confidence_to_model_file, rank_one_confidence, skeleton_gap

PNG = b"\x89PNG\r\n\x1a\n"
TOY_CONFIDENCE = ConfidenceModel(-1.0, 0.8, -0.2, n_spectra=10, fitted_on="toy spectra")


def synthetic(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated confidence: rank 1 is right with probability equal to it."""
    generator = np.random.default_rng(seed)
    confidence = generator.random(n)
    right = (generator.random(n) < confidence).astype(float)
    return confidence, right


def test_precision_at_confidence_and_reliability_bins():
    confidence, right = synthetic()
    rows = precision_at_confidence(confidence, right, thresholds=(0.0, 0.5, 0.9, 1.1))
    assert rows[0][1] == 2000 and rows[-1] == (1.1, 0, None)
    assert rows[1][2] == pytest.approx(0.75, abs=0.04) and rows[2][2] > 0.9
    bins = reliability_bins(confidence, right, n_bins=5)
    assert sum(row[2] for row in bins) == 2000
    for _, _, _, mean, share in bins:  # calibrated by construction: on the diagonal
        assert share == pytest.approx(mean, abs=0.06)
    assert precision_at_confidence([0.2, 0.8], [1, 0], thresholds=(0.5,)) == [(0.5, 1, 0.0)]


def test_tables_of_a_hand_computed_example():
    # a tie of two skeletons at rank 1 holding the answer counts half
    confidence = [0.95, 0.8, 0.6, 0.4, 0.1]
    right = [1.0, 1.0, 0.0, 0.5, 0.0]
    assert precision_at_confidence(confidence, right, thresholds=(0.3, 0.5, 0.7, 0.9, 0.99)) == [
        (0.3, 4, pytest.approx(2.5 / 4)),
        (0.5, 3, pytest.approx(2 / 3)),
        (0.7, 2, 1.0),
        (0.9, 1, 1.0),
        (0.99, 0, None),
    ]
    bins = reliability_bins(confidence, right, n_bins=2)
    assert bins == [(0.0, 0.5, 2, pytest.approx(0.25), pytest.approx(0.25)),
                    (0.5, 1.0, 3, pytest.approx(0.7833333), pytest.approx(2 / 3))]  # fmt: skip
    text = confidence_markdown(confidence, right, heading="####")
    assert "#### Precision at confidence" in text and "#### Reliability" in text
    assert "| 0.3 | 4 | 62.5% |" in text and "| 0.5 | 3 | 66.7% |" in text and "| 0.9 | 1 | 100.0% |" in text
    assert "| 0.9–1.0 | 1 | 0.950 | 100.0% |" in text and "| 0.0–0.1 | 0 | – | – |" in text


def test_reliability_diagram_is_a_png(tmp_path):
    confidence, right = synthetic(300)
    path = tmp_path / "reliability.png"
    plot_reliability_diagram(path, confidence, right, label="toy", title="toy benchmark")
    assert path.read_bytes()[:8] == PNG


def test_rank_one_confidence_leaves_out_candidates_without_a_score():
    scores = np.array([-3.0, np.nan, -5.0, -3.0])
    skeletons = ["AAAAAAAAAAAAAA", "BBBBBBBBBBBBBB", "CCCCCCCCCCCCCC", "AAAAAAAAAAAAAA"]
    expected = TOY_CONFIDENCE.probability(2.0, 2)  # gap to the other skeleton, two skeletons with a score
    assert rank_one_confidence(TOY_CONFIDENCE, scores, skeletons) == pytest.approx(expected)
    assert rank_one_confidence(TOY_CONFIDENCE, np.array([np.nan]), ["AAAAAAAAAAAAAA"]) is None


@pytest.fixture(scope="module")
def toy_benchmark(tmp_path_factory, tiny_models) -> dict:
    """CASMI 2017 toy release ranked by a system whose positive model carries a fitted confidence and whose
    negative model does not, beside a system without any confidence."""
    folder = tmp_path_factory.mktemp("confidence_benchmark")
    root = write_release(folder / "data")
    with_confidence = folder / "positive_confidence.specvae"
    add_confidence_to_model_file(tiny_models["positive"], with_confidence, TOY_CONFIDENCE)
    data = load_casmi2017(root)
    report = run_benchmark(
        data,
        model_paths=[with_confidence, tiny_models["negative"]],
        comparisons=[("plain", tiny_models["positive"]), ("plain", tiny_models["negative"])],
        n_workers=1,
        progress=False,
    )
    output = folder / "report"
    write_report(report, output)
    return {"root": root, "model": with_confidence, "report": report, "output": output}


def _right_by_hand(scores: np.ndarray, first_blocks: tuple[str, ...], answer: str) -> float:
    scored = ~np.isnan(scores)
    top = np.nanmax(scores)
    tied = {block for block, score, kept in zip(first_blocks, scores, scored, strict=True) if kept and score == top}
    return (answer in tied) / len(tied)


def test_every_ranking_gets_its_confidence_and_whether_rank_one_is_right(toy_benchmark):
    report = toy_benchmark["report"]
    main, plain = report.runs
    challenges = {challenge.name: challenge for challenge in report.data.challenges}
    for result in main.results:
        challenge = challenges[result.challenge]
        blocks = challenge.candidates.first_blocks
        assert result.rank_one_right == _right_by_hand(result.scores, blocks, challenge.answer_first_block)
        if result.ion_mode == "negative":  # its model has no fitted confidence
            assert result.confidence is None
            continue
        scored = ~np.isnan(result.scores)
        kept_blocks = [block for block, kept in zip(blocks, scored, strict=True) if kept]
        gap, n_skeletons = skeleton_gap(result.scores[scored], kept_blocks)
        assert 0 < result.confidence < 1
        assert result.confidence == pytest.approx(TOY_CONFIDENCE.probability(gap, n_skeletons))
    assert all(result.confidence is None for result in plain.results)
    assert [result.rank_one_right for result in plain.results] == [result.rank_one_right for result in main.results]


def test_benchmark_and_annotate_give_the_same_confidence(toy_benchmark, tmp_path):
    from specvae.annotator import Annotator
    from specvae.errors import ErrorReport

    main = toy_benchmark["report"].runs[0]
    benchmark_confidence = {result.challenge: result.confidence for result in main.results}
    spectra = tmp_path / "challenges.mgf"
    spectra.write_text(
        "BEGIN IONS\nTITLE=challenge-046\nPEPMASS=181.0495\nCHARGE=1+\n"
        "121.0284 100\n139.0390 35.5\n163.0390 12\n181.0495 8\nEND IONS\n"
        + (toy_benchmark["root"] / "casmi2017" / "challenges-046-243-msms" / "challenge-048-msms.mgf").read_text()
    )
    candidates = tmp_path / "candidates.csv"
    with open(candidates, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["spectrum_id", "smiles"])
        writer.writerows(("challenge-046", smiles) for smiles in (SALICYLIC_ACID, ASPIRIN, BENZOIC_ACID))
        writer.writerows(("challenge-048", smiles) for smiles in (CAFFEINE, THEOPHYLLINE))
    annotations = Annotator.load(toy_benchmark["model"]).annotate(
        spectra, candidates, top_k=None, tolerance_ppm=1e6, errors=ErrorReport()
    )
    annotated = {row["spectrum_id"]: row["confidence"] for row in annotations.rows() if row["rank"] == 1}
    assert set(annotated) == {"challenge-046", "challenge-048"}
    for challenge, confidence in annotated.items():
        assert confidence == pytest.approx(benchmark_confidence[challenge], rel=1e-6)


def test_ranks_tsv_summary_and_report_carry_the_confidence(toy_benchmark):
    output: Path = toy_benchmark["output"]
    with open(output / "ranks.tsv", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    assert {"confidence", "rank_one_right"} <= set(rows[0])
    main_label, plain_label = (run.label for run in toy_benchmark["report"].runs)
    main_rows = [row for row in rows if row["system"] == main_label]
    assert [bool(row["confidence"]) for row in main_rows] == [row["ion_mode"] == "positive" for row in main_rows]
    assert not any(row["confidence"] for row in rows if row["system"] == plain_label)
    confidence = [float(row["confidence"]) for row in main_rows if row["confidence"]]
    right = [float(row["rank_one_right"]) for row in main_rows if row["confidence"]]

    summary = json.loads((output / "summary.json").read_text())["confidence"]
    assert summary[plain_label]["n_challenges"] == 0 and set(summary[plain_label]["fitted"].values()) == {None}
    main = summary[main_label]
    assert main["fitted"]["negative"] is None and main["fitted"]["positive"]["fitted_on"] == "toy spectra"
    assert main["n_challenges"] == 2 and main["mean_confidence"] == pytest.approx(np.mean(confidence), rel=1e-5)
    assert main["share_right_at_rank_1"] == pytest.approx(np.mean(right))
    for row, (threshold, n, share) in zip(
        main["precision_at_confidence"], precision_at_confidence(confidence, right), strict=True
    ):
        assert (row["threshold"], row["n"]) == (threshold, n)
        assert row["share_right"] == (None if share is None else pytest.approx(share))

    text = (output / "report.md").read_text()
    section = text.split("## Annotation confidence")[1].split("\n## ")[0]
    main_part, plain_part = section.split(f"### {main_label}")[1].split(f"### {plain_label}")
    assert confidence_markdown(confidence, right, heading="####").strip() in main_part
    assert "confidence fitted on toy spectra" in main_part and "negative mode model: no fitted confidence" in main_part
    (plot,) = re.findall(r"!\[reliability diagram of [^]]*\]\(([^)]+)\)", main_part)
    assert (output / plot).read_bytes()[:8] == PNG
    assert "no fitted confidence" in plain_part and "Precision at confidence" not in plain_part
    assert sorted(path.name for path in output.glob("reliability_*.png")) == [plot]


def test_the_report_tables_follow_known_confidences(toy_benchmark, tmp_path):
    """Confidences and rank-1 outcomes set by hand on the toy run: the written table is the hand-computed one."""
    report = toy_benchmark["report"]
    main = report.runs[0]
    known = {"challenge-046": (0.92, 1.0), "challenge-048": (0.35, 0.5)}
    saved = [(result.confidence, result.rank_one_right) for result in main.results]
    try:
        for result in main.results:
            if result.challenge in known:
                result.confidence, result.rank_one_right = known[result.challenge]
        write_report(report, tmp_path)
    finally:
        for result, (confidence, right) in zip(main.results, saved, strict=True):
            result.confidence, result.rank_one_right = confidence, right
    text = (tmp_path / "report.md").read_text()
    assert "2 challenges with a confidence: mean confidence 0.635, rank 1 right on 75.0% of them" in text
    assert "| 0.3 | 2 | 75.0% |" in text and "| 0.5 | 1 | 100.0% |" in text and "| 0.9 | 1 | 100.0% |" in text
    assert "| 0.3–0.4 | 1 | 0.350 | 50.0% |" in text and "| 0.9–1.0 | 1 | 0.920 | 100.0% |" in text
    with open(tmp_path / "ranks.tsv", newline="") as stream:
        rows = {row["challenge"]: row for row in csv.DictReader(stream, delimiter="\t") if row["system"] == main.label}
    assert (rows["challenge-046"]["confidence"], rows["challenge-046"]["rank_one_right"]) == ("0.92", "1")
    assert (rows["challenge-048"]["confidence"], rows["challenge-048"]["rank_one_right"]) == ("0.35", "0.5")


@pytest.mark.data
@pytest.mark.slow
def test_shipped_models_on_casmi2016_give_annotates_confidence(tmp_path):
    """The shipped models carry a fitted confidence: on real CASMI 2016 challenges (the two smallest lists of each
    mode), every rank 1 of the benchmark has the confidence `specvae annotate` prints for the same list."""
    import importlib.util
    import sys

    from shared_helpers import real_data_path

    from specvae.annotator import Annotator, pretrained_model_path
    from specvae.benchmark import load_casmi2016
    from specvae.errors import ErrorReport

    casmi_dir = real_data_path("casmi2016/solutions.csv").parent
    data = load_casmi2016(casmi_dir.parent)
    chosen = []
    for mode in ("positive", "negative"):
        sizes = sorted((len(c.candidates), c.name) for c in data.challenges if c.ion_mode == mode)
        chosen += [name for size, name in sizes if size > 1][:2]
    report = run_benchmark(data, challenge_names=chosen, n_workers=1, progress=False)
    benchmark_confidence = {result.challenge: result.confidence for result in report.main.results}
    assert set(benchmark_confidence) == set(chosen) and None not in benchmark_confidence.values()

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "casmi_through_annotate.py"
    spec = importlib.util.spec_from_file_location("casmi_through_annotate", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        spectra, candidates, _ = module.write_inputs(casmi_dir, tmp_path, chosen)
    finally:
        del sys.modules[spec.name]
    annotator = Annotator.load([pretrained_model_path(mode) for mode in ("positive", "negative")])
    annotations = annotator.annotate(spectra, candidates, top_k=None, errors=ErrorReport())
    annotated = {row["spectrum_id"]: row["confidence"] for row in annotations.rows() if row["rank"] == 1}
    assert set(annotated) == set(chosen)
    for challenge, confidence in annotated.items():
        assert confidence == pytest.approx(benchmark_confidence[challenge], rel=1e-5)
