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

A broken XML document is read on, spectrum by spectrum. lxml parses in chunks and stops at the first
syntax error, so a stray quote or lost tag in one spectrum lost every later spectrum, and also the earlier
ones of the same chunk (a small file lost all of them, reported once as "unreadable mzML after record 0").
After a break, each ``<spectrum ...>...</spectrum>`` text not yet read is parsed on its own inside the
document's head and tail (:func:`_recover_spectra`): the broken spectrum is reported by its record number,
the others are read. A break outside every spectrum (the head) is reported once as before.

The PSI-MS vocabulary pyteomics needs is loaded once per process (:func:`_controlled_vocabulary`): loading
it took 0.3-0.6 s, for every file read.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import re
from collections.abc import Iterator

import numpy as np
from matchms.importing.parsing_utils import parse_mzml_mzxml_metadata
from pyteomics.mzml import MzML

from specvae.errors import InputFileError, RecordParseError
from specvae.spectra.records import SpectrumRecord, build_spectrum, quiet_matchms
from specvae.spectra.textio import detect_encoding, is_gzip, unmarked_wide_encoding

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
            # Sequentially, never through pyteomics' offset index: the index finds spectra by their opening tags,
            # so a spectrum whose tag was damaged was skipped in silence, and damage between spectra went unseen.
            reader = stack.enter_context(_reader(handle, use_index=False))
            stack.enter_context(quiet_matchms())
            for record, entry in enumerate(reader, start=1):
                if (wanted := _wanted(source, record, entry, ms_level)) is not None:
                    yield wanted
    except InputFileError:
        raise
    except Exception as error:  # pyteomics/lxml raise many types for a broken document; read on per spectrum
        with quiet_matchms():
            yield from _recover_spectra(source, record, error, ms_level)


@functools.cache
def _controlled_vocabulary():  # noqa: ANN202 - a psims ControlledVocabulary
    """The PSI-MS vocabulary, loaded once (pyteomics' ``read`` loads it for every file and cannot be given one)."""
    from pyteomics.xml import load_psims

    return load_psims()


def _reader(handle: str | io.IOBase, use_index: bool) -> MzML:
    return MzML(handle, dtype=dict, decode_binary=False, use_index=use_index, cv=_controlled_vocabulary())


_SPECTRUM_LIST = re.compile(rb"<(?:\w+:)?spectrumList\b[^>]*>")
_SPECTRUM_LIST_END = re.compile(rb"</(?:\w+:)?spectrumList\s*>")
_SPECTRUM_START = re.compile(rb"<(?:\w+:)?spectrum[\s>]")
_SPECTRUM_END = re.compile(rb"</(?:\w+:)?spectrum\s*>")
_DOCUMENT_TAIL = b"</spectrumList></run></mzML>"


def _recover_spectra(source: str, read_before: int, error: Exception, ms_level: int) -> Iterator[SpectrumRecord]:
    """After the document broke, the spectra after record ``read_before``, each parsed on its own.

    A spectrum's text runs from its ``<spectrum`` tag to the first ``</spectrum>`` or the next ``<spectrum``;
    each is wrapped in the document's head (everything up to ``<spectrumList ...>``) and a closing tail, so one
    broken spectrum costs itself. Text between spectra that ends in ``</spectrum>`` is a spectrum whose opening
    tag is damaged: a record of its own (so later record numbers stay right), reported. Other text between
    spectra is reported by where it lies. When the head is broken, the break is reported once.
    """
    document = _document_bytes(source)
    list_start = _SPECTRUM_LIST.search(document)
    if list_start is None:
        yield SpectrumRecord(source, "file", None, None, f"unreadable mzML after record {read_before} ({error})")
        return
    head = document[: list_start.end()]
    if b"<indexedmzML" in head:
        head = head.replace(b"<indexedmzML", b"<indexedmzMLx", 1)  # keep offsets out: closed as a plain mzML below
    tail = _DOCUMENT_TAIL + (b"</indexedmzMLx>" if b"<indexedmzMLx" in head else b"")
    list_end = _SPECTRUM_LIST_END.search(document, list_start.end())
    body_end = list_end.start() if list_end else len(document)
    reported = False
    record = 0
    for kind, text in _spectrum_texts(document, list_start.end(), body_end):
        if kind == "between":
            if record >= read_before:
                reported = True
                yield SpectrumRecord(
                    source, f"after record {record}", None, None, f"text between spectra is not mzML: {text[:60]!r}"
                )
            continue
        record += 1
        if record <= read_before:
            continue
        identifier = re.search(rb'\sid="([^"]{1,200})"', text)
        title = identifier.group(1).decode("utf-8", "replace") if identifier else None
        if kind == "orphan":
            reported = True
            yield SpectrumRecord(source, record, title, None, "unreadable mzML spectrum: its opening tag is damaged")
            continue
        try:
            with _reader(io.BytesIO(head + text + tail), use_index=False) as reader:
                entries = list(reader)
            if len(entries) != 1:
                raise ValueError(f"{len(entries)} spectra in the text of one")
        except Exception as spectrum_error:  # the broken spectrum: this record only
            reported = True
            # lxml's line numbers count lines of the wrapped text, not of the file: left out.
            message = str(spectrum_error).splitlines()[0] if str(spectrum_error) else ""
            reason = re.sub(r",? line \d+, column \d+.*$", "", message)
            yield SpectrumRecord(
                source, record, title, None, f"unreadable mzML spectrum ({type(spectrum_error).__name__}: {reason})"
            )
            continue
        if (wanted := _wanted(source, record, entries[0], ms_level)) is not None:
            yield wanted
    if not reported:
        # Each spectrum reads alone, so the break lies outside them (a damaged closing tag of the document).
        yield SpectrumRecord(source, "file", None, None, f"unreadable mzML after record {read_before} ({error})")


