"""Where the answer lands in a ranking, with ties handled honestly, and the summaries built on it.

Matching: a candidate is "the answer" when its InChIKey first block (the skeleton) equals the answer's, so the
answer's stereoisomers count as the answer too; a challenge's rank is the best rank over those candidates.

Ties: candidates with equal scores (stereoisomers share every fingerprint bit, and so do some other structures)
form a tied group. Let ``b`` candidates score strictly better than the best answer candidate, and the tied group
of the best answer candidate have ``t`` members of which ``a`` are answer candidates. Then

- the **optimistic rank** is ``b + 1`` (competition ranking, what :func:`specvae.ranking.rank_scores` gives);
- the **expected rank** under random tie-breaking is the expected position of the first answer candidate when
  the group is put in a uniformly random order: ``b + (t + 1) / (a + 1)`` (the minimum of ``a`` of ``t``
  positions drawn without replacement has mean ``(t + 1) / (a + 1)``). With one answer candidate this is
  ``b + (t + 1) / 2``, the mean of the tied positions, which is how the CASMI organisers rank ties.

The expected rank is the headline: counts "answer within top k" use ``expected rank <= k``, as the CASMI
evaluation does, so they can be set beside the published contest results. Optimistic counts are reported too.

Random ranking (the baseline every method must beat): with ``n`` candidates of which ``a`` are answer candidates,
the first answer candidate of a random permutation is within the top ``k`` with probability
``1 - C(n - a, k) / C(n, k)`` (``min(k, n) / n`` for ``a = 1``), and its expected rank is ``(n + 1) / (a + 1)``
(``(n + 1) / 2`` for ``a = 1``). Summed over challenges these give expected counts, not integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOP_K = (1, 3, 5, 10, 20)
"""The cut-offs every table reports."""


@dataclass(frozen=True)
class AnswerRank:
    """Where a challenge's answer landed. Ranks are ``None`` when no candidate is the answer (``present`` False)."""

    present: bool
    optimistic: int | None = None
    expected: float | None = None
    n_better: int = 0
    n_tied: int = 0
    n_answers_tied: int = 0

    def within(self, k: int) -> bool:
        """Expected rank within the top ``k`` (the headline rule)."""
        return self.expected is not None and self.expected <= k

    def within_optimistic(self, k: int) -> bool:
        return self.optimistic is not None and self.optimistic <= k


