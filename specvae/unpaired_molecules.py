"""Molecules without spectra for semi-supervised training (``specvae train --unpaired-smiles``).

SVAE and VAEVAE learn the fingerprint side from structures that have no spectrum (eqs. 21-22 of
svae_vaevae_journal_with_spectra.txt: the unpaired fingerprint's own ELBO joins the paired loss). Such a molecule is
still training data: a structure the training set holds out (its validation or test split, or a benchmark answer
excluded when the set was prepared) must not come back in through this door, and every molecule that does enter is
listed in the model file, where a benchmark's leakage check looks for its answers.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem, RDLogger
from tqdm import tqdm

from specvae.fingerprints.compute import PROGRESS_THRESHOLD, structure_inchikey

HEADER_NAMES = frozenset({"smiles", "canonical_smiles"})
"""A first line holding only one of these (any case) is a column header, not a molecule."""


@dataclass(frozen=True)
class UnpairedMolecules:
    """The molecules kept for training, their InChIKey first blocks, and why the others were left out."""

    smiles: list[str]
    inchikey14: list[str]
    n_read: int
    n_unparseable: int
    n_held_out: int
    """In the training-set file (any split: already paired, or held out for validation and test) or excluded
    from it as a benchmark answer."""
    n_repeated: int

    def summary(self) -> str:
        return (
            f"{len(self.smiles)} unpaired molecules of {self.n_read} read ({self.n_unparseable} unparseable, "
            f"{self.n_held_out} already in the training set or excluded from it, {self.n_repeated} repeated)"
        )


def read_smiles_file(path: str | os.PathLike[str]) -> list[str]:
    """SMILES from a text file (``.gz`` too), one molecule a line: its first field, split on whitespace or a comma
    (a ``.smi`` file's name column and a CSV's other columns are ignored); a header line ``SMILES`` is skipped."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        fields = [line.replace(",", " ").split()[0] for line in handle if line.strip()]
    if fields and fields[0].lower() in HEADER_NAMES:
        fields = fields[1:]
    return fields


def held_out_structures(structure_inchikey14: Iterable[str], attributes: dict) -> set[str]:
    """First blocks an unpaired molecule must not have: every structure of the training-set file and every one
    excluded when it was prepared (``attributes['excluded_inchikey14']``, JSON text or a list)."""
    excluded = attributes.get("excluded_inchikey14", "[]")
    if isinstance(excluded, bytes):
        excluded = excluded.decode()
    if isinstance(excluded, str):
        excluded = json.loads(excluded)
    return set(structure_inchikey14) | set(excluded)


def select_unpaired_molecules(
    smiles: Sequence[str], held_out: set[str], progress: bool | None = None
) -> UnpairedMolecules:
    """Keep each parseable molecule whose InChIKey first block is neither ``held_out`` nor met before.

    About 0.25 ms a molecule (parse and InChIKey): a bar is shown from ``PROGRESS_THRESHOLD`` molecules on
    (``progress=None``), as for the fingerprints that follow."""
    kept_smiles, kept_keys, seen = [], [], set()
    n_unparseable = n_held_out = n_repeated = 0
    show = len(smiles) >= PROGRESS_THRESHOLD if progress is None else progress
    RDLogger.DisableLog("rdApp.*")  # unparseable SMILES are counted, not printed one by one
    try:
        for text in tqdm(smiles, desc="unpaired molecules", unit="mol", disable=not show, mininterval=2):
            mol = Chem.MolFromSmiles(text)
            key = structure_inchikey(mol)[:14] if mol is not None else ""
            if not key:
                n_unparseable += 1
            elif key in held_out:
                n_held_out += 1
            elif key in seen:
                n_repeated += 1
            else:
                seen.add(key)
                kept_smiles.append(text)
                kept_keys.append(key)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return UnpairedMolecules(kept_smiles, kept_keys, len(smiles), n_unparseable, n_held_out, n_repeated)
