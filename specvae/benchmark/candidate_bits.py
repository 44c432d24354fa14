"""The full fingerprints of every distinct candidate of a benchmark, computed once (or read from a cache).

Candidates repeat across challenges (CASMI 2016: 258,237 list entries, 234,864 distinct InChIKeys), so bits are
computed per distinct InChIKey and kept bit-packed (303 bytes a structure) until a challenge is scored, when its
rows are unpacked and reduced to the scoring model's kept bits.

A SMILES that RDKit cannot read (1,416 of CASMI 2016's, written by another toolkit) is retried from the row's InChI
(cached in a second file, see :func:`inchi_fallback_cache_path`); only a candidate with neither usable gets no
fingerprint. It stays in its list and ranks below every scored
candidate (see :func:`specvae.benchmark.evaluation.evaluate_systems`).

Each structure is checked against its row's InChIKey (the skeleton block), with or without a cache: a row whose
structure is not the one its key names gets no fingerprint (a failure with the reason), because the cache would
refuse it too and a benchmark must not depend on whether a cache was given.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specvae.benchmark.challenges import Challenge
from specvae.candidates.candidate import parse_inchi
from specvae.errors import InvalidStructureError
from specvae.fingerprints import FingerprintCache, FingerprintDefinition, compute_fingerprints

CACHE_BATCH_SIZE = 50_000
"""Structures per cache call: each call that adds structures rewrites the cache file once (see the cache's
docstring), and each returns unpacked bits (2,419 bytes a structure), so batches bound both."""


@dataclass
class CandidateBits:
    """Packed full fingerprints by InChIKey; ``failures`` maps InChIKeys without a fingerprint to the reason."""

    definition: FingerprintDefinition
    row_of: dict[str, int]
    packed: np.ndarray
    failures: dict[str, str] = field(default_factory=dict)
    n_distinct: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    moved_aside: list[Path] = field(default_factory=list)  # damaged caches moved aside (``rebuild_cache=True``)

    def full_bits(self, inchikeys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(bits, valid)``: full fingerprints ``(n, n_bits)`` bool of the given InChIKeys, zero rows where ``valid``
        is False (no fingerprint)."""
        rows = np.fromiter((self.row_of.get(key, -1) for key in inchikeys), dtype=np.int64, count=len(inchikeys))
        valid = rows >= 0
        full = np.unpackbits(self.packed[np.where(valid, rows, 0)], axis=1, count=self.definition.n_bits).view(bool)
        full[~valid] = False
        return full, valid

    def kept_bits(
        self, inchikeys: Sequence[str], model_definition: FingerprintDefinition
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`full_bits`, reduced to the kept bits of ``model_definition`` ``(n, n_kept)``."""
        full, valid = self.full_bits(inchikeys)
        return model_definition.select_kept(full), valid


def _distinct_structures(challenges: Sequence[Challenge]) -> tuple[list[str], list[str], list[str]]:
    """InChIKeys in first-occurrence order with the SMILES and InChI of their first occurrence."""
    keys: list[str] = []
    smiles: list[str] = []
    inchis: list[str] = []
    seen: set[str] = set()
    for challenge in challenges:
        candidates = challenge.candidates
        for key, text, inchi in zip(candidates.inchikeys, candidates.smiles, candidates.inchis, strict=True):
            if key not in seen:
                seen.add(key)
                keys.append(key)
                smiles.append(text)
                inchis.append(inchi)
    return keys, smiles, inchis


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits, axis=1)


def candidate_bits(
    challenges: Sequence[Challenge],
    definition: FingerprintDefinition,
    *,
    cache_path: str | os.PathLike[str] | None = None,
    n_workers: int = 1,
    progress: bool | None = None,
    batch_size: int = CACHE_BATCH_SIZE,
    rebuild_cache: bool = False,
) -> CandidateBits:
    """Full fingerprints of every distinct candidate of ``challenges``, through the HDF5 cache when one is given.

    ``rebuild_cache``: a damaged cache (or InChI fallback cache) is moved aside to ``<name>.corrupt-<time>`` and
    rebuilt (listed in ``moved_aside``) instead of raising :class:`~specvae.fingerprints.FingerprintCacheError`.
    """
    started = time.perf_counter()
    definition = definition.without_mask()
    keys, smiles, inchis = _distinct_structures(challenges)
    n_bytes = (definition.n_bits + 7) // 8
    packed = np.zeros((len(keys), n_bytes), dtype=np.uint8)
    valid = np.zeros(len(keys), dtype=bool)
    reasons: dict[int, str] = {}
    n_computed = 0
    structures = [text or inchi for text, inchi in zip(smiles, inchis, strict=True)]
    moved_aside: list[Path] = []
    if cache_path is not None:
        cache = FingerprintCache(cache_path, definition, rebuild_damaged=rebuild_cache)
        for start in range(0, len(keys), batch_size):
            stop = min(start + batch_size, len(keys))
            found = cache.lookup(keys[start:stop], structures[start:stop], n_workers, progress=progress)
            packed[start:stop][found.valid] = _pack(found.fingerprints[found.valid])
            valid[start:stop] = found.valid
            reasons.update({start + error.index: error.reason for error in found.errors})
            n_computed += found.n_computed
        moved_aside += cache.moved_aside
    else:
        # The stated keys are checked as the cache checks them, so a cache never changes the result.
        result = compute_fingerprints(
            structures, definition, n_workers, packed=True, progress=progress, expected_inchikeys=keys
        )
        packed[:] = result.fingerprints
        valid[:] = True
        for error in result.errors:
            valid[error.index] = False
            reasons[error.index] = error.reason
        n_computed = len(keys)
    moved_aside += _retry_from_inchi(definition, keys, inchis, packed, valid, reasons, cache_path, rebuild_cache)
    row_of = {key: row for row, key in enumerate(keys) if valid[row]}
    failures = {keys[row]: reason for row, reason in reasons.items() if not valid[row]}
    return CandidateBits(
        definition=definition,
        row_of=row_of,
        packed=packed,
        failures=failures,
        n_distinct=len(keys),
        n_computed=n_computed,
        seconds=time.perf_counter() - started,
        moved_aside=moved_aside,
    )


def inchi_fallback_cache_path(cache_path: str | os.PathLike[str]) -> Path:
    """Where fingerprints computed from InChIs are cached, next to the main cache: ``<name>.from_inchi<suffix>``.

    A separate file because the main cache remembers that the SMILES of these InChIKeys failed (and so never
    recomputes them), while their InChI works: without a cache of their own, each warm run would recompute them
    (1,416 CASMI 2016 candidates, a few seconds).
    """
    path = Path(cache_path)
    return path.with_name(f"{path.stem}.from_inchi{path.suffix}")


def _retry_from_inchi(
    definition: FingerprintDefinition,
    keys: list[str],
    inchis: list[str],
    packed: np.ndarray,
    valid: np.ndarray,
    reasons: dict[int, str],
    cache_path: str | os.PathLike[str] | None,
    rebuild_cache: bool = False,
) -> list[Path]:
    """Fingerprint the failed rows from their InChI (in place), through the fallback cache when there is one;
    returns the damaged fallback caches moved aside."""
    rows = [int(row) for row in np.flatnonzero(~valid) if inchis[row]]
    if not rows:
        return []
    cache = (
        None
        if cache_path is None
        else FingerprintCache(inchi_fallback_cache_path(cache_path), definition, rebuild_damaged=rebuild_cache)
    )
    structures: list[object] = []
    for row in rows:
        # Parsed even when the fallback cache holds the key: its rows were computed from molecules, so the cache
        # checks every read against the molecule asked for (an empty placeholder was refused as "empty SMILES").
        try:
            structures.append(parse_inchi(inchis[row]))
        except InvalidStructureError as error:
            structures.append(f"InChI failed: {error}")  # not a SMILES either: recorded as a failure with this text
    if cache is not None:
        found = cache.lookup([keys[row] for row in rows], structures, 1, progress=False)
        bits, ok = _pack(found.fingerprints), found.valid
        failed = {error.index: error.reason for error in found.errors}
    else:
        result = compute_fingerprints(
            structures, definition, 1, packed=True, progress=False, expected_inchikeys=[keys[row] for row in rows]
        )
        bits = result.fingerprints
        failed = {error.index: error.reason for error in result.errors}
        ok = np.array([position not in failed for position in range(len(rows))])
    for position, row in enumerate(rows):
        if ok[position]:
            packed[row] = bits[position]
            valid[row] = True
            reasons.pop(row, None)
        else:
            reasons[row] = f"{reasons.get(row, '')}; from the InChI: {failed.get(position, 'failed')}".lstrip("; ")
    return [] if cache is None else cache.moved_aside
