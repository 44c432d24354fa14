"""The stages run as a stream: each spectrum's ranked candidates come out as soon as it is ranked, in input order.

Why: against a large pool most of a run is spent on the candidates' fingerprints, and a user who waits for every
spectrum before seeing the first result cannot tell a good run from a wrong one (a wrong adduct, a wrong column)
until the end. So spectra are read, cleaned and planned one by one, and whenever a prediction batch is complete the
spectra at the head of the input whose predictions are known go through the fingerprint, score and rank stages
together and are handed on; the others wait for their batch.

Why the results are the very ones of a run that takes each stage over all spectra at once:

- a spectrum is predicted in the same batch (:data:`~specvae.pipeline.prediction.PREDICTION_BATCH_SIZE`
  consecutive spectra of its ion mode, in input order; the last one of each mode when the input ends);
- a structure is fingerprinted once, from the first candidate met with its InChIKey (the chunks come in input
  order, so that is the first in the whole input), and its fingerprint is kept for the later chunks;
- scoring and ranking look at one spectrum at a time;
- the error report gets each stage's records in the order a stage-by-stage run adds them (reading and cleaning,
  planning, fingerprints, ranking), when the stream ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from specvae.adducts import Adduct
from specvae.candidates import CandidateSet
from specvae.errors import ErrorReport
from specvae.fingerprints import FingerprintCache, FingerprintDefinition
from specvae.pipeline.fingerprints import CandidateFingerprints, candidate_fingerprints
from specvae.pipeline.models import LoadedModel, shared_fingerprint
from specvae.pipeline.planning import iter_plan_queries, unique_candidates
from specvae.pipeline.prediction import PREDICTION_BATCH_SIZE, predict_queries
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.ranking import rank_queries
from specvae.pipeline.results import SpectrumAnnotation
from specvae.pipeline.scoring import score_queries
from specvae.pipeline.spectra import SpectraInput, iter_clean_records, read_spectrum_records
from specvae.spectra.records import quiet_matchms


class KnownFingerprints:
    """The fingerprints a stream has computed so far, so that a structure met again in a later chunk is neither
    computed nor reported again."""

    def __init__(
        self,
        definition: FingerprintDefinition,
        *,
        cache: FingerprintCache | None = None,
        n_workers: int = 1,
        progress: bool | None = None,
        errors: ErrorReport | None = None,
        source: str = "<candidates>",
    ) -> None:
        self.definition = definition.without_mask()
        self.cache = cache
        self.n_workers = n_workers
        self.progress = progress
        self.errors = errors
        self.source = source
        self.rows: dict[str, np.ndarray] = {}
        self.failures: dict[str, str] = {}

    def for_queries(self, queries: Sequence[SpectrumQuery]) -> CandidateFingerprints:
        """The fingerprints of the queries' candidates: those not met before computed (through the cache) now."""
        needed = unique_candidates(queries)
        new = [
            candidate
            for candidate in needed
            if candidate.inchikey not in self.rows and candidate.inchikey not in self.failures
        ]
        if new:
            found = candidate_fingerprints(
                new,
                self.definition,
                cache=self.cache,
                n_workers=self.n_workers,
                progress=self.progress,
                errors=self.errors,
                source=self.source,
            )
            for candidate in new:
                row = found.row_of.get(candidate.inchikey)
                if row is None:
                    self.failures[candidate.inchikey] = found.failures.get(candidate.inchikey, "")
                else:
                    self.rows[candidate.inchikey] = found.packed[row]
        keys = [candidate.inchikey for candidate in needed if candidate.inchikey in self.rows]
        n_bytes = (self.definition.n_bits + 7) // 8
        packed = np.stack([self.rows[key] for key in keys]) if keys else np.zeros((0, n_bytes), dtype=np.uint8)
        failures = {
            candidate.inchikey: self.failures[candidate.inchikey]
            for candidate in needed
            if candidate.inchikey in self.failures
        }
        return CandidateFingerprints(
            self.definition,
            {key: row for row, key in enumerate(keys)},
            packed,
            failures=failures,
            n_distinct=len(needed),
        )


def iter_annotations(
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
) -> Iterator[SpectrumAnnotation]:
    """The :class:`SpectrumAnnotation` of each spectrum that was read, cleaned and given a model, in input order,
    each as soon as it is ranked (the arguments are :func:`~specvae.pipeline.annotate_spectra`'s). Spectra are read
    as they are needed, so ``spectra`` may be a generator. Problems go to ``errors`` when the stream ends (also
    when it is closed early)."""
    read_errors, plan_errors, fingerprint_errors, rank_errors = (ErrorReport() for _ in range(4))
    known = KnownFingerprints(
        shared_fingerprint(dict(models)),
        cache=fingerprint_cache,
        n_workers=n_workers,
        progress=progress,
        errors=fingerprint_errors,
        source=source_of_candidates,
    )

    def ranked(ready: list[SpectrumQuery]) -> Iterator[SpectrumAnnotation]:
        if not ready:
            return
        fingerprints = known.for_queries(ready)
        score_queries(ready, fingerprints, models)
        yield from rank_queries(
            ready,
            models,
            top_k=top_k,
            collapse_stereo=collapse_stereo,
            explain=explain,
            fingerprints=fingerprints,
            errors=rank_errors,
        )

    stored_keys = None if fingerprint_cache is None else fingerprint_cache.stored_keys
    pending: deque[SpectrumQuery] = deque()  # planned, not yet ranked, in input order
    batches: dict[str, list[SpectrumQuery]] = {mode: [] for mode in models}  # each mode's incomplete batch
    try:
        planned = _quietly(
            iter_plan_queries(
                iter_clean_records(read_spectrum_records(spectra), read_errors),
                models,
                candidate_set,
                tolerance_ppm,
                adducts,
                plan_errors,
                stored_keys,
                progress,
                description="annotating spectra",
            )
        )
        for query in planned:
            pending.append(query)
            batch = batches[query.ion_mode]
            batch.append(query)
            if len(batch) == PREDICTION_BATCH_SIZE:
                predict_queries(batch, models)
                batches[query.ion_mode] = []
                yield from ranked(_predicted_head(pending))
        predict_queries([query for batch in batches.values() for query in batch], models)
        yield from ranked(_predicted_head(pending))
    finally:
        for report in (read_errors, plan_errors, fingerprint_errors, rank_errors):
            errors.extend(report)


def _predicted_head(pending: deque[SpectrumQuery]) -> list[SpectrumQuery]:
    """Take the queries at the head of ``pending`` that are predicted (the rest wait for their batch)."""
    ready = []
    while pending and pending[0].prediction is not None:
        ready.append(pending.popleft())
    return ready


def _quietly(queries: Iterator[SpectrumQuery]) -> Iterator[SpectrumQuery]:
    """The queries, with matchms' per-spectrum warnings silenced while each is read, and only then (the caller's
    own code runs between two queries)."""
    while True:
        with quiet_matchms():
            query = next(queries, None)
        if query is None:
            return
        yield query
