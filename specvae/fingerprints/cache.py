"""An HDF5 cache of candidate fingerprints keyed by InChIKey, so a second run over the same candidates computes nothing.

File layout (h5py)::

    attrs:  format = "specvae-fingerprint-cache", format_version = 1,
            definition = FingerprintDefinition JSON (without mask), n_bits, rdkit_version (informational)
    inchikeys          (n,)            S27    key of each row of ``bits``
    bits               (n, n_bytes)    uint8  np.packbits of the full fingerprint (gzip-compressed chunks)
    invalid_inchikeys  (m,)            S27    structures that could not be fingerprinted ...
    invalid_reasons    (m,)            str    ... and why (remembered so they are not retried on every run)

The cache stores full fingerprints, not masked ones: the mask belongs to a trained model, while one cache serves
every model trained with the same fingerprint definition (``definition.select_kept`` picks a model's bits).

Why rewrite-and-replace instead of appending in place: HDF5 has no journal, so a process killed while h5py
updates the file's metadata can leave the whole file unreadable, and a lock file only keeps writers apart, it
does not make a write atomic. Each write therefore copies the cache to a temporary file next to it, appends
there, flushes it to disk and ``os.replace``-s it over the cache: an interrupted run leaves either the old or the
new cache, never a broken one (and at worst a stray hidden ``.<name>.<pid>@<host>.*.tmp`` file, removed by the
next write once its process is gone). The price is one file copy per call
that adds structures (~20 MB for all 259k CASMI 2016 candidates), so pass candidates in large batches. Two
processes writing at once do not corrupt the file either, but the last one to finish wins and the other's new
entries are computed again next time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import rdkit

from mmcore.atomic import OutputKind, new_temporary_sibling, output_target
from specvae.fingerprints.compute import InvalidStructure, StructureInput, compute_fingerprints
from specvae.fingerprints.definition import FingerprintDefinition, FingerprintDefinitionError

CACHE_FORMAT = "specvae-fingerprint-cache"
CACHE_FORMAT_VERSION = 1
INCHIKEY_LENGTH = 27
INCHIKEY_PATTERN = re.compile(r"[A-Z]{14}-[A-Z]{10}-[A-Z]")
_ROWS_PER_CHUNK = 1024
_READ_ATTEMPTS = 3


class FingerprintCacheError(ValueError):
    """A file is not a readable specvae fingerprint cache."""


class FingerprintCacheMismatchError(FingerprintCacheError):
    """A cache file was made with another fingerprint definition than the one asked for."""


class InvalidStructuresError(ValueError):
    """Some requested structures have no fingerprint; ``errors`` lists each with its input index and reason."""

    def __init__(self, errors: Sequence[InvalidStructure]) -> None:
        self.errors = list(errors)
        shown = "; ".join(f"#{error.index}: {error.reason}" for error in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} structures could not be fingerprinted: {shown}{more}")


@dataclass(frozen=True)
class CachedFingerprints:
    """What ``FingerprintCache.lookup`` found: one row per requested structure, in request order.

    ``fingerprints`` ``(n, n_bits)`` bool, all False where ``valid`` is False; ``errors`` gives those rows' input
    index and reason; ``n_computed`` counts the distinct structures computed by this call (0 when all were cached).
    """

    fingerprints: np.ndarray
    valid: np.ndarray
    errors: list[InvalidStructure]
    n_computed: int


class FingerprintCache:
    """Full fingerprints of structures keyed by InChIKey, stored bit-packed in one HDF5 file.

    Example::

        cache = FingerprintCache("candidates.fp.h5", FingerprintDefinition())
        bits = cache.get_or_compute(table["InChIKey"], table["SMILES"], n_workers=2)   # computes and stores
        bits = cache.get_or_compute(table["InChIKey"], table["SMILES"], n_workers=2)   # reads only
    """

    def __init__(self, path: str | os.PathLike[str], definition: FingerprintDefinition) -> None:
        self.path = Path(path)
        self.definition = definition.without_mask()
        self._row_of: dict[str, int] = {}
        self._invalid_reason: dict[str, str] = {}
        self._n_rows = self._n_invalid = 0  # rows in the file, which may exceed the index if keys repeat
        self._file_signature: tuple[int, int, int] | None = None
        self._refresh()

    # ----- reading -----
    def __len__(self) -> int:
        """Number of structures with a stored fingerprint."""
        self._refresh()
        return len(self._row_of)

    def __contains__(self, inchikey: object) -> bool:
        self._refresh()
        return inchikey in self._row_of or inchikey in self._invalid_reason

    def _refresh(self) -> None:
        """(Re)load the key index when the file changed on disk (another process may have added entries)."""
        try:
            signature = _signature(self.path)
        except FileNotFoundError:
            self._row_of, self._invalid_reason, self._file_signature = {}, {}, None
            self._n_rows = self._n_invalid = 0
            return
        if signature == self._file_signature:
            return
        try:
            with h5py.File(self.path, "r") as handle:
                self._check_header(handle)
                keys = _decode_keys(handle["inchikeys"][:])
                invalid_keys = _decode_keys(handle["invalid_inchikeys"][:])
                invalid_reasons = [reason.decode() for reason in handle["invalid_reasons"][:]]
        except (OSError, KeyError) as error:
            raise FingerprintCacheError(f"{self.path}: not a readable fingerprint cache ({error})") from error
        row_of: dict[str, int] = {}
        for row, key in enumerate(keys):
            row_of.setdefault(key, row)  # concurrent writers may have stored a key twice: the first row wins
        self._row_of = row_of
        self._n_rows = len(keys)
        self._n_invalid = len(invalid_keys)
        self._invalid_reason = dict(zip(invalid_keys, invalid_reasons, strict=True))
        self._file_signature = signature

    def _check_header(self, handle: h5py.File) -> None:
        if handle.attrs.get("format") != CACHE_FORMAT:
            raise FingerprintCacheError(f"{self.path}: not a specvae fingerprint cache (no format={CACHE_FORMAT!r})")
        if int(handle.attrs.get("format_version", -1)) != CACHE_FORMAT_VERSION:
            raise FingerprintCacheError(
                f"{self.path}: cache format version {handle.attrs.get('format_version')} is not supported "
                f"(this specvae reads version {CACHE_FORMAT_VERSION})"
            )
        stored_text = handle.attrs.get("definition")
        try:
            stored = FingerprintDefinition.from_json(stored_text)
        except (FingerprintDefinitionError, TypeError) as error:
            raise FingerprintCacheMismatchError(
                f"{self.path}: the cache's fingerprint definition cannot be used by this specvae: {error}"
            ) from error
        if stored != self.definition:
            differing = _differing_fields(stored.to_dict(), self.definition.to_dict())
            raise FingerprintCacheMismatchError(
                f"{self.path}: cache was made with another fingerprint definition (differs in {differing}); "
                "use another cache file for this definition"
            )

    def _read_rows(self, keys: list[str]) -> np.ndarray | None:
        """Packed rows of ``keys`` (all in the index, any order), or None when the file no longer has them where
        the index says (another process replaced it since the index was read).

        Reads the bounding slice of rows, which is fast when the keys were stored together (one candidate list).
        """
        n_bytes = (self.definition.n_bits + 7) // 8
        if not keys:
            return np.zeros((0, n_bytes), dtype=np.uint8)
        rows = np.array([self._row_of[key] for key in keys], dtype=np.int64)
        low, high = int(rows.min()), int(rows.max()) + 1
        with h5py.File(self.path, "r") as handle:
            if handle["inchikeys"].shape[0] < high:
                return None
            stored_keys = handle["inchikeys"][low:high][rows - low]
            block = handle["bits"][low:high]
        if not np.array_equal(stored_keys, np.array(keys, dtype=f"S{INCHIKEY_LENGTH}")):
            return None
        return block[rows - low]

    # ----- the public calls -----
    def lookup(
        self,
        inchikeys: Sequence[str],
        smiles: Sequence[StructureInput],
        n_workers: int = 1,
        *,
        progress: bool | None = None,
    ) -> CachedFingerprints:
        """Fingerprints of the given structures, computing (in ``n_workers`` processes) and storing only the
        InChIKeys the cache does not hold yet. Structures that fail are reported in ``errors``, not raised, and
        remembered so that later calls do not retry them. A key requested twice is computed once, from the SMILES
        at its first occurrence."""
        keys = [_checked_inchikey(key, index) for index, key in enumerate(inchikeys)]
        smiles = list(smiles)
        if len(smiles) != len(keys):
            raise ValueError(f"got {len(keys)} InChIKeys but {len(smiles)} structures")
        first_position: dict[str, int] = {}
        for position, key in enumerate(keys):
            first_position.setdefault(key, position)
        n_computed = 0
        for _ in range(_READ_ATTEMPTS):
            self._refresh()
            n_computed += self._compute_missing(first_position, smiles, n_workers, progress)
            valid = np.array([key in self._row_of for key in keys], dtype=bool)
            packed = self._read_rows([key for key, ok in zip(keys, valid, strict=True) if ok])
            if packed is not None:
                break
            self._file_signature = None  # the file changed under us: re-read the index (and compute what was lost)
        else:
            raise FingerprintCacheError(
                f"{self.path}: the cache kept changing while it was read ({_READ_ATTEMPTS} attempts); "
                "is another process rewriting it in a loop?"
            )
        fingerprints = np.zeros((len(keys), self.definition.n_bits), dtype=bool)
        fingerprints[valid] = np.unpackbits(packed, axis=1, count=self.definition.n_bits).view(bool)
        errors = [
            InvalidStructure(position, self._invalid_reason[key])
            for position, key in enumerate(keys)
            if not valid[position]
        ]
        return CachedFingerprints(fingerprints, valid, errors, n_computed=n_computed)

    def _compute_missing(
        self,
        first_position: dict[str, int],
        smiles: list[StructureInput],
        n_workers: int,
        progress: bool | None,
    ) -> int:
        """Compute and store the keys neither stored nor known to fail; returns how many were computed."""
        missing = [key for key in first_position if key not in self._row_of and key not in self._invalid_reason]
        if not missing:
            return 0
        packed, errors = compute_fingerprints(
            [smiles[first_position[key]] for key in missing], self.definition, n_workers, packed=True, progress=progress
        )
        failed = {missing[error.index]: error.reason for error in errors}
        valid_positions = [i for i, key in enumerate(missing) if key not in failed]
        self._append([missing[i] for i in valid_positions], packed[valid_positions], failed)
        return len(missing)

    def get_or_compute(
        self,
        inchikeys: Sequence[str],
        smiles: Sequence[StructureInput],
        n_workers: int = 1,
        *,
        progress: bool | None = None,
    ) -> np.ndarray:
        """Full fingerprints ``(n, n_bits)`` bool of the given structures, computing only missing InChIKeys.

        Raises ``InvalidStructuresError`` (after storing everything that worked) when some structure cannot be
        fingerprinted; use ``lookup`` to get the valid ones and the failures instead.
        """
        found = self.lookup(inchikeys, smiles, n_workers, progress=progress)
        if found.errors:
            raise InvalidStructuresError(found.errors)
        return found.fingerprints

    # ----- writing -----
    def _append(self, keys: list[str], packed_rows: np.ndarray, invalid: dict[str, str]) -> None:
        """Add rows and failures by rewriting the file atomically (see the module docstring for why)."""
        if not keys and not invalid:
            return
        # A symlinked cache is written through (the link stays); a pid in the temporary name lets the next
        # run remove what a killed one left (mmcore.atomic, which also knows this file's older names).
        destination = _replaceable_path(self.path)
        temporary = new_temporary_sibling(destination, include_unhidden_legacy=True)
        try:
            if self.path.exists():
                shutil.copyfile(self.path, temporary)
                shutil.copymode(self.path, temporary)
                with h5py.File(temporary, "r+") as handle:
                    self._check_header(handle)  # the file on disk may have been replaced since we last read it
                    first_row, first_invalid = _append_rows(handle, keys, packed_rows, invalid)
            else:
                os.chmod(temporary, 0o644)  # mkstemp makes 0600; a cache is ordinary data
                with h5py.File(temporary, "w") as handle:
                    self._create_layout(handle)
                    first_row, first_invalid = _append_rows(handle, keys, packed_rows, invalid)
            with open(temporary, "rb+") as raw:
                os.fsync(raw.fileno())
            os.replace(temporary, destination)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        if (first_row, first_invalid) != (self._n_rows, self._n_invalid):
            # Another process wrote in between: our row numbers are stale, read the index again.
            self._file_signature = None
            self._refresh()
            return
        for offset, key in enumerate(keys):
            self._row_of.setdefault(key, first_row + offset)
        self._n_rows += len(keys)
        self._n_invalid += len(invalid)
        self._invalid_reason.update(invalid)
        self._file_signature = _signature(self.path)

    def _create_layout(self, handle: h5py.File) -> None:
        n_bytes = (self.definition.n_bits + 7) // 8
        handle.attrs["format"] = CACHE_FORMAT
        handle.attrs["format_version"] = CACHE_FORMAT_VERSION
        handle.attrs["definition"] = self.definition.to_json()
        handle.attrs["n_bits"] = self.definition.n_bits
        handle.attrs["rdkit_version"] = rdkit.__version__
        key_type = f"S{INCHIKEY_LENGTH}"
        handle.create_dataset("inchikeys", shape=(0,), maxshape=(None,), dtype=key_type, chunks=(_ROWS_PER_CHUNK,))
        handle.create_dataset(
            "bits",
            shape=(0, n_bytes),
            maxshape=(None, n_bytes),
            dtype=np.uint8,
            chunks=(_ROWS_PER_CHUNK, n_bytes),
            compression="gzip",
            compression_opts=4,
        )
        handle.create_dataset("invalid_inchikeys", shape=(0,), maxshape=(None,), dtype=key_type, chunks=(256,))
        handle.create_dataset("invalid_reasons", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(), chunks=(256,))


def _append_rows(
    handle: h5py.File, keys: list[str], packed_rows: np.ndarray, invalid: dict[str, str]
) -> tuple[int, int]:
    """Append to an open cache file; returns the file's fingerprint and failure counts before appending."""
    first_row = handle["inchikeys"].shape[0]
    first_invalid = handle["invalid_inchikeys"].shape[0]
    if keys:
        for name, values in (("inchikeys", np.array(keys, dtype=f"S{INCHIKEY_LENGTH}")), ("bits", packed_rows)):
            dataset = handle[name]
            dataset.resize(first_row + len(keys), axis=0)
            dataset[first_row:] = values
    if invalid:
        for name, values in (
            ("invalid_inchikeys", np.array(list(invalid), dtype=f"S{INCHIKEY_LENGTH}")),
            ("invalid_reasons", np.array(list(invalid.values()), dtype=h5py.string_dtype())),
        ):
            dataset = handle[name]
            dataset.resize(first_invalid + len(invalid), axis=0)
            dataset[first_invalid:] = values
    return first_row, first_invalid


