"""Ranking every challenge's candidate list with a system's models and locating the answer.

Per ion mode, the model predicts the fingerprint of all that mode's spectra in one batch; each challenge's
candidates are then scored by the Bernoulli log-likelihood of their kept bits under the prediction, exactly as
:func:`specvae.ranking.score_candidates` scores them (see :func:`full_length_weights`). A candidate without a
fingerprint gets the score NaN and ranks below every scored candidate, as in :func:`specvae.ranking.rank_scores`.

Each ranking also gets the confidence of its rank 1, by :func:`specvae.confidence.rank_one_confidence` on the
scored candidates (the function ``specvae annotate`` fills its confidence column with), when the system's model
for the mode carries a fitted confidence, and whether that rank 1 is right as the confidence defines it
(:func:`specvae.confidence.rank_one_correctness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from specvae.benchmark.candidate_bits import CandidateBits
from specvae.benchmark.challenges import Challenge
from specvae.benchmark.metrics import AnswerRank, answer_rank
from specvae.benchmark.models import System
from specvae.confidence import ConfidenceModel, model_confidence, rank_one_confidence, rank_one_correctness
from specvae.fingerprints import FingerprintDefinition
from specvae.prediction import predict_fingerprint_probabilities
from specvae.ranking import CandidateBitMatrix, log_odds_weights


@dataclass
class ChallengeResult:
    """One challenge ranked by one system. ``rank`` is ``None`` when it could not be ranked (``reason`` says why).

    ``scores`` follow the challenge's candidate order (NaN: no fingerprint). ``rank_one_right`` is the share of
    rank 1 that is the answer's skeleton (1 alone at the top, ``1/k`` in a tie of ``k`` skeletons, 0 otherwise;
    None without a scored candidate); ``confidence`` the predicted probability of that (None when the model has no
    fitted confidence).
    """

    challenge: str
    ion_mode: str
    n_candidates: int
    n_answer_candidates: int
    rank: AnswerRank | None
    scores: np.ndarray | None = None
    reason: str = ""
    rank_one_right: float | None = None
    confidence: float | None = None

    @property
    def best_candidate(self) -> int | None:
        """Index of the top-scoring candidate (first in list order among ties)."""
        if self.scores is None or not np.isfinite(self.scores).any():
            return None
        return int(np.nanargmax(self.scores))


@dataclass
class SystemRun:
    """Every challenge's result for one system, in benchmark order."""

    label: str
    results: list[ChallengeResult] = field(default_factory=list)

    def ranks(self, ion_mode: str | None = None) -> list[AnswerRank | None]:
        return [result.rank for result in self.results if ion_mode is None or result.ion_mode == ion_mode]


def answer_mask(challenge: Challenge) -> np.ndarray:
    """Which candidates are the answer: their InChIKey first block equals the answer's (stereo-insensitive)."""
    answer = challenge.answer_first_block
    return np.fromiter((block == answer for block in challenge.candidates.first_blocks), dtype=bool)


def full_length_weights(probabilities: np.ndarray, definition: FingerprintDefinition) -> tuple[np.ndarray, float]:
    """The log-odds of the kept bits spread over the full fingerprint (0 for bits the model does not predict), and
    the constant of :func:`specvae.ranking.log_odds_weights`.

    ``full_bits @ weights + constant`` is then the score :func:`specvae.ranking.score_candidates` gives the kept bits,
    bit for bit: the CSR product sums each row's terms in column order, and the extra terms are exact zeros. Scoring
    full fingerprints lets every system share one candidate matrix per challenge instead of selecting columns anew.
    """
    log_odds, constant = log_odds_weights(probabilities)
    weights = np.zeros(definition.n_bits, dtype=np.float64)
    weights[definition.kept_bit_indices()] = log_odds
    return weights, constant


def _predictions(system: System, challenges: Sequence[Challenge]) -> dict[str, tuple[np.ndarray, float]]:
    """Full-length scoring weights of every challenge the system can rank (its mode has a model, it has a spectrum)."""
    weights: dict[str, tuple[np.ndarray, float]] = {}
    for mode, model in system.models.items():
        rankable = [c for c in challenges if c.ion_mode == mode and c.spectrum is not None]
        if not rankable:
            continue
        binned = model.binner.bin([challenge.spectrum for challenge in rankable])
        probabilities = predict_fingerprint_probabilities(model.network, binned)
        for challenge, prediction in zip(rankable, probabilities, strict=True):
            weights[challenge.name] = full_length_weights(prediction, model.fingerprint)
    return weights


def evaluate_systems(
    systems: Sequence[System], challenges: Sequence[Challenge], bits: CandidateBits
) -> list[SystemRun]:
    """Rank every challenge with each system's model for its ion mode; one candidate matrix per challenge serves
    every system."""
    runs = [SystemRun(system.label) for system in systems]
    weights = [_predictions(system, challenges) for system in systems]
    confidences: list[dict[str, ConfidenceModel | None]] = [
        {mode: model_confidence(model.metadata.training) for mode, model in system.models.items()} for system in systems
    ]
    for challenge in challenges:
        is_answer = answer_mask(challenge)
        base = dict(
            challenge=challenge.name,
            ion_mode=challenge.ion_mode,
            n_candidates=len(challenge.candidates),
            n_answer_candidates=int(is_answer.sum()),
        )
        matrix, valid, scored_skeletons = None, None, []
        for system, run, system_weights, system_confidences in zip(systems, runs, weights, confidences, strict=True):
            if challenge.ion_mode not in system.models:
                run.results.append(ChallengeResult(**base, rank=None, reason=f"no {challenge.ion_mode} mode model"))
                continue
            if challenge.name not in system_weights:
                run.results.append(ChallengeResult(**base, rank=None, reason="no usable spectrum"))
                continue
            if matrix is None:
                full, valid = bits.full_bits(challenge.candidates.inchikeys)
                matrix = CandidateBitMatrix.from_bits(full[valid])
                scored_skeletons = [
                    block for block, kept in zip(challenge.candidates.first_blocks, valid, strict=True) if kept
                ]
            scores = np.full(len(challenge.candidates), np.nan)
            challenge_weights, constant = system_weights[challenge.name]
            scores[valid] = matrix.matrix @ challenge_weights + constant
            result = ChallengeResult(**base, rank=answer_rank(scores, is_answer), scores=scores)
            if scored_skeletons:
                result.rank_one_right = rank_one_correctness(
                    scores[valid], scored_skeletons, challenge.answer_first_block
                )
                confidence = system_confidences[challenge.ion_mode]
                if confidence is not None:
                    result.confidence = rank_one_confidence(confidence, scores[valid], scored_skeletons)
            run.results.append(result)
    return runs

