"""The annotation pipeline: every path that ranks candidate structures for spectra runs these stages.

::

    read ─▶ clean ─▶ plan queries ─▶ candidate fingerprints (cache) ─▶ predict ─▶ score ─▶ rank ─▶ write
    spectra.py       planning.py     fingerprints.py                  prediction.py scoring.py ranking.py output

:func:`annotate_spectra` runs them as a stream (:mod:`specvae.pipeline.streaming`): spectra are read and planned one
by one, and each chunk whose prediction batches are complete is fingerprinted, scored and ranked, so that
:func:`iter_annotations` hands out the first spectra's results while later ones are still read.

One record type flows through them: :class:`SpectrumQuery`, one spectrum that each stage fills in (its cleaned
spectrum, then its model's ion mode and its candidates, then its predicted fingerprint, then one score per
candidate); ranking turns it into a :class:`SpectrumAnnotation`. The callers differ only in how they feed the
stages:

- :meth:`specvae.Annotator.annotate` and :meth:`specvae.Annotator.iter_annotations` (the notebook API and
  ``specvae annotate``) run :func:`iter_annotations`;
- :func:`specvae.distributed.annotate_distributed` runs read on the client, clean and plan on Dask workers,
  candidate fingerprints on the client (the cache's only writer), and predict, score and rank on the workers,
  chunk by chunk, with the same functions;
- ``specvae benchmark`` plans its queries from a contest's challenges (each challenge's spectrum and official list),
  then runs the fingerprint, predict and score stages and reads the answer's rank off the scores.

So the three give the same scores and ranks for the same spectra, candidates and models. Bad records never stop a
run: each stage reports the record it could not handle to the :class:`~specvae.errors.ErrorReport` (file, record,
reason) and passes the others on.

Example (the stages one by one, each over all spectra; :func:`annotate_spectra` gives the same results)::

    from specvae.pipeline import *
    models = load_models(["positive.specvae", "negative.specvae"])
    errors = ErrorReport()
    queries = clean_records(read_spectrum_records("spectra.mgf"), errors)
    queries = plan_queries(queries, models, read_candidate_set("candidates.csv", errors), 10.0, None, errors)
    fingerprints = candidate_fingerprints(unique_candidates(queries), shared_fingerprint(models), errors=errors)
    predict_queries(queries, models)
    score_queries(queries, fingerprints, models)
    results = rank_queries(queries, models, top_k=10, errors=errors)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from specvae.adducts import Adduct
from specvae.candidates import CandidateSet
from specvae.errors import ErrorReport
from specvae.fingerprints import FingerprintCache
from specvae.pipeline.candidates import candidate_source, read_candidate_set
from specvae.pipeline.fingerprints import CandidateFingerprints, candidate_fingerprints
from specvae.pipeline.models import ION_MODES, LoadedModel, load_models, pretrained_model_path, shared_fingerprint
from specvae.pipeline.planning import parse_adducts, plan_queries, unique_candidates
from specvae.pipeline.prediction import PREDICTION_BATCH_SIZE, predict_in_canonical_batches, predict_queries
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.ranking import rank_queries
from specvae.pipeline.results import (
    STATUS_NO_CANDIDATES,
    STATUS_NO_FINGERPRINTS,
    STATUS_OK,
    AnnotationResults,
    RankedStructure,
    SpectrumAnnotation,
)
from specvae.pipeline.scoring import score_queries
from specvae.pipeline.spectra import SpectraInput, clean_records, read_spectrum_records
from specvae.pipeline.streaming import iter_annotations

__all__ = [
    "ION_MODES",
    "PREDICTION_BATCH_SIZE",
    "STATUS_NO_CANDIDATES",
    "STATUS_NO_FINGERPRINTS",
    "STATUS_OK",
    "AnnotationResults",
    "CandidateFingerprints",
    "ErrorReport",
    "LoadedModel",
    "RankedStructure",
    "SpectrumAnnotation",
    "SpectrumQuery",
    "annotate_spectra",
    "candidate_fingerprints",
    "candidate_source",
    "clean_records",
    "iter_annotations",
    "load_models",
    "parse_adducts",
    "plan_queries",
    "predict_in_canonical_batches",
    "predict_queries",
    "pretrained_model_path",
    "rank_queries",
    "read_candidate_set",
    "read_spectrum_records",
    "score_queries",
    "shared_fingerprint",
    "unique_candidates",
]


def annotate_spectra(
    models: Mapping[str, LoadedModel],
    spectra: SpectraInput,
    candidate_set: CandidateSet,
    errors: ErrorReport,
    *,
    fingerprint_cache: FingerprintCache | None = None,
    n_workers: int = 1,
    top_k: int | None = 10,
    tolerance_ppm: float = 10.0,
    adducts: Sequence[Adduct] | None = None,
    collapse_stereo: bool = False,
    explain: bool = False,
    source_of_candidates: str = "<candidates>",
    progress: bool | None = None,
) -> AnnotationResults:
    """Every stage in order: the ranked candidates of each spectrum that was read, cleaned and given a model, in
    input order. ``models``: one per ion mode (:func:`load_models`); ``adducts``: :func:`parse_adducts`'s list, or
    None for each spectrum's own; ``source_of_candidates`` names the candidates in reports. Problems go to
    ``errors``. :func:`iter_annotations` hands out the same annotations one by one, as each is ranked."""
    results = AnnotationResults()
    results.explained = explain
    results.extend(
        iter_annotations(
            models,
            spectra,
            candidate_set,
            errors,
            fingerprint_cache=fingerprint_cache,
            n_workers=n_workers,
            top_k=top_k,
            tolerance_ppm=tolerance_ppm,
            adducts=adducts,
            collapse_stereo=collapse_stereo,
            explain=explain,
            source_of_candidates=source_of_candidates,
            progress=progress,
        )
    )
    return results
