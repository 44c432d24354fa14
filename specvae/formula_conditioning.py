"""Scoring candidates with predictions made under their own molecular formula, without letting a formula win by it.

A network that reads a formula (:mod:`specvae.formula_features`) predicts the bits structures *of that formula*
tend to have. Scoring each candidate under its own formula's prediction alone lets a wrong formula's prediction fit
its own candidates, whatever the spectrum says (measured in ``benchmarks/results/accuracy/formula_input.md``:
it loses a third of the top-1 answers on lists that mix formulas). So the two questions are kept apart:

- *which formula*: the log-sum-exp of the candidates' ordinary scores within each formula (the prediction without
  a formula, plus the fragment-formula term), i.e. log P(formula | spectrum) up to a constant shared by the list;
- *which structure of that formula*: ``(1 − weight) × ordinary + weight × conditioned`` scores, normalised over the
  formula's candidates (a log-softmax), i.e. log P(structure | formula, spectrum).

A candidate's score is their sum. With ``weight`` 0 it is its ordinary score exactly; a formula's candidates keep
their log-sum-exp whatever the weight, so conditioning reorders candidates within a formula and never moves
probability mass between formulas. Candidates without a formula, or without a score, keep their ordinary score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

METADATA_KEY = "formula_conditioning"
"""The key of a model's training record that holds its :class:`FormulaConditioning`."""


@dataclass(frozen=True)
class FormulaConditioning:
    """How much the within-formula ranking follows the prediction made under each candidate's formula."""

    weight: float
    chosen_on: str = ""
    """How the weight was chosen (a command and its measurement), shown by ``specvae info``."""

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not 0 <= self.weight <= 1:
            raise ValueError(f"formula conditioning weight must be a number in [0, 1], got {self.weight!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FormulaConditioning:
        if not isinstance(values, Mapping) or "weight" not in values:
            raise ValueError(f"formula conditioning must be a mapping with a weight, got {values!r}")
        return cls(weight=values["weight"], chosen_on=str(values.get("chosen_on", "")))


def model_formula_conditioning(training: Mapping[str, Any]) -> FormulaConditioning | None:
    """The formula conditioning stored in a model's training record, or None (ordinary scores)."""
    values = training.get(METADATA_KEY)
    if not values:
        return None
    conditioning = FormulaConditioning.from_dict(values)
    return conditioning if conditioning.weight > 0 else None


def model_reads_formulas(model: Any) -> bool:
    """Whether a loaded model (a network or an ensemble) can predict under a given formula."""
    return bool(getattr(model, "reads_formulas", False) or getattr(model, "n_formula_features", 0))


def formula_conditioned_scores(
    scores: np.ndarray, conditioned: np.ndarray, formulas: Sequence[str | None], weight: float
) -> np.ndarray:
    """``(n,)`` scores: log P(formula | spectrum) + log P(structure | formula, spectrum), as the module says.

    ``scores``: each candidate's ordinary score (NaN where unscored); ``conditioned``: its score under the
    prediction made with its own formula, with the same other terms; ``formulas``: its formula (None: none).
    """
    scores = np.asarray(scores, dtype=np.float64)
    conditioned = np.asarray(conditioned, dtype=np.float64)
    if scores.shape != conditioned.shape or scores.ndim != 1 or len(formulas) != len(scores):
        raise ValueError(f"scores {scores.shape}, conditioned {conditioned.shape} and {len(formulas)} formulas differ")
    if not 0 <= weight <= 1 or math.isnan(weight):
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    result = scores.copy()
    names = np.array([formula or "" for formula in formulas], dtype=object)
    usable = np.flatnonzero((names != "") & np.isfinite(scores) & np.isfinite(conditioned))
    if usable.size == 0:
        return result
    order = usable[np.argsort(names[usable], kind="stable")]  # each formula's candidates together, in list order
    sorted_names = names[order]
    starts = np.flatnonzero(np.r_[True, sorted_names[1:] != sorted_names[:-1]])
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, order.size]))
    within = (1 - weight) * scores[order] + weight * conditioned[order]
    result[order] = (
        _group_log_sum_exp(scores[order], starts)[group] + within - _group_log_sum_exp(within, starts)[group]
    )
    return result


def _group_log_sum_exp(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """log Σ exp over each run of ``values`` that begins at ``starts`` (shifted by the run's maximum)."""
    peaks = np.maximum.reduceat(values, starts)
    lengths = np.diff(np.r_[starts, values.size])
    return peaks + np.log(np.add.reduceat(np.exp(values - np.repeat(peaks, lengths)), starts))
