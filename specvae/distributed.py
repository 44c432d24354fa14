"""Annotation on a Dask cluster, with the same ranks and bit-identical scores as :meth:`Annotator.annotate`.

Needs the optional extra (``pip install specvae[distributed]``); importing this module without it raises
:class:`DistributedExtraMissingError` saying so, and nothing else in specvae imports it.

Example::

    from specvae.distributed import annotate_distributed
    results = annotate_distributed(
        ["positive.specvae", "negative.specvae"], "spectra.mgf", "candidates.csv",
        scheduler="local:4",                      # or "tcp://scheduler:8786", or a distributed.Client
        fingerprint_cache="/shared/candidates.fp.h5", chunk_size=1000, top_k=10,
    )

Where each step runs, and why:

- The client parses the spectrum file (the only serial step, about a third of a millisecond per record) and
  sends chunks of ``chunk_size`` parsed records; it parses the next chunk while workers process earlier ones,
  and keeps a bounded number of chunks in flight.
- A worker cleans its chunk, chooses each spectrum's model and candidates, and bins the spectra. This plan stays
  on the worker; the client receives a summary (errors, ion modes, the candidates the chunk needs).
- The client fills the shared HDF5 fingerprint cache with the candidates no earlier chunk needed: it is the
  cache's only writer, so workers never race to replace the file (the cache's replace-on-write would survive
  that, but the losers' entries would be computed again). Workers then only read the cache.
- A worker predicts fingerprints and ranks the chunk's candidates, and returns the annotations.

The models travel once per worker, as the bytes of their ``.specvae`` files inside a Dask worker plugin: the
plugin is registered on the scheduler, so workers that join later get it too; each worker writes the files to
its local directory and loads them with the same :meth:`Annotator.load` as a single-process run, once. (Scattering
the bytes would load them in every task; ``client.run`` would miss workers that join later.)

Identical results: a spectrum's prediction depends on the batch it runs in, so both paths predict the spectra of
one ion mode in the fixed batches of :data:`specvae.pipeline.PREDICTION_BATCH_SIZE` consecutive spectra (in input
order, one torch thread). A chunk's batches can reach into neighbouring chunks; the worker then gets those
neighbours' binned rows (small) and predicts the whole batch. Everything else (cleaning, candidate lists,
fingerprints, scoring, ranking, error records) runs through the stages of :mod:`specvae.pipeline`, which
:meth:`Annotator.annotate` runs in one process. This holds on
workers with the same CPU type and the same torch build as the single-process run; BLAS kernels differ between
CPU generations.

A chunk is ranked once its batches are complete, so an ion mode that is rare in the file (a few negative spectra
among many positive ones) keeps chunks waiting on the workers until 64 spectra of that mode have been read.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scipy.sparse
import torch

from specvae.adducts import Adduct
from specvae.annotator import Annotator
from specvae.candidates import Candidate, CandidateSet
from specvae.errors import ErrorReport, RecordError, SpecvaeError
from specvae.model_file import save_model
from specvae.pipeline.candidates import candidate_source
from specvae.pipeline.fingerprints import candidate_fingerprints
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.planning import parse_adducts, plan_queries, unique_candidates
from specvae.pipeline.prediction import PREDICTION_BATCH_SIZE, predict_in_canonical_batches, queries_of_mode
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.ranking import rank_queries
from specvae.pipeline.results import AnnotationResults, SpectrumAnnotation
from specvae.pipeline.scoring import score_queries
from specvae.pipeline.spectra import clean_records
from specvae.spectra.reading import iter_spectrum_records
from specvae.spectra.records import SpectrumRecord, quiet_matchms


class DistributedExtraMissingError(ImportError):
    """specvae was installed without the ``distributed`` extra (Dask)."""


try:  # after the error class on purpose: the message must say which extra to install
    from distributed import Client, Future, LocalCluster, WorkerPlugin, get_worker, wait  # noqa: E402
except ImportError as _error:  # pragma: no cover - depends on the environment
    raise DistributedExtraMissingError(
        "annotating on a Dask cluster needs the distributed extra: pip install specvae[distributed]"
    ) from _error

DEFAULT_CHUNK_SIZE = 1000
LOCAL_SCHEDULER_PREFIX = "local:"
DEFAULT_CONNECT_TIMEOUT_S = 60.0


class DistributedAnnotationError(SpecvaeError):
    """The cluster could not be used: a bad scheduler string, no workers, or no progress within the timeout."""


# ------------------------------------------------------------------------------------------------- the scheduler
@dataclass(frozen=True)
class SchedulerSpec:
    """What ``--scheduler`` names: a local cluster of ``local_workers`` processes, or a scheduler ``address``."""

    local_workers: int | None = None
    address: str | None = None


def parse_scheduler(text: str) -> SchedulerSpec:
    """``"local:N"`` (N ≥ 1 worker processes on this machine) or a scheduler address (``tcp://host:8786``)."""
    text = text.strip()
    if not text:
        raise DistributedAnnotationError("empty scheduler: give 'local:N' or a scheduler address like tcp://host:8786")
    if text.lower().startswith(LOCAL_SCHEDULER_PREFIX):
        count = text[len(LOCAL_SCHEDULER_PREFIX) :]
        if not count.isdigit() or int(count) < 1:
            raise DistributedAnnotationError(f"scheduler {text!r}: expected local:N with N a whole number ≥ 1")
        return SchedulerSpec(local_workers=int(count))
    return SchedulerSpec(address=text)


@contextlib.contextmanager
def dask_client(scheduler: str | Client, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> Iterator[Client]:
    """A client for ``scheduler``; a local cluster it starts is closed on exit, a client passed in is left open.

    Local workers are processes with one thread each: specvae's per-spectrum work holds the GIL, and one torch
    thread per process keeps the cores for the processes.
    """
    if isinstance(scheduler, Client):
        yield scheduler
        return
    spec = parse_scheduler(scheduler)
    if spec.local_workers is not None:
        with (
            LocalCluster(
                n_workers=spec.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                timeout=connect_timeout_s,
            ) as cluster,
            Client(cluster, timeout=connect_timeout_s) as client,
        ):
            yield client
        return
    try:
        client = Client(spec.address, timeout=connect_timeout_s)
    except OSError as error:
        raise DistributedAnnotationError(f"cannot reach the Dask scheduler at {spec.address}: {error}") from error
    with client:
        try:
            client.wait_for_workers(1, timeout=connect_timeout_s)
        except TimeoutError as error:
            raise DistributedAnnotationError(
                f"the Dask scheduler at {spec.address} has no worker after {connect_timeout_s:g} s"
            ) from error
        yield client


# --------------------------------------------------------------------------------------- the models on workers
class AnnotatorPlugin(WorkerPlugin):
    """Holds the model files' bytes; on each worker, loads them once into an :class:`Annotator` reading the cache.

    ``idempotent``: registering a plugin of the same name again (the same models and cache) leaves workers that
    already have it alone.
    """

    idempotent = True

    def __init__(self, model_files: dict[str, bytes], fingerprint_cache: str) -> None:
        self.model_files = model_files
        self.fingerprint_cache = fingerprint_cache
        self.annotator: Annotator | None = None

    def setup(self, worker: Any) -> None:
        torch.set_num_threads(1)
        directory = Path(tempfile.mkdtemp(prefix="specvae-models-", dir=worker.local_directory))
        paths = []
        for mode, content in self.model_files.items():
            path = directory / f"{mode}.specvae"
            path.write_bytes(content)
            paths.append(path)
        self.annotator = Annotator.load(paths, fingerprint_cache=self.fingerprint_cache)
        self.model_files = {}  # loaded: the bytes are not needed on this worker any more


def model_file_bytes(loaded: LoadedModel) -> bytes:
    """The model as ``.specvae`` file bytes, written from the weights in memory (float32: no rounding)."""
    with tempfile.TemporaryDirectory(prefix="specvae-model-") as directory:
        path = Path(directory) / "model.specvae"
        save_model(path, loaded.model, loaded.metadata)
        return path.read_bytes()


def install_annotator(client: Client, annotator: Annotator, fingerprint_cache: str) -> str:
    """Register the annotator's models on every worker (skipped where already there); returns the plugin name.

    The name is a digest of the weights, metadata and cache path, so a second run with the same models finds the
    plugin on the workers and sends nothing (the files are only written out when some worker lacks them).
    """
    name = f"specvae-annotator-{_models_digest(annotator, fingerprint_cache)}"
    present = client.run(_has_plugin, name)
    if not present or not all(present.values()):
        model_files = {mode: model_file_bytes(loaded) for mode, loaded in annotator.models.items()}
        client.register_plugin(AnnotatorPlugin(model_files, fingerprint_cache), name=name)
    return name


def _models_digest(annotator: Annotator, fingerprint_cache: str) -> str:
    digest = hashlib.sha256(fingerprint_cache.encode())
    for mode in sorted(annotator.models):
        loaded = annotator.models[mode]
        digest.update(mode.encode())
        digest.update(loaded.metadata.to_json().encode())
        for name, tensor in loaded.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _has_plugin(name: str, dask_worker: Any = None) -> bool:
    return name in dask_worker.plugins


def _worker_annotator(plugin_name: str) -> Annotator:
    annotator = get_worker().plugins[plugin_name].annotator
    if annotator is None:  # pragma: no cover - setup always runs before tasks
        raise DistributedAnnotationError(f"worker plugin {plugin_name} has not loaded its models")
    return annotator


# ------------------------------------------------------------------------------------------- tasks on workers
@dataclass(frozen=True)
class _Options:
    tolerance_ppm: float
    adduct: list[Adduct] | None
    top_k: int | None
    collapse_stereo: bool = False


@dataclass
class _ChunkPlan:
    """A chunk after cleaning and planning; stays on its worker until the chunk is ranked."""

    queries: list[SpectrumQuery]
    read_errors: list[RecordError]
    query_errors: list[RecordError]  # numbered by the spectra's records in the file, like read_errors
    binned: dict[str, scipy.sparse.csr_matrix]  # per ion mode, the rows of that mode's queries in order


@dataclass(frozen=True)
class _ChunkSummary:
    """What the client needs of a plan: errors, counts, and the candidates to fingerprint."""

    read_errors: list[RecordError]
    query_errors: list[RecordError]
    mode_counts: dict[str, int]
    candidates: list[Candidate]


@dataclass
class _ChunkResult:
    annotations: list[SpectrumAnnotation]  # in input order
    errors: list[RecordError]  # spectra whose candidates all lack a fingerprint


def plan_chunk(
    plugin_name: str, records: list[SpectrumRecord], candidate_set: CandidateSet, options: _Options
) -> _ChunkPlan:
    """Worker task: the pipeline's clean and plan stages for the chunk's records, and its spectra binned by mode."""
    annotator = _worker_annotator(plugin_name)
    read_errors, query_errors = ErrorReport(), ErrorReport()
    with quiet_matchms():
        queries = clean_records(records, read_errors)
        cache = annotator.fingerprint_cache
        queries = plan_queries(
            queries,
            annotator.models,
            candidate_set,
            options.tolerance_ppm,
            options.adduct,
            query_errors,
            None if cache is None else cache.stored_keys,
        )
    binned = {
        mode: loaded.binner.bin([query.spectrum for query in queries_of_mode(queries, mode)])
        for mode, loaded in annotator.models.items()
    }
    return _ChunkPlan(queries, list(read_errors), list(query_errors), binned)


def summarize_chunk(plan: _ChunkPlan) -> _ChunkSummary:
    """Worker task: the small part of a plan that travels to the client."""
    counts: dict[str, int] = {}
    for query in plan.queries:
        counts[query.ion_mode] = counts.get(query.ion_mode, 0) + 1
    return _ChunkSummary(
        plan.read_errors,
        plan.query_errors,
        counts,
        unique_candidates(plan.queries),
    )


def binned_rows(plan: _ChunkPlan, mode: str) -> scipy.sparse.csr_matrix:
    """Worker task: a plan's binned spectra of one mode (what neighbouring chunks need to complete a batch)."""
    return plan.binned[mode]


def score_chunk(
    plugin_name: str,
    plan: _ChunkPlan,
    batches: dict[str, tuple[list[tuple[scipy.sparse.csr_matrix, int, int]], int]],
    options: _Options,
) -> _ChunkResult:
    """Worker task: the pipeline's fingerprint stage (reading the cache the client filled), then predict, score and
    rank for the chunk.

    ``batches[mode]`` is ``(pieces, offset)``: ``pieces`` are row ranges of binned matrices that together form
    the whole prediction batches covering the chunk's spectra of that mode, and the chunk's first spectrum of the
    mode is row ``offset`` of them.
    """
    annotator = _worker_annotator(plugin_name)
    fingerprints = candidate_fingerprints(
        unique_candidates(plan.queries),
        annotator.full_fingerprint,
        cache=annotator.fingerprint_cache,
        progress=False,
    )
    for mode, loaded in annotator.models.items():
        mode_queries = queries_of_mode(plan.queries, mode)
        if not mode_queries:
            continue
        pieces, offset = batches[mode]
        rows = scipy.sparse.vstack([matrix[start:stop] for matrix, start, stop in pieces], format="csr")
        predictions = predict_in_canonical_batches(loaded.model, rows)[offset : offset + len(mode_queries)]
        for query, prediction in zip(mode_queries, predictions, strict=True):
            query.prediction = prediction
    score_queries(plan.queries, fingerprints, annotator.models)
    errors = ErrorReport()
    annotations = rank_queries(
        plan.queries,
        annotator.models,
        top_k=options.top_k,
        collapse_stereo=options.collapse_stereo,
        fingerprints=fingerprints,
        errors=errors,
    )
    return _ChunkResult(list(annotations), list(errors))


# --------------------------------------------------------------------------------------------- the client side
@dataclass
class _Chunk:
    index: int
    plan: Future | None
    summary: Future | None
    binned: dict[str, Future]
    mode_start: dict[str, int] = field(default_factory=dict)
    mode_count: dict[str, int] = field(default_factory=dict)
    score: Future | None = None


@dataclass
class _Rows:
    """A chunk's binned rows of one mode: global rows ``start .. start + count`` of that mode."""

    chunk: int
    start: int
    count: int
    future: Future


class _DistributedRun:
    """The client's bookkeeping: chunks move plan -> summary -> score -> result, each step in input order."""

    def __init__(
        self,
        client: Client,
        annotator: Annotator,
        plugin_name: str,
        candidate_set: CandidateSet,
        options: _Options,
        candidate_source: str,
        task_timeout_s: float | None,
    ) -> None:
        self.client = client
        self.annotator = annotator
        self.plugin_name = plugin_name
        self.options = options
        self.candidate_source = candidate_source
        self.task_timeout_s = task_timeout_s
        self.modes = list(annotator.models)
        n_threads = max(1, sum(client.nthreads().values()))
        self.max_in_flight = 2 * n_threads + 2  # enough to keep every worker thread busy while the client parses
        self.candidate_set = client.scatter(candidate_set, broadcast=True, hash=False)
        self.chunks: dict[int, _Chunk] = {}
        self.n_submitted = self.next_summary = self.next_score = self.next_result = 0
        self.end_of_input = False
        self.mode_total = dict.fromkeys(self.modes, 0)
        self.rows: dict[str, list[_Rows]] = {mode: [] for mode in self.modes}
        self.seen_structures: set[tuple[str, str, str]] = set()  # Candidate.structure_identity
        self.read_errors: list[RecordError] = []
        self.query_errors: list[RecordError] = []
        self.candidate_errors = ErrorReport()
        self.results: list[_ChunkResult] = []

    # ----- the loop
    def add_chunk(self, records: list[SpectrumRecord]) -> None:
        plan = self.client.submit(plan_chunk, self.plugin_name, records, self.candidate_set, self.options, pure=False)
        chunk = _Chunk(
            index=self.n_submitted,
            plan=plan,
            summary=self.client.submit(summarize_chunk, plan, pure=False),
            binned={mode: self.client.submit(binned_rows, plan, mode, pure=False) for mode in self.modes},
        )
        self.chunks[chunk.index] = chunk
        self.n_submitted += 1
        self._advance(block=False)
        while self.n_submitted - self.next_result > self.max_in_flight and self._advance(block=True):
            pass

    def finish(self) -> None:
        self.end_of_input = True
        while self.next_result < self.n_submitted:
            if not self._advance(block=True):
                raise DistributedAnnotationError("internal error: chunks left that no task is computing")

    def _advance(self, block: bool) -> bool:
        """Take what is done (in order) and submit what became possible; with ``block``, first wait for the
        oldest pending task if nothing was done. Returns whether anything was done."""
        progressed = self._take_summaries()
        self._submit_scores()
        progressed = self._take_results() or progressed
        if progressed or not block:
            return progressed
        pending = [
            future
            for future in (self._pending_summary(), self._pending_score())
            if future is not None and not future.done()
        ]
        if not pending:
            return self._take_summaries() | self._take_results()
        started = time.monotonic()
        try:
            wait(pending, timeout=self.task_timeout_s, return_when="FIRST_COMPLETED")
        except TimeoutError as error:
            raise DistributedAnnotationError(
                f"no chunk finished within {self.task_timeout_s:g} s ({time.monotonic() - started:.0f} s waited); "
                "are the workers alive?"
            ) from error
        progressed = self._take_summaries()
        self._submit_scores()
        return self._take_results() or progressed

    def _pending_summary(self) -> Future | None:
        return self.chunks[self.next_summary].summary if self.next_summary < self.n_submitted else None

    def _pending_score(self) -> Future | None:
        return self.chunks[self.next_result].score if self.next_result < self.next_score else None

    # ----- summaries: errors, global positions, the cache
    def _take_summaries(self) -> bool:
        progressed = False
        while self.next_summary < self.n_submitted:
            chunk = self.chunks[self.next_summary]
            assert chunk.summary is not None
            if not chunk.summary.done():
                break
            summary = chunk.summary.result()
            chunk.summary = None
            self._register(chunk, summary)
            self.next_summary += 1
            progressed = True
        return progressed

    def _register(self, chunk: _Chunk, summary: _ChunkSummary) -> None:
        self.read_errors.extend(summary.read_errors)
        self.query_errors.extend(summary.query_errors)
        for mode in self.modes:
            count = summary.mode_counts.get(mode, 0)
            chunk.mode_start[mode], chunk.mode_count[mode] = self.mode_total[mode], count
            if count:
                self.rows[mode].append(_Rows(chunk.index, self.mode_total[mode], count, chunk.binned[mode]))
            self.mode_total[mode] += count
        chunk.binned = {}
        new = [
            candidate for candidate in summary.candidates if candidate.structure_identity() not in self.seen_structures
        ]
        self.seen_structures.update(candidate.structure_identity() for candidate in new)
        if new:  # the pipeline's fingerprint stage fills the cache (and the InChI one beside it) for the workers
            candidate_fingerprints(
                new,
                self.annotator.full_fingerprint,
                cache=self.annotator.fingerprint_cache,
                n_workers=self.annotator.n_workers,
                errors=self.candidate_errors,
                source=self.candidate_source,
            )

    # ----- scoring: once every prediction batch a chunk touches is complete
    def _batch_range(self, chunk: _Chunk, mode: str) -> tuple[int, int] | None:
        """Global rows of the whole batches holding the chunk's spectra of ``mode``; None until they are known."""
        start, count = chunk.mode_start[mode], chunk.mode_count[mode]
        low = start // PREDICTION_BATCH_SIZE * PREDICTION_BATCH_SIZE
        high = math.ceil((start + count) / PREDICTION_BATCH_SIZE) * PREDICTION_BATCH_SIZE
        all_known = self.end_of_input and self.next_summary == self.n_submitted
        if self.mode_total[mode] < high and not all_known:
            return None
        return low, min(high, self.mode_total[mode])

    def _submit_scores(self) -> None:
        while self.next_score < self.next_summary:
            chunk = self.chunks[self.next_score]
            batches = {}
            for mode in self.modes:
                if not chunk.mode_count[mode]:
                    continue
                rows = self._batch_range(chunk, mode)
                if rows is None:
                    return
                batches[mode] = self._pieces(mode, *rows), chunk.mode_start[mode] - rows[0]
            chunk.score = self.client.submit(
                score_chunk,
                self.plugin_name,
                chunk.plan,
                batches,
                self.options,
                pure=False,
            )
            chunk.plan = None  # the score task holds it now; released on the worker when that task is done
            self.next_score += 1
            self._release_rows()

    def _pieces(self, mode: str, low: int, high: int) -> list[tuple[Future, int, int]]:
        pieces = []
        for rows in self.rows[mode]:
            first, last = max(low, rows.start), min(high, rows.start + rows.count)
            if first < last:
                pieces.append((rows.future, first - rows.start, last - rows.start))
        return pieces

    def _release_rows(self) -> None:
        """Forget binned rows that no chunk left to score can need (its batches start at or after them)."""
        for mode in self.modes:
            if self.next_score < self.next_summary:
                next_start = self.chunks[self.next_score].mode_start[mode]
            else:
                next_start = self.mode_total[mode]
            needed_from = next_start // PREDICTION_BATCH_SIZE * PREDICTION_BATCH_SIZE
            while self.rows[mode] and self.rows[mode][0].start + self.rows[mode][0].count <= needed_from:
                self.rows[mode].pop(0)

    def _take_results(self) -> bool:
        progressed = False
        while self.next_result < self.next_score:
            chunk = self.chunks[self.next_result]
            assert chunk.score is not None
            if not chunk.score.done():
                break
            self.results.append(chunk.score.result())
            del self.chunks[self.next_result]
            self.next_result += 1
            progressed = True
        return progressed

    # ----- the merge, in input order as Annotator.annotate produces
    def merge(self, errors: ErrorReport) -> AnnotationResults:
        errors.extend(self.read_errors)
        errors.extend(self.query_errors)
        errors.extend(self.candidate_errors)
        results = AnnotationResults()
        for result in self.results:  # chunks in input order, each in input order
            results.extend(result.annotations)
            errors.extend(result.errors)
        return results


def _chunks(records: Iterable[SpectrumRecord], chunk_size: int) -> Iterator[list[SpectrumRecord]]:
    chunk: list[SpectrumRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _client_annotator(
    models: Annotator | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    fingerprint_cache: str | os.PathLike[str] | None,
    n_workers: int | None,
) -> tuple[Annotator, str]:
    """The annotator the client uses (candidate reading, cache filling) and the cache's absolute path."""
    if isinstance(models, Annotator):
        if fingerprint_cache is None and models.fingerprint_cache is not None:
            fingerprint_cache = models.fingerprint_cache.path
        if fingerprint_cache is None:
            raise ValueError(
                "distributed annotation needs a fingerprint cache (workers read candidate fingerprints from it): "
                "pass fingerprint_cache=PATH on a file system every worker can read"
            )
        cache_path = str(Path(fingerprint_cache).resolve())
        workers = models.n_workers if n_workers is None else n_workers
        return Annotator(models.models, fingerprint_cache=cache_path, n_workers=workers), cache_path
    if fingerprint_cache is None:
        raise ValueError(
            "distributed annotation needs a fingerprint cache (workers read candidate fingerprints from it): "
            "pass fingerprint_cache=PATH on a file system every worker can read"
        )
    cache_path = str(Path(fingerprint_cache).resolve())
    return Annotator.load(models, fingerprint_cache=cache_path, n_workers=n_workers or 1), cache_path


def annotate_distributed(
    models: Annotator | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    spectra: str | os.PathLike[str],
    candidates: Any,
    *,
    scheduler: str | Client,
    fingerprint_cache: str | os.PathLike[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    top_k: int | None = 10,
    tolerance_ppm: float = 10.0,
    adduct: str | Adduct | Sequence[str | Adduct] | None = None,
    errors: ErrorReport | None = None,
    spectrum_id_column: str | None = None,
    formula: str | None = None,
    elements: str | None = None,
    collapse_stereo: bool = False,
    n_workers: int | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    task_timeout_s: float | None = None,
) -> AnnotationResults:
    """:meth:`Annotator.annotate` on a Dask cluster: the same results, spectra processed ``chunk_size`` at a time.

    ``models``: an :class:`Annotator` or model file path(s). ``spectra``: a spectrum file (MGF, MSP, mzML).
    ``candidates``: as for :meth:`Annotator.annotate`. ``scheduler``: ``"local:N"``, a scheduler address, or a
    ``distributed.Client`` (left open). ``fingerprint_cache``: the HDF5 cache, on a file system every worker reads
    (default: the annotator's); the client fills it. ``n_workers``: processes computing fingerprints on the
    client (default: the annotator's, else 1). ``task_timeout_s``: give up when no chunk finishes for this long
    (default: wait). ``spectrum_id_column``, ``formula``, ``elements``, ``collapse_stereo``: as for
    :meth:`Annotator.annotate`. Results are in input order; bad records go to ``errors`` exactly as in a local run.
    """
    if not isinstance(spectra, (str, os.PathLike)):
        raise TypeError(f"distributed annotation reads spectra from a file; got {type(spectra).__name__}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    annotator, cache_path = _client_annotator(models, fingerprint_cache, n_workers)
    errors = ErrorReport() if errors is None else errors
    candidate_set = annotator.candidate_set(
        candidates, errors, spectrum_id_column=spectrum_id_column, formula=formula, elements=elements
    )
    records = iter_spectrum_records(spectra)  # a missing or unknown file fails here, before any cluster starts
    options = _Options(tolerance_ppm, parse_adducts(adduct), top_k, collapse_stereo)
    with dask_client(scheduler, connect_timeout_s) as client:
        plugin_name = install_annotator(client, annotator, cache_path)
        run = _DistributedRun(
            client, annotator, plugin_name, candidate_set, options, candidate_source(candidates), task_timeout_s
        )
        for chunk in _chunks(records, chunk_size):
            run.add_chunk(chunk)
        run.finish()
        return run.merge(errors)
