"""The ranking stage: a scored query becomes its ranked rows (best first, ties sharing a rank), with the rank-1
confidence and, on request, each row's explanation.

Candidates without a fingerprint (score NaN) are left out of the ranking; a query left with none gets the status
that says why (:data:`~specvae.pipeline.results.STATUS_NO_CANDIDATES`, ``STATUS_NO_FINGERPRINTS``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from rdkit import Chem

from specvae.candidates import CandidateMatch
from specvae.confidence import ConfidenceModel, rank_one_confidence
from specvae.errors import ErrorReport, InvalidStructureError, RecordError
from specvae.explanation import explain_candidates
from specvae.fingerprints import FingerprintDefinition
from specvae.pipeline.fingerprints import CandidateFingerprints
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.results import (
    STATUS_NO_CANDIDATES,
    STATUS_NO_FINGERPRINTS,
    STATUS_OK,
    AnnotationResults,
    RankedStructure,
    SpectrumAnnotation,
)
from specvae.ranking import rank_scores
from specvae.spectra.metadata import spectrum_precursor_mz, spectrum_retention_time

NO_FINGERPRINT_REASON = "no candidate could be fingerprinted"


def scored_confidence(confidence: ConfidenceModel | None, scores: np.ndarray, skeletons: Sequence[str]) -> float | None:
    """The calibrated probability that rank 1 of a list is right, from its scored candidates (NaN scores and
    their skeletons are left out), or None without a fitted confidence or a scored candidate."""
    scored = ~np.isnan(scores)
    if confidence is None or not scored.any():
        return None
    kept = [skeleton for skeleton, keep in zip(skeletons, scored, strict=True) if keep]
    return rank_one_confidence(confidence, scores[scored], kept)


def rank_query(
    query: SpectrumQuery,
    top_k: int | None,
    *,
    collapse_stereo: bool = False,
    confidence: ConfidenceModel | None = None,
    explain: bool = False,
    fingerprints: CandidateFingerprints | None = None,
    definition: FingerprintDefinition | None = None,
) -> SpectrumAnnotation:
    """The ranked rows of one scored query (the best ``top_k``; ``None``: all). With ``collapse_stereo``, one row
    per skeleton (the best-scored of its stereoisomers, which score alike), ranked among the skeletons;
    ``n_stereoisomers`` counts the others. ``explain`` needs the ``fingerprints`` and the model's ``definition``."""
    if query.scores is None:
        raise ValueError(f"spectrum {query.spectrum_id!r} is ranked before it was scored")
    scored = ~np.isnan(query.scores)
    if not scored.any():
        return _empty_annotation(query, STATUS_NO_FINGERPRINTS if query.matches else STATUS_NO_CANDIDATES)
    matches = [match for match, keep in zip(query.matches, scored, strict=True) if keep]
    scores = query.scores[scored]
    annotation = _annotation(query, matches, scores, top_k, collapse_stereo, confidence)
    if explain:
        if fingerprints is None or definition is None or query.prediction is None:
            raise ValueError("explanations need the candidates' fingerprints and the model's fingerprint definition")
        own = fingerprints.for_candidates([match.candidate for match in matches])
        bits, _ = own.kept_bits([match.candidate.inchikey for match in matches], definition)
        fragment = np.zeros(len(matches)) if query.fragment_scores is None else query.fragment_scores[scored]
        formula = np.zeros(len(matches)) if query.formula_scores is None else query.formula_scores[scored]
        fingerprint = scores - fragment - formula
        _add_explanations(annotation, matches, query.prediction, bits, fingerprint, fragment, formula, definition)
    return annotation


def rank_queries(
    queries: Sequence[SpectrumQuery],
    models: Mapping[str, LoadedModel],
    *,
    top_k: int | None,
    collapse_stereo: bool = False,
    explain: bool = False,
    fingerprints: CandidateFingerprints | None = None,
    errors: ErrorReport | None = None,
) -> AnnotationResults:
    """Every scored query ranked, in input order; a query with candidates but no fingerprinted one goes to
    ``errors`` as well."""
    definitions = {mode: loaded.fingerprint for mode, loaded in models.items()}  # parsed once per mode
    confidences = {mode: loaded.confidence for mode, loaded in models.items()}
    results = AnnotationResults()
    results.explained = explain
    for query in queries:
        annotation = rank_query(
            query,
            top_k,
            collapse_stereo=collapse_stereo,
            confidence=confidences[query.ion_mode],
            explain=explain,
            fingerprints=fingerprints,
            definition=definitions[query.ion_mode],
        )
        if annotation.status == STATUS_NO_FINGERPRINTS and errors is not None:
            errors.append(RecordError(query.source, query.spectrum_id, NO_FINGERPRINT_REASON, query.spectrum_id))
        results.append(annotation)
    return results


