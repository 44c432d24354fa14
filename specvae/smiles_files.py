"""Structure lists as users and public data sets ship them: one SMILES a line.

One reader for every command that takes such a list (``train --unpaired-smiles``, ``fit-formula-weight --isomers``),
so a ``.smi`` file with names, a CSV whose first column is SMILES (MOSES) and a gzip-compressed file all read alike.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

HEADER_NAMES = frozenset({"smiles", "canonical_smiles"})
"""A first line holding only one of these (any case) is a column header, not a molecule."""


def read_smiles_file(path: str | os.PathLike[str]) -> list[str]:
    """SMILES from a text file (``.gz`` too), one molecule a line: its first field, split on whitespace or a comma
    (a ``.smi`` file's name column and a CSV's other columns are ignored); blank lines and a header line ``SMILES``
    are skipped."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        fields = [line.replace(",", " ").split()[0] for line in handle if line.strip()]
    if fields and fields[0].lower() in HEADER_NAMES:
        fields = fields[1:]
    return fields
