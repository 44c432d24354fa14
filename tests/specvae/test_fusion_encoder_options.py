"""Decoder depth, batch norm and dropout in a fusion model (`specvae train --depth --batch-norm --dropout`)."""

from __future__ import annotations

import torch
from click.testing import CliRunner
from test_baseline import prepare_tiny_training_set
from test_unpaired_molecules import NEW_MOLECULES

from specvae.architecture import ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.model_file import load_model
from specvae.output import describe_model
from specvae_cli.specvae_cli import main


def test_without_the_options_the_encoders_keep_the_layout_of_older_model_files() -> None:
    model = build_spectrum_fingerprint_model(ArchitectureConfig(n_bins=50, n_fingerprint_bits=12, hidden_dim=8))
    body = sorted(name for name in model.state_dict() if name.startswith("experts.spectrum.spectrum.body."))
    # the stored names of every model file written before the options: the first layer is the body's only weights
    assert body == ["experts.spectrum.spectrum.body.0.bias", "experts.spectrum.spectrum.body.0.weight"]
    for module in model.modules():
        assert not isinstance(module, (torch.nn.BatchNorm1d, torch.nn.Dropout))


def test_depth_batch_norm_and_dropout_train_with_unpaired_structures_and_are_stored(tmp_path) -> None:
    training_set = prepare_tiny_training_set(tmp_path)
    smiles_file = tmp_path / "unpaired.smi"
    smiles_file.write_text("\n".join(NEW_MOLECULES) + "\n")
    output = tmp_path / "svae_bn.specvae"
    arguments = ["train", str(training_set), "-o", str(output), "--epochs", "2", "--batch-size", "8",
                 "--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1",
                 "--unpaired-smiles", str(smiles_file), "--depth", "2", "--batch-norm", "--dropout", "0.3"]  # fmt: skip
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    model, metadata = load_model(output)
    architecture = metadata.architecture
    assert (architecture.depth, architecture.batch_norm, architecture.dropout) == (2, True, 0.3)
    assert "svae (latent 4, hidden 8, 2 decoder layers, batch norm, dropout 0.3)" in describe_model(metadata)
    for decoder in model.decoders.values():  # two hidden layers, then the output layer
        assert sum(isinstance(layer, torch.nn.Linear) for layer in decoder.modules()) == 3
    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm1d)]
    # every expert network (two readers x two slots) has one, with statistics learned in training
    assert len(norms) == 4 and all(int(norm.num_batches_tracked) > 0 for norm in norms)
    assert not model.training
    spectra = (torch.rand(3, metadata.architecture.n_bins, generator=torch.Generator().manual_seed(0)) > 0.9).float()
    first = model.posterior({"spectrum": spectra}).mean
    assert torch.equal(first, model.posterior({"spectrum": spectra}).mean)  # eval mode: dropout off
