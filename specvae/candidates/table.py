"""Candidate tables: CSV or TSV (optionally gzip) with a SMILES or InChI column.

Column names are matched case-insensitively, ignoring spaces, ``_`` and ``-``:

=============== ====================================================================
field           accepted column names
=============== ====================================================================
SMILES          smiles
InChI           inchi
identifier      identifier, id, compound_id
name            name, compoundname
InChIKey        inchikey
formula         molecularformula, formula
mass            monoisotopicmass, exactmass
spectrum id     spectrumid, challenge, challengename, title, featureid
=============== ====================================================================

A file with a spectrum-id column gives per-spectrum candidate lists (the CASMI layout:
``challenge,Identifier,CompoundName,MonoisotopicMass,MolecularFormula,SMILES,InChI,InChIKey``); without
one, a pool for all spectra. The delimiter is a tab when the header line holds more tabs than commas.
"""

from __future__ import annotations

import csv
import os
import zlib

from specvae.candidates.candidate import CandidateEntry, candidate_from_fields
from specvae.errors import ErrorReport, InputFileError, InvalidStructureError
from specvae.spectra.textio import open_text

_COLUMN_ALIASES = {
    "smiles": ("smiles",),
    "inchi": ("inchi",),
    "identifier": ("identifier", "id", "compoundid"),
    "name": ("name", "compoundname"),
    "inchikey": ("inchikey",),
    "molecular_formula": ("molecularformula", "formula"),
    "monoisotopic_mass": ("monoisotopicmass", "exactmass"),
    "spectrum_id": ("spectrumid", "challenge", "challengename", "title", "featureid"),
}


def _normalise_column(name: str) -> str:
    return "".join(character for character in name.strip().lower() if character.isalnum())


def find_columns(header: list[str]) -> dict[str, int]:
    """Map each known field to its column index (first matching column wins)."""
    normalised = [_normalise_column(name) for name in header]
    columns: dict[str, int] = {}
    for field_name, aliases in _COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in normalised:
                columns[field_name] = normalised.index(alias)
                break
    return columns


def read_candidate_table(
    path: str | os.PathLike[str], errors: ErrorReport | None = None, *, parse_structures: bool = False
) -> list[CandidateEntry]:
    """Candidates of a CSV/TSV file, one entry per good row; bad rows go to ``errors``.

    ``parse_structures`` forces RDKit to parse every SMILES now (to find invalid ones at once); by default a
    row that states InChIKey, formula and mass is trusted and parsed only when its molecule is needed.
    Raises :class:`InputFileError` when the file has no header or no SMILES/InChI column.
    """
    source = str(path)
    entries: list[CandidateEntry] = []
    with open_text(path) as stream:
        try:
            header_line = stream.readline()
            if not header_line.strip():
                raise InputFileError(f"{source}: empty file, expected a header row")
            delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
            header = next(csv.reader([header_line], delimiter=delimiter))
            columns = find_columns(header)
            if "smiles" not in columns and "inchi" not in columns:
                raise InputFileError(f"{source}: no SMILES or InChI column in the header {header[:12]}")
            reader = csv.reader(stream, delimiter=delimiter)
            record = 0
            while True:
                record += 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:  # the reader has consumed the bad row and can go on
                    _report(errors, source, record, f"unreadable CSV row: {error}")
                    continue
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                entry = _entry(source, record, row, columns, errors, parse_structures)
                if entry is not None:
                    entries.append(entry)
        except (OSError, EOFError, zlib.error) as error:
            _report(errors, source, "file", f"file is corrupt after {len(entries)} candidates ({error})")
    return entries


def _entry(
    source: str,
    record: int,
    row: list[str],
    columns: dict[str, int],
    errors: ErrorReport | None,
    parse_structures: bool,
) -> CandidateEntry | None:
    width = len(row)
    values = {name: row[index].strip() if index < width else "" for name, index in columns.items()}
    title = values.get("identifier") or values.get("name") or None
    spectrum_id = values.get("spectrum_id")
    if "spectrum_id" in columns and not spectrum_id:
        _report(errors, source, record, "no spectrum id in the spectrum-id column", title)
        return None
    try:
        candidate = candidate_from_fields(
            smiles=values.get("smiles"),
            inchi=values.get("inchi"),
            identifier=values.get("identifier") or None,
            name=values.get("name") or None,
            inchikey=values.get("inchikey"),
            molecular_formula=values.get("molecular_formula"),
            monoisotopic_mass=values.get("monoisotopic_mass"),
            parse=parse_structures,
        )
    except InvalidStructureError as error:
        _report(errors, source, record, str(error), title)
        return None
    return CandidateEntry(record, spectrum_id or None, candidate)


def _report(errors: ErrorReport | None, source: str, record: int | str, reason: str, title: str | None = None) -> None:
    if errors is not None:
        errors.add(source, record, reason, title)