def answer_rank(scores: np.ndarray, is_answer: np.ndarray) -> AnswerRank:
    """The answer's ranks among ``scores`` (higher is better; NaN ranks below every number).

    ``is_answer`` marks the candidates whose first block is the answer's.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_answer = np.asarray(is_answer, dtype=bool)
    if scores.shape != is_answer.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and is_answer {is_answer.shape} must be vectors of one length")
    if not is_answer.any():
        return AnswerRank(present=False)
    values = np.where(np.isnan(scores), -np.inf, scores)
    best = values[is_answer].max()
    n_better = int(np.count_nonzero(values > best))
    tied = values == best
    n_tied = int(np.count_nonzero(tied))
    n_answers_tied = int(np.count_nonzero(tied & is_answer))
    return AnswerRank(
        present=True,
        optimistic=n_better + 1,
        expected=n_better + (n_tied + 1) / (n_answers_tied + 1),
        n_better=n_better,
        n_tied=n_tied,
        n_answers_tied=n_answers_tied,
    )


def random_within_probability(n_candidates: int, n_answers: int, k: int) -> float:
    """P(first of ``n_answers`` answer candidates is within the top ``k``) for a random order of ``n_candidates``."""
    if n_answers <= 0 or n_candidates <= 0:
        return 0.0
    if n_answers > n_candidates:
        raise ValueError(f"{n_answers} answer candidates among {n_candidates} candidates")
    k = min(k, n_candidates)
    # C(n - a, k) / C(n, k) = prod_{i < a} (n - k - i) / (n - i): a factors (a is small), exact for a = 1 (k / n)
    miss = 1.0
    for i in range(n_answers):
        miss *= max(n_candidates - k - i, 0) / (n_candidates - i)
    return 1.0 - miss


def random_expected_rank(n_candidates: int, n_answers: int) -> float | None:
    """Expected rank of the first answer candidate in a random order: ``(n + 1) / (a + 1)``."""
    if n_answers <= 0 or n_candidates <= 0:
        return None
    return (n_candidates + 1) / (n_answers + 1)


@dataclass(frozen=True)
class RankSummary:
    """The numbers of one table row: a set of challenges ranked by one system."""

    n_challenges: int
    n_ranked: int
    n_answer_missing: int
    top_k: dict[int, float]
    top_k_optimistic: dict[int, float]
    mean_rank: float | None
    median_rank: float | None
    mean_rank_optimistic: float | None
    median_rank_optimistic: float | None

    def share(self, k: int, optimistic: bool = False) -> float:
        counts = self.top_k_optimistic if optimistic else self.top_k
        return counts[k] / self.n_challenges if self.n_challenges else math.nan

    def to_dict(self) -> dict:
        return {
            "n_challenges": self.n_challenges,
            "n_ranked": self.n_ranked,
            "n_answer_missing": self.n_answer_missing,
            "top_k": {str(k): v for k, v in self.top_k.items()},
            "top_k_share": {str(k): self.share(k) for k in self.top_k},
            "top_k_optimistic": {str(k): v for k, v in self.top_k_optimistic.items()},
            "mean_rank": self.mean_rank,
            "median_rank": self.median_rank,
            "mean_rank_optimistic": self.mean_rank_optimistic,
            "median_rank_optimistic": self.median_rank_optimistic,
        }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def summarise_ranks(ranks: Sequence[AnswerRank | None], top_k: Sequence[int] = TOP_K) -> RankSummary:
    """Counts of challenges with the answer within each top ``k`` (expected and optimistic), mean and median rank.

    ``None`` stands for a challenge that could not be ranked (no usable spectrum, no model for its mode): it counts
    in ``n_challenges`` (the denominator of every share) and in no top-k. A missing answer likewise counts as a miss;
    means and medians are over the challenges whose answer is in the list.
    """
    ranked = [rank for rank in ranks if rank is not None]
    present = [rank for rank in ranked if rank.present]
    expected = [float(rank.expected) for rank in present]
    optimistic = [float(rank.optimistic) for rank in present]
    return RankSummary(
        n_challenges=len(ranks),
        n_ranked=len(ranked),
        n_answer_missing=sum(not rank.present for rank in ranked),
        top_k={k: float(sum(rank.within(k) for rank in present)) for k in top_k},
        top_k_optimistic={k: float(sum(rank.within_optimistic(k) for rank in present)) for k in top_k},
        mean_rank=_mean(expected),
        median_rank=_median(expected),
        mean_rank_optimistic=_mean(optimistic),
        median_rank_optimistic=_median(optimistic),
    )


def summarise_random(lists: Sequence[tuple[int, int]], top_k: Sequence[int] = TOP_K) -> RankSummary:
    """The expected summary of a random ranking for challenges given as ``(n_candidates, n_answer_candidates)``.

    Top-k entries are expected counts (sums of probabilities); the mean rank is the mean of the expected ranks and
    the median rank the median of the expected ranks (a summary of expectations, not an expected median).
    """
    present = [(n, a) for n, a in lists if a > 0 and n > 0]
    expected = [float(random_expected_rank(n, a)) for n, a in present]
    counts = {k: float(sum(random_within_probability(n, a, k) for n, a in present)) for k in top_k}
    return RankSummary(
        n_challenges=len(lists),
        n_ranked=len(lists),
        n_answer_missing=len(lists) - len(present),
        top_k=counts,
        top_k_optimistic=dict(counts),
        mean_rank=_mean(expected),
        median_rank=_median(expected),
        mean_rank_optimistic=_mean(expected),
        median_rank_optimistic=_median(expected),
    )


def top_k_curve(ranks: Sequence[AnswerRank | None], ks: np.ndarray) -> np.ndarray:
    """Share of challenges whose expected rank is ``<= k`` for each ``k`` in ``ks`` (unranked count as misses)."""
    expected = np.array([rank.expected for rank in ranks if rank is not None and rank.present], dtype=np.float64)
    total = max(len(ranks), 1)
    return np.array([np.count_nonzero(expected <= k) / total for k in ks], dtype=np.float64)


def random_top_k_curve(lists: Sequence[tuple[int, int]], ks: np.ndarray) -> np.ndarray:
    """Expected share of challenges with the answer within the top ``k`` under a random ranking."""
    total = max(len(lists), 1)
    return np.array(
        [sum(random_within_probability(n, a, int(k)) for n, a in lists if a > 0) / total for k in ks],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class HeadToHead:
    """Two systems on the same challenges: where each puts the answer higher (expected ranks), and a sign test.

    Only challenges both ranked with the answer present count; equal expected ranks are ties and are left out of
    the two-sided sign test (binomial, p = 1/2), whose p-value says how surprising the split would be if neither
    system were better.
    """

    n_compared: int
    first_better: int
    second_better: int
    ties: int
    sign_test_p: float


def head_to_head(first: Sequence[AnswerRank | None], second: Sequence[AnswerRank | None]) -> HeadToHead:
    """Compare two systems' ranks of the same challenges (same order)."""
    from scipy.stats import binomtest

    if len(first) != len(second):
        raise ValueError(f"{len(first)} and {len(second)} challenges: compare the same challenges")
    pairs = [
        (a.expected, b.expected)
        for a, b in zip(first, second, strict=True)
        if a is not None and b is not None and a.present and b.present
    ]
    first_better = sum(a < b for a, b in pairs)
    second_better = sum(b < a for a, b in pairs)
    decided = first_better + second_better
    p_value = float(binomtest(first_better, decided, 0.5).pvalue) if decided else 1.0
    return HeadToHead(len(pairs), first_better, second_better, len(pairs) - decided, p_value)
