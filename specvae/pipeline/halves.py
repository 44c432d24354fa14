"""Scoring and ranking a chunk of spectra in two processes: the caller's and a forked child.

Why: once a chunk's fingerprints are known, scoring and ranking look at one spectrum at a time, and on long lists
they are seconds of Python work (CASMI 2016's 258,237 candidates: about 4 s in one process). With two workers the
child takes the chunk's second half while the caller does the first, and sends back only what the caller cannot
see: its spectra's scores, ranked rows and ranking errors. It is forked because it needs the chunk's candidates and
fingerprint table (hundreds of MB), which a forked child shares with its parent and a spawned one would have to be
sent; it calls no torch and starts no threads, so the threads torch leaves in the parent do not matter to it.

Why the results are those of one process: the halves are consecutive runs of the chunk's spectra, each scored and
ranked exactly as :func:`score_and_rank` does it in one process, and their rows and errors are put back in input
order. Where fork is missing, the chunk is small (a fork and its pipe cost tens of milliseconds) or the child fails
or falls silent, the caller scores and ranks that half itself.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from specvae.errors import ErrorReport
from specvae.pipeline.fingerprints import CandidateFingerprints
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.ranking import rank_queries
from specvae.pipeline.results import SpectrumAnnotation
from specvae.pipeline.scoring import score_queries

MIN_MATCHES_TO_SPLIT = 20_000
"""A chunk with fewer candidate matches in all is scored and ranked in one process: its work (about 15 µs a match)
would not pay for the fork."""

_Result = TypeVar("_Result")
_ChildResult = tuple[list[tuple[np.ndarray | None, np.ndarray | None]], list[SpectrumAnnotation], ErrorReport]


def score_and_rank(
    queries: Sequence[SpectrumQuery],
    fingerprints: CandidateFingerprints,
    models: Mapping[str, LoadedModel],
    *,
    top_k: int | None,
    collapse_stereo: bool = False,
    explain: bool = False,
    errors: ErrorReport | None = None,
    progress: bool | None = None,
    n_workers: int = 1,
) -> list[SpectrumAnnotation]:
    """:func:`~specvae.pipeline.scoring.score_queries` then :func:`~specvae.pipeline.ranking.rank_queries` of the
    predicted ``queries``: their annotations in input order, ranking problems appended to ``errors`` in that order.
    With ``n_workers`` >= 2 and enough candidates, a forked child does the second half (same results)."""

    def run(part: Sequence[SpectrumQuery], part_errors: ErrorReport | None, shown: bool | None) -> list:
        score_queries(part, fingerprints, models, shown)
        return list(
            rank_queries(
                part,
                models,
                top_k=top_k,
                collapse_stereo=collapse_stereo,
                explain=explain,
                fingerprints=fingerprints,
                errors=part_errors,
            )
        )

    split = _split_point(queries) if n_workers >= 2 and hasattr(os, "fork") else 0
    if split == 0:
        return run(queries, errors, progress)
    first, second = queries[:split], queries[split:]

    def child_work() -> _ChildResult:
        child_errors = ErrorReport()
        annotations = run(second, child_errors, False)
        parts = [(query.scores, query.fragment_scores, query.formula_scores) for query in second]
        return parts, annotations, child_errors

    with _Forked(child_work) as child:
        started = time.monotonic()
        annotations = run(first, errors, progress)
        own_s = time.monotonic() - started
        received = child.result(timeout_s=max(60.0, 10 * own_s))  # a child that hangs is not waited for forever
    if received is None:  # the child failed: the same work here
        return annotations + run(second, errors, progress)
    scores, second_annotations, second_errors = received
    for query, (query_scores, fragment_scores, formula_scores) in zip(second, scores, strict=True):
        query.scores, query.fragment_scores, query.formula_scores = query_scores, fragment_scores, formula_scores
    if errors is not None:
        errors.extend(second_errors)
    return annotations + second_annotations


def _split_point(queries: Sequence[SpectrumQuery]) -> int:
    """Where to cut ``queries`` so that both halves hold about as many matches; 0 when the chunk is too small."""
    sizes = np.fromiter((len(query.matches) for query in queries), dtype=np.int64, count=len(queries))
    total = int(sizes.sum())
    if total < MIN_MATCHES_TO_SPLIT or len(queries) < 2:
        return 0
    split = int(np.searchsorted(np.cumsum(sizes), total / 2)) + 1
    return min(max(split, 1), len(queries) - 1)


class _Forked:
    """``work()`` run in a forked child whose pickled result comes back through a pipe.

    The child leaves through ``os._exit``: it flushes none of the buffers it shares with its parent (an output file
    half written, stdout) and runs none of its exit handlers. Leaving the ``with`` block without the result (an
    exception in the parent) ends the child.
    """

    def __init__(self, work: Callable[[], _Result]) -> None:
        self._work = work
        self._pid = 0
        self._read_fd = -1

    def __enter__(self) -> _Forked:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _run_child(self._work, write_fd)  # never returns
        os.close(write_fd)
        self._pid, self._read_fd = pid, read_fd
        return self

    def result(self, timeout_s: float) -> _Result | None:
        """The child's result, or None when it failed or sent nothing for ``timeout_s`` seconds (then it is ended)."""
        chunks = []
        deadline = time.monotonic() + timeout_s
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._end(kill=True)
                return None
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        status = self._end(kill=False)
        if status != 0 or not chunks:
            return None
        return pickle.loads(b"".join(chunks))

    def __exit__(self, *exc_info: object) -> None:
        if self._pid:
            self._end(kill=True)

    def _end(self, *, kill: bool) -> int:
        """Close the pipe and reap the child (ended first when ``kill``); its wait status."""
        pid, self._pid = self._pid, 0
        os.close(self._read_fd)
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
        return status


def _run_child(work: Callable[[], object], write_fd: int) -> None:
    status = 1
    try:
        payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
        status = 0
    finally:
        os._exit(status)
