"""A feed-forward network that reads a molecular formula beside the spectrum (specvae/feedforward_network.py), alone
and inside an ensemble, stored and loaded like any model file."""

from __future__ import annotations

import pytest
import torch
from shared_helpers import write_tiny_model

from specvae.architecture import FINGERPRINT, SPECTRUM, ArchitectureConfig
from specvae.ensemble import build_ensemble
from specvae.feedforward_network import FeedForwardFingerprintNetwork, drop_formula_block, pool_columns
from specvae.formula_features import N_FORMULA_FEATURES, formula_feature_matrix
from specvae.model_file import load_model

FORMULAS = ["C9H8O4", "C6H6", "C8H10N4O2"]


def spectra(n: int, n_bins: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, n_bins, generator=generator) > 0.95).float() * torch.rand(n, n_bins, generator=generator)


def formula_network(seed: int = 0) -> FeedForwardFingerprintNetwork:
    torch.manual_seed(seed)
    return FeedForwardFingerprintNetwork(
        50, 12, hidden_dim=16, latent_dim=4, n_formula_features=N_FORMULA_FEATURES
    ).eval()


def test_each_formula_gives_the_prediction_of_the_spectrum_with_that_formula_appended() -> None:
    network = formula_network()
    spectrum = spectra(1, 50)
    block = torch.from_numpy(formula_feature_matrix(FORMULAS))
    under_formulas = network.probabilities_under_formulas(spectrum, block)
    assert under_formulas.shape == (3, 12)
    for row, features in enumerate(block):
        appended = torch.cat([spectrum, features[None, :]], dim=1)
        torch.testing.assert_close(under_formulas[row], network.fingerprint_probabilities(appended)[0])
    assert not torch.allclose(under_formulas[0], under_formulas[1])  # the formula changes the prediction


def test_a_spectrum_given_without_a_formula_reads_as_the_zero_block() -> None:
    network = formula_network()
    batch = spectra(4, 50)
    with_zeros = torch.cat([batch, torch.zeros(4, N_FORMULA_FEATURES)], dim=1)
    torch.testing.assert_close(network.fingerprint_probabilities(batch), network.fingerprint_probabilities(with_zeros))
    torch.testing.assert_close(
        network.fingerprint_probabilities(batch.to_sparse()), network.fingerprint_probabilities(batch)
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_formula_dropout_zeroes_the_formula_block_of_about_its_share_of_rows(sparse: bool) -> None:
    torch.manual_seed(0)
    batch = torch.cat([spectra(400, 50), torch.ones(400, N_FORMULA_FEATURES)], dim=1)
    dropped = drop_formula_block(batch.to_sparse() if sparse else batch, 50, 0.5)
    dropped = dropped.to_dense()
    blocks_kept = dropped[:, 50:].sum(dim=1) > 0
    assert torch.equal(dropped[:, :50], batch[:, :50])  # the bins are never touched
    assert torch.all((dropped[:, 50:].sum(dim=1) == 0) | (dropped[:, 50:].sum(dim=1) == N_FORMULA_FEATURES))
    assert 150 < int(blocks_kept.sum()) < 250


def test_dropout_acts_in_training_only() -> None:
    network = formula_network()
    network.formula_dropout = 1.0
    batch = torch.cat([spectra(3, 50), torch.from_numpy(formula_feature_matrix(FORMULAS))], dim=1)
    without_formula = network.fingerprint_probabilities(batch[:, :50])
    assert not torch.allclose(network.fingerprint_probabilities(batch), without_formula)  # eval: formula read
    network.train()
    torch.testing.assert_close(torch.sigmoid(network.logits(batch)), without_formula)  # training: all dropped


def test_the_model_file_keeps_the_formula_input_and_an_ensemble_keeps_readers_apart(tmp_path) -> None:
    reader = write_tiny_model(tmp_path / "formula.specvae", "positive", fusion="feedforward", formula_features=29)
    svae = write_tiny_model(tmp_path / "svae.specvae", "positive", seed=1)
    network, metadata = load_model(reader)
    assert metadata.architecture.formula_features == N_FORMULA_FEATURES
    assert network.n_formula_features == N_FORMULA_FEATURES
    spectrum = spectra(1, metadata.architecture.n_bins)
    block = torch.from_numpy(formula_feature_matrix(FORMULAS))
    build_ensemble([reader, svae], tmp_path / "pair.specvae")
    pair, _ = load_model(tmp_path / "pair.specvae")
    assert pair.reads_formulas
    # the reader predicts under formulas, the other member without one
    plain_svae = load_model(svae)[0].cross_generate({SPECTRUM: spectrum}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    torch.testing.assert_close(pair.fingerprint_probabilities(spectrum), plain_svae)
    expected = network.probabilities_under_formulas(spectrum, block)
    torch.testing.assert_close(pair.probabilities_under_formulas(spectrum, block), expected)


@pytest.mark.parametrize("count", [5, -29, True, "29"])
def test_an_unknown_formula_feature_count_is_refused(count) -> None:
    with pytest.raises(ValueError, match="formula_features"):
        ArchitectureConfig(n_bins=10, n_fingerprint_bits=4, fusion="feedforward", formula_features=count)


def test_pooled_bins_are_summed_and_the_formula_block_kept_in_dense_and_sparse_inputs() -> None:
    batch = torch.cat([spectra(3, 50), torch.from_numpy(formula_feature_matrix(FORMULAS))], dim=1)
    pooled = pool_columns(batch, 50, 10)
    assert pooled.shape == (3, 5 + N_FORMULA_FEATURES)
    torch.testing.assert_close(pooled[:, :5], batch[:, :50].reshape(3, 5, 10).sum(-1))
    torch.testing.assert_close(pooled[:, 5:], batch[:, 50:])
    torch.testing.assert_close(pool_columns(batch.to_sparse(), 50, 10).to_dense(), pooled)


def test_a_pooled_network_reads_what_an_unpooled_one_reads_from_pooled_bins() -> None:
    torch.manual_seed(0)
    pooled = FeedForwardFingerprintNetwork(50, 12, 16, 4, n_formula_features=N_FORMULA_FEATURES, input_pool=10).eval()
    torch.manual_seed(0)
    plain = FeedForwardFingerprintNetwork(5, 12, 16, 4, n_formula_features=N_FORMULA_FEATURES).eval()
    spectrum = spectra(1, 50)
    block = torch.from_numpy(formula_feature_matrix(FORMULAS))
    summed = spectrum.reshape(1, 5, 10).sum(-1)
    torch.testing.assert_close(
        pooled.probabilities_under_formulas(spectrum, block), plain.probabilities_under_formulas(summed, block)
    )
    torch.testing.assert_close(pooled.fingerprint_probabilities(spectrum), plain.fingerprint_probabilities(summed))
    with pytest.raises(ValueError, match="input_pool"):
        FeedForwardFingerprintNetwork(50, 12, input_pool=7)
    with pytest.raises(ValueError, match="input_pool"):
        ArchitectureConfig(n_bins=50, n_fingerprint_bits=4, fusion="feedforward", input_pool=7)
