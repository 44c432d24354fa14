"""Merged collision energies: the merge itself, and what ``prepare --merge-collision-energies`` adds (and where)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from matchms import Spectrum
from rdkit import Chem
from rdkit.Chem import Descriptors

from specvae.spectra.binning import SpectrumBinner
from specvae.spectra.merging import merge_spectra
from specvae.training_set_reader import TrainingSet
from specvae.training_set_writer import prepare_training_set

STRUCTURES = ["CCO", "CC(=O)O", "c1ccccc1O", "CCN", "OCC(O)CO", "CC(C)O", "c1ccncc1", "CCCC(=O)O"]


def spectrum(mz, intensities) -> Spectrum:
    return Spectrum(mz=np.array(mz, float), intensities=np.array(intensities, float), metadata={"precursor_mz": 99.0})


def test_each_spectrum_counts_alike_whatever_its_absolute_intensity():
    low = spectrum([50.0, 80.0], [1000.0, 500.0])
    high = spectrum([30.0, 50.0], [2.0, 1.0])
    merged = merge_spectra([low, high])
    assert merged.peaks.mz.tolist() == [30.0, 50.0, 50.0, 80.0]
    assert merged.peaks.intensities.tolist() == [1.0, 1.0, 0.5, 0.5]  # each scaled to a highest peak of 1
    assert merged.get("precursor_mz") == 99.0
    binned = SpectrumBinner(bin_width_da=1.0, max_mz_da=100.0, intensity_transform="none").bin([merged])
    assert binned[0, 50] == pytest.approx(1.0)  # the two peaks at 50 add up (1.5), then the highest bin is 1
    assert binned[0, 30] == pytest.approx(1.0 / 1.5)
    with pytest.raises(ValueError, match="at least one"):
        merge_spectra([])


def write_energy_series(path) -> None:
    """Three energies per structure, each with one fragment of its own, CC0 licensed."""
    blocks = []
    for index, smiles in enumerate(STRUCTURES):
        mol = Chem.MolFromSmiles(smiles)
        precursor = Descriptors.ExactMolWt(mol) + 1.00728
        for energy in (1, 2, 3):
            peaks = sorted([(precursor - 10.0 * energy, 50.0), (precursor, 100.0)])
            lines = "\n".join(f"{mz:.4f} {intensity:.1f}" for mz, intensity in peaks)
            blocks.append(
                f"BEGIN IONS\nTITLE=s{index}-{energy}\nPEPMASS={precursor:.4f}\nCHARGE=1+\nIONMODE=positive\n"
                f"ADDUCT=[M+H]+\nSMILES={smiles}\nINCHIKEY={Chem.MolToInchiKey(mol)}\nLICENSE=CC0\n{lines}\nEND IONS\n"
            )
    path.write_text("\n".join(blocks))


def test_prepare_adds_one_merged_spectrum_per_training_structure_and_none_elsewhere(tmp_path):
    mgf = tmp_path / "series.mgf"
    write_energy_series(mgf)
    plain, merged = tmp_path / "plain.h5", tmp_path / "merged.h5"
    options = dict(binner=SpectrumBinner(bin_width_da=1.0), validation_fraction=0.3, test_fraction=0.2, progress=False)
    prepare_training_set([mgf], plain, **options)
    summary = prepare_training_set([mgf], merged, merge_collision_energies=True, **options)

    with h5py.File(merged, "r") as handle:
        splits = [value.decode() for value in handle["structures/split"][:]]
        structure = handle["spectra/structure"][:]
        identifiers = [value.decode() for value in handle["spectra/identifier"][:]]
    n_train = splits.count("train")
    assert 0 < n_train < len(STRUCTURES)  # the other splits are present, and must stay without merged spectra
    assert summary.n_merged_spectra == n_train
    added = [index for index, name in enumerate(identifiers) if name.startswith("merged 3 spectra from ")]
    assert len(added) == n_train == len(identifiers) - 3 * len(STRUCTURES)
    assert {splits[structure[index]] for index in added} == {"train"}
    assert sorted(structure[added]) == sorted(index for index, name in enumerate(splits) if name == "train")

    spectra = TrainingSet.load(merged).spectra
    for one in added:  # the merged row has exactly the bins of its three single spectra
        series = [index for index in range(len(identifiers)) if structure[index] == structure[one] and index != one]
        assert len(series) == 3
        bins = set().union(*(set(spectra[index].indices.tolist()) for index in series))
        assert set(spectra[one].indices.tolist()) == bins
    assert TrainingSet.load(plain).spectra.shape[0] == 3 * len(STRUCTURES)


def test_prepare_command_takes_the_intensity_transform_and_the_merge(tmp_path):
    import json

    from click.testing import CliRunner

    from specvae_cli.specvae_cli import main

    mgf, output = tmp_path / "series.mgf", tmp_path / "log1p.h5"
    write_energy_series(mgf)
    arguments = ["prepare", str(mgf), "-o", str(output), "--bin-width", "1.0", "--intensity-transform", "log1p"]
    result = CliRunner().invoke(main, [*arguments, "--merge-collision-energies"])
    assert result.exit_code == 0, result.output
    training = TrainingSet.load(output)
    assert training.binner.intensity_transform == "log1p"
    assert json.loads(training.attributes["summary"])["n_merged_spectra"] > 0
    single = training.spectra[0].toarray().ravel()  # peaks of 50 and 100, scaled to 0.5 and 1 by cleaning, then log1p
    assert sorted(single[single > 0]) == pytest.approx([np.log1p(0.5) / np.log1p(1.0), 1.0])
