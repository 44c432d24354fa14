"""Benchmark modalities: the right names, sizes and likelihoods for every registered benchmark."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmcore.benchmarks_setup import BENCHMARKS, get_benchmark, mnist_split_modalities
from mmcore.data.cub import CubSplits
from mmcore.data.dataset import MultimodalDataset
from mmcore.data.gathered import GatheredRows
from mmcore.data.manifest import DataDirectoryError
from mmcore.data.text import Vocabulary
from mmcore.likelihoods import BernoulliLikelihood, CategoricalLikelihood, LaplaceLikelihood


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
    with pytest.raises(KeyError, match="cub, mnist-split, mnist-split-3, mnist-svhn, mnist-svhn-text, polymnist"):
        get_benchmark("svhn")
    assert set(BENCHMARKS) == {
        "mnist-split", "mnist-split-3", "polymnist", "polymnist-procedural", "mnist-svhn", "mnist-svhn-text", "cub",
    }
    assert get_benchmark("cub").validation_size == 885 and get_benchmark("mnist-svhn").validation_size == 10_000


# (benchmark, {modality: flat size of one sample}) for the image benchmarks
IMAGE_BENCHMARKS = [
    ("polymnist", {f"m{index}": 3 * 28 * 28 for index in range(5)}),
    ("polymnist-procedural", {f"m{index}": 3 * 28 * 28 for index in range(5)}),
    ("mnist-svhn", {"mnist": 28 * 28, "svhn": 3 * 32 * 32}),
]


@pytest.mark.parametrize(("benchmark", "sizes"), IMAGE_BENCHMARKS)
@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_image_modalities_read_and_write_flat_images(benchmark, sizes, network):
    modalities = get_benchmark(benchmark).modalities(6, network=network, hidden_dims=(24,))
    assert [modality.name for modality in modalities] == list(sizes)
    for modality in modalities:
        assert isinstance(modality.likelihood, LaplaceLikelihood)  # MMVAE's and MoPoE's choice for images
        assert modality.encoder(torch.rand(2, sizes[modality.name])).shape == (2, 24) == (2, modality.feature_dim)
        assert modality.decoder(torch.randn(5, 2, 6)).shape == (5, 2, sizes[modality.name])


def test_mnist_svhn_text_scores_all_eight_characters():
    *_, text = get_benchmark("mnist-svhn-text").modalities(6, hidden_dims=(24,))
    assert text.name == "text" and isinstance(text.likelihood, CategoricalLikelihood)
    assert text.likelihood.padding_index is None  # spaces place the word: every position counts
    ids = torch.tensor([[0, 15, 14, 5, 0, 0, 0, 0]])  # " one    "
    logits = text.decoder(torch.zeros(1, 6))
    assert logits.shape == (1, 8, 27) and text.encoder(ids).shape == (1, 24)
    expected = torch.log_softmax(logits, -1)[0, torch.arange(8), ids[0]].sum()
    assert torch.allclose(text.likelihood.log_prob(logits, ids), expected.reshape(1))


def _fake_cub_splits(image_rows):
    vocabulary = Vocabulary.build(["a red bird", "a blue bird"], min_count=1)
    captions = torch.tensor([vocabulary.encode("a red bird", length=12)] * 4)
    train = MultimodalDataset({"image": image_rows, "caption": captions})  # type: ignore[dict-item]
    return CubSplits(train=train, validation=train, test=train, vocabulary=vocabulary)


def test_cub_networks_take_their_sizes_from_the_data():
    pixels = GatheredRows(torch.zeros(2, 3 * 64 * 64, dtype=torch.uint8), torch.tensor([0, 0, 1, 1]), divisor=255.0)
    image, caption = get_benchmark("cub").modalities(6, data=_fake_cub_splits(pixels), hidden_dims=(24,))
    assert image.decoder(torch.zeros(3, 6)).shape == (3, 3 * 64 * 64)
    assert caption.decoder(torch.zeros(3, 6)).shape == (3, 12, 4 + 4)  # 4 special tokens + a, red, bird, blue
    assert caption.likelihood.padding_index == 0
    splits = _fake_cub_splits(pixels)
    _, caption = get_benchmark("cub").modalities(6, data=splits, hidden_dims=(24,), vocabulary_size=20)
    assert caption.decoder(torch.zeros(1, 6)).shape == (1, 12, 20)  # explicit options win over the data's

    features = GatheredRows(torch.rand(2, 10), torch.tensor([0, 0, 1, 1]))
    image, _ = get_benchmark("cub").modalities(6, data=_fake_cub_splits(features), hidden_dims=(24,))
    assert image.encoder(torch.rand(3, 10)).shape == (3, 24) and image.decoder(torch.zeros(3, 6)).shape == (3, 10)
    with pytest.raises(ValueError, match="vocabulary_size"):
        get_benchmark("cub").modalities(6)


def test_polymnist_needs_backgrounds_unless_procedural(tmp_path):
    with pytest.raises(DataDirectoryError, match="five original PolyMNIST background images.*polymnist-procedural"):
        get_benchmark("polymnist").load(tmp_path)
    with pytest.raises(ValueError, match="generates its backgrounds"):
        get_benchmark("polymnist-procedural").load(tmp_path, background_dir=tmp_path)


def test_procedural_polymnist_loads_from_mnist(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "mnist").mkdir()
    np.savez(
        tmp_path / "mnist" / "mnist.npz",
        x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), y_train=np.arange(30, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), y_test=np.arange(10, dtype=np.uint8),
    )
    splits = get_benchmark("polymnist-procedural").load(tmp_path, validation_size=5, verify=False)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (25, 5, 10)
    assert splits.train.names == ["m0", "m1", "m2", "m3", "m4"]
    assert splits.test.batch(torch.arange(2)).data["m4"].shape == (2, 3 * 28 * 28)
