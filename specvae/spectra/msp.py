"""MSP (NIST text) reading, record by record, for the same reason as :mod:`specvae.spectra.mgf`.

matchms' ``load_from_msp`` counts peaks against ``Num Peaks`` across the whole file: one record whose count
is wrong shifts every record after it. Here a record ends at a blank line after its peaks or at the next
``Name:`` line; its ``key: value`` lines go through matchms' own MSP metadata parser (which understands
``Comments: "key=value"`` fields), its peaks through a parser that accepts the usual layouts
(``mz intensity``, ``mz<TAB>intensity "annotation"``, ``mz:intensity mz:intensity``, ``mz intensity; ...``).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator

from matchms.importing.load_from_msp import parse_metadata

from specvae.errors import RecordParseError
from specvae.spectra.records import SpectrumRecord, build_spectrum, quiet_matchms
from specvae.spectra.textio import open_text

_SINGLE_VALUED = frozenset(
    {"precursormz", "precursor_mz", "pepmass", "precursor_type", "precursortype", "ion_mode", "ionmode", "charge"}
)
"""Keys a record states once: a second, different value means two records merged (Synon:, Comments: may repeat)."""
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_PEAK_SEPARATORS = re.compile(r"[\s:,]+")


def iter_msp(path: str | os.PathLike[str]) -> Iterator[SpectrumRecord]:
    """Yield one :class:`SpectrumRecord` per MSP record (plain or gzip)."""
    source = str(path)
    record = 0
    lines: list[tuple[int, str]] = []
    seen_peaks = False
    line_number = 0
    with open_text(path) as stream, quiet_matchms():
        try:
            for line_number, raw_line in enumerate(stream, start=1):
                line = raw_line.strip()
                starts_record = line.lower().startswith("name:")
                if (not line and seen_peaks) or (starts_record and lines):
                    record += 1
                    yield _parse_record(source, record, lines)
                    lines, seen_peaks = [], False
                if line:
                    lines.append((line_number, line))
                    seen_peaks = seen_peaks or _is_peak_line(line)
        except (OSError, EOFError, zlib.error) as error:
            record += 1
            yield SpectrumRecord(
                source, record, _name_of(lines), None, f"file is corrupt after line {line_number} ({error})"
            )
            return
    if lines:
        record += 1
        yield _parse_record(source, record, lines)


def _is_peak_line(line: str) -> bool:
    return line[0].isdigit() or line[0] == "."


def _name_of(lines: list[tuple[int, str]]) -> str | None:
    for _, line in lines:
        key, separator, value = line.partition(":")
        if separator and key.strip().lower() in ("name", "title"):
            return value.strip() or None
    return None


def _parse_record(source: str, record: int, lines: list[tuple[int, str]]) -> SpectrumRecord:
    params: dict[str, object] = {}
    mz: list[float] = []
    intensities: list[float] = []
    title = _name_of(lines)
    first_seen: dict[str, tuple[int, str]] = {}
    try:
        for line_number, line in lines:
            if _is_peak_line(line):
                _parse_peak_line(line_number, line, mz, intensities)
            elif ":" in line:
                _check_not_repeated(line_number, line, first_seen)
                _parse_metadata_line(line_number, line, params)
            else:
                raise RecordParseError(f"line {line_number}: neither 'key: value' nor a peak: {line[:60]!r}")
        declared = params.get("num peaks")
        if declared is not None and str(declared).strip().isdigit() and int(str(declared)) != len(mz):
            raise RecordParseError(f"Num Peaks says {declared} but the record has {len(mz)} peaks")
        params.pop("num peaks", None)
        spectrum = build_spectrum(mz, intensities, params)
    except RecordParseError as error:
        return SpectrumRecord(source, record, title, None, str(error))
    return SpectrumRecord(source, record, title, spectrum)


def _check_not_repeated(line_number: int, line: str, first_seen: dict[str, tuple[int, str]]) -> None:
    """A key given twice with different values is two records merged (a lost blank line and a damaged ``Name:``
    line): matchms' parser would keep the second value, e.g. the second record's precursor for the first's peaks."""
    key, _, value = line.partition(":")
    key, value = key.strip().lower(), value.strip()
    if key not in _SINGLE_VALUED:
        return  # Synon:, Comments: and the like may repeat
    if key in first_seen and first_seen[key][1] != value:
        raise RecordParseError(
            f"line {line_number}: {key!r} given again with another value (first at line {first_seen[key][0]}): "
            "two records merged?"
        )
    first_seen.setdefault(key, (line_number, value))


def _parse_metadata_line(line_number: int, line: str, params: dict[str, object]) -> None:
    """matchms' MSP metadata parser on one line; whatever it raises on an odd line costs this record only."""
    try:
        parse_metadata(line, params)
    except Exception as error:  # matchms assumes well-formed lines and raises assorted types otherwise
        raise RecordParseError(
            f"line {line_number}: matchms cannot read the metadata line {line[:60]!r} ({type(error).__name__}: {error})"
        ) from None


def _parse_peak_line(line_number: int, line: str, mz: list[float], intensities: list[float]) -> None:
    """Append the peaks of one line; a quoted annotation after a peak is dropped."""
    for chunk in _QUOTED.sub(" ", line).split(";"):
        tokens = [token for token in _PEAK_SEPARATORS.split(chunk) if token]
        if not tokens:
            continue
        if len(tokens) % 2:
            raise RecordParseError(f"line {line_number}: peaks are not m/z-intensity pairs: {line[:60]!r}")
        try:
            values = [float(token) for token in tokens]
        except ValueError:
            raise RecordParseError(f"line {line_number}: peak is not two numbers: {line[:60]!r}") from None
        mz.extend(values[0::2])
        intensities.extend(values[1::2])
