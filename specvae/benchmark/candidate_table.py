"""Reading contest candidate tables (CSV/TSV, optionally gzip) quickly, straight into columnar candidate lists.

The general reader (:func:`specvae.candidates.read_candidate_table`) builds one ``Candidate`` per row and checks
its fields, about 50 µs a row: 13 s for CASMI 2016's 258,808 rows, more than the whole warm-cache benchmark may
take. Contest tables state every candidate's InChIKey, so this reader keeps the four fields the benchmark needs
as strings (about 8 µs a row) and only parses a structure with RDKit when its row lacks a valid InChIKey.
Column names are matched as in the general reader (``find_columns``).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator

from specvae.benchmark.challenges import BenchmarkDataError, CandidateList
from specvae.candidates.candidate import candidate_from_fields
from specvae.candidates.table import find_columns
from specvae.errors import ErrorReport, InvalidStructureError
from specvae.spectra.textio import open_text

_INCHIKEY = re.compile(r"[A-Z]{14}-[A-Z]{10}-[A-Z]")

Row = tuple[str, str, str, str]
"""``(identifier, inchikey, smiles, inchi)``."""


def _rows(path: str | os.PathLike[str], errors: ErrorReport, need_group: bool) -> Iterator[tuple[str, Row]]:
    """``(group, row)`` for every usable row; ``group`` is the challenge column ("" without ``need_group``)."""
    source = str(path)
    with open_text(path) as stream:
        header_line = stream.readline()
        if not header_line.strip():
            raise BenchmarkDataError(f"{source}: empty file, expected a header row")
        delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
        header = next(csv.reader([header_line], delimiter=delimiter))
        columns = find_columns(header)
        if "smiles" not in columns and "inchi" not in columns:
            raise BenchmarkDataError(f"{source}: no SMILES or InChI column in the header {header[:12]}")
        if need_group and "spectrum_id" not in columns:
            raise BenchmarkDataError(f"{source}: no challenge column in the header {header[:12]}")
        group_at = columns.get("spectrum_id")
        key_at, smiles_at, inchi_at = columns.get("inchikey"), columns.get("smiles"), columns.get("inchi")
        identifier_at = columns.get("identifier")
        width = max(columns.values()) + 1
        for record, row in enumerate(csv.reader(stream, delimiter=delimiter), start=1):
            if len(row) < width:
                if any(cell.strip() for cell in row):
                    errors.add(source, record, f"row has {len(row)} fields, the header {len(header)}")
                continue
            group = row[group_at].strip() if group_at is not None else ""
            smiles = row[smiles_at].strip() if smiles_at is not None else ""
            inchi = row[inchi_at].strip() if inchi_at is not None else ""
            key = row[key_at].strip().upper() if key_at is not None else ""
            identifier = row[identifier_at].strip() if identifier_at is not None else ""
            if need_group and not group:
                errors.add(source, record, "no challenge name in the challenge column")
                continue
            if not _INCHIKEY.fullmatch(key):
                try:  # a row without a usable InChIKey: compute it from the structure
                    key = candidate_from_fields(smiles=smiles, inchi=inchi, parse=True).inchikey
                except InvalidStructureError as error:
                    errors.add(source, record, str(error), identifier or None)
                    continue
            yield group, (identifier or key, key, smiles, inchi)


def read_grouped_candidates(path: str | os.PathLike[str], errors: ErrorReport) -> tuple[dict[str, CandidateList], int]:
    """Per-challenge candidate lists of one table with a challenge column (the CASMI 2016 layout), and how many
    rows repeated an InChIKey within their challenge (dropped, first kept)."""
    grouped: dict[str, list[Row]] = {}
    for group, row in _rows(path, errors, need_group=True):
        grouped.setdefault(group, []).append(row)
    lists: dict[str, CandidateList] = {}
    dropped = 0
    for group, rows in grouped.items():
        lists[group], dropped_here = CandidateList.from_rows(rows)
        dropped += dropped_here
    return lists, dropped


def read_candidate_list(path: str | os.PathLike[str], errors: ErrorReport) -> tuple[CandidateList, int]:
    """The candidates of one per-challenge table (the CASMI 2017 layout), and how many repeated rows were dropped."""
    return CandidateList.from_rows(row for _, row in _rows(path, errors, need_group=False))
