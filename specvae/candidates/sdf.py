"""Candidate SDF files (optionally gzip), read record by record with RDKit's ``ForwardSDMolSupplier``.

The file is split at ``$$$$`` lines and each record gets its own supplier: RDKit returns ``None`` for a
record it cannot parse and says nothing about which one it was, while here the record number and its
title line (the molecule name, the first line of the record) go into the error report, with RDKit's
reason (e.g. "Explicit valence for atom # 3 N, 4, is greater than permitted").

Data fields (``> <NAME>``) are matched case-insensitively like table columns: identifier (``Identifier``,
``ID``), name (``Name``, ``CompoundName``; else the title line), InChIKey (kept when well-formed), and a
spectrum id (``spectrum_id``, ``challenge``) for per-spectrum lists.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator

from rdkit import Chem
from rdkit.rdBase import BlockLogs

from specvae.candidates.candidate import CandidateEntry, candidate_from_mol
from specvae.candidates.table import find_columns
from specvae.errors import ErrorReport, InvalidStructureError
from specvae.spectra.textio import open_text

_RECORD_END = "$$$$"


def iter_sdf_records(stream: io.TextIOBase) -> Iterator[str]:
    """The text of each SDF record (without its ``$$$$`` line); trailing blank text is not a record."""
    lines: list[str] = []
    for line in stream:
        if line.rstrip("\r\n").strip() == _RECORD_END:
            yield "".join(lines)
            lines = []
        else:
            lines.append(line)
    if "".join(lines).strip():
        yield "".join(lines)


def read_sdf(path: str | os.PathLike[str], errors: ErrorReport | None = None) -> list[CandidateEntry]:
    """Candidates of an SDF file, one entry per good record; bad records go to ``errors``."""
    source = str(path)
    entries: list[CandidateEntry] = []
    record = 0
    with open_text(path) as stream:
        try:
            for record, text in enumerate(iter_sdf_records(stream), start=1):
                title = text.splitlines()[0].strip() if text.strip() else None
                try:
                    entries.append(_entry(record, text))
                except InvalidStructureError as error:
                    if errors is not None:
                        errors.add(source, record, str(error), title or None)
        except (OSError, EOFError, zlib.error) as error:
            if errors is not None:
                errors.add(source, "file", f"file is corrupt after record {record} ({error})")
    return entries


def _parse_record(text: str) -> Chem.Mol:
    data = text.encode("utf-8")
    with BlockLogs():
        try:
            mol = next(Chem.ForwardSDMolSupplier(io.BytesIO(data)), None)
        except Exception as error:  # RDKit raises on some broken blocks instead of returning None
            raise InvalidStructureError(f"RDKit cannot read the record: {error}") from None
        if mol is not None:
            return mol
        # Read again without sanitising to find RDKit's reason (valence, aromaticity, ...).
        try:
            unsanitised = next(Chem.ForwardSDMolSupplier(io.BytesIO(data), sanitize=False), None)
        except Exception:
            unsanitised = None
        if unsanitised is None:
            raise InvalidStructureError("RDKit cannot read the molfile block")
        try:
            Chem.SanitizeMol(unsanitised)
        except Exception as error:  # RDKit raises several sanitisation exception types
            raise InvalidStructureError(f"RDKit rejects the structure: {error}") from None
        raise InvalidStructureError("RDKit cannot read the record")


def _entry(record: int, text: str) -> CandidateEntry:
    mol = _parse_record(text)
    properties = {name: str(mol.GetProp(name)).strip() for name in mol.GetPropNames()}
    names = list(properties)
    columns = find_columns(names)

    def field(name: str) -> str | None:
        return properties[names[columns[name]]] or None if name in columns else None

    title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    candidate = candidate_from_mol(
        mol,
        identifier=field("identifier") or title or None,
        name=field("name") or title or None,
        inchikey=field("inchikey"),
    )
    return CandidateEntry(record, field("spectrum_id"), candidate)
