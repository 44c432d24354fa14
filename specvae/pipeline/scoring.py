"""The scoring stage: each candidate's Bernoulli log-likelihood under its spectrum's predicted fingerprint.

:func:`specvae.ranking.score_candidates` on the model's kept bits; a candidate without a fingerprint scores NaN,
which ranks below every scored candidate (:func:`specvae.ranking.rank_scores`). A candidate's score depends only
on its own bits and the prediction (the sparse product sums each row on its own), so it is the same in a list of
ten or of ten thousand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from specvae.fingerprints import FingerprintDefinition
from specvae.pipeline.fingerprints import CandidateFingerprints
from specvae.pipeline.fragment_scoring import add_fragment_formula_scores
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.query import SpectrumQuery
from specvae.ranking import score_candidates


def candidate_scores(
    prediction: np.ndarray,
    inchikeys: Sequence[str],
    fingerprints: CandidateFingerprints,
    definition: FingerprintDefinition,
) -> np.ndarray:
    """Score ``(n,)`` float64 of each InChIKey under ``prediction`` (the kept bits of ``definition``); NaN where
    ``fingerprints`` has none."""
    scores = np.full(len(inchikeys), np.nan)
    bits, valid = fingerprints.kept_bits(inchikeys, definition)
    if valid.any():
        scores[valid] = score_candidates(prediction, bits[valid])
    return scores


def score_queries(
    queries: Sequence[SpectrumQuery], fingerprints: CandidateFingerprints, models: Mapping[str, LoadedModel]
) -> None:
    """Fill in each predicted query's ``scores``, one per match, with its model's kept bits, and the fragment-formula
    term of the models that carry one (:mod:`specvae.pipeline.fragment_scoring`)."""
    definitions = {mode: loaded.fingerprint for mode, loaded in models.items()}  # parsed once per mode
    for query in queries:
        if query.prediction is None:
            raise ValueError(f"spectrum {query.spectrum_id!r} is scored before it was predicted")
        keys = [match.candidate.inchikey for match in query.matches]
        query.scores = candidate_scores(query.prediction, keys, fingerprints, definitions[query.ion_mode])
    add_fragment_formula_scores(queries, models)
