"""Candidate SDF files (optionally gzip), read record by record with RDKit's ``ForwardSDMolSupplier``.

The file is split at ``$$$$`` lines and each record gets its own supplier: RDKit returns ``None`` for a
record it cannot parse and says nothing about which one it was, while here the record number and its
title line (the molecule name, the first line of the record) go into the error report, with RDKit's
reason (e.g. "Explicit valence for atom # 3 N, 4, is greater than permitted").

Every molecule is accounted for. A lost ``$$$$`` line merges two molecules into one record, and RDKit
reads the first and silently drops the second (3 molecules gave 2 fingerprints with exit code 0, and every
later record number was off by one). A record is therefore split where a second molfile header starts:
the counts line (``... V2000`` / ``V3000``) is line 4 of a molfile, so its header begins three lines
earlier, which separates the first molecule's data fields from the second molecule exactly. Each part is
read as a record of its own, numbered as if the ``$$$$`` were there, and the missing ``$$$$`` is reported
(as ``"line N"``, the first line of the molecule that follows it), so the run still exits with an error.
A record with two ``M  END`` lines but one header (the second header damaged too) is reported, not read.

Data fields (``> <NAME>``) are matched case-insensitively like table columns: identifier (``Identifier``,
``ID``), name (``Name``, ``CompoundName``; else the title line), InChIKey (kept when well-formed), and a
spectrum id (``spectrum_id``, ``challenge``) for per-spectrum lists.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from rdkit import Chem
from rdkit.rdBase import BlockLogs

from specvae.candidates.candidate import CandidateEntry, candidate_from_mol
from specvae.candidates.table import find_columns
from specvae.errors import ErrorReport, InvalidStructureError
from specvae.spectra.textio import open_text

_RECORD_END = "$$$$"
_COUNTS_LINE = re.compile(r"^[ \d]{6}.*V[23]000\s*$")
"""A molfile's counts line (its fourth line): atom and bond counts in columns 1-6, the version at the end."""
_MOLFILE_END = re.compile(r"^M  END\s*$")


@dataclass(frozen=True)
class SdfRecord:
    """The text of one molecule of an SDF file (without its ``$$$$`` line) and where it starts.

    ``missing_terminator`` is set when no ``$$$$`` line separates this molecule from the one before it;
    ``problem`` when the text holds more than one molecule that cannot be told apart (it is not read).
    """

    first_line: int
    text: str
    missing_terminator: bool = False
    problem: str | None = None


def iter_sdf_records(stream: io.TextIOBase) -> Iterator[SdfRecord]:
    """Each molecule's text; trailing blank text is not a record, and a block without ``$$$$`` between two
    molecules is split at the second molfile header (see the module docstring)."""
    lines: list[str] = []
    first_line = 1
    for line_number, line in enumerate(stream, start=1):
        if line.rstrip("\r\n").strip() == _RECORD_END:
            yield from _split_merged(first_line, lines)
            lines = []
            first_line = line_number + 1
        else:
            lines.append(line)
    if "".join(lines).strip():
        yield from _split_merged(first_line, lines)


def _split_merged(first_line: int, lines: list[str]) -> Iterator[SdfRecord]:
    """The molecules of one ``$$$$``-delimited block: one, or several when ``$$$$`` lines are missing."""
    starts = [0]
    for index, line in enumerate(lines):
        if index >= 3 and _COUNTS_LINE.match(line) and index - 3 > starts[-1]:
            starts.append(index - 3)  # the header of a further molfile begins three lines before its counts line
    for part, (start, end) in enumerate(itertools.pairwise([*starts, len(lines)])):
        ends = [first_line + index for index in range(start, end) if _MOLFILE_END.match(lines[index])]
        problem = None
        if len(ends) > 1:
            # A second molecule whose header is damaged: RDKit would read the first and drop the rest unseen.
            problem = (
                f"the record starting at line {first_line + start} holds {len(ends)} 'M  END' lines "
                f"(lines {', '.join(map(str, ends))}) but one molfile header: a missing $$$$ line and a damaged "
                "header; not read"
            )
        yield SdfRecord(first_line + start, "".join(lines[start:end]), missing_terminator=part > 0, problem=problem)


def read_sdf(path: str | os.PathLike[str], errors: ErrorReport | None = None) -> list[CandidateEntry]:
    """Candidates of an SDF file, one entry per good record; bad records go to ``errors``."""
    source = str(path)
    entries: list[CandidateEntry] = []
    record = 0
    with open_text(path) as stream:
        try:
            for record, molecule in enumerate(iter_sdf_records(stream), start=1):
                text = molecule.text
                title = text.splitlines()[0].strip() if text.strip() else None
                if molecule.missing_terminator and errors is not None:
                    errors.add(
                        source,
                        f"line {molecule.first_line}",
                        f"no $$$$ line between record {record - 1} and the molecule starting at line "
                        f"{molecule.first_line}: read as two records ({record - 1} and {record})",
                        title or None,
                    )
                if molecule.problem is not None:
                    if errors is not None:
                        errors.add(source, record, molecule.problem, title or None)
                    continue
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
