"""The functional-group SMARTS keys: all compile, names are unique, and they find the groups of known molecules."""

from __future__ import annotations

import pytest
from rdkit import Chem

from specvae.fingerprints.smarts_keys import FUNCTIONAL_GROUP_KEYS

PATTERNS = {name: Chem.MolFromSmarts(smarts) for name, smarts in FUNCTIONAL_GROUP_KEYS}


def groups_of(smiles: str) -> set[str]:
    molecule = Chem.MolFromSmiles(smiles)
    assert molecule is not None, smiles
    return {name for name, pattern in PATTERNS.items() if molecule.HasSubstructMatch(pattern)}


@pytest.mark.parametrize(("name", "smarts"), FUNCTIONAL_GROUP_KEYS)
def test_every_key_compiles(name: str, smarts: str) -> None:
    assert Chem.MolFromSmarts(smarts) is not None, f"{name}: {smarts}"


def test_names_are_unique_and_the_list_is_curated_size() -> None:
    names = [name for name, _ in FUNCTIONAL_GROUP_KEYS]
    assert len(set(names)) == len(names)
    assert 100 <= len(names) <= 210


# (SMILES, groups that must match, groups that must not match)
KNOWN_MOLECULES = [
    (
        "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
        {"ester", "carboxylic acid", "benzene ring", "aryl carboxylic acid", "acetyl (N- or O-)"},
        {"secondary amide", "primary aliphatic amine", "ketone", "phenol", "pyridine"},
    ),
    (
        "CC(=O)Nc1ccc(O)cc1",  # paracetamol
        {"secondary amide", "anilide", "phenol", "benzene ring"},
        {"ester", "carboxylic acid", "primary aromatic amine (aniline, aminoazine)"},
    ),
    ("NCC(=O)O", {"alpha-amino acid", "primary aliphatic amine", "carboxylic acid"}, {"primary amide", "ester"}),
    (
        "CC(C)CCCC(C)C1CCC2C1(CCC3C2CC=C4C3(CCC(C4)O)C)C",  # cholesterol
        {"steroid (cyclopenta[a]phenanthrene)", "secondary alcohol", "alkene"},
        {"benzene ring", "phenol", "ketone"},
    ),
    (
        "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O",  # estradiol: aromatic A ring, still a steroid
        {"steroid (cyclopenta[a]phenanthrene)", "phenol", "benzene ring", "secondary alcohol"},
        {"alkene"},
    ),
    (
        "O=C1C(O)=C(Oc2cc(O)cc(O)c12)c1ccc(O)c(O)c1",  # quercetin
        {"flavone", "chromone", "catechol", "phenol"},
        {"isoflavone", "flavanone", "coumarin", "O-glycoside (pyranoside)"},
    ),
    (
        "CC1OC(OCC2OC(Oc3c(-c4ccc(O)c(O)c4)oc4cc(O)cc(O)c4c3=O)C(O)C(O)C2O)C(O)C(O)C1O",  # rutin
        {"flavone", "O-glycoside (pyranoside)", "pyranose", "acetal or ketal"},
        {"C-glycoside (aryl)", "carboxylic acid"},
    ),
    ("O=c1c(-c2ccc(O)cc2)coc2cc(O)cc(O)c12", {"isoflavone", "chromone"}, {"flavone"}),  # genistein
    ("O=c1ccc2ccccc2o1", {"coumarin", "benzene ring"}, {"chromone", "flavone"}),  # coumarin
    ("OCC1OC(O)C(O)C(O)C1O", {"pyranose", "hemiacetal", "primary alcohol"}, {"benzene ring", "ester"}),  # glucose
    (
        "Nc1ncnc2c1ncn2C1OC(COP(=O)(O)OP(=O)(O)OP(=O)(O)O)C(O)C1O",  # ATP
        {"purine", "pyrophosphate", "phosphate (any ester or acid)", "furanose", "N-glycoside (nucleoside-like)"},
        {"pyranose", "benzene ring"},
    ),
    ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", {"purine", "N-methyl"}, {"benzene ring", "carboxylic acid"}),  # caffeine
    (
        "CCCCCCCCCCCCCCCC(=O)OCC(COP(=O)([O-])OCC[N+](C)(C)C)OC(=O)CCCCCCCC=CCCCCCCCC",  # a phosphatidylcholine
        {"phosphocholine", "phosphodiester", "glycerol ester (glycerolipid)", "long aliphatic chain (6+ CH2)"},
        {"phosphoethanolamine", "benzene ring"},
    ),
    ("Oc1ccc(cc1)S(=O)(=O)O", {"sulfonic acid", "phenol"}, {"sulfate monoester", "sulfonamide"}),
    ("COS(=O)(=O)O", {"sulfate monoester"}, {"sulfonic acid"}),
    ("Clc1ccc(Br)cc1C(F)(F)F", {"chlorine", "bromine", "fluorine", "aryl halide", "trifluoromethyl"}, {"iodine"}),
    ("C1CCCCC1", {"cyclohexane"}, {"benzene ring"}),
    ("c1ccccc1", {"benzene ring"}, {"cyclohexane", "alkene"}),
    ("CC(=O)O", {"carboxylic acid"}, {"ester", "ketone", "aldehyde"}),
    ("CN(C)CCCN1c2ccccc2Sc2ccc(Cl)cc21", {"phenothiazine", "tertiary aliphatic amine"}, {"secondary aliphatic amine"}),
    ("COC(=O)C1C(OC(=O)c2ccccc2)CC2CCC1N2C", {"tropane", "methyl ester"}, {"secondary aliphatic amine"}),  # cocaine
]


@pytest.mark.parametrize(("smiles", "present", "absent"), KNOWN_MOLECULES)
def test_known_molecules_have_their_groups(smiles: str, present: set[str], absent: set[str]) -> None:
    assert (present | absent) <= set(PATTERNS), "test names a key that does not exist"
    found = groups_of(smiles)
    assert present <= found, f"missing {present - found}"
    assert not (absent & found), f"unexpected {absent & found}"
