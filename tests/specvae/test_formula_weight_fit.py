"""Choosing the formula-conditioning weight on database-isomer lists (specvae/isomer_lists.py,
specvae/formula_weight_fit.py, `specvae fit-formula-weight`)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from click.testing import CliRunner
from test_baseline import prepare_tiny_training_set, train_tiny_formula_reader

from specvae.fingerprints import FingerprintDefinition
from specvae.formula_conditioning import METADATA_KEY, model_formula_conditioning
from specvae.formula_weight_fit import WEIGHT_GRID, FormulaWeightError, fit_formula_weight
from specvae.isomer_lists import MIN_LIST_SIZE, isomer_lists
from specvae.model_file import read_metadata
from specvae.output import describe_model
from specvae.smiles_files import read_smiles_file
from specvae_cli.specvae_cli import main

# isomers of structures of the synthetic training set (test_baseline.STRUCTURES) whose spectra are validation spectra
LIBRARY = {
    "C4H8O2": ["CCCC(=O)O", "CC(C)C(=O)O", "CCC(=O)OC", "CCOC(C)=O", "O=COCCC", "O=COC(C)C", "OCC(=O)CC",
               "CC(O)C(C)=O", "C1COCCO1", "OCCC(C)=O", "COCC(C)=O", "CC(O)CC=O"],  # CCOC(C)=O: the answer itself
    "C6H12O": ["CCCCCC=O", "CCCCC(C)=O", "CCCC(=O)CC", "CC(C)CC(C)=O", "CC1CCCC1O", "OCC1CCCC1", "CC1CCC(O)C1",
               "C=CCCCCO", "CC(C)(C)C(C)=O", "CC1CCCOC1", "CCC1CCCO1"],
    "C3H8O": ["CCOC"],  # too few isomers for a list
}  # fmt: skip


@pytest.fixture
def trained(tmp_path):
    training_set = prepare_tiny_training_set(tmp_path, 0.5)
    reader = tmp_path / "reader.specvae"
    train_tiny_formula_reader(training_set, reader)
    library = tmp_path / "library.csv.gz"
    with gzip.open(library, "wt") as handle:
        handle.write("SMILES\n" + "\n".join(smiles for pool in LIBRARY.values() for smiles in pool) + "\n")
    return training_set, reader, library


def test_lists_hold_the_answer_first_and_only_isomers_of_its_formula(trained):
    training_set, reader, library = trained
    definition = FingerprintDefinition.from_dict(read_metadata(reader).fingerprint)
    lists = isomer_lists(training_set, "positive", definition, read_smiles_file(library), progress=False)
    assert {one.formula for one in lists} == {"C4H8O2", "C6H12O"}
    for one in lists:
        assert one.formula in LIBRARY and len(LIBRARY[one.formula]) >= MIN_LIST_SIZE - 1
        assert MIN_LIST_SIZE <= len(one.bits) <= len(LIBRARY[one.formula]) + 1
        assert one.bits.shape[1] == definition.n_kept_bits


def test_the_fit_reports_every_weight_and_the_command_stores_the_choice(trained, tmp_path):
    training_set, reader, library = trained
    conditioning, report = fit_formula_weight(reader, training_set, read_smiles_file(library), progress=False)
    assert [row["weight"] for row in report["table"]] == list(WEIGHT_GRID)
    best = max(row["top1"] for row in report["table"])
    assert conditioning.weight == min(row["weight"] for row in report["table"] if row["top1"] == best)
    assert report["n_lists"] > 0 and all(0 <= row["top1"] <= row["top10"] <= 1 for row in report["table"])

    output = tmp_path / "fitted.specvae"
    result = CliRunner().invoke(
        main, ["fit-formula-weight", str(reader), str(training_set), "--isomers", str(library), "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    stored = read_metadata(output).training[METADATA_KEY]
    assert stored["weight"] == conditioning.weight and stored["command"].startswith("specvae ")
    assert np.isclose(stored["table"][0]["top1"], report["table"][0]["top1"])
    assert f"ranked with weight {conditioning.weight:g}" in describe_model(read_metadata(output))
    if conditioning.weight > 0:
        assert model_formula_conditioning(read_metadata(output).training) == conditioning


def test_a_model_that_reads_no_formula_is_refused(trained, tmp_path):
    from shared_helpers import write_tiny_model

    training_set, _, library = trained
    plain = write_tiny_model(tmp_path / "plain.specvae", "positive")
    with pytest.raises(FormulaWeightError, match="reads formulas"):
        fit_formula_weight(plain, training_set, read_smiles_file(library), progress=False)
