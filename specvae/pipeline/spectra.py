"""The pipeline's first two stages: read spectrum records (a file, or matchms objects) and clean them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from matchms import Spectrum

from specvae.errors import ErrorReport, RecordError, SpecvaeError
from specvae.pipeline.query import SpectrumQuery
from specvae.spectra.filters import clean_spectrum
from specvae.spectra.metadata import spectrum_title
from specvae.spectra.reading import iter_spectrum_records
from specvae.spectra.records import SpectrumRecord

SPECTRUM_OBJECTS = "<spectra>"
"""The source named in reports for spectra given as matchms objects rather than a file."""

SpectraInput = str | os.PathLike[str] | Spectrum | Iterable[Spectrum]


def spectra_source(spectra: SpectraInput) -> str:
    """How reports name the spectra: the file, or ``<spectra>``."""
    return str(spectra) if isinstance(spectra, (str, os.PathLike)) else SPECTRUM_OBJECTS


def read_spectrum_records(spectra: SpectraInput) -> Iterator[SpectrumRecord]:
    """One record per spectrum of a file (MGF, MSP, mzML; unreadable records carry their error), or per matchms
    object (numbered from 1, titled ``spectrum N`` when it has no title).

    Raises :class:`~specvae.errors.InputFileError` at once for a missing file or an unknown format.
    """
    if isinstance(spectra, (str, os.PathLike)):
        return iter_spectrum_records(spectra)
    if isinstance(spectra, Spectrum):
        spectra = [spectra]
    return (
        SpectrumRecord(SPECTRUM_OBJECTS, index, spectrum_title(spectrum) or f"spectrum {index}", spectrum)
        for index, spectrum in enumerate(spectra, start=1)
    )


def clean_records(records: Iterable[SpectrumRecord], errors: ErrorReport) -> list[SpectrumQuery]:
    """A query per record whose spectrum survives cleaning (:func:`~specvae.spectra.filters.clean_spectrum`);
    unreadable and rejected records go to ``errors`` under their record number."""
    return list(iter_clean_records(records, errors))


def iter_clean_records(records: Iterable[SpectrumRecord], errors: ErrorReport) -> Iterator[SpectrumQuery]:
    """:func:`clean_records` one record at a time, so that a stream of spectra is cleaned as it is read."""
    for record in records:
        if record.spectrum is None:
            errors.append(record.to_record_error())
            continue
        try:
            spectrum = clean_spectrum(record.spectrum)
        except SpecvaeError as rejection:
            errors.append(RecordError(record.file, record.record, str(rejection), record.title))
            continue
        fallback = record.title if record.file == SPECTRUM_OBJECTS else f"record {record.record}"
        identifier = spectrum_title(spectrum) or fallback or f"record {record.record}"
        yield SpectrumQuery(identifier, record.record, spectrum, source=record.file)