def _spectrum_texts(document: bytes, start: int, stop: int) -> Iterator[tuple[str, bytes]]:
    """``("spectrum", text)`` for each ``<spectrum`` element of ``document[start:stop]``; ``("orphan", text)`` for
    text between them that closes a spectrum (its opening tag damaged); ``("between", text)`` for other text."""
    position = start
    starts = [match.start() for match in _SPECTRUM_START.finditer(document, start, stop)]
    for index, spectrum_start in enumerate([*starts, stop]):
        gap = document[position:spectrum_start]
        if gap.strip():
            yield ("orphan" if _SPECTRUM_END.search(gap) else "between"), gap.strip()
        if index == len(starts):
            break
        next_start = starts[index + 1] if index + 1 < len(starts) else stop
        end = _SPECTRUM_END.search(document, spectrum_start, next_start)
        position = end.end() if end else next_start
        yield "spectrum", document[spectrum_start:position]


def _document_bytes(source: str) -> bytes:
    """The whole document as UTF-8 bytes (gunzipped; UTF-16/32 re-encoded, its declaration said UTF-8)."""
    try:
        with gzip.open(source, "rb") if is_gzip(source) else open(source, "rb") as stream:
            document = stream.read()
    except Exception:  # a gzip stream cut short: keep what decompresses
        document = _decompress_what_can_be(source)
    encoding = detect_encoding(document[:4])
    if encoding is None and (wide := unmarked_wide_encoding(document[:4096])):
        byte_order = "be" if document.startswith(b"\x00") else "le"  # the document starts with '<'
        encoding = f"{wide.lower()}-{byte_order}"
    if encoding not in (None, "utf-8-sig"):
        document = document.decode(encoding, errors="replace").encode("utf-8")
        document = re.sub(rb"^(<\?xml[^>]*?encoding=)[\"'][^\"']*[\"']", rb'\1"utf-8"', document, count=1)
    return document


def _decompress_what_can_be(source: str) -> bytes:
    output = io.BytesIO()
    with contextlib.suppress(Exception), gzip.open(source, "rb") as stream:
        while chunk := stream.read(65536):
            output.write(chunk)
    return output.getvalue()


def _wanted(source: str, record: int, entry: dict, ms_level: int) -> SpectrumRecord | None:
    """The record of a spectrum of ``ms_level``, an error record for one that states no MS level, else None.

    Why report a spectrum without a valid MS level: skipping it as "another level" lost it in silence (a
    damaged ``<cvParam`` tag of its MS level, ``value="abc"``, or two spectra nested by a moved closing tag).
    """
    level = entry.get("ms level")
    title = entry.get("spectrum title") or entry.get("id")
    if level is None:
        return SpectrumRecord(source, record, title, None, "the spectrum states no MS level (cvParam 'ms level')")
    if not isinstance(level, int) or isinstance(level, bool) or level < 1:
        # "abc", -5, or a list when two spectra are nested (a closing tag moved): not "another level" to skip
        return SpectrumRecord(source, record, title, None, f"MS level {level!r} is not one positive integer")
    return _record(source, record, entry) if level == ms_level else None


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
