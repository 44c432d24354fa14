"""mzML reading through pyteomics and matchms' mzML metadata parser, one spectrum at a time.

This follows matchms' ``load_from_mzml`` (same metadata fields) but builds each spectrum inside its own
``try``, so a spectrum with an unusable peak list is reported and the next one is read.

Why the peak arrays are decoded here and not by pyteomics: pyteomics decodes base64/zlib while it iterates,
so one damaged ``<binary>`` ended the iteration and every later spectrum was lost (31 of 72 in one file),
reported once as "unreadable mzML". Iterating with ``decode_binary=False`` and decoding each spectrum's
arrays inside its own ``try`` costs that spectrum alone, reported by its record number and ``id``. A broken
XML document cannot be resumed: the spectra before the break are kept and the break is reported once.

A gzip-compressed file (recognised by its magic bytes, whatever its name) is read as a stream without the
byte-offset index, which needs a seekable uncompressed file; a plain file is read as before.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Iterator

import numpy as np
from matchms.importing.parsing_utils import parse_mzml_mzxml_metadata
from pyteomics.mzml import read

from specvae.errors import InputFileError, RecordParseError
from specvae.spectra.records import SpectrumRecord, build_spectrum, quiet_matchms
from specvae.spectra.textio import is_gzip

_ARRAYS = ("m/z array", "intensity array")


def iter_mzml(path: str | os.PathLike[str], ms_level: int = 2) -> Iterator[SpectrumRecord]:
    """Yield a :class:`SpectrumRecord` for every spectrum of ``ms_level`` (records count all spectra)."""
    source = str(path)
    if not os.path.isfile(source):
        raise InputFileError(f"{source}: no such file")
    record = 0
    try:
        with contextlib.ExitStack() as stack:
            compressed = is_gzip(source)
            handle = stack.enter_context(gzip.open(source, "rb")) if compressed else source
            reader = stack.enter_context(read(handle, dtype=dict, decode_binary=False, use_index=not compressed))
            stack.enter_context(quiet_matchms())
            for record, entry in enumerate(reader, start=1):
                if entry.get("ms level") != ms_level:
                    continue
                yield _record(source, record, entry)
    except InputFileError:
        raise
    except Exception as error:  # pyteomics/lxml raise many types for a broken document; report, keep what was read
        yield SpectrumRecord(source, "file", None, None, f"unreadable mzML after record {record} ({error})")


def _record(source: str, record: int, entry: dict) -> SpectrumRecord:
    """One spectrum's record; anything wrong with this spectrum (arrays, metadata) is this record's error."""
    title = entry.get("spectrum title") or entry.get("id")
    try:
        mz, intensities = (_decoded(entry, name) for name in _ARRAYS)
        metadata = {key: value for key, value in parse_mzml_mzxml_metadata(entry).items() if value}
        if entry.get("id"):
            metadata.setdefault("spectrum_id", entry["id"])
        spectrum = build_spectrum(mz, intensities, metadata)
    except RecordParseError as error:
        return SpectrumRecord(source, record, title, None, str(error))
    except Exception as error:  # matchms' metadata parser and pyteomics' decoder raise assorted types
        return SpectrumRecord(source, record, title, None, f"{type(error).__name__}: {error}")
    return SpectrumRecord(source, record, title, spectrum)


def _decoded(entry: dict, name: str) -> np.ndarray:
    """The spectrum's ``name`` array, decoded from base64 (and zlib) now; an empty array when absent."""
    array = entry.get(name)
    if array is None:
        return np.empty(0)
    if hasattr(array, "decode"):
        try:
            array = array.decode()
        except Exception as error:  # binascii.Error, zlib.error, ValueError for a wrong length, ...
            raise RecordParseError(
                f"spectrum {entry.get('id') or entry.get('index')!r}: unreadable {name} "
                f"({type(error).__name__}: {error})"
            ) from None
    return np.asarray(array)
