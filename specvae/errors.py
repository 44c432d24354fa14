"""Error types of specvae's readers, and the report that collects bad records without stopping a run.

Two kinds of failure, kept apart on purpose:

- A whole *file* cannot be read (missing, unknown format, a CSV without a structure column): the readers
  raise :class:`InputFileError`, because nothing in it can be processed.
- One *record* is bad (a malformed MGF block, a spectrum without peaks, an SDF record RDKit cannot parse,
  an invalid SMILES): the readers add a :class:`RecordError` to an :class:`ErrorReport` and go on with the
  next record. The command line prints the report on stderr, writes it as TSV (``--errors``) and turns
  "any record failed" into its exit code.

Exceptions raised for a single record (:class:`RecordParseError`, :class:`SpectrumRejectedError`,
:class:`InvalidStructureError`, :class:`UnknownAdductError`, :class:`EmptyCandidateListError`) carry the
reason as their message, so a caller that catches one can put ``str(error)`` into the report.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from mmcore.atomic import atomic_write_text


class SpecvaeError(Exception):
    """Base class of every error specvae raises on purpose."""


class InputFileError(SpecvaeError, ValueError):
    """A file that cannot be read at all: missing, unreadable, unknown format, or without required columns."""


class RecordParseError(SpecvaeError, ValueError):
    """One record of a file is malformed (e.g. an MGF block with a peak line that is not two numbers)."""


class SpectrumRejectedError(SpecvaeError, ValueError):
    """A spectrum that cleaning rejects (no precursor m/z, no peaks, NaN or negative intensities, ...)."""


class InvalidStructureError(SpecvaeError, ValueError):
    """A structure RDKit cannot parse (invalid SMILES or InChI, unreadable SDF record)."""


class UnknownAdductError(SpecvaeError, ValueError):
    """An adduct string that cannot be interpreted; the message names the adduct."""

    def __init__(self, adduct: object, reason: str = "") -> None:
        self.adduct = adduct
        detail = f": {reason}" if reason else ""
        super().__init__(f"unknown adduct {adduct!r}{detail}" if adduct is not None else f"no adduct{detail}")


class EmptyCandidateListError(SpecvaeError, LookupError):
    """A spectrum for which the candidate source offers no candidate (nothing to rank)."""


@dataclass(frozen=True)
class RecordError:
    """One bad record: the file, which record (1-based number, or a line/description), its title, why.

    ``record`` is the record's 1-based position in the file (the n-th ``BEGIN IONS`` block, SDF record or
    table row), or a short text where there is no record number (``"line 12"``, ``"file"``).
    """

    file: str
    record: int | str
    reason: str
    title: str | None = None

    def describe(self) -> str:
        """One human-readable line: ``file, record 3 ('Challenge-001'): reason``."""
        where = f"record {self.record}" if isinstance(self.record, int) else str(self.record)
        title = f" ({self.title!r})" if self.title else ""
        return f"{self.file}, {where}{title}: {self.reason}"


class ErrorReport:
    """The bad records of a run, in the order they were found.

    Readers take an optional report and add to it; a caller that wants errors to be fatal can check
    ``len(report)`` after each file. ``exit_code`` is what the command line returns: 0 when every record
    was processed, 1 when any failed.

    >>> report = ErrorReport()
    >>> report.add("a.mgf", 3, "no precursor m/z", title="Challenge-001")
    >>> report.exit_code
    1
    """

    TSV_COLUMNS = ("file", "record", "title", "reason")

    def __init__(self, errors: Iterable[RecordError] = ()) -> None:
        self._errors: list[RecordError] = list(errors)

    def add(self, file: str | os.PathLike[str], record: int | str, reason: str, title: str | None = None) -> None:
        self._errors.append(RecordError(str(file), record, reason, title))

    def append(self, error: RecordError) -> None:
        self._errors.append(error)

    def extend(self, errors: Iterable[RecordError]) -> None:
        self._errors.extend(errors)

    def __len__(self) -> int:
        return len(self._errors)

    def __iter__(self) -> Iterator[RecordError]:
        return iter(self._errors)

    def __getitem__(self, index: int) -> RecordError:
        return self._errors[index]

    def __repr__(self) -> str:
        return f"ErrorReport({len(self._errors)} errors)"

    @property
    def exit_code(self) -> int:
        return 1 if self._errors else 0

    def print(self, stream: TextIO | None = None) -> None:
        """Write one line per bad record (to stderr unless ``stream`` is given)."""
        stream = sys.stderr if stream is None else stream
        for error in self._errors:
            print(f"error: {error.describe()}", file=stream)

    def write_tsv(self, path: str | os.PathLike[str]) -> None:
        """Write the report as a tab-separated table with a header row (``file record title reason``).

        Written like every output (:func:`mmcore.atomic.atomic_write_text`): atomically for a regular file,
        in place for ``/dev/null`` or a pipe, through a symlink, and ``-`` is standard output.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
        writer.writerow(self.TSV_COLUMNS)
        for error in self._errors:
            writer.writerow([error.file, error.record, error.title or "", _one_line(error.reason)])
        atomic_write_text(path, buffer.getvalue())

    @classmethod
    def read_tsv(cls, path: str | os.PathLike[str]) -> ErrorReport:
        """Read a report written by :meth:`write_tsv` (record numbers come back as ints)."""
        with open(path, encoding="utf-8", newline="") as stream:
            rows = list(csv.reader(stream, delimiter="\t"))
        if not rows or tuple(rows[0]) != cls.TSV_COLUMNS:
            expected = " ".join(cls.TSV_COLUMNS)
            raise InputFileError(f"{path}: not an error report (expected the tab-separated header: {expected})")
        errors = []
        for line_number, row in enumerate(rows[1:], start=2):
            if len(row) != len(cls.TSV_COLUMNS):
                raise InputFileError(f"{path}, line {line_number}: expected 4 tab-separated fields, got {len(row)}")
            file, record, title, reason = row
            errors.append(RecordError(file, int(record) if record.isdigit() else record, reason, title or None))
        return cls(errors)


def _one_line(text: str) -> str:
    """Keep a reason on one TSV row: tabs and newlines inside it would break the table."""
    return " ".join(text.split())
