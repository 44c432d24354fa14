"""compute_fingerprints: the bit layout, invalid structures, and parallel == in-process results."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

from specvae.fingerprints.compute import (
    InvalidSmartsError,
    InvalidStructureError,
    compute_fingerprints,
    fingerprint_molecule,
)
from specvae.fingerprints.definition import FingerprintDefinition
from specvae.fingerprints.smarts_keys import FUNCTIONAL_GROUP_KEYS

DEFINITION = FingerprintDefinition()
MORGAN_START = 167
GROUPS_START = 167 + 2048
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def test_layout_is_maccs_then_morgan_then_groups() -> None:
    bits = fingerprint_molecule(ASPIRIN, DEFINITION)
    molecule = Chem.MolFromSmiles(ASPIRIN)
    assert bits.shape == (DEFINITION.n_bits,) and bits.dtype == bool
    maccs_on_bits = list(MACCSkeys.GenMACCSKeys(molecule).GetOnBits())
    np.testing.assert_array_equal(np.flatnonzero(bits[:MORGAN_START]), maccs_on_bits)
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048).GetFingerprintAsNumPy(molecule)
    np.testing.assert_array_equal(bits[MORGAN_START:GROUPS_START], morgan > 0)
    groups = {FUNCTIONAL_GROUP_KEYS[i][0] for i in np.flatnonzero(bits[GROUPS_START:])}
    assert {"ester", "carboxylic acid", "benzene ring"} <= groups


def test_ethanol_has_exactly_the_primary_alcohol_group() -> None:
    bits = fingerprint_molecule("CCO", DEFINITION)
    assert [FUNCTIONAL_GROUP_KEYS[i][0] for i in np.flatnonzero(bits[GROUPS_START:])] == ["primary alcohol"]


def test_bits_not_counts_and_no_stereo() -> None:
    # Morgan bits are presence bits: decane's many identical CH2 environments set each bit once.
    decane = fingerprint_molecule("CCCCCCCCCC", DEFINITION)
    assert set(np.unique(decane)) <= {False, True}
    # Stereoisomers share a fingerprint, so candidate lists' stereoisomers tie in the ranking (documented choice).
    np.testing.assert_array_equal(
        fingerprint_molecule("C[C@H](N)C(=O)O", DEFINITION), fingerprint_molecule("C[C@@H](N)C(=O)O", DEFINITION)
    )


def test_invalid_structures_are_reported_and_the_rest_computed() -> None:
    structures = ["CCO", "C1CC", "c1cccc1", None, "", "CN(C)(C)(C)C", "c1ccccc1O"]
    bits, errors = compute_fingerprints(structures, DEFINITION)
    assert bits.shape == (7, DEFINITION.n_bits)
    assert [error.index for error in errors] == [1, 2, 3, 4, 5]
    reasons = [error.reason for error in errors]
    assert "could not be parsed" in reasons[0]
    assert "kekulize" in reasons[1]
    assert "not a SMILES string" in reasons[2]
    assert reasons[3] == "empty SMILES"
    assert "valence" in reasons[4].lower()
    np.testing.assert_array_equal(bits[0], fingerprint_molecule("CCO", DEFINITION))
    np.testing.assert_array_equal(bits[6], fingerprint_molecule("c1ccccc1O", DEFINITION))
    assert not bits[1:6].any()
    with pytest.raises(InvalidStructureError, match="could not be parsed"):
        fingerprint_molecule("C1CC", DEFINITION)


def test_molecules_and_smiles_give_the_same_bits() -> None:
    smiles = [ASPIRIN, "CCN(CC)CC", "OC1COC(O)C(O)C1O"]
    from_smiles, _ = compute_fingerprints(smiles, DEFINITION)
    from_molecules, errors = compute_fingerprints([Chem.MolFromSmiles(s) for s in smiles], DEFINITION)
    assert errors == []
    np.testing.assert_array_equal(from_smiles, from_molecules)


def test_worker_processes_give_the_in_process_result() -> None:
    smiles = [ASPIRIN, "CCO", "not a smiles", "c1ccncc1", "NCC(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C=O"] * 2
    in_process, in_process_errors = compute_fingerprints(smiles, DEFINITION, n_workers=1, chunk_size=3)
    parallel, parallel_errors = compute_fingerprints(smiles, DEFINITION, n_workers=2, chunk_size=3)
    np.testing.assert_array_equal(parallel, in_process)
    assert [error.index for error in parallel_errors] == [2, 9]
    assert parallel_errors == in_process_errors


def test_packed_output_is_packbits_and_the_mask_is_ignored() -> None:
    smiles = [ASPIRIN, "CCO"]
    masked = DEFINITION.with_kept_bits([0, 5, 300])
    bits, _ = compute_fingerprints(smiles, masked)
    assert bits.shape == (2, DEFINITION.n_bits)
    packed, _ = compute_fingerprints(smiles, DEFINITION, packed=True)
    assert packed.dtype == np.uint8 and packed.shape == (2, (DEFINITION.n_bits + 7) // 8)
    np.testing.assert_array_equal(packed, np.packbits(bits, axis=1))


def test_progress_bar_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    compute_fingerprints(["CCO", "CCN"], DEFINITION, progress=True)
    assert "fingerprints: 100%" in capsys.readouterr().err
    compute_fingerprints(["CCO", "CCN"], DEFINITION)  # small inputs: no bar by default
    assert capsys.readouterr().err == ""


def test_bad_arguments() -> None:
    bad_key = FingerprintDefinition(smarts_keys=(("broken", "[C"),))
    with pytest.raises(InvalidSmartsError, match="broken"):
        compute_fingerprints(["CCO"], bad_key)
    with pytest.raises(ValueError, match="n_workers"):
        compute_fingerprints(["CCO"], DEFINITION, n_workers=0)
    empty, errors = compute_fingerprints([], DEFINITION)
    assert empty.shape == (0, DEFINITION.n_bits) and errors == []


def test_fast_layout_is_morgan_then_atom_pairs() -> None:
    fast = FingerprintDefinition(components=("morgan", "atom_pair"))
    bits = fingerprint_molecule(ASPIRIN, fast)
    molecule = Chem.MolFromSmiles(ASPIRIN)
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048).GetFingerprintAsNumPy(molecule)
    pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=1024).GetFingerprintAsNumPy(molecule)
    assert bits.shape == (2048 + 1024,)
    np.testing.assert_array_equal(bits[:2048], morgan > 0)
    np.testing.assert_array_equal(bits[2048:], pairs > 0)
    # Aspirin has atom pairs at several distances: the block is not empty, and it differs from salicylic acid's.
    salicylic = fingerprint_molecule("OC(=O)c1ccccc1O", fast)
    assert bits[2048:].sum() > 10 and np.any(bits[2048:] != salicylic[2048:])
