"""Annotation confidence (specvae/confidence.py): the fit is monotone in the score gap and beats a constant on
held-out toy data; the fit on a prepared training set goes into the model file through `specvae fit-confidence`
and comes out as the confidence column; stereoisomers collapse to one row per skeleton."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from test_baseline import train_tiny_model

from specvae.annotator import Annotator
from specvae.confidence import (
    ConfidenceModel,
    fit_confidence,
    log_loss,
    model_confidence,
    rank_one_correctness,
    skeleton_gap,
)
from specvae.errors import ErrorReport
from specvae.model_file import read_metadata
from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def toy_rankings(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaps and list sizes whose true P(right) = σ(-1 + 2 log(1 + gap) - 0.3 log n)."""
    generator = np.random.default_rng(seed)
    gaps = generator.exponential(2.0, n)
    counts = generator.integers(2, 400, n)
    truth = 1 / (1 + np.exp(-(-1 + 2 * np.log1p(gaps) - 0.3 * np.log(counts))))
    return gaps, counts, (generator.random(n) < truth).astype(float)


def test_the_fit_is_monotone_in_the_gap_and_beats_a_constant():
    fitted = fit_confidence(*toy_rankings(3000, seed=0))
    gaps, counts, correct = toy_rankings(3000, seed=1)
    assert (
        log_loss(fitted.probability(gaps, counts), correct)
        < log_loss(np.full(correct.size, correct.mean()), correct) - 0.05
    )
    curve = fitted.probability(np.linspace(0, 30, 50), np.full(50, 100))
    assert np.all(np.diff(curve) >= 0) and curve[-1] > curve[0]
    assert fitted.gap_coefficient == pytest.approx(2.0, abs=0.3)
    assert model_confidence({"confidence": fitted.to_dict()}) == fitted and model_confidence({}) is None


def test_the_gap_slope_never_turns_negative():
    gaps, counts, correct = toy_rankings(500, seed=2)
    fitted = fit_confidence(gaps, counts, 1 - correct)  # right answers where the gap is small: an inverted set
    assert fitted.gap_coefficient >= 0


def test_gaps_and_correctness_are_counted_per_skeleton():
    scores = np.array([-10.0, -10.0, -12.5, -20.0])
    skeletons = ["AAAAAAAAAAAAAA", "AAAAAAAAAAAAAA", "BBBBBBBBBBBBBB", "CCCCCCCCCCCCCC"]
    assert skeleton_gap(scores, skeletons) == (pytest.approx(2.5), 3)  # the tied stereoisomer is no runner-up
    assert rank_one_correctness(scores, skeletons, "AAAAAAAAAAAAAA") == 1.0
    assert rank_one_correctness(np.array([-1.0, -1.0]), ["A", "B"], "B") == 0.5
    assert skeleton_gap(np.array([-3.0]), ["A"])[1] == 1


def test_fit_confidence_command_stores_the_fit_and_annotate_reports_it(tmp_path, tiny_models):
    training_set, model_path = train_tiny_model(tmp_path, epochs=1)
    fitted_path = tmp_path / "fitted.specvae"
    result = CliRunner().invoke(
        main, ["fit-confidence", str(model_path), str(training_set), "-o", str(fitted_path), "--n-nearest", "8"]
    )
    assert result.exit_code == 0, result.output
    stored = read_metadata(fitted_path).training["confidence"]  # read back through the checksums
    assert stored["n_spectra"] > 0 and stored["gap_coefficient"] >= 0 and stored["command"].startswith("specvae ")
    assert "log_loss_constant" in stored and "validation spectra" in stored["fitted_on"]
    assert read_metadata(model_path).training.get("confidence") is None  # the input model is left as it was

    spectra = tmp_path / "query.mgf"
    spectra.write_text((tmp_path / "train.mgf").read_text().split("END IONS")[0] + "END IONS\n")
    annotator = Annotator.load(fitted_path)
    rows = annotator.annotate(spectra, ["COC(=O)CCc1ccc(O)cc1", "CCOC(=O)c1ccc(O)cc1C", "CCO"], top_k=None,
                              tolerance_ppm=1e6, errors=ErrorReport()).rows()  # fmt: skip
    rank_one = [row for row in rows if row["rank"] == 1]
    assert rank_one and all(0 < row["confidence"] < 1 for row in rank_one)
    assert all(row["confidence"] is None for row in rows if row["rank"] != 1)


