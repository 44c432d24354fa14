"""Scores under each candidate's own formula, normalised within the formula (specvae/formula_conditioning.py)."""

from __future__ import annotations

import numpy as np
import pytest

from specvae.formula_conditioning import (
    METADATA_KEY,
    FormulaConditioning,
    formula_conditioned_scores,
    model_formula_conditioning,
)

FORMULAS = ["C6H6O", "C6H6O", "C6H6O", "C7H8", "C7H8", None]
SCORES = np.array([-10.0, -12.0, -15.0, -11.0, -30.0, -9.0])
CONDITIONED = np.array([-20.0, -8.0, -25.0, -3.0, -2.0, -1.0])


def log_sum_exp(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.max() + np.log(np.exp(values - values.max()).sum()))


def test_weight_zero_gives_the_ordinary_scores_back() -> None:
    np.testing.assert_allclose(formula_conditioned_scores(SCORES, CONDITIONED, FORMULAS, 0.0), SCORES)


def test_by_hand_with_full_weight() -> None:
    result = formula_conditioned_scores(SCORES, CONDITIONED, FORMULAS, 1.0)
    phenol = [0, 1, 2]
    for row in phenol:
        expected = log_sum_exp(SCORES[phenol]) + CONDITIONED[row] - log_sum_exp(CONDITIONED[phenol])
        assert result[row] == pytest.approx(expected)
    assert result[5] == SCORES[5]  # no formula: the ordinary score
    assert result[1] > result[0]  # the conditioned prediction reorders within the formula


def test_a_formula_keeps_its_probability_mass_whatever_its_prediction_fits() -> None:
    """Shifting one formula's conditioned scores by a constant (its prediction fits its own candidates better)
    changes nothing: only the order within a formula can change."""
    shifted = CONDITIONED.copy()
    shifted[[3, 4]] += 1000.0
    for weight in (0.3, 1.0):
        result = formula_conditioned_scores(SCORES, shifted, FORMULAS, weight)
        np.testing.assert_allclose(result, formula_conditioned_scores(SCORES, CONDITIONED, FORMULAS, weight))
        for rows in ([0, 1, 2], [3, 4]):
            assert log_sum_exp(result[rows]) == pytest.approx(log_sum_exp(SCORES[rows]))


def test_unscored_candidates_stay_unscored_and_are_left_out_of_their_formula() -> None:
    scores = SCORES.copy()
    scores[2] = np.nan
    result = formula_conditioned_scores(scores, CONDITIONED, FORMULAS, 0.5)
    assert np.isnan(result[2])
    expected = formula_conditioned_scores(SCORES[[0, 1]], CONDITIONED[[0, 1]], FORMULAS[:2], 0.5)
    np.testing.assert_allclose(result[[0, 1]], expected)


def test_wrong_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="differ"):
        formula_conditioned_scores(SCORES, CONDITIONED[:3], FORMULAS, 0.5)
    with pytest.raises(ValueError, match="weight"):
        formula_conditioned_scores(SCORES, CONDITIONED, FORMULAS, 1.5)


def test_the_setting_round_trips_through_a_training_record() -> None:
    setting = FormulaConditioning(0.7, chosen_on="benchmarks/formula_decoys.py")
    assert model_formula_conditioning({METADATA_KEY: setting.to_dict()}) == setting
    assert model_formula_conditioning({}) is None
    assert model_formula_conditioning({METADATA_KEY: {"weight": 0.0}}) is None
    with pytest.raises(ValueError, match="weight"):
        FormulaConditioning(2.0)
    with pytest.raises(ValueError, match="weight"):
        model_formula_conditioning({METADATA_KEY: {"chosen_on": "x"}})
