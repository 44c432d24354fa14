"""MGF reading, block by block, so that one malformed block costs one record and not the file.

matchms' ``load_from_mgf`` (pyteomics underneath) raises on the first block it cannot parse and the rest
of the file is lost: the real MassBank export has 67 records with ``PEPMASS=NA``, the first at record 922,
and a caller of ``load_from_mgf`` gets an exception instead of 62,641 spectra. Here the text is split
into ``BEGIN IONS`` ... ``END IONS`` blocks; each block is parsed on its own (``KEY=VALUE`` lines and
peak lines) and turned into a matchms :class:`Spectrum` with matchms' key harmonisation, so the metadata
keys are the ones matchms uses everywhere (``precursor_mz``, ``ionmode``, ``adduct``, ``compound_name``,
``spectrum_id``, ...). Problems found:

- a peak line that is not two numbers, a line that is neither ``KEY=VALUE`` nor a peak;
- ``BEGIN IONS`` inside a block (the earlier block never ended), a file that ends inside a block;
- text outside any block, ``KEY=VALUE`` lines included: one error per run of such lines, and nothing of
  it is applied to any block (MGF's "global parameters" are not honoured: see :func:`_outside_error`);
- a precursor, charge, ion mode, adduct, title or structure given twice in a block with different values
  (two blocks merged by a damaged ``END IONS`` line: the second's ``PEPMASS`` silently replaced the first's,
  and its peaks were added to the first's);
- a peak with a non-finite or negative m/z (matchms cannot hold it);
- a gzip stream that breaks off (records before the break are kept).

A byte-order mark is dropped (UTF-8) or decoded (UTF-16/UTF-32) by :func:`specvae.spectra.textio.open_text`;
one left at the start of a line inside the file is ignored.

A missing or unreadable precursor (``PEPMASS=NA``) is not a parse error: the spectrum is read without a
precursor m/z and cleaning (:func:`specvae.spectra.filters.clean_spectrum`) rejects it with that reason.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

import numpy as np

from specvae.errors import RecordParseError
from specvae.spectra.records import SpectrumRecord, build_spectrum, quiet_matchms
from specvae.spectra.textio import open_text

_BEGIN = "BEGIN IONS"
_END = "END IONS"
_COMMENT_PREFIXES = ("#", ";", "!", "/")
_BOM = "\ufeff"
_SINGLE_VALUED = frozenset({"TITLE", "PEPMASS", "PRECURSOR_MZ", "CHARGE", "IONMODE", "ADDUCT", "SMILES", "INCHI"})
"""Parameters a record states once: a second, different value means two records merged (other keys may repeat)."""
_SPECIAL_FIRST_CHARACTERS = frozenset("BbEe#;!/" + _BOM)
"""First characters of lines that may be BEGIN IONS, END IONS, a comment or start with a byte-order mark;
any other line is block content."""


def iter_mgf(path: str | os.PathLike[str]) -> Iterator[SpectrumRecord]:
    """Yield one :class:`SpectrumRecord` per ``BEGIN IONS`` block of an MGF file (plain or gzip).

    Text outside the blocks yields one error record per run of such lines (named ``"line N"`` by its first
    line) and is never applied to a block. Raises :class:`~specvae.errors.InputFileError` only when the file
    cannot be opened.
    """
    source = str(path)
    block: list[tuple[int, str]] | None = None
    outside: list[tuple[int, str]] = []  # the current run of lines that belong to no block
    record = 0
    line_number = 0
    with open_text(path) as stream, quiet_matchms():
        try:
            for line_number, raw_line in enumerate(stream, start=1):
                line = raw_line.strip()
                if not line:
                    continue
                if block is not None and line[0] not in _SPECIAL_FIRST_CHARACTERS:
                    block.append((line_number, line))  # the common case: a peak or parameter line in a block
                    continue
                if line[0] == _BOM:
                    line = line.lstrip(_BOM).strip()  # a mark left inside the file by concatenating files
                    if not line:
                        continue
                if line.startswith(_COMMENT_PREFIXES):
                    continue
                upper = line.upper()
                if upper == _BEGIN:
                    if block is not None:
                        yield _error(source, record, block, f"BEGIN IONS at line {line_number} before END IONS")
                    if outside:
                        yield _outside_error(source, outside)
                        outside = []
                    record += 1
                    block = []
                elif upper == _END and block is not None:
                    yield _parse_block(source, record, block)
                    block = None
                elif block is not None:
                    block.append((line_number, line))
                else:
                    outside.append((line_number, line))
                    if upper == _END:
                        yield _outside_error(source, outside)
                        outside = []
        except (OSError, EOFError, zlib.error) as error:
            # A gzip stream that breaks off: what was read stays valid, the rest is unreadable.
            if block is not None:
                yield _error(source, record, block, f"file is corrupt after line {line_number} ({error})")
                block = None
            else:
                yield SpectrumRecord(source, "file", None, None, f"file is corrupt after line {line_number} ({error})")
        if outside:
            yield _outside_error(source, outside)
        if block is not None:
            yield _error(source, record, block, "file ends inside a block (no END IONS)")


def _outside_error(source: str, lines: list[tuple[int, str]]) -> SpectrumRecord:
    """One error for a run of lines outside any block, named by its first line.

    Why nothing of it is used: a ``KEY=VALUE`` line before ``BEGIN IONS`` was once taken as a global setting
    for every later block, so a block that lost its ``BEGIN IONS`` gave its ``ADDUCT=[M+Na]+`` to every intact
    record after it, which were then ranked against the wrong candidates. A line outside a block belongs to
    no record; a run of them ending in ``END IONS`` is a record whose ``BEGIN IONS`` is missing.
    """
    first_line, first_text = lines[0]
    last_line, last_text = lines[-1]
    where = f"line {first_line}" if first_line == last_line else f"lines {first_line}-{last_line}"
    if last_text.upper() == _END:
        if len(lines) == 1:
            reason = "END IONS without BEGIN IONS"
        else:
            reason = (
                f"END IONS without BEGIN IONS at line {last_line}: {where} belong to no record (a missing "
                "BEGIN IONS?) and are not read, nor applied to any other record"
            )
    else:
        reason = (
            f"text outside BEGIN IONS/END IONS ({where}, first {first_text[:60]!r}): it belongs to no record "
            "and is not applied to any record"
        )
    return SpectrumRecord(source, f"line {first_line}", _title_of(lines), None, reason)


def _title_of(block: list[tuple[int, str]]) -> str | None:
    for _, line in block:
        key, separator, value = line.partition("=")
        if separator and key.strip().upper() == "TITLE":
            return value.strip() or None
    return None


def _error(source: str, record: int, block: list[tuple[int, str]], reason: str) -> SpectrumRecord:
    return SpectrumRecord(source, record, _title_of(block), None, reason)


def _parse_block(source: str, record: int, block: list[tuple[int, str]]) -> SpectrumRecord:
    params: dict[str, str] = {}
    param_lines: dict[str, int] = {}
    peak_lines: list[tuple[int, str]] = []
    for line_number, line in block:
        key, separator, value = line.partition("=")
        if separator and not _starts_like_number(key):
            name = key.strip().upper()
            if not name:
                return _error(source, record, block, f"line {line_number}: parameter without a name")
            if name in _SINGLE_VALUED and name in params and params[name] != value.strip():
                return _error(
                    source,
                    record,
                    block,
                    f"line {line_number}: {name} given again with another value (first at line {param_lines[name]}): "
                    "two records merged by a damaged END IONS / BEGIN IONS line?",
                )
            params[name] = value.strip()
            param_lines.setdefault(name, line_number)
        else:
            peak_lines.append((line_number, line))
    title = params.get("TITLE") or None
    try:
        mz, intensities = _parse_peaks(peak_lines)
        spectrum = build_spectrum(mz, intensities, _metadata(params))
    except RecordParseError as error:
        return SpectrumRecord(source, record, title, None, str(error))
    return SpectrumRecord(source, record, title, spectrum)


def _starts_like_number(text: str) -> bool:
    stripped = text.lstrip()
    return bool(stripped) and (stripped[0].isdigit() or stripped[0] in "+-.")


def _parse_peaks(peak_lines: list[tuple[int, str]]) -> tuple[np.ndarray, np.ndarray]:
    """m/z and intensity arrays; a third column (peak charge or annotation) is allowed and ignored."""
    if not peak_lines:
        return np.empty(0), np.empty(0)
    split_lines = [line.split() for _, line in peak_lines]
    if all(len(pair) == 2 for pair in split_lines):
        # Fast path: one vectorised conversion for the whole block.
        try:
            values = np.array(split_lines, dtype=np.float64)
            return values[:, 0], values[:, 1]
        except ValueError:
            pass  # find the offending line below
    mz, intensities = [], []
    for line_number, line in peak_lines:
        fields = line.split()
        if len(fields) < 2 or len(fields) > 3:
            raise RecordParseError(f"line {line_number}: expected 'm/z intensity', got {line[:60]!r}")
        try:
            mz.append(float(fields[0]))
            intensities.append(float(fields[1]))
        except ValueError:
            raise RecordParseError(f"line {line_number}: peak is not two numbers: {line[:60]!r}") from None
    return np.array(mz, dtype=np.float64), np.array(intensities, dtype=np.float64)


def _metadata(params: dict[str, str]) -> dict[str, object]:
    """MGF parameters as matchms metadata (lower-case keys; PEPMASS split into m/z and intensity)."""
    metadata: dict[str, object] = {key.lower(): value for key, value in params.items()}
    pepmass = metadata.pop("pepmass", None)
    if isinstance(pepmass, str):
        fields = pepmass.replace(",", " ").split()
        precursor = _to_float(fields[0]) if fields else None
        if precursor is not None:
            metadata.setdefault("precursor_mz", precursor)
            if len(fields) > 1 and (intensity := _to_float(fields[1])) is not None:
                metadata.setdefault("precursor_intensity", intensity)
    return metadata


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
