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


def query_formulas(query: SpectrumQuery) -> list[str | None]:
    """:func:`candidate_formula` of each of the query's matches, worked out once a query (the fragment and the
    formula-conditioning terms both need them) and kept in ``query.candidate_formulas``."""
    if query.candidate_formulas is None or len(query.candidate_formulas) != len(query.matches):
        query.candidate_formulas = [candidate_formula(match) for match in query.matches]
    return query.candidate_formulas


def match_adduct(match: CandidateMatch, ion_mode: str) -> Adduct:
    """The adduct the candidate's mass was matched under, else the ion mode's default ([M+H]+ / [M-H]-)."""
    return label_adduct(match.adduct, ion_mode)


def label_adduct(label: str | None, ion_mode: str) -> Adduct:
    """:func:`match_adduct` of a match labelled ``label``."""
    if label:
        try:
            return parse_adduct(label)
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
        kept = np.flatnonzero(scored)
        formulas = query_formulas(query)
        # Each distinct (formula, adduct label) once: a list holds many candidates of one formula and one label,
        # and the adduct depends on the label alone, so its text is parsed once a query, not once a candidate.
        distinct: dict[tuple[str | None, str | None], int] = {}
        positions = np.fromiter(
            (distinct.setdefault((formulas[row], query.matches[row].adduct), len(distinct)) for row in kept),
            dtype=np.intp,
            count=len(kept),
        )
        adducts = {label: label_adduct(label, query.ion_mode) for _, label in distinct}
        peaks = query.spectrum.peaks
        shares = unexplained_shares(
            [formula for formula, _ in distinct],
            [adducts[label] for _, label in distinct],
            peaks.mz,
            peaks.intensities,
            float(query.spectrum.get("precursor_mz")),
            scoring,
        )[positions]
        fragment_scores = np.zeros(len(query.matches))
        fragment_scores[scored] = 0.0 - scoring.weight * shares  # 0.0, not -0.0, where all is explained
        query.fragment_scores = fragment_scores
        query.scores = query.scores + fragment_scores
