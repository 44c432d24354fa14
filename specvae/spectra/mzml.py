"""mzML reading through pyteomics and matchms' mzML metadata parser, one spectrum at a time.

This follows matchms' ``load_from_mzml`` (same metadata fields) but builds each spectrum inside its own
``try``, so a spectrum with an unusable peak list is reported and the next one is read. A broken XML
document cannot be resumed: the spectra before the break are kept and the break is reported once.
mzML files are read uncompressed (pyteomics indexes them by byte offset).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from matchms.importing.parsing_utils import parse_mzml_mzxml_metadata
from pyteomics.mzml import read

from specvae.errors import InputFileError, RecordParseError
from specvae.spectra.records import SpectrumRecord, build_spectrum, quiet_matchms


def iter_mzml(path: str | os.PathLike[str], ms_level: int = 2) -> Iterator[SpectrumRecord]:
    """Yield a :class:`SpectrumRecord` for every spectrum of ``ms_level`` (records count all spectra)."""
    source = str(path)
    if not os.path.isfile(source):
        raise InputFileError(f"{source}: no such file")
    record = 0
    try:
        with read(source, dtype=dict) as reader, quiet_matchms():
            for record, entry in enumerate(reader, start=1):
                if entry.get("ms level") != ms_level:
                    continue
                title = entry.get("spectrum title") or entry.get("id")
                try:
                    metadata = {key: value for key, value in parse_mzml_mzxml_metadata(entry).items() if value}
                    if entry.get("id"):
                        metadata.setdefault("spectrum_id", entry["id"])
                    spectrum = build_spectrum(entry.get("m/z array", []), entry.get("intensity array", []), metadata)
                except (RecordParseError, KeyError, TypeError, ValueError, IndexError) as error:
                    yield SpectrumRecord(source, record, title, None, str(error))
                    continue
                yield SpectrumRecord(source, record, title, spectrum)
    except InputFileError:
        raise
    except Exception as error:  # pyteomics/lxml raise many types for a broken document; report, keep what was read
        yield SpectrumRecord(source, "file", None, None, f"unreadable mzML after record {record} ({error})")
