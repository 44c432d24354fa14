"""Molecules without spectra for semi-supervised training (``specvae train --unpaired-smiles``).

SVAE and VAEVAE learn the fingerprint side from structures that have no spectrum (eqs. 21-22 of
svae_vaevae_journal_with_spectra.txt: the unpaired fingerprint's own ELBO joins the paired loss). Such a molecule is
still training data: a structure the training set holds out (its validation or test split, or a benchmark answer
excluded when the set was prepared) must not come back in through this door, and every molecule that does enter is
listed in the model file, where a benchmark's leakage check looks for its answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rdkit import Chem, RDLogger
from tqdm import tqdm

from specvae.fingerprints.compute import PROGRESS_THRESHOLD, structure_inchikey


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