def _empty_annotation(query: SpectrumQuery, status: str) -> SpectrumAnnotation:
    return SpectrumAnnotation(
        query.spectrum_id,
        query.ion_mode,
        len(query.matches),
        status=status,
        precursor_mz=spectrum_precursor_mz(query.spectrum),
        retention_time=spectrum_retention_time(query.spectrum),
        binned_intensity_fraction=query.binned_intensity_fraction,
    )


def _annotation(
    query: SpectrumQuery,
    matches: list[CandidateMatch],
    scores: np.ndarray,
    top_k: int | None,
    collapse_stereo: bool,
    confidence: ConfidenceModel | None,
) -> SpectrumAnnotation:
    skeletons = [match.candidate.inchikey14 for match in matches]
    stereoisomers = Counter(skeletons)
    ranks = rank_scores(scores)
    order = np.lexsort((np.arange(len(scores)), ranks))
    if collapse_stereo:
        seen: set[str] = set()
        best_of_skeleton = []
        for position in order:  # best first: the first of each skeleton is its best-scored stereoisomer
            if skeletons[position] not in seen:
                seen.add(skeletons[position])
                best_of_skeleton.append(position)
        order = np.array(best_of_skeleton, dtype=int)
        ranks = np.zeros(len(scores), dtype=int)
        ranks[order] = rank_scores(scores[order])
    if top_k is not None:
        order = order[:top_k]
    probability = None if confidence is None else rank_one_confidence(confidence, scores, skeletons)
    annotation = _empty_annotation(query, STATUS_OK)
    annotation.n_candidates = len(matches)
    for position in order:
        candidate = matches[position].candidate
        annotation.ranked.append(
            RankedStructure(
                spectrum_id=query.spectrum_id,
                rank=int(ranks[position]),
                score=float(scores[position]),
                identifier=candidate.identifier,
                name=candidate.name,
                inchikey=candidate.inchikey,
                smiles=candidate.smiles,
                molecular_formula=candidate.molecular_formula,
                mass_error_ppm=matches[position].mass_error_ppm,
                n_candidates=len(matches),
                binned_intensity_fraction=query.binned_intensity_fraction,
                adduct=matches[position].adduct,
                precursor_mz=annotation.precursor_mz,
                retention_time=annotation.retention_time,
                confidence=probability if ranks[position] == 1 else None,
                n_stereoisomers=stereoisomers[skeletons[position]],
            )
        )
    return annotation


def _add_explanations(
    annotation: SpectrumAnnotation,
    matches: list[CandidateMatch],
    prediction: np.ndarray,
    bits: np.ndarray,
    fingerprint_scores: np.ndarray,
    fragment_scores: np.ndarray,
    formula_scores: np.ndarray,
    definition: FingerprintDefinition,
) -> None:
    """Attach its explanation to each ranked row (rows and ``matches`` are tied by InChIKey: a list holds
    each structure once): the fingerprint score split by bit, and the fragment-formula and formula-conditioning
    terms beside it."""
    position_of = {match.candidate.inchikey: position for position, match in enumerate(matches)}
    positions = [position_of[row.inchikey] for row in annotation.ranked]

    def molecule(position: int) -> Chem.Mol | None:
        try:
            return matches[position].candidate.molecule()
        except InvalidStructureError:
            return None

    scores = fingerprint_scores + fragment_scores + formula_scores
    explanations = explain_candidates(
        prediction,
        bits,
        fingerprint_scores,
        definition,
        positions,
        molecule,
        lambda position: matches[position].candidate.identifier,
        np.lexsort((np.arange(len(scores)), -scores)),
    )
    for row, position in zip(annotation.ranked, positions, strict=True):
        row.explanation = replace(
            explanations[position],
            score=float(scores[position]),
            fragment_formula_score=float(fragment_scores[position]),
            formula_conditioning_score=float(formula_scores[position]),
        )
