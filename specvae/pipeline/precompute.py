"""Filling a fingerprint cache ahead of a run (``specvae fingerprint``): the pipeline's fingerprint stage over every
distinct candidate of a file, so that later runs on it (annotate, Dask, benchmark) compute nothing."""

from __future__ import annotations

import os

from specvae.candidates import CandidateMatch
from specvae.errors import ErrorReport
from specvae.fingerprints import FingerprintCache, FingerprintDefinition
from specvae.pipeline.candidates import candidate_source, read_candidate_set
from specvae.pipeline.fingerprints import CandidateFingerprints, candidate_fingerprints
from specvae.pipeline.planning import settle_keys


def precompute_fingerprints(
    candidates: str | os.PathLike[str],
    cache_path: str | os.PathLike[str],
    definition: FingerprintDefinition,
    errors: ErrorReport,
    *,
    n_workers: int = 1,
    rebuild_cache: bool = False,
) -> tuple[FingerprintCache, CandidateFingerprints]:
    """The cache at ``cache_path`` with the fingerprint of every distinct candidate structure of the file (an
    InChIKey with the SMILES its row gives: rows that give one key different tautomers each get theirs; rows whose
    structure contradicts a key another row gives another structure for are reported, not stored, so a wrong key
    never pushes out the true structure). Candidates that get no fingerprint
    go to ``errors``. Raises :class:`~specvae.fingerprints.FingerprintCacheError` for a damaged cache unless
    ``rebuild_cache``.

    Example::

        cache, found = precompute_fingerprints("candidates.csv", "candidates.fp.h5", fingerprint_preset("keys"),
                                               ErrorReport(), n_workers=4)
        print(f"{len(found.row_of)} fingerprints, {found.n_computed} computed now")
    """
    candidate_set = read_candidate_set(candidates, errors)
    every = [CandidateMatch(candidate, None) for candidate in candidate_set.candidates()]
    errors.extend(candidate_set.take_problems())
    distinct = [match.candidate for match in settle_keys(every, candidate_set.source, errors)]
    cache = FingerprintCache(cache_path, definition, rebuild_damaged=rebuild_cache)
    found = candidate_fingerprints(
        distinct,
        definition,
        cache=cache,
        n_workers=n_workers,
        errors=errors,
        source=candidate_source(candidates),
    )
    return cache, found
