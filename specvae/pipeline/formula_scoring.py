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
    formulas = np.array([candidate_formula(match) or "" for match in query.matches], dtype=object)
    usable = np.isfinite(query.scores) & (formulas != "")
    distinct, group, counts = np.unique(formulas[usable], return_inverse=True, return_counts=True)
    # a formula with one candidate keeps its ordinary score whatever its prediction: nothing to predict or score
    shared = counts[group] > 1
    rows = np.flatnonzero(usable)[shared]
    if rows.size == 0:
        return
    distinct, group = np.unique(formulas[rows], return_inverse=True)
    bits, _ = fingerprints.kept_bits([query.matches[row].candidate.inchikey for row in rows], definition)
    predictions = predictions_under_formulas(loaded, query, list(distinct))
    conditioned = np.full(len(formulas), np.nan)
    for index, prediction in enumerate(predictions):
        members = group == index
        conditioned[rows[members]] = score_candidates(prediction, bits[members])
    if query.fragment_scores is not None:
        conditioned += query.fragment_scores
    combined = formula_conditioned_scores(query.scores, conditioned, list(formulas), conditioning.weight)
    query.formula_scores = combined - query.scores
    query.scores = combined
