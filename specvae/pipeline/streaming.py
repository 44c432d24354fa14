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
from specvae.candidates import Candidate, CandidateSet
from specvae.errors import ErrorReport
from specvae.fingerprints import FingerprintCache, FingerprintDefinition
from specvae.pipeline.collector import collector_paused
from specvae.pipeline.fingerprints import CandidateFingerprints, candidate_fingerprints
from specvae.pipeline.halves import score_and_rank
from specvae.pipeline.models import LoadedModel, shared_fingerprint
from specvae.pipeline.planning import iter_plan_queries, unique_candidates
from specvae.pipeline.prediction import PREDICTION_BATCH_SIZE, predict_queries
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.results import SpectrumAnnotation
from specvae.pipeline.spectra import SpectraInput, iter_clean_records, read_spectrum_records
from specvae.spectra.records import quiet_matchms


class KnownFingerprints:
    """The fingerprints a stream has computed so far, so that a structure met again in a later chunk is neither
    computed nor reported again.

    Each chunk's packed rows are kept as the block the fingerprint stage returned, and a structure is known by its
    row in their concatenation: a chunk's fingerprints are handed on as that one table and a map of the chunk's keys
    into it, not copied row by row (CASMI 2016: 234,742 rows of 303 bytes).
    """

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
        # structure identity (Candidate.structure_identity) -> row of the concatenated blocks, or failure reason
        self.row_of: dict[tuple[str, str, str], int] = {}
        self.failures: dict[tuple[str, str, str], str] = {}
        self._blocks: list[np.ndarray] = []
        self._n_rows = 0
        self._table = np.zeros((0, (self.definition.n_bits + 7) // 8), dtype=np.uint8)

    def for_queries(self, queries: Sequence[SpectrumQuery]) -> CandidateFingerprints:
        """The fingerprints of the queries' candidates: those not met before computed (through the cache) now."""
        needed = unique_candidates(queries)
        row_of, failures = self.row_of, self.failures
        keys = [candidate.structure_identity() for candidate in needed]
        new = [
            candidate for candidate, key in zip(needed, keys, strict=True) if key not in row_of and key not in failures
        ]
        if new:
            self._add(new)
        return CandidateFingerprints(
            self.definition,
            {key: row_of[key] for key in keys if key in row_of},
            self._table,
            failures={key: failures[key] for key in keys if key in failures},
            n_distinct=len(needed),
        )

    def _add(self, new: list[Candidate]) -> None:
        """Fingerprint the candidates not met before and append their block of rows."""
        found = candidate_fingerprints(
            new,
            self.definition,
            cache=self.cache,
            n_workers=self.n_workers,
            progress=self.progress,
            errors=self.errors,
            source=self.source,
        )
        offset = self._n_rows
        for candidate in new:
            key = candidate.structure_identity()
            row = found.row_of.get(key)
            if row is None:
                self.failures[key] = found.failures.get(key, "")
            else:
                self.row_of[key] = offset + row
        self._blocks.append(found.packed)
        self._n_rows += len(found.packed)
        self._table = self._blocks[0] if len(self._blocks) == 1 else np.concatenate(self._blocks)


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
        with collector_paused():  # the chunk's stages run here; the caller's code runs between the yields
            fingerprints = known.for_queries(ready)
            annotations = score_and_rank(
                ready,
                fingerprints,
                models,
                top_k=top_k,
                collapse_stereo=collapse_stereo,
                explain=explain,
                errors=rank_errors,
                progress=progress,
                n_workers=n_workers,
            )
        yield from annotations

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
    """The queries, with matchms' per-spectrum warnings silenced and the garbage collector paused
    (:mod:`specvae.pipeline.collector`) while each is read and planned, and only then (the caller's own code runs
    between two queries)."""
    while True:
        with quiet_matchms(), collector_paused():
            query = next(queries, None)
        if query is None:
            return
        yield query
