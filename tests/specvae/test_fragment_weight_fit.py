"""``specvae fit-fragment-weight`` end to end: a weight and a tolerance chosen on the validation spectra of a
training set, stored in the model file, and shown by ``specvae info``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from rdkit import Chem
from rdkit.Chem import Descriptors
from shared_helpers import write_tiny_model

from specvae.fragment_formulas import METADATA_KEY, FragmentFormulaScoring, model_fragment_scoring
from specvae.fragment_weight_fit import WEIGHT_GRID, best_setting
from specvae.model_file import read_metadata
from specvae.spectra.binning import SpectrumBinner
from specvae.training_set_writer import prepare_training_set
from specvae_cli.specvae_cli import main

STRUCTURES = ["CCO", "CC(=O)O", "c1ccccc1O", "CCN", "OCC(O)CO", "CC(C)O", "c1ccncc1", "CCCC(=O)O", "CCOC", "NCCO"]
PROTON = 1.00727646688


def write_spectra(path) -> None:
    """Each structure's [M+H]+ losing water or ammonia or a methyl group (whatever its formula allows is real)."""
    blocks = []
    for index, smiles in enumerate(STRUCTURES):
        mol = Chem.MolFromSmiles(smiles)
        precursor = Descriptors.ExactMolWt(mol) + PROTON
        peaks = sorted([(precursor - 18.010565, 30.0), (precursor - 15.023475, 20.0), (precursor, 100.0)])
        lines = "\n".join(f"{mz:.5f} {intensity:.1f}" for mz, intensity in peaks if mz > 10)
        blocks.append(
            f"BEGIN IONS\nTITLE=s{index}\nPEPMASS={precursor:.5f}\nCHARGE=1+\nIONMODE=positive\nADDUCT=[M+H]+\n"
            f"SMILES={smiles}\nINCHIKEY={Chem.MolToInchiKey(mol)}\nLICENSE=CC0\n{lines}\nEND IONS\n"
        )
    path.write_text("\n".join(blocks))


def test_the_fit_chooses_a_weight_and_a_tolerance_and_stores_the_ion_rule(tmp_path):
    spectra, training_set = tmp_path / "spectra.mgf", tmp_path / "train.h5"
    write_spectra(spectra)
    prepare_training_set(
        [spectra], training_set, binner=SpectrumBinner(bin_width_da=1.0), validation_fraction=0.5,
        test_fraction=0.0, progress=False,
    )  # fmt: skip
    model = write_tiny_model(tmp_path / "model.specvae", "positive")
    output = tmp_path / "fitted.specvae"
    arguments = ["fit-fragment-weight", str(model), str(training_set), str(spectra), "-o", str(output)]
    result = CliRunner().invoke(main, [*arguments, "--ppm", "5", "--ppm", "10", "--n-nearest", "4"])
    assert result.exit_code == 0, result.output

    entry = read_metadata(output).training[METADATA_KEY]
    assert [(row["ppm"], row["weight"]) for row in entry["grid"]] == [
        (ppm, weight) for ppm in (5.0, 10.0) for weight in WEIGHT_GRID
    ]
    best = best_setting(entry["grid"])
    assert (entry["weight"], entry["ppm"]) == (best["weight"], best["ppm"])
    scoring = FragmentFormulaScoring.from_dict(entry)
    assert scoring.possible_ions_only and scoring.min_tolerance_da == pytest.approx(entry["ppm"] * 2e-4)
    assert entry["n_spectra"] > 0
    if scoring.weight > 0:
        assert model_fragment_scoring(read_metadata(output).training) == scoring
    info = CliRunner().invoke(main, ["info", str(output)])
    assert (
        f"formula weight {scoring.weight:g} ({scoring.ppm:g} ppm" in info.output and "possible ions only" in info.output
    )


def test_ties_go_to_the_smaller_weight_then_the_wider_tolerance():
    rows = [
        {"ppm": 5.0, "weight": 100.0, "top1": 0.5, "top10": 0.9},
        {"ppm": 10.0, "weight": 100.0, "top1": 0.5, "top10": 0.9},
        {"ppm": 5.0, "weight": 300.0, "top1": 0.5, "top10": 0.9},
        {"ppm": 5.0, "weight": 1000.0, "top1": 0.4, "top10": 0.95},
    ]
    assert best_setting(rows) == rows[1]
