"""The feed-forward baseline: its loss by hand, masking, learning, and training + loading through the command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from rdkit import Chem
from rdkit.Chem import Descriptors

from specvae.architecture import FINGERPRINT, SPECTRUM
from specvae.baseline import FEEDFORWARD, FeedForwardFingerprintNetwork
from specvae.benchmark.models import load_benchmark_model
from specvae.prediction import predict_fingerprint_probabilities
from specvae.spectra.binning import SpectrumBinner
from specvae.training_set_writer import prepare_training_set
from specvae_cli.specvae_benchmark_cli import benchmark


def tiny_network(seed: int = 0) -> FeedForwardFingerprintNetwork:
    torch.manual_seed(seed)
    return FeedForwardFingerprintNetwork(n_bins=12, n_fingerprint_bits=5, hidden_dim=6, latent_dim=3)


def test_loss_is_the_bce_of_paired_samples_over_the_batch_size() -> None:
    network = tiny_network()
    generator = torch.Generator().manual_seed(1)
    spectra = torch.rand(4, 12, generator=generator) * (torch.rand(4, 12, generator=generator) > 0.5)
    bits = (torch.rand(4, 5, generator=generator) > 0.5).float()
    mask = {SPECTRUM: torch.tensor([True, True, False, True]), FINGERPRINT: torch.tensor([True, False, True, True])}
    output = network.loss({SPECTRUM: spectra, FINGERPRINT: bits}, mask)
    # by hand from the network's own layers: samples 0 and 3 are paired
    sparse, _, bottleneck = network.encoder
    decoder_in, _, decoder_out = network.decoder.layers
    total = 0.0
    for index in (0, 3):
        hidden = torch.relu(spectra[index] @ sparse.weight + sparse.bias)
        logits = decoder_out(torch.relu(decoder_in(bottleneck(hidden))))
        p = torch.sigmoid(logits)
        total += float(-(bits[index] * torch.log(p) + (1 - bits[index]) * torch.log(1 - p)).sum())
    assert float(output.loss) == pytest.approx(total / 4, rel=1e-5)
    assert float(output.terms[f"nll/{FINGERPRINT}"]) == pytest.approx(total / 2, rel=1e-5)


def test_placeholders_of_unpaired_samples_reach_neither_loss_nor_gradient() -> None:
    network = tiny_network()
    spectra = torch.rand(3, 12)
    bits = torch.ones(3, 5)
    spectra[1] = float("nan")  # sample 1 has no spectrum: its placeholder is NaN
    bits[2] = float("nan")  # sample 2 has no fingerprint
    mask = {SPECTRUM: torch.tensor([True, False, True]), FINGERPRINT: torch.tensor([True, True, False])}
    output = network.loss({SPECTRUM: spectra, FINGERPRINT: bits}, mask)
    output.loss.backward()
    assert torch.isfinite(output.loss)
    assert all(torch.isfinite(parameter.grad).all() for parameter in network.parameters())
    expected = network.loss({SPECTRUM: spectra[:1], FINGERPRINT: bits[:1]}).loss / 3
    assert float(output.loss) == pytest.approx(float(expected), rel=1e-6)
    # a batch without any paired sample gives a zero loss and zero gradients
    network.zero_grad()
    unpaired = {SPECTRUM: torch.tensor([True, False, True]), FINGERPRINT: torch.tensor([False, True, False])}
    none = network.loss({SPECTRUM: spectra, FINGERPRINT: bits}, unpaired)
    none.loss.backward()
    assert float(none.loss) == 0.0
    assert all(float(parameter.grad.abs().sum()) == 0.0 for parameter in network.parameters())


def test_training_lowers_the_loss_and_predictions_are_probabilities() -> None:
    torch.manual_seed(0)
    network = tiny_network()
    spectra = (torch.rand(64, 12) > 0.6).float()
    bits = torch.stack(
        [spectra[:, 0], spectra[:, 1], 1 - spectra[:, 2], spectra[:, 3] * spectra[:, 4], spectra[:, 5]], 1
    )
    data = {SPECTRUM: spectra, FINGERPRINT: bits}
    optimiser = torch.optim.Adam(network.parameters(), lr=0.03)
    first = float(network.loss(data).loss)
    for _ in range(300):
        optimiser.zero_grad()
        network.loss(data).loss.backward()
        optimiser.step()
    assert float(network.loss(data).loss) < 0.3 * first
    probabilities = network.cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    assert probabilities.shape == (64, 5) and float(probabilities.min()) >= 0 and float(probabilities.max()) <= 1
    reference = torch.sigmoid(network.logits(spectra))
    torch.testing.assert_close(probabilities, reference)
    assert float(F.binary_cross_entropy(probabilities, bits)) < 0.2
    with pytest.raises(ValueError, match="spectrum -> fingerprint only"):
        network.cross_generate({FINGERPRINT: bits}, [FINGERPRINT], [SPECTRUM])


STRUCTURES = [
    "CCO", "CCCO", "CC(=O)O", "OC(=O)c1ccccc1", "Oc1ccccc1", "Nc1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC",
    "OCC(O)CO", "NCC(=O)O", "CC(N)C(=O)O", "c1ccncc1", "CC(C)O", "CCCCO", "OC1CCCCC1", "Cc1ccccc1",
    "COc1ccccc1", "CC(=O)N", "CCOC(=O)C", "OC(=O)CCC(=O)O",
]  # fmt: skip


def write_training_mgf(path) -> None:
    """Two synthetic positive spectra per structure (peaks derived from the mass), CC0 licensed."""
    blocks = []
    for index, smiles in enumerate(STRUCTURES):
        mol = Chem.MolFromSmiles(smiles)
        precursor = Descriptors.ExactMolWt(mol) + 1.00728
        for energy in (1, 2):
            peaks = [(precursor - 17.0 * energy, 40.0 + index), (precursor / 2 + energy, 20.0), (precursor, 100.0)]
            lines = "\n".join(f"{mz:.4f} {intensity:.1f}" for mz, intensity in sorted(peaks))
            blocks.append(
                f"BEGIN IONS\nTITLE=s{index}-{energy}\nPEPMASS={precursor:.4f}\nCHARGE=1+\nIONMODE=positive\n"
                f"SMILES={smiles}\nINCHIKEY={Chem.MolToInchiKey(mol)}\nLICENSE=CC0\n{lines}\nEND IONS\n"
            )
    path.write_text("\n".join(blocks))


def prepare_tiny_training_set(tmp_path, validation_fraction: float = 0.4):
    """``tmp_path / "train.h5"``: the synthetic spectra of :data:`STRUCTURES` prepared on a 1 Da grid, no test split
    (torch set to one thread for the training that follows)."""
    torch.set_num_threads(1)
    mgf = tmp_path / "train.mgf"
    write_training_mgf(mgf)
    training_set = tmp_path / "train.h5"
    prepare_training_set(
        [mgf], training_set, binner=SpectrumBinner(bin_width_da=1.0), validation_fraction=validation_fraction,
        test_fraction=0.0, progress=False,
    )  # fmt: skip
    return training_set


def train_tiny_formula_reader(training_set, output) -> None:
    """A tiny feed-forward network that reads formulas (always given), trained 2 epochs on ``training_set``."""
    from specvae.baseline import train_feedforward_model
    from specvae.training import TrainingOptions

    options = TrainingOptions(epochs=2, batch_size=8, latent_dim=4, hidden_dim=8, min_bit_count=1, progress=False,
                              formula_dropout=0.0)  # fmt: skip
    train_feedforward_model(training_set, output, options)


def train_tiny_model(tmp_path, epochs: int = 2, validation_fraction: float = 0.4):
    """A training set of the synthetic spectra and a tiny SVAE trained on it through ``specvae train``:
    ``(training_set_path, model_path)``."""
    from specvae_cli.specvae_cli import main

    training_set = prepare_tiny_training_set(tmp_path, validation_fraction)
    model_path = tmp_path / "model.specvae"
    arguments = ["train", str(training_set), "-o", str(model_path), "--epochs", str(epochs), "--batch-size", "8"]
    arguments += ["--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    return training_set, model_path


def test_train_baseline_command_writes_a_model_the_benchmark_loads(tmp_path) -> None:
    training_set = prepare_tiny_training_set(tmp_path, 0.3)
    output = tmp_path / "baseline.specvae"
    arguments = ["train-baseline", str(training_set), "-o", str(output), "--epochs", "2", "--batch-size", "8"]
    arguments += ["--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1"]
    result = CliRunner().invoke(benchmark, arguments)
    assert result.exit_code == 0, result.output
    loaded = load_benchmark_model(output)
    assert loaded.kind == FEEDFORWARD and loaded.ion_mode == "positive"
    training = loaded.metadata.training
    assert training["best_epoch"] in (1, 2) and len(training["history"]) == 2
    assert training["options"]["fusion"] == FEEDFORWARD and training["command"].startswith("specvae benchmark train")
    assert len(training["structures_inchikey14"]) == len(STRUCTURES)
    assert 0.0 <= training["validation_metrics"]["retrieval_top1"] <= 1.0
    probabilities = predict_fingerprint_probabilities(loaded.network, _binned(loaded))
    assert probabilities.shape == (1, loaded.metadata.architecture.n_fingerprint_bits)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def _binned(loaded):
    import scipy.sparse

    matrix = scipy.sparse.csr_matrix((1, loaded.metadata.architecture.n_bins), dtype=np.float32)
    matrix[0, 47] = 1.0
    return matrix


def test_train_baseline_with_formula_dropout_writes_a_network_that_reads_formulas(tmp_path) -> None:
    import scipy.sparse

    from specvae.formula_features import N_FORMULA_FEATURES, formula_feature_matrix
    from specvae.model_file import load_model
    from specvae.output import describe_model

    training_set = prepare_tiny_training_set(tmp_path, 0.3)
    output = tmp_path / "formula.specvae"
    arguments = ["train-baseline", str(training_set), "-o", str(output), "--epochs", "2", "--batch-size", "8"]
    arguments += ["--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1"]
    result = CliRunner().invoke(benchmark, [*arguments, "--formula-dropout", "0.5"])
    assert result.exit_code == 0, result.output
    network, metadata = load_model(output)
    assert metadata.architecture.formula_features == N_FORMULA_FEATURES
    assert metadata.training["options"]["formula_dropout"] == 0.5
    assert "reads the molecular formula" in describe_model(metadata)
    n_bins = metadata.architecture.n_bins
    spectrum = torch.zeros(1, n_bins)
    spectrum[0, 100] = 1.0
    under = network.probabilities_under_formulas(spectrum, torch.from_numpy(formula_feature_matrix(["C6H6", None])))
    plain = predict_fingerprint_probabilities(network, scipy.sparse.csr_matrix(spectrum.numpy()))
    np.testing.assert_allclose(under[1].numpy(), plain[0], rtol=1e-5)  # no formula = the spectrum alone
    result = CliRunner().invoke(benchmark, [*arguments, "--formula-dropout", "1.0"])
    assert result.exit_code != 0 and "--formula-dropout" in result.output
    pooled = tmp_path / "pooled.specvae"
    arguments[arguments.index(str(output))] = str(pooled)
    result = CliRunner().invoke(benchmark, [*arguments, "--formula-dropout", "0.5", "--input-pool", "10"])
    assert result.exit_code == 0, result.output
    network, metadata = load_model(pooled)
    assert metadata.architecture.input_pool == 10
    assert network.encoder[0].in_features == n_bins // 10 + N_FORMULA_FEATURES


def test_depth_batch_norm_and_dropout_are_trained_stored_and_keep_the_formula_path_exact(tmp_path) -> None:
    """The capacity options of the feed-forward network: written into the model file and built back from it;
    in eval mode dropout is off (predictions repeat) and the per-formula shortcut equals the whole network."""
    from specvae.formula_features import N_FORMULA_FEATURES
    from specvae.model_file import load_model
    from specvae.output import describe_model

    training_set = prepare_tiny_training_set(tmp_path, 0.3)
    output = tmp_path / "deep.specvae"
    arguments = ["train-baseline", str(training_set), "-o", str(output), "--epochs", "2", "--batch-size", "8",
                 "--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1",
                 "--depth", "2", "--batch-norm", "--dropout", "0.3", "--formula-dropout", "0.5"]  # fmt: skip
    result = CliRunner().invoke(benchmark, arguments)
    assert result.exit_code == 0, result.output
    network, metadata = load_model(output)
    architecture = metadata.architecture
    assert (architecture.depth, architecture.batch_norm, architecture.dropout) == (2, True, 0.3)
    assert "2 decoder layers, batch norm, dropout 0.3" in describe_model(metadata)
    assert not network.training
    layers = [layer for layer in network.decoder.layers if isinstance(layer, torch.nn.Linear)]
    assert len(layers) == 3
    batch_norm = next(module for module in network.modules() if isinstance(module, torch.nn.BatchNorm1d))
    assert int(batch_norm.num_batches_tracked) > 0  # its statistics were learned and stored
    generator = torch.Generator().manual_seed(0)
    spectrum = (torch.rand(1, architecture.n_bins, generator=generator) > 0.9).float()
    block = torch.rand(3, N_FORMULA_FEATURES, generator=generator)
    whole = torch.sigmoid(network.logits(torch.cat([spectrum.expand(3, -1), block], dim=1)))
    torch.testing.assert_close(network.probabilities_under_formulas(spectrum, block), whole)
    assert torch.equal(network.logits(spectrum), network.logits(spectrum))
