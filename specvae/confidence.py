"""Confidence of an annotation: the calibrated probability that the rank-1 structure is right.

A score is a negative cross-entropy (−120 … −743 on CASMI): it cannot be thresholded, because its scale
depends on the spectrum and the candidate list. What says whether rank 1 can be trusted is how far it stands
above the runner-up and how many candidates it had to beat. So the confidence is a logistic regression

    P(rank 1 right) = σ(a + b · log(1 + gap) + c · log(n_skeletons)),

where ``gap`` is the score difference between the best candidate and the best candidate of *another* skeleton
(InChIKey first block: stereoisomers get identical fingerprints, hence identical scores, so the gap to a
stereoisomer says nothing), and ``n_skeletons`` counts the distinct skeletons in the list. ``b`` is kept
≥ 0, so the confidence never falls as the gap grows.

It is fitted on validation spectra of the training set, each ranked against the structures of the set
nearest in monoisotopic mass (a stand-in for a candidate list), never on a benchmark such as CASMI, whose
answers must stay unseen (:func:`fit_confidence_on_training_set`). The fit is stored in the model file's
metadata (``training["confidence"]``) by :func:`add_confidence_to_model_file`; the annotator reads it back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

METADATA_KEY = "confidence"
DEFAULT_N_NEAREST = 256
DEFAULT_MAX_SPECTRA = 5000


class ConfidenceError(ValueError):
    """A confidence fit that cannot be made (no validation spectra, a model that does not match its set)."""


@dataclass(frozen=True)
class ConfidenceModel:
    """The coefficients of the logistic regression (see the module docstring) and what they were fitted on."""

    intercept: float
    gap_coefficient: float
    log_count_coefficient: float
    n_spectra: int = 0
    fitted_on: str = ""

    def probability(self, gap: float | np.ndarray, n_skeletons: int | np.ndarray) -> float | np.ndarray:
        """P(rank 1 right) for a score gap (≥ 0; ``inf`` for a list of one skeleton) and a skeleton count."""
        features = confidence_features(gap, n_skeletons)
        logit = self.intercept + self.gap_coefficient * features[..., 0] + self.log_count_coefficient * features[..., 1]
        result = 1.0 / (1.0 + np.exp(-logit))
        return float(result) if np.ndim(result) == 0 else result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ConfidenceModel:
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})


GAP_CAP = 1e3
"""A list of one skeleton has no runner-up: its gap is taken as this many nats (beyond any real gap)."""


def confidence_features(gap: float | np.ndarray, n_skeletons: int | np.ndarray) -> np.ndarray:
    """``[log(1 + gap), log(n_skeletons)]`` with the gap clipped to [0, :data:`GAP_CAP`] (last axis: feature)."""
    gap = np.clip(np.asarray(gap, dtype=np.float64), 0.0, GAP_CAP)
    count = np.maximum(np.asarray(n_skeletons, dtype=np.float64), 1.0)
    return np.stack(np.broadcast_arrays(np.log1p(gap), np.log(count)), axis=-1)


def skeleton_gap(scores: np.ndarray, skeletons: Sequence[str]) -> tuple[float, int]:
    """``(gap, n_skeletons)`` of one ranked list: the best score minus the best score of another skeleton."""
    best_by_skeleton: dict[str, float] = {}
    for score, skeleton in zip(np.asarray(scores, dtype=np.float64), skeletons, strict=True):
        if score > best_by_skeleton.get(skeleton, -math.inf):
            best_by_skeleton[skeleton] = float(score)
    ordered = sorted(best_by_skeleton.values(), reverse=True)
    if len(ordered) < 2:
        return math.inf, len(ordered)
    return ordered[0] - ordered[1], len(ordered)


def rank_one_confidence(confidence: ConfidenceModel, scores: np.ndarray, skeletons: Sequence[str]) -> float | None:
    """The confidence of one ranked list: P(rank 1 right) from its :func:`skeleton_gap` and skeleton count.

    Candidates whose score is NaN (no fingerprint) are not part of the ranked list; None when no candidate has a
    score. ``specvae annotate`` (its ``confidence`` column) and ``specvae benchmark`` (``ranks.tsv``) both call
    this, so the two report the same number for the same list.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scored = ~np.isnan(scores)
    if not scored.any():
        return None
    kept = [skeleton for skeleton, keep in zip(skeletons, scored, strict=True) if keep]
    return float(confidence.probability(*skeleton_gap(scores[scored], kept)))


