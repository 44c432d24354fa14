"""The formula-conditioning term of the scoring stage: for a model that reads molecular formulas and carries a
conditioning weight (:mod:`specvae.formula_conditioning`), each candidate is also scored under the prediction made
with its own formula, and the two scores are combined within each formula.

A query's predictions under its candidates' formulas come from its own spectrum alone, one formula row at a time
after the spectrum's part of the first layer (on one torch thread, like the prediction stage), so a candidate's
score does not depend on the other spectra of a run or on how they are batched.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from specvae.fingerprints import FingerprintDefinition
from specvae.formula_conditioning import formula_conditioned_scores
from specvae.formula_features import formula_feature_matrix
from specvae.pipeline.fingerprints import CandidateFingerprints
from specvae.pipeline.fragment_scoring import query_formulas
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.prediction import one_torch_thread
from specvae.pipeline.query import SpectrumQuery
from specvae.ranking import score_candidates


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
) -> None:
    """Replace the query's scores by their formula-conditioned form (a no-op for a model without conditioning),
    keeping each candidate's change in ``query.formula_scores`` for explanations.

    The conditioned scores are :func:`specvae.ranking.score_candidates` of each formula's candidates' kept bits,
    unpacked once for the query: a formula holds few candidates (CASMI 2016: 56 on average), where a byte table per
    formula (what the ordinary scoring stage builds once per spectrum) costs more than the bits it saves."""
    conditioning = loaded.formula_conditioning
    if conditioning is None or query.scores is None or not query.matches:
        return
    formulas = query_formulas(query)
    rows_of: dict[str, list[int]] = {}
    for row, (formula, score) in enumerate(zip(formulas, query.scores.tolist(), strict=True)):
        if formula and math.isfinite(score):
            rows_of.setdefault(formula, []).append(row)
    # a formula with one candidate keeps its ordinary score whatever its prediction: nothing to predict or score
    distinct = sorted(formula for formula, rows in rows_of.items() if len(rows) > 1)
    if not distinct:
        return
    rows = np.concatenate([rows_of[formula] for formula in distinct])  # each formula's candidates together
    bits, _ = fingerprints.kept_bits([query.matches[row].candidate.inchikey for row in rows], definition)
    predictions = predictions_under_formulas(loaded, query, distinct)
    conditioned = np.full(len(formulas), np.nan)
    start = 0
    for formula, prediction in zip(distinct, predictions, strict=True):
        stop = start + len(rows_of[formula])
        conditioned[rows[start:stop]] = score_candidates(prediction, bits[start:stop])
        start = stop
    if query.fragment_scores is not None:
        conditioned += query.fragment_scores
    combined = formula_conditioned_scores(query.scores, conditioned, list(formulas), conditioning.weight)
    query.formula_scores = combined - query.scores
    query.scores = combined
