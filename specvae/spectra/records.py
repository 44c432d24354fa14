"""What a spectrum reader yields for each record: the spectrum, or why there is none."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from matchms import Spectrum

from specvae.errors import RecordError, RecordParseError


@dataclass(frozen=True)
class SpectrumRecord:
    """One record of a spectrum file.

    ``record`` is the record's 1-based number in the file (or ``"line N"`` / ``"file"`` for problems that
    belong to no record). Exactly one of ``spectrum`` and ``error`` is set.
    """

    file: str
    record: int | str
    title: str | None
    spectrum: Spectrum | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.spectrum is not None

    def to_record_error(self) -> RecordError:
        if self.error is None:
            raise ValueError(f"{self.file}, record {self.record}: has no error")
        return RecordError(self.file, self.record, self.error, self.title)


def build_spectrum(mz: list[float] | np.ndarray, intensities: list[float] | np.ndarray, metadata: dict) -> Spectrum:
    """A matchms :class:`Spectrum` with harmonised metadata keys, peaks sorted by m/z.

    Raises :class:`RecordParseError` for peaks matchms cannot hold (non-finite or negative m/z) and when
    matchms' metadata harmonisation fails on odd values: in both cases only this record is lost.
    """
    mz_array = np.asarray(mz, dtype=np.float64)
    intensity_array = np.asarray(intensities, dtype=np.float64)
    if mz_array.shape != intensity_array.shape or mz_array.ndim != 1:
        raise RecordParseError(f"{mz_array.size} m/z values but {intensity_array.size} intensities")
    bad = ~np.isfinite(mz_array) | (mz_array < 0)
    if bad.any():
        raise RecordParseError(f"peak m/z {mz_array[bad][0]!r} is not a finite non-negative number")
    if mz_array.size > 1 and np.any(np.diff(mz_array) < 0):
        order = np.argsort(mz_array, kind="stable")
        mz_array, intensity_array = mz_array[order], intensity_array[order]
    try:
        return Spectrum(mz=mz_array, intensities=intensity_array, metadata=metadata, metadata_harmonization=True)
    except Exception as error:  # matchms' harmonisation raises assorted types on odd values; keep it to this record
        raise RecordParseError(f"matchms cannot interpret the metadata ({type(error).__name__}: {error})") from error


@contextlib.contextmanager
def quiet_matchms() -> Iterator[None]:
    """Silence matchms' per-spectrum warnings while a file is read.

    Why: matchms logs a warning for every spectrum without a precursor (67 lines for the MassBank file),
    which would bury specvae's own report of the same records. Errors still get through. The level is
    restored afterwards.
    """
    logger = logging.getLogger("matchms")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