def rank_one_correctness(scores: np.ndarray, skeletons: Sequence[str], answer: str) -> float:
    """1 when the answer's skeleton alone scores best, ``1/k`` when it ties with ``k - 1`` others, else 0."""
    best_by_skeleton: dict[str, float] = {}
    for score, skeleton in zip(np.asarray(scores, dtype=np.float64), skeletons, strict=True):
        best_by_skeleton[skeleton] = max(best_by_skeleton.get(skeleton, -math.inf), float(score))
    top = max(best_by_skeleton.values())
    tied = [skeleton for skeleton, score in best_by_skeleton.items() if score == top]
    return 1.0 / len(tied) if answer in tied else 0.0


def fit_confidence(
    gaps: np.ndarray, n_skeletons: np.ndarray, correct: np.ndarray, l2: float = 1e-3, fitted_on: str = ""
) -> ConfidenceModel:
    """Fit the logistic regression by maximum likelihood (``correct`` may hold fractions: ties), with a small
    L2 penalty on the slopes and the gap slope bounded at ≥ 0 (monotone confidence)."""
    from scipy.optimize import minimize  # a quarter of a second to import, and only fitting needs it

    features = confidence_features(gaps, n_skeletons)
    target = np.asarray(correct, dtype=np.float64)
    if target.size == 0:
        raise ConfidenceError("no spectrum to fit the confidence on")

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = theta[0] + features @ theta[1:]
        probability = 1.0 / (1.0 + np.exp(-logit))
        # log(1 + e^x) written stably; the mean log-loss and its gradient
        value = np.mean(np.logaddexp(0.0, logit) - target * logit) + l2 * float(theta[1:] @ theta[1:])
        residual = (probability - target) / target.size
        gradient = np.concatenate([[residual.sum()], features.T @ residual + 2 * l2 * theta[1:]])
        return float(value), gradient

    prior = np.clip(target.mean(), 1e-3, 1 - 1e-3)
    start = np.array([math.log(prior / (1 - prior)), 0.0, 0.0])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(None, None), (0.0, None), (None, None)])
    intercept, gap_coefficient, count_coefficient = (float(value) for value in result.x)
    return ConfidenceModel(intercept, gap_coefficient, count_coefficient, int(target.size), fitted_on)


def log_loss(probabilities: np.ndarray, correct: np.ndarray) -> float:
    """Mean binary cross-entropy of ``probabilities`` against (possibly fractional) ``correct``."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(correct, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def model_confidence(training: dict[str, Any]) -> ConfidenceModel | None:
    """The confidence fit stored in a model's ``training`` metadata, or None when it has none."""
    values = training.get(METADATA_KEY)
    return None if not values else ConfidenceModel.from_dict(values)


