"""Read a candidate file of any supported format; the format is chosen by the file name.

``.sdf`` / ``.sd`` / ``.mol`` -> :func:`read_sdf`; ``.smi`` / ``.smiles`` / ``.txt`` -> :func:`read_smiles_list`;
``.csv`` / ``.tsv`` -> :func:`read_candidate_table` (each optionally ``.gz``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from specvae.candidates.candidate import CandidateEntry
from specvae.candidates.candidate_set import CandidateSet
from specvae.candidates.sdf import read_sdf
from specvae.candidates.smiles_list import read_smiles_list
from specvae.candidates.table import read_candidate_table
from specvae.candidates.table_set import read_table_candidate_set
from specvae.errors import ErrorReport, InputFileError, RecordError
from specvae.spectra.textio import format_suffix

_READERS: dict[str, Callable[..., list[CandidateEntry]]] = {
    ".sdf": read_sdf,
    ".sd": read_sdf,
    ".mol": read_sdf,
    ".smi": read_smiles_list,
    ".smiles": read_smiles_list,
    ".txt": read_smiles_list,
    ".csv": read_candidate_table,
    ".tsv": read_candidate_table,
}

CANDIDATE_FORMATS = tuple(sorted(_READERS))
"""File suffixes :func:`read_candidates` reads (each also gzip-compressed)."""


def read_candidates(
    path: str | os.PathLike[str], errors: ErrorReport | None = None, *, spectrum_id_column: str | None = None
) -> list[CandidateEntry]:
    """The candidates of a file; bad records, and a file without any usable candidate, go to ``errors``.

    ``spectrum_id_column``: the column (table) of per-spectrum lists, when it is none of the known names.
    Raises :class:`InputFileError` when the file is missing, its format unknown, or (tables) it has no
    structure column.
    """
    reader = _checked_reader(path, spectrum_id_column)
    if spectrum_id_column is not None:
        entries = read_candidate_table(path, errors, spectrum_id_column=spectrum_id_column)
    else:
        entries = reader(path, errors)
    if not entries and errors is not None:
        errors.add(str(path), "file", "empty candidate list: the file holds no usable candidate")
    return entries


def read_candidate_file_set(
    path: str | os.PathLike[str], errors: ErrorReport, *, spectrum_id_column: str | None = None
) -> CandidateSet:
    """The :class:`CandidateSet` of a candidate file: a table's per-spectrum lists are built when a spectrum asks
    for them (:func:`~specvae.candidates.table_set.read_table_candidate_set`); SDF files, SMILES lists and pools
    are read at once. Rows whose structure contradicts a contested InChIKey are reported to ``errors`` with the
    other bad records. Raises :class:`InputFileError` as :func:`read_candidates` does."""
    reader = _checked_reader(path, spectrum_id_column)
    if reader is read_candidate_table:
        return read_table_candidate_set(path, errors, spectrum_id_column=spectrum_id_column)
    entries = reader(path, errors)
    if not entries:
        errors.add(str(path), "file", "empty candidate list: the file holds no usable candidate")
    candidate_set = CandidateSet.from_entries(entries)
    for entry, reason in candidate_set.rejected:
        errors.append(RecordError(str(path), entry.record, reason, entry.candidate.name))
    return candidate_set


def _checked_reader(
    path: str | os.PathLike[str], spectrum_id_column: str | None
) -> Callable[..., list[CandidateEntry]]:
    suffix = format_suffix(path)
    reader = _READERS.get(suffix)
    if reader is None:
        raise InputFileError(
            f"{path}: unknown candidate format {suffix or '(no suffix)'!r}; expected {CANDIDATE_FORMATS}"
        )
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    if spectrum_id_column is not None and reader is not read_candidate_table:
        raise InputFileError(f"{path}: a spectrum-id column can only be named in a CSV/TSV candidate table")
    return reader
