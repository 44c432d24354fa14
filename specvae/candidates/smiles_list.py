"""SMILES lists: one structure a line, optionally followed by whitespace and a name.

Blank lines and lines starting with ``#`` are skipped, as is a first line whose first word is ``SMILES``
(a header). Every SMILES is parsed with RDKit at once, since InChIKey, formula and mass must be computed.
The record number is the line number.
"""

from __future__ import annotations

import os
import zlib

from specvae.candidates.candidate import CandidateEntry, candidate_from_mol, parse_smiles
from specvae.errors import ErrorReport, InvalidStructureError
from specvae.spectra.textio import open_text


def read_smiles_list(path: str | os.PathLike[str], errors: ErrorReport | None = None) -> list[CandidateEntry]:
    """Candidates of a SMILES list (a pool: no spectrum ids); invalid SMILES go to ``errors``."""
    source = str(path)
    entries: list[CandidateEntry] = []
    line_number = 0
    first_structure_line = True
    with open_text(path) as stream:
        try:
            for line_number, raw_line in enumerate(stream, start=1):
                line = raw_line.strip()
                if not line or line.startswith("#"):
                    continue
                smiles, _, name = line.replace("\t", " ").partition(" ")
                name = name.strip() or None
                if first_structure_line:
                    first_structure_line = False
                    if smiles.lower() == "smiles":
                        continue
                try:
                    candidate = candidate_from_mol(parse_smiles(smiles), identifier=name, name=name, smiles=smiles)
                except InvalidStructureError as error:
                    if errors is not None:
                        errors.add(source, line_number, str(error), name)
                    continue
                entries.append(CandidateEntry(line_number, None, candidate))
        except (OSError, EOFError, zlib.error) as error:
            if errors is not None:
                errors.add(source, "file", f"file is corrupt after line {line_number} ({error})")
    return entries