def fit_confidence_on_training_set(
    model_path: str | os.PathLike[str],
    training_set_path: str | os.PathLike[str],
    *,
    n_nearest: int = DEFAULT_N_NEAREST,
    max_spectra: int = DEFAULT_MAX_SPECTRA,
    seed: int = 0,
    spectrum_files: Sequence[str | os.PathLike[str]] = (),
) -> tuple[ConfidenceModel, dict[str, Any]]:
    """Fit the confidence of a model on the validation spectra of the training set it was trained on.

    Each validation spectrum (at most ``max_spectra``, drawn with ``seed``) is ranked against the
    ``n_nearest`` structures of the whole set nearest in monoisotopic mass to its own structure (itself
    included), as a candidate list would offer (:mod:`specvae.validation_lists`), by the score annotation ranks
    by: with the model's fragment-formula term when it has one, whose peaks come from ``spectrum_files`` (the
    files the set was prepared from), and its formula conditioning when it has one. Its gap, skeleton count and
    whether rank 1 is right are the data of :func:`fit_confidence`. Returns the fit and a report (counts,
    log-losses of the fit and of a constant).
    Raises :class:`ConfidenceError` when the set's bins or fingerprint differ from the model's, or the model
    scores fragments and no spectrum file is given.
    """
    from specvae.formula_conditioning import model_formula_conditioning
    from specvae.fragment_formulas import model_fragment_scoring
    from specvae.fragment_weight_fit import list_shares
    from specvae.model_file import read_metadata
    from specvae.validation_lists import (
        ValidationListError,
        ValidationLists,
        formula_conditioned_list_scores,
        read_peaks,
        validation_lists,
    )

    metadata = read_metadata(model_path)
    fragment_scoring = model_fragment_scoring(metadata.training)
    if fragment_scoring is not None and not spectrum_files:
        raise ConfidenceError(
            f"{model_path}: the model also scores fragment formulas; give the spectrum files the training set was "
            "prepared from (--spectra), so that the confidence is fitted on the score annotation ranks by"
        )
    try:
        lists = validation_lists(model_path, training_set_path, n_nearest=n_nearest, max_spectra=max_spectra, seed=seed)
    except ValidationListError as error:
        raise ConfidenceError(str(error)) from None
    shares: list[np.ndarray | None] = [np.zeros(len(one.candidates)) for one in lists.lists]
    if fragment_scoring is not None:
        peaks = read_peaks(spectrum_files, (one.identifier for one in lists.lists))
        shares = list_shares(lists, peaks, metadata.ion_mode, fragment_scoring)
    kept = [(one, share) for one, share in zip(lists.lists, shares, strict=True) if share is not None]
    weight = 0.0 if fragment_scoring is None else fragment_scoring.weight
    fragment_terms = [-weight * share for _, share in kept]
    list_scores = [one.scores + fragment for (one, _), fragment in zip(kept, fragment_terms, strict=True)]
    conditioning = model_formula_conditioning(metadata.training)
    if conditioning is not None:  # the score annotation ranks by (specvae.pipeline.formula_scoring)
        subset = ValidationLists([one for one, _ in kept], lists.formulas)
        list_scores = formula_conditioned_list_scores(
            model_path, training_set_path, subset, list_scores, fragment_terms, conditioning.weight
        )
    gaps, counts, correct = [], [], []
    for (one, _), scores in zip(kept, list_scores, strict=True):
        gap, n_skeletons = skeleton_gap(scores, one.skeletons)
        gaps.append(gap)
        counts.append(n_skeletons)
        correct.append(rank_one_correctness(scores, one.skeletons, one.answer_skeleton))
    if not correct:
        raise ConfidenceError(f"none of the validation spectra of {training_set_path} is in the spectrum files")
    gaps_array, counts_array, correct_array = np.array(gaps), np.array(counts), np.array(correct)
    fitted = fit_confidence(
        gaps_array, counts_array, correct_array, fitted_on=f"validation spectra of {os.fspath(training_set_path)}"
    )
    constant = np.full(correct_array.size, correct_array.mean())
    report = {
        "n_spectra": int(correct_array.size),
        "n_nearest": n_nearest,
        "top1_accuracy": float(correct_array.mean()),
        "log_loss": log_loss(fitted.probability(gaps_array, counts_array), correct_array),
        "log_loss_constant": log_loss(constant, correct_array),
        "seed": seed,
        "with_fragment_formulas": fragment_scoring is not None,
        "with_formula_conditioning": conditioning is not None,
    }
    return fitted, report


def add_confidence_to_model_file(
    model_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    confidence: ConfidenceModel,
    report: dict[str, Any] | None = None,
) -> None:
    """Write ``model_path`` to ``output`` with ``confidence`` in its metadata; the weights are copied bit for
    bit (not re-quantised) and the file gets fresh checksums. ``model_path`` is verified first."""
    from specvae.model_file import with_training_entry

    with_training_entry(model_path, output, METADATA_KEY, {**confidence.to_dict(), **(report or {})})
