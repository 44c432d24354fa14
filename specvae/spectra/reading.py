"""Read spectrum files of any supported format, with bad records reported instead of raised.

Formats are chosen by file name: ``.mgf``, ``.msp`` and ``.mzML`` (each optionally ``.gz``). The readers
yield :class:`SpectrumRecord` objects; :func:`read_spectra` and :func:`read_clean_spectra` collect the good
spectra and add one :class:`~specvae.errors.RecordError` per bad record to an
:class:`~specvae.errors.ErrorReport`.

>>> report = ErrorReport()                                          # doctest: +SKIP
>>> spectra = read_clean_spectra("challenges.mgf", report)          # doctest: +SKIP
>>> report.print()  # one line per record that failed, with file, record number, title and reason
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from matchms import Spectrum

from specvae.errors import ErrorReport, InputFileError, SpectrumRejectedError
from specvae.spectra.filters import clean_spectrum
from specvae.spectra.mgf import iter_mgf
from specvae.spectra.msp import iter_msp
from specvae.spectra.records import SpectrumRecord, quiet_matchms
from specvae.spectra.textio import format_suffix


def iter_mzml(path: str | os.PathLike[str]) -> Iterator[SpectrumRecord]:
    """:func:`specvae.spectra.mzml.iter_mzml`, imported on first use: the mzML reader needs pyteomics and psims
    (about 0.6 s to import), which reading MGF or MSP files does not."""
    from specvae.spectra.mzml import iter_mzml as read_mzml

    return read_mzml(path)


_READERS: dict[str, Callable[[str | os.PathLike[str]], Iterator[SpectrumRecord]]] = {
    ".mgf": iter_mgf,
    ".msp": iter_msp,
    ".mzml": iter_mzml,
}

SPECTRUM_FORMATS = tuple(sorted(_READERS))
"""File suffixes :func:`iter_spectrum_records` reads (each also gzip-compressed)."""


def iter_spectrum_records(path: str | os.PathLike[str]) -> Iterator[SpectrumRecord]:
    """One :class:`SpectrumRecord` per record of the file; the format is chosen by the file's suffix.

    Raises :class:`~specvae.errors.InputFileError` when the file is missing or its format unknown.
    """
    suffix = format_suffix(path)
    reader = _READERS.get(suffix)
    if reader is None:
        raise InputFileError(
            f"{path}: unknown spectrum format {suffix or '(no suffix)'!r}; expected {SPECTRUM_FORMATS}"
        )
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    return _with_empty_file_reported(reader(path), path, suffix)


def _with_empty_file_reported(
    records: Iterator[SpectrumRecord], path: str | os.PathLike[str], suffix: str
) -> Iterator[SpectrumRecord]:
    """The reader's records; a file that yields none (empty, or not in the format its suffix says) becomes one
    error record, so that a run on it reports a problem instead of annotating nothing in silence."""
    empty = True
    for record in records:
        empty = False
        yield record
    if empty:
        yield SpectrumRecord(str(path), "file", None, None, f"no spectrum records found: empty, or not a {suffix} file")


def read_spectra(path: str | os.PathLike[str], errors: ErrorReport | None = None) -> list[Spectrum]:
    """All spectra the file holds, as read (keys harmonised, not cleaned); bad records go to ``errors``."""
    spectra = []
    for record in iter_spectrum_records(path):
        if record.spectrum is not None:
            spectra.append(record.spectrum)
        elif errors is not None:
            errors.append(record.to_record_error())
    return spectra


def iter_clean_records(
    path: str | os.PathLike[str], clean: Callable[[Spectrum], Spectrum] = clean_spectrum
) -> Iterator[SpectrumRecord]:
    """Like :func:`iter_spectrum_records`, with each spectrum cleaned; a rejection becomes the record's error.

    ``clean`` raises :class:`~specvae.errors.SpectrumRejectedError` to reject (as :func:`clean_spectrum`).
    """
    with quiet_matchms():
        for record in iter_spectrum_records(path):
            if record.spectrum is None:
                yield record
                continue
            try:
                yield replace(record, spectrum=clean(record.spectrum))
            except SpectrumRejectedError as rejection:
                yield replace(record, spectrum=None, error=str(rejection))


def read_clean_spectra(
    path: str | os.PathLike[str],
    errors: ErrorReport | None = None,
    clean: Callable[[Spectrum], Spectrum] = clean_spectrum,
) -> list[Spectrum]:
    """The cleaned spectra of a file; records that fail reading or cleaning go to ``errors``."""
    spectra = []
    for record in iter_clean_records(path, clean):
        if record.spectrum is not None:
            spectra.append(record.spectrum)
        elif errors is not None:
            errors.append(record.to_record_error())
    return spectra
