"""The formula-conditioning term of the scoring stage: for a model that reads molecular formulas and carries a
conditioning weight (:mod:`specvae.formula_conditioning`), each candidate is also scored under the prediction made
with its own formula, and the two scores are combined within each formula.

A query's predictions under its candidates' formulas come from its own spectrum alone, one formula row at a time
after the spectrum's part of the first layer (on one torch thread, like the prediction stage), so a candidate's
score does not depend on the other spectra of a run or on how they are batched.
"""

from __future__ import annotations

import numpy as np
import torch

from specvae.fingerprints import FingerprintDefinition
from specvae.formula_conditioning import formula_conditioned_scores
from specvae.formula_features import formula_feature_matrix
from specvae.pipeline.fingerprints import CandidateFingerprints
from specvae.pipeline.fragment_scoring import candidate_formula
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.prediction import one_torch_thread
from specvae.pipeline.query import SpectrumQuery


def predictions_under_formulas(loaded: LoadedModel, query: SpectrumQuery, formulas: list[str]) -> np.ndarray:
    """``(len(formulas), n_kept_bits)``: the model's prediction for the query's spectrum under each formula."""
    binned = loaded.binner.bin([query.spectrum])
    spectrum = torch.from_numpy(binned.toarray().astype(np.float32))
    block = torch.from_numpy(formula_feature_matrix(formulas))
    with one_torch_thread():
        return loaded.model.probabilities_under_formulas(spectrum, block).numpy()


def add_formula_conditioned_scores(
    query: SpectrumQuery,
    loaded: LoadedModel,
    fingerprints: CandidateFingerprints,
    definition: FingerprintDefinition,
    candidate_scores,
) -> None:
    """Replace the query's scores by their formula-conditioned form (a no-op for a model without conditioning),
    keeping each candidate's change in ``query.formula_scores`` for explanations. ``candidate_scores`` is the
    scoring stage's ``(prediction, inchikeys, fingerprints, definition) -> scores``."""
    conditioning = loaded.formula_conditioning
    if conditioning is None or query.scores is None or not query.matches:
        return
    formulas = [candidate_formula(match) for match in query.matches]
    scored = np.isfinite(query.scores)
    distinct = sorted({formula for formula, keep in zip(formulas, scored, strict=True) if formula and keep})
    if not distinct:
        return
    keys = [match.candidate.inchikey for match in query.matches]
    fragment = np.zeros(len(keys)) if query.fragment_scores is None else query.fragment_scores
    conditioned = np.full(len(keys), np.nan)
    rows_of: dict[str, list[int]] = {}
    for position, formula in enumerate(formulas):
        if formula:
            rows_of.setdefault(formula, []).append(position)
    for formula, prediction in zip(distinct, predictions_under_formulas(loaded, query, distinct), strict=True):
        rows = np.array(rows_of[formula])
        conditioned[rows] = candidate_scores(prediction, [keys[row] for row in rows], fingerprints, definition)
    conditioned += fragment
    combined = formula_conditioned_scores(query.scores, conditioned, formulas, conditioning.weight)
    query.formula_scores = combined - query.scores
    query.scores = combined
