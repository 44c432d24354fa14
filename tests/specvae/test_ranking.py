"""Candidate scoring (one sparse matrix-vector product) against the per-bit formula, ties, and ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from specvae.ranking import (
    CandidateBitMatrix,
    RankedCandidate,
    log_odds_weights,
    rank_candidates,
    rank_scores,
    score_candidates,
)


def per_bit_loop_score(probabilities: np.ndarray, bits: np.ndarray, eps: float) -> list[float]:
    """The seed's cross-entropy written out bit by bit, in plain Python."""
    scores = []
    for candidate in bits:
        total = 0.0
        for p, y in zip(probabilities, candidate, strict=True):
            p = min(max(float(p), eps), 1.0 - eps)
            total += math.log(p) if y else math.log(1.0 - p)
        scores.append(total)
    return scores


def test_two_bit_example_by_hand() -> None:
    probabilities = np.array([0.9, 0.2])
    bits = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.uint8)
    expected = [
        math.log(0.9) + math.log(0.8),
        math.log(0.1) + math.log(0.2),
        math.log(0.9) + math.log(0.2),
        math.log(0.1) + math.log(0.8),
    ]
    np.testing.assert_allclose(score_candidates(probabilities, bits), expected, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_per_bit_loop_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_candidates, n_bits = 60, 97
    probabilities = rng.random(n_bits) ** 3  # mostly small, like fingerprint bit frequencies
    probabilities[:3] = [0.0, 1.0, 1e-9]  # exercise clipping
    bits = rng.random((n_candidates, n_bits)) < 0.1
    expected = per_bit_loop_score(probabilities, bits, eps=1e-6)
    scores = score_candidates(probabilities, bits, eps=1e-6)
    assert scores.dtype == np.float64 and scores.shape == (n_candidates,)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(score_candidates(probabilities, CandidateBitMatrix.from_bits(bits)), scores, rtol=0)


def test_log_odds_form_and_clipping() -> None:
    log_odds, constant = log_odds_weights(np.array([0.5, 0.0, 1.0]), eps=1e-3)
    np.testing.assert_allclose(log_odds, [0.0, math.log(1e-3 / 0.999), math.log(0.999 / 1e-3)], rtol=1e-12)
    assert constant == pytest.approx(math.log(0.5) + math.log(0.999) + math.log(1e-3), rel=1e-12)


def test_identical_fingerprints_tie_exactly_wherever_they_are() -> None:
    rng = np.random.default_rng(7)
    bits = rng.random((1000, 300)) < 0.05
    bits[[3, 500, 999]] = bits[42]  # stereoisomers: same fingerprint at scattered positions
    scores = score_candidates(rng.random(300), bits)
    assert scores[3] == scores[500] == scores[999] == scores[42]
    ranks = rank_scores(scores)
    assert ranks[3] == ranks[500] == ranks[999] == ranks[42]
    assert np.sum(ranks == ranks[42]) == 4
    assert np.sum(ranks == ranks[42] + 1) == 0  # competition ranking skips the tied places


def test_the_candidate_agreeing_with_the_prediction_ranks_first() -> None:
    rng = np.random.default_rng(11)
    truth = rng.random(200) < 0.1
    probabilities = np.where(truth, 0.8, 0.05)
    decoys = rng.random((50, 200)) < 0.1
    bits = np.vstack([decoys[:20], truth, decoys[20:]])
    ranks = rank_scores(score_candidates(probabilities, bits))
    assert ranks[20] == 1
    assert np.sum(ranks == 1) == 1


def test_rank_scores_competition_ranking_and_nan() -> None:
    np.testing.assert_array_equal(rank_scores(np.array([5.0, 3.0, 3.0, 1.0])), [1, 2, 2, 4])
    np.testing.assert_array_equal(rank_scores(np.array([1.0, np.nan, 2.0, 2.0, np.nan])), [3, 4, 1, 1, 4])
    np.testing.assert_array_equal(rank_scores(np.array([-np.inf, 0.0, np.inf, -np.inf])), [3, 2, 1, 3])
    assert rank_scores(np.array([])).shape == (0,)
    np.testing.assert_array_equal(rank_scores(np.array([np.nan, np.nan])), [1, 1])


def test_rank_candidates_orders_best_first_and_keeps_ties_in_input_order() -> None:
    ranked = rank_candidates(np.array([-3.0, -1.0, -2.0, -1.0]), identifiers=["a", "b", "c", "d"])
    assert ranked == [
        RankedCandidate(rank=1, score=-1.0, index=1, identifier="b"),
        RankedCandidate(rank=1, score=-1.0, index=3, identifier="d"),
        RankedCandidate(rank=3, score=-2.0, index=2, identifier="c"),
        RankedCandidate(rank=4, score=-3.0, index=0, identifier="a"),
    ]
    assert [candidate.identifier for candidate in rank_candidates(np.array([0.0, 1.0]))] == [None, None]


def test_bad_inputs_are_refused() -> None:
    bits = np.zeros((2, 3), dtype=bool)
    with pytest.raises(ValueError, match="3 bits but the prediction has 4"):
        score_candidates(np.full(4, 0.5), bits)
    with pytest.raises(ValueError, match="NaN"):
        score_candidates(np.array([0.5, np.nan, 0.5]), bits)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score_candidates(np.array([0.5, 1.5, 0.5]), bits)
    with pytest.raises(ValueError, match="0 or 1"):
        score_candidates(np.full(3, 0.5), np.array([[0, 2, 1]]))
    with pytest.raises(ValueError, match="matrix"):
        score_candidates(np.full(3, 0.5), np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="2 scores but 1 identifiers"):
        rank_candidates(np.zeros(2), identifiers=["x"])
    assert score_candidates(np.full(3, 0.5), np.zeros((0, 3), dtype=bool)).shape == (0,)
