"""Answer ranks with ties, the random-ranking formulas, and the summaries, against hand counts and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from specvae.benchmark.metrics import (
    AnswerRank,
    answer_rank,
    head_to_head,
    random_expected_rank,
    random_top_k_curve,
    random_within_probability,
    summarise_random,
    summarise_ranks,
    top_k_curve,
)


def brute_force_first_answer_positions(n_better: int, n_tied: int, n_answers: int) -> list[int]:
    """Position of the first answer for every ordering of a tied group (answers = the first n_answers items)."""
    positions = []
    for order in itertools.permutations(range(n_tied)):
        first = min(position for position, item in enumerate(order) if item < n_answers)
        positions.append(n_better + first + 1)
    return positions


def test_a_single_answer_tied_with_one_other_candidate() -> None:
    # scores 5, 3, 3, 1 with the answer at index 2: one better, tied pair -> optimistic 2, expected 2.5
    rank = answer_rank(np.array([5.0, 3.0, 3.0, 1.0]), np.array([False, False, True, False]))
    assert rank == AnswerRank(present=True, optimistic=2, expected=2.5, n_better=1, n_tied=2, n_answers_tied=1)


def test_untied_answer_has_equal_optimistic_and_expected_rank() -> None:
    rank = answer_rank(np.array([0.1, 0.7, -2.0, 0.3]), np.array([False, False, False, True]))
    assert (rank.optimistic, rank.expected, rank.n_tied) == (2, 2.0, 1)


def test_the_best_of_several_answer_candidates_counts() -> None:
    # stereoisomers of the answer at ranks 4 and 2: the challenge's rank is 2
    scores = np.array([9.0, 8.0, 7.0, 6.0, 5.0])
    rank = answer_rank(scores, np.array([False, True, False, True, False]))
    assert (rank.optimistic, rank.expected) == (2, 2.0)


@pytest.mark.parametrize(("n_better", "n_tied", "n_answers"), [(0, 4, 1), (2, 5, 2), (1, 6, 3), (3, 3, 3)])
def test_expected_rank_is_the_mean_first_answer_position_over_all_orderings(n_better, n_tied, n_answers) -> None:
    scores = np.concatenate([np.full(n_better, 10.0), np.full(n_tied, 4.0), np.full(2, 1.0)])
    is_answer = np.zeros(scores.size, dtype=bool)
    is_answer[n_better : n_better + n_answers] = True
    is_answer[-1] = True  # a worse answer candidate changes nothing
    rank = answer_rank(scores, is_answer)
    positions = brute_force_first_answer_positions(n_better, n_tied, n_answers)
    assert rank.expected == pytest.approx(np.mean(positions), abs=1e-12)
    assert rank.optimistic == min(positions) == n_better + 1


def test_missing_answer_and_nan_scores() -> None:
    assert answer_rank(np.array([1.0, 2.0]), np.array([False, False])) == AnswerRank(present=False)
    # NaN (no fingerprint) ranks below every number, tied with other NaNs
    rank = answer_rank(np.array([np.nan, 1.0, np.nan, 0.5]), np.array([True, False, False, False]))
    assert (rank.optimistic, rank.expected, rank.n_tied) == (3, 3.5, 2)


def test_random_probability_for_one_answer_is_min_k_n_over_n() -> None:
    for n in (1, 2, 7, 100):
        for k in (1, 3, 5, 10, 20, 150):
            assert random_within_probability(n, 1, k) == pytest.approx(min(k, n) / n, abs=1e-15)
    assert random_expected_rank(9, 1) == 5.0
    assert random_within_probability(10, 0, 3) == 0.0 and random_expected_rank(10, 0) is None


@pytest.mark.parametrize(("n", "a"), [(5, 2), (6, 3), (4, 4)])
def test_random_formulas_with_several_answers_match_enumeration(n, a) -> None:
    positions = brute_force_first_answer_positions(0, n, a)
    assert random_expected_rank(n, a) == pytest.approx(np.mean(positions))
    for k in range(1, n + 2):
        assert random_within_probability(n, a, k) == pytest.approx(np.mean(np.array(positions) <= k))
    # closed form 1 - C(n - a, k) / C(n, k)
    assert random_within_probability(n, a, 2) == pytest.approx(1 - math.comb(n - a, 2) / math.comb(n, 2))


def test_summaries_count_misses_and_unranked_challenges_in_the_denominator() -> None:
    ranks = [
        AnswerRank(True, 1, 1.0, 0, 1, 1),
        AnswerRank(True, 1, 1.5, 0, 2, 1),  # tied at the top: top-1 only optimistically
        AnswerRank(True, 4, 6.0, 3, 5, 1),
        AnswerRank(present=False),
        None,  # no usable spectrum
    ]
    summary = summarise_ranks(ranks)
    assert (summary.n_challenges, summary.n_ranked, summary.n_answer_missing) == (5, 4, 1)
    assert summary.top_k == {1: 1.0, 3: 2.0, 5: 2.0, 10: 3.0, 20: 3.0}
    assert summary.top_k_optimistic[1] == 2.0 and summary.top_k_optimistic[5] == 3.0
    assert summary.share(3) == pytest.approx(2 / 5)
    assert summary.mean_rank == pytest.approx((1.0 + 1.5 + 6.0) / 3)
    assert summary.median_rank == 1.5 and summary.median_rank_optimistic == 1.0
    ks = np.array([1, 2, 6])
    np.testing.assert_allclose(top_k_curve(ranks, ks), [1 / 5, 2 / 5, 3 / 5])


def test_random_summary_is_the_sum_of_per_challenge_expectations() -> None:
    lists = [(10, 1), (4, 2), (1, 1), (50, 0)]  # the last one's answer is missing
    summary = summarise_random(lists)
    expected_top3 = 3 / 10 + (1 - math.comb(2, 3) / math.comb(4, 3)) + 1.0
    assert summary.top_k[3] == pytest.approx(expected_top3)
    assert summary.top_k[1] == pytest.approx(1 / 10 + 2 / 4 + 1.0)
    assert summary.n_answer_missing == 1
    assert summary.mean_rank == pytest.approx((11 / 2 + 5 / 3 + 1.0) / 3)
    np.testing.assert_allclose(random_top_k_curve(lists, np.array([3])), [expected_top3 / 4])


def test_head_to_head_counts_and_sign_test() -> None:
    def ranked(value: float) -> AnswerRank:
        return AnswerRank(True, int(value), value, 0, 1, 1)

    first = [ranked(1), ranked(2), None, AnswerRank(present=False), ranked(5), *[ranked(1)] * 4]
    second = [ranked(2), ranked(2), ranked(3), ranked(4), ranked(1), *[ranked(3)] * 4]
    result = head_to_head(first, second)
    assert (result.n_compared, result.first_better, result.second_better, result.ties) == (7, 5, 1, 1)
    # two-sided binomial test of 5 successes in 6: 2 * (C(6,5) + C(6,6)) / 2**6
    assert result.sign_test_p == pytest.approx(2 * 7 / 64)
    assert head_to_head([ranked(1)], [ranked(1)]).sign_test_p == 1.0