def _replaceable_path(path: Path) -> Path:
    """The regular file a cache write replaces: ``path``, or what a symlink there points to.

    A cache on a device or pipe cannot be rewritten by rename without destroying the special file.
    """
    try:
        target = output_target(path)
    except IsADirectoryError as error:
        raise FingerprintCacheError(f"{path}: is a directory, not a fingerprint cache file") from error
    if target.kind is not OutputKind.REPLACE:
        raise FingerprintCacheError(f"{path}: not a regular file; a fingerprint cache must be one")
    return target.path


def _signature(path: Path) -> tuple[int, int, int]:
    """What changes when a cache file is replaced or rewritten."""
    stat = os.stat(path)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _checked_inchikey(key: object, index: int) -> str:
    if not isinstance(key, str) or not INCHIKEY_PATTERN.fullmatch(key):
        raise ValueError(f"structure #{index}: {key!r} is not a standard InChIKey (XXXXXXXXXXXXXX-XXXXXXXXXX-X)")
    return key


def _decode_keys(raw: np.ndarray) -> list[str]:
    return [key.decode("ascii") for key in raw]


def _differing_fields(stored: dict, wanted: dict) -> list[str]:
    names = stored.keys() | wanted.keys()
    return sorted(name for name in names if json.dumps(stored.get(name)) != json.dumps(wanted.get(name)))
