"""Benchmark modalities: the right names, sizes and likelihoods for MNIST-Split and MNIST-Split-3."""

from __future__ import annotations

import pytest
import torch

from mmcore.benchmarks_setup import BENCHMARKS, get_benchmark, mnist_split_modalities
from mmcore.likelihoods import BernoulliLikelihood, LaplaceLikelihood


@pytest.mark.parametrize(
    ("benchmark", "pixels"),
    [("mnist-split", {"top": 392, "bottom": 392}), ("mnist-split-3", {"top": 252, "middle": 252, "bottom": 280})],
)
@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_modalities_fit_the_bands(benchmark, pixels, network):
    modalities = get_benchmark(benchmark).modalities(8, network=network, hidden_dims=(32,))
    assert [modality.name for modality in modalities] == list(pixels)
    for modality in modalities:
        size = pixels[modality.name]
        assert isinstance(modality.likelihood, BernoulliLikelihood)
        assert modality.encoder(torch.rand(3, size)).shape == (3, modality.feature_dim)
        assert modality.decoder(torch.randn(2, 3, 8)).shape == (2, 3, size)


def test_options_reach_the_networks():
    top, bottom = mnist_split_modalities(4, hidden_dims=(64, 16), likelihood="laplace")
    assert top.feature_dim == 16 and isinstance(bottom.likelihood, LaplaceLikelihood)
    with pytest.raises(ValueError, match="unknown network 'rnn'"):
        mnist_split_modalities(4, network="rnn")
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        mnist_split_modalities(4, likelihood="poisson")


def test_unknown_benchmark_lists_the_known_ones():
    with pytest.raises(KeyError, match="mnist-split, mnist-split-3"):
        get_benchmark("svhn")
    assert set(BENCHMARKS) == {"mnist-split", "mnist-split-3"}
