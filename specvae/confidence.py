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
from scipy.optimize import minimize

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
) -> tuple[ConfidenceModel, dict[str, Any]]:
    """Fit the confidence of a model on the validation spectra of the training set it was trained on.

    Each validation spectrum (at most ``max_spectra``, drawn with ``seed``) is ranked against the
    ``n_nearest`` structures of the whole set nearest in monoisotopic mass to its own structure (itself
    included), as a candidate list would offer; its gap, skeleton count and whether rank 1 is right are the
    data of :func:`fit_confidence`. Returns the fit and a report (counts, log-losses of the fit and of a
    constant). Raises :class:`ConfidenceError` when the set's bins or fingerprint differ from the model's.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors

    from specvae.fingerprints import FingerprintDefinition
    from specvae.model_file import load_model
    from specvae.pipeline.prediction import predict_in_canonical_batches
    from specvae.ranking import score_candidates
    from specvae.training_set_reader import TrainingSet

    model, metadata = load_model(model_path)
    data = TrainingSet.load(training_set_path, metadata.ion_mode)
    if data.binner.to_dict() != metadata.binning:
        raise ConfidenceError(f"{training_set_path}: its spectrum bins differ from those of {model_path}")
    definition = FingerprintDefinition.from_dict(metadata.fingerprint)
    if data.fingerprint.to_dict() != definition.without_mask().to_dict():
        raise ConfidenceError(f"{training_set_path}: its fingerprint differs from that of {model_path}")
    spectra = data.spectra_in("validation")
    spectra = spectra[data.spectrum_structure[spectra] >= 0]
    if spectra.size == 0:
        raise ConfidenceError(f"{training_set_path}: no validation spectrum with a structure in {metadata.ion_mode}")
    if spectra.size > max_spectra:
        spectra = np.sort(np.random.default_rng(seed).choice(spectra, max_spectra, replace=False))

    RDLogger.DisableLog("rdApp.*")
    smiles = _structure_smiles(training_set_path)
    masses = np.array([_mass(Chem, Descriptors, text) for text in smiles])
    usable = np.flatnonzero(np.isfinite(masses))
    order = usable[np.argsort(masses[usable], kind="stable")]
    sorted_masses = masses[order]
    kept_bits = definition.select_kept(data.fingerprint_bits())
    predictions = predict_in_canonical_batches(model, data.spectra[spectra])

    gaps, counts, correct = [], [], []
    for prediction, structure in zip(predictions, data.spectrum_structure[spectra], strict=True):
        if not np.isfinite(masses[structure]):
            continue
        candidates = _nearest(order, sorted_masses, masses[structure], n_nearest)
        if structure not in candidates:
            candidates = np.append(candidates[:-1], structure)
        scores = score_candidates(prediction, kept_bits[candidates])
        skeletons = list(data.structure_inchikey14[candidates])
        gap, n_skeletons = skeleton_gap(scores, skeletons)
        gaps.append(gap)
        counts.append(n_skeletons)
        correct.append(rank_one_correctness(scores, skeletons, data.structure_inchikey14[structure]))
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
    }
    return fitted, report


def _structure_smiles(training_set_path: str | os.PathLike[str]) -> list[str]:
    import h5py

    with h5py.File(training_set_path, "r") as handle:
        return list(handle["structures/smiles"].asstr()[()])


def _mass(chem: Any, descriptors: Any, smiles: str) -> float:
    mol = chem.MolFromSmiles(smiles) if smiles else None
    return float(descriptors.ExactMolWt(mol)) if mol is not None else math.nan


def _nearest(order: np.ndarray, sorted_masses: np.ndarray, mass: float, count: int) -> np.ndarray:
    """The ``count`` structures (rows of ``order``) nearest to ``mass``, from a window around its position."""
    position = int(np.searchsorted(sorted_masses, mass))
    low, high = max(0, position - count), min(len(order), position + count)
    window = np.arange(low, high)
    nearest = window[np.argsort(np.abs(sorted_masses[window] - mass), kind="stable")[:count]]
    return order[np.sort(nearest)]


def add_confidence_to_model_file(
    model_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    confidence: ConfidenceModel,
    report: dict[str, Any] | None = None,
) -> None:
    """Write ``model_path`` to ``output`` with ``confidence`` in its metadata; the weights are copied bit for
    bit (not re-quantised) and the file gets fresh checksums. ``model_path`` is verified first."""
    from safetensors.torch import load_file

    from specvae.model_file import read_metadata, write_model_tensors

    metadata = read_metadata(model_path)  # verifies the checksums before anything is copied
    tensors = load_file(str(model_path))
    metadata.training = {**metadata.training, METADATA_KEY: {**confidence.to_dict(), **(report or {})}}
    write_model_tensors(output, tensors, metadata.to_json())
