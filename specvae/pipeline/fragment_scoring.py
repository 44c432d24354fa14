"""The fragment-formula stage: each scored candidate's score lowered by the share of the spectrum its formula
cannot explain (:mod:`specvae.fragment_formulas`), for models that carry a fitted weight.

It runs right after the fingerprint score (:func:`specvae.pipeline.scoring.score_queries`), so annotate, the
distributed path and the benchmark rank by the same score. A candidate's formula is read without parsing its
structure where the input allows: the InChI's formula layer, else the stated formula, else RDKit's from the
structure (already parsed for a fingerprint computed in this run). The stage keeps each candidate's part of the
score in ``query.fragment_scores`` so that an explanation can show it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from specvae.adducts import Adduct, default_adduct, parse_adduct
from specvae.candidates import CandidateMatch
from specvae.errors import SpecvaeError
from specvae.fragment_formulas import inchi_formula, unexplained_shares
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.query import SpectrumQuery


def candidate_formula(match: CandidateMatch) -> str | None:
    """The candidate's molecular formula, cheapest source first; None when it has none that can be read."""
    candidate = match.candidate
    formula = inchi_formula(candidate.inchi)
    if formula is not None:
        return formula
    try:
        return candidate.molecular_formula
    except SpecvaeError:
        return None


def match_adduct(match: CandidateMatch, ion_mode: str) -> Adduct:
    """The adduct the candidate's mass was matched under, else the ion mode's default ([M+H]+ / [M-H]-)."""
    if match.adduct:
        try:
            return parse_adduct(match.adduct)
        except ValueError:
            pass
    return default_adduct(ion_mode)


def add_fragment_formula_scores(queries: Sequence[SpectrumQuery], models: Mapping[str, LoadedModel]) -> None:
    """Subtract ``weight × unexplained share`` from each scored candidate of each query whose model has a
    fragment-formula weight; candidates without a fingerprint keep their NaN."""
    for query in queries:
        scoring = models[query.ion_mode].fragment_scoring
        if scoring is None or query.scores is None or not query.matches:
            continue
        scored = ~np.isnan(query.scores)
        matches = [match for match, keep in zip(query.matches, scored, strict=True) if keep]
        peaks = query.spectrum.peaks
        shares = unexplained_shares(
            [candidate_formula(match) for match in matches],
            [match_adduct(match, query.ion_mode) for match in matches],
            peaks.mz,
            peaks.intensities,
            float(query.spectrum.get("precursor_mz")),
            scoring,
        )
        fragment_scores = np.zeros(len(query.matches))
        fragment_scores[scored] = 0.0 - scoring.weight * shares  # 0.0, not -0.0, where all is explained
        query.fragment_scores = fragment_scores
        query.scores = query.scores + fragment_scores
