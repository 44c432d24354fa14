"""Read a candidate file of any supported format; the format is chosen by the file name.

``.sdf`` / ``.sd`` / ``.mol`` -> :func:`read_sdf`; ``.smi`` / ``.smiles`` / ``.txt`` -> :func:`read_smiles_list`;
``.csv`` / ``.tsv`` -> :func:`read_candidate_table` (each optionally ``.gz``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from specvae.candidates.candidate import CandidateEntry
from specvae.candidates.sdf import read_sdf
from specvae.candidates.smiles_list import read_smiles_list
from specvae.candidates.table import read_candidate_table
from specvae.errors import ErrorReport, InputFileError
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
    suffix = format_suffix(path)
    reader = _READERS.get(suffix)
    if reader is None:
        raise InputFileError(
            f"{path}: unknown candidate format {suffix or '(no suffix)'!r}; expected {CANDIDATE_FORMATS}"
        )
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    if spectrum_id_column is not None:
        if reader is not read_candidate_table:
            raise InputFileError(f"{path}: a spectrum-id column can only be named in a CSV/TSV candidate table")
        entries = read_candidate_table(path, errors, spectrum_id_column=spectrum_id_column)
    else:
        entries = reader(path, errors)
    if not entries and errors is not None:
        errors.add(str(path), "file", "empty candidate list: the file holds no usable candidate")
    return entries
