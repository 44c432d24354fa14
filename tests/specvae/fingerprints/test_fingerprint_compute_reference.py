"""The fast fingerprint path (one FilterCatalog call for the functional-group keys, bits set by index) gives exactly
the bits of the plain definition: MACCS keys, Morgan bits, one HasSubstructMatch per key."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator
from shared_helpers import real_data_path

from specvae.fingerprints.compute import compute_fingerprints, fingerprint_molecule, parse_structure
from specvae.fingerprints.definition import FingerprintDefinition

DEFINITION = FingerprintDefinition()
TRICKY = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "[NH3+]CC(=O)[O-]",  # zwitterion
    "C[N+](C)(C)CCOP(=O)([O-])OCC(COC(=O)CCCCCCCCCCCCCCC)OC(=O)CCCCCCCC=CCCCCCCCC",  # phosphocholine lipid
    "[Na+].[O-]C(=O)c1ccccc1",  # salt: two fragments
    "[2H]C([2H])([2H])Oc1ccccc1",  # isotopes
    "C[C@]12CC[C@H]3[C@@H](CC=C4C[C@@H](O)CC[C@]34C)[C@@H]1CC[C@@H]2O",  # steroid
    "O=C1C=C(Oc2ccccc12)c1ccccc1",  # flavone
    "OC[C@H]1O[C@@H](Oc2ccccc2)[C@H](O)[C@@H](O)[C@@H]1O",  # O-glycoside
    "C1CCCCCCCCCCCC(=O)OCC1",  # macrolide
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",  # purine
    "FC(F)(F)c1ccc(Cl)c(Br)c1I",
    "c1ccc2c(c1)[nH]c1ccccc12",
    "O=S(=O)(N)c1ccc(N)cc1",
    "[Fe+2].[Cl-].[Cl-]",
    "C",
]


def reference_bits(smiles: str) -> np.ndarray:
    """The definition spelled out: MACCS keys, then Morgan r2 2048 presence bits, then one bit per SMARTS key."""
    mol = Chem.MolFromSmiles(smiles)
    maccs = np.zeros(167, dtype=bool)
    maccs[list(MACCSkeys.GenMACCSKeys(mol).GetOnBits())] = True
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048).GetFingerprintAsNumPy(mol) > 0
    groups = [mol.HasSubstructMatch(Chem.MolFromSmarts(smarts)) for _, smarts in DEFINITION.smarts_keys]
    return np.concatenate([maccs, morgan, np.array(groups, dtype=bool)])


@pytest.mark.parametrize("smiles", TRICKY)
def test_tricky_structures_match_the_reference(smiles: str) -> None:
    np.testing.assert_array_equal(fingerprint_molecule(smiles, DEFINITION), reference_bits(smiles))


@pytest.mark.data
def test_real_candidates_match_the_reference() -> None:
    """Every 400th CASMI 2016 candidate (647 structures of all kinds), in one batch as the benchmark computes them."""
    with gzip.open(real_data_path("casmi2016/candidates.csv.gz"), "rt", newline="") as stream:
        smiles = [row["SMILES"] for index, row in enumerate(csv.DictReader(stream)) if index % 400 == 0]
    readable = [text for text in smiles if parse_structure(text)[0] is not None]
    assert len(readable) > 600
    bits, errors = compute_fingerprints(readable, DEFINITION)
    assert errors == []
    reference = np.array([reference_bits(text) for text in readable])
    np.testing.assert_array_equal(bits, reference)
    assert reference[:, 167 + 2048 :].any(axis=0).sum() > 80  # the sample exercises many functional-group keys
