"""Ranking every challenge's candidate list with a system's models and locating the answer.

The benchmark runs the stages of :mod:`specvae.pipeline` that ``specvae annotate`` runs: each challenge becomes a
:class:`~specvae.pipeline.SpectrumQuery` (its spectrum, the ion mode the contest states, its official list, in list
order), the candidates' fingerprints come from the pipeline's fingerprint stage (once for every system), and each
system's models predict and score the queries with the pipeline's predict and score stages. A candidate without a
fingerprint scores NaN and ranks below every scored candidate. Only what a contest asks for is the benchmark's
own: where the answer lands (:func:`specvae.benchmark.metrics.answer_rank`, ties shared by expected rank).

Each ranking also gets the confidence of its rank 1, from the scored candidates as ``specvae annotate`` fills its
confidence column (:func:`specvae.pipeline.ranking.scored_confidence`), when the system's model for the mode
carries a fitted confidence, and whether that rank 1 is right as the confidence defines it
(:func:`specvae.confidence.rank_one_correctness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from specvae.benchmark.challenges import Challenge
from specvae.benchmark.metrics import AnswerRank, answer_rank
from specvae.benchmark.models import System
from specvae.candidates import Candidate, CandidateMatch
from specvae.confidence import ConfidenceModel, rank_one_correctness
from specvae.pipeline.fingerprints import CandidateFingerprints
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.prediction import predict_queries
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.ranking import scored_confidence
from specvae.pipeline.scoring import score_queries


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


def challenge_candidates(challenge: Challenge) -> list[Candidate]:
    """The challenge's official list as pipeline candidates, in list order (formula and mass are not needed: the
    list is given, not filtered by mass)."""
    listed = challenge.candidates
    return [
        Candidate(identifier, None, smiles or None, inchikey, inchi=inchi or None)
        for identifier, inchikey, smiles, inchi in zip(
            listed.identifiers, listed.inchikeys, listed.smiles, listed.inchis, strict=True
        )
    ]


def challenge_queries(challenges: Sequence[Challenge]) -> list[SpectrumQuery]:
    """The pipeline's planned queries of the challenges that have a spectrum: the contest states each one's ion
    mode and list, so these replace the read, clean and plan stages. They come in the order of the contest's
    spectrum files (:attr:`Challenge.spectrum_position`), the input order the prediction stage batches by."""
    order = sorted(
        range(len(challenges)),
        key=lambda index: (
            challenges[index].spectrum_position if challenges[index].spectrum_position is not None else index
        ),
    )
    return [
        SpectrumQuery(
            challenge.name,
            challenge.name,
            challenge.spectrum,
            ion_mode=challenge.ion_mode,
            matches=[CandidateMatch(candidate, None) for candidate in challenge_candidates(challenge)],
        )
        for challenge in (challenges[index] for index in order)
        if challenge.spectrum is not None
    ]


def loaded_models(system: System) -> dict[str, LoadedModel]:
    """The system's models as the pipeline takes them, by ion mode (a benchmark model is a pipeline model)."""
    return dict(system.models)


def scored_queries(
    models: dict[str, LoadedModel], queries: Sequence[SpectrumQuery], fingerprints: CandidateFingerprints
) -> dict[str, SpectrumQuery]:
    """The queries of the models' ion modes, predicted and scored (copies: every system scores the same planned
    queries), by challenge name."""
    own = [replace(query) for query in queries if query.ion_mode in models]
    predict_queries(own, models)
    score_queries(own, fingerprints, models)
    return {query.spectrum_id: query for query in own}


def evaluate_systems(
    systems: Sequence[System],
    challenges: Sequence[Challenge],
    fingerprints: CandidateFingerprints,
    queries: Sequence[SpectrumQuery] | None = None,
) -> list[SystemRun]:
    """Rank every challenge with each system's model for its ion mode. ``queries``: the challenges' planned
    queries (:func:`challenge_queries`), when the caller has already made them."""
    queries = challenge_queries(challenges) if queries is None else queries
    runs = []
    for system in systems:
        models = loaded_models(system)
        scored = scored_queries(models, queries, fingerprints)
        confidences = {mode: loaded.confidence for mode, loaded in models.items()}
        run = SystemRun(system.label)
        for challenge in challenges:
            run.results.append(_challenge_result(challenge, scored.get(challenge.name), confidences))
        runs.append(run)
    return runs


def _challenge_result(
    challenge: Challenge, query: SpectrumQuery | None, confidences: dict[str, ConfidenceModel | None]
) -> ChallengeResult:
    is_answer = answer_mask(challenge)
    base = dict(
        challenge=challenge.name,
        ion_mode=challenge.ion_mode,
        n_candidates=len(challenge.candidates),
        n_answer_candidates=int(is_answer.sum()),
    )
    if challenge.ion_mode not in confidences:
        return ChallengeResult(**base, rank=None, reason=f"no {challenge.ion_mode} mode model")
    if query is None or query.scores is None:
        return ChallengeResult(**base, rank=None, reason="no usable spectrum")
    scores = query.scores
    result = ChallengeResult(**base, rank=answer_rank(scores, is_answer), scores=scores)
    scored = ~np.isnan(scores)
    if scored.any():
        skeletons = challenge.candidates.first_blocks
        kept = [skeleton for skeleton, keep in zip(skeletons, scored, strict=True) if keep]
        result.rank_one_right = rank_one_correctness(scores[scored], kept, challenge.answer_first_block)
        result.confidence = scored_confidence(confidences[challenge.ion_mode], scores, skeletons)
    return result
