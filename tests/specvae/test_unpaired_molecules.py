"""Unpaired molecules (``specvae train --unpaired-smiles``): read from the files users have, never a structure the
training set holds out or excluded, and every one used listed in the model file for the benchmarks' leakage check."""

from __future__ import annotations

from click.testing import CliRunner
from rdkit import Chem
from test_baseline import STRUCTURES, write_training_mgf

from specvae.model_file import read_metadata
from specvae.output import describe_model
from specvae.spectra.binning import SpectrumBinner
from specvae.training_set_writer import prepare_training_set
from specvae.unpaired_molecules import select_unpaired_molecules
from specvae_cli.specvae_cli import main

NEW_MOLECULES = ["CCCCCCO", "c1ccc2ccccc2c1", "CC(C)(C)c1ccccc1", "OCCCCCCCO"]


def first_block(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))[:14]


def test_held_out_excluded_repeated_and_unparseable_molecules_are_left_out_and_counted() -> None:
    held_out = {first_block("CCO"), first_block("CCN")}
    smiles = ["CCO", "OCC", "CCN", "not a molecule", "CCCCCCO", "OCCCCCC", "c1ccccc1"]
    selected = select_unpaired_molecules(smiles, held_out)
    assert selected.smiles == ["CCCCCCO", "c1ccccc1"]
    assert selected.inchikey14 == [first_block("CCCCCCO"), first_block("c1ccccc1")]
    assert (selected.n_read, selected.n_held_out, selected.n_repeated, selected.n_unparseable) == (7, 3, 1, 1)
    assert "2 unpaired molecules of 7 read" in selected.summary()


def test_the_model_file_lists_each_unpaired_molecule_it_learned_from_and_none_it_was_refused(tmp_path) -> None:
    mgf = tmp_path / "train.mgf"
    write_training_mgf(mgf)
    training_set = tmp_path / "train.h5"
    excluded = STRUCTURES[0]  # an answer held out of the training set must not return as an unpaired molecule
    prepare_training_set(
        [mgf], training_set, binner=SpectrumBinner(bin_width_da=1.0), validation_fraction=0.4, test_fraction=0.0,
        exclude_inchikey14=[first_block(excluded)], progress=False,
    )  # fmt: skip
    smiles_file = tmp_path / "unpaired.smi"
    smiles_file.write_text("\n".join([excluded, STRUCTURES[1], *NEW_MOLECULES, NEW_MOLECULES[0]]) + "\n")
    model_path = tmp_path / "model.specvae"
    arguments = ["train", str(training_set), "-o", str(model_path), "--epochs", "1", "--batch-size", "8",
                 "--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1",
                 "--unpaired-smiles", str(smiles_file)]  # fmt: skip
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "4 unpaired molecules of 7 read" in result.output
    metadata = read_metadata(model_path)
    assert metadata.training["n_unpaired_molecules"] == len(NEW_MOLECULES)
    seen = metadata.training_structures
    assert {first_block(smiles) for smiles in NEW_MOLECULES} <= seen
    assert first_block(excluded) not in seen
    assert first_block(STRUCTURES[1]) in seen  # a structure of the training set, listed as before
    assert "unpaired:      4 unpaired molecules of 7 read" in describe_model(metadata)


def test_the_paper_weighting_is_chosen_on_the_command_line_and_kept_in_the_model_file(tmp_path) -> None:
    from test_baseline import prepare_tiny_training_set

    training_set = prepare_tiny_training_set(tmp_path)
    smiles_file = tmp_path / "unpaired.smi"
    smiles_file.write_text("\n".join(NEW_MOLECULES) + "\n")
    common = ["train", str(training_set), "--epochs", "1", "--batch-size", "8", "--latent-dim", "4",
              "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1"]  # fmt: skip
    for weighting in ("sample", "paper"):
        output = tmp_path / f"{weighting}.specvae"
        arguments = [*common, "-o", str(output), "--unpaired-smiles", str(smiles_file), "--weighting", weighting]
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 0, result.output
        assert read_metadata(output).architecture.fusion_options == {"weighting": weighting}
    refused = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "x.specvae"), "--fusion", "mopoe",
                                        "--weighting", "paper"])  # fmt: skip
    assert refused.exit_code == 2 and "only svae" in refused.output