STEREO_POOL = [
    "C[C@@H](N)C(=O)O",  # L-alanine
    "C[C@H](N)C(=O)O",  # D-alanine: the same skeleton
    "CC(N)C(=O)O",  # no stereo stated: the same first block
    "NCCC(=O)O",  # beta-alanine: another skeleton
]
ALANINE_MGF = """BEGIN IONS
TITLE=ala
PEPMASS=90.0550
CHARGE=1+
IONMODE=POSITIVE
44.050 100
72.044 20
END IONS
"""


def test_collapse_stereo_keeps_one_row_per_skeleton(tiny_models, tmp_path):
    spectra = tmp_path / "ala.mgf"
    spectra.write_text(ALANINE_MGF)
    annotator = Annotator.load(tiny_models["positive"])
    full = annotator.annotate(spectra, STEREO_POOL, top_k=None, errors=ErrorReport())[0]
    assert len(full.ranked) == 4 and sorted(row.n_stereoisomers for row in full.ranked) == [1, 3, 3, 3]
    collapsed = annotator.annotate(spectra, STEREO_POOL, top_k=None, errors=ErrorReport(), collapse_stereo=True)[0]
    assert len(collapsed.ranked) == 2 and collapsed.n_candidates == 4
    assert sorted(row.n_stereoisomers for row in collapsed.ranked) == [1, 3]
    assert sorted(row.rank for row in collapsed.ranked) in ([1, 2], [1, 1])
    output = tmp_path / "out.tsv"
    (tmp_path / "pool.smi").write_text("\n".join(STEREO_POOL) + "\n")
    result = CliRunner().invoke(
        main,
        ["annotate", str(spectra), "-c", str(tmp_path / "pool.smi"), "--model", str(tiny_models["positive"]),
         "-o", str(output), "--collapse-stereo"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(output.open(), delimiter="\t"))
    assert len(rows) == 2 and len({row["inchikey14"] for row in rows}) == 2


def test_confidence_model_round_trips_through_a_dict():
    model = ConfidenceModel(-1.0, 2.0, -0.3, 10, "x")
    assert ConfidenceModel.from_dict({**model.to_dict(), "extra": 1}) == model
    assert 0 < model.probability(3.0, 50) < 1


def test_with_formula_conditioning_the_lists_are_scored_as_annotation_scores_them(tmp_path):
    """A model that carries a formula-conditioning weight is fitted on the conditioned scores: weight 0 leaves the
    lists' scores as they are; weight 1 reorders within each formula and keeps each formula's log-sum-exp."""
    from test_baseline import STRUCTURES, prepare_tiny_training_set, train_tiny_formula_reader

    from specvae.confidence import fit_confidence_on_training_set
    from specvae.formula_conditioning import METADATA_KEY
    from specvae.model_file import with_training_entry
    from specvae.validation_lists import formula_conditioned_list_scores, validation_lists

    training_set = prepare_tiny_training_set(tmp_path, 0.4)
    reader = tmp_path / "reader.specvae"
    train_tiny_formula_reader(training_set, reader)
    lists = validation_lists(reader, training_set, n_nearest=len(STRUCTURES), max_spectra=100)
    scores = [one.scores for one in lists.lists]
    zeros = [np.zeros(len(one.scores)) for one in lists.lists]
    unchanged = formula_conditioned_list_scores(reader, training_set, lists, scores, zeros, 0.0)
    for before, after in zip(scores, unchanged, strict=True):
        np.testing.assert_allclose(after, before)
    conditioned = formula_conditioned_list_scores(reader, training_set, lists, scores, zeros, 1.0)
    assert any(not np.allclose(after, before) for before, after in zip(scores, conditioned, strict=True))
    for one, before, after in zip(lists.lists, scores, conditioned, strict=True):
        formulas = [lists.formulas[row] for row in one.candidates]
        for formula in set(formulas):
            rows = [position for position, other in enumerate(formulas) if other == formula]
            assert np.logaddexp.reduce(after[rows]) == pytest.approx(np.logaddexp.reduce(before[rows]))

    weighted = tmp_path / "conditioned.specvae"
    with_training_entry(reader, weighted, METADATA_KEY, {"weight": 1.0})
    _, report = fit_confidence_on_training_set(weighted, training_set, n_nearest=8)
    assert report["with_formula_conditioning"] and report["n_spectra"] > 0
