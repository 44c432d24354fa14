"""Tests of mmcore/metrics/oracles.py: the oracle CNN, its reproducible training, its cache, and the views.

The cache tests train on a tiny synthetic task (which half of an 8×8 image is bright) in well under a second;
the data test trains on real MNIST digits and must pass 95 % test accuracy.
"""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from metric_fakes import ScriptedVAE, loader_of

from mmcore.data.mnist import MNIST_SPLIT_PARTS, read_mnist_npz, split_rows
from mmcore.distributions import DiagonalGaussian
from mmcore.metrics import (
    OracleArchitecture,
    OracleCacheError,
    OracleClassifier,
    OracleTraining,
    ViewClassifier,
    joined_rows_view,
    load_or_train_oracle,
    mnist_split_accuracy,
    modality_view,
    train_oracle,
)
from mmcore.metrics.oracles import data_sha256, metadata_path, oracle_accuracy

TINY = OracleArchitecture(image_shape=(1, 8, 8), n_classes=2, channels=(4,), hidden_dim=8, kernel_size=3)
QUICK = OracleTraining(epochs=2, batch_size=32, learning_rate=1e-2, seed=0)


def bright_half_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy 8×8 images whose top half (class 0) or bottom half (class 1) is brighter."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    images = 0.3 * torch.rand(n, 8, 8, generator=generator)
    rows = torch.arange(8)
    bright = (rows < 4).unsqueeze(0) ^ labels.bool().unsqueeze(-1)  # (n, 8): the bright rows
    return images + 0.5 * bright.unsqueeze(-1).float(), labels


# ---------------------------------------------------------------------------------------------- the classifier
def test_oracle_reads_flat_single_channel_and_channel_first_images_alike():
    torch.manual_seed(0)
    oracle = OracleClassifier(TINY)
    images, _ = bright_half_images(5, seed=0)
    logits = oracle(images)
    assert logits.shape == (5, 2)
    torch.testing.assert_close(oracle(images.reshape(5, 64)), logits)
    torch.testing.assert_close(oracle(images.unsqueeze(1)), logits)
    with pytest.raises(ValueError, match=r"\(1, 8, 8\)"):
        oracle(torch.zeros(5, 63))


def test_training_is_reproducible_and_leaves_the_global_random_state_alone():
    images, labels = bright_half_images(256, seed=1)
    state = torch.get_rng_state()
    first = train_oracle(images, labels, TINY, QUICK)
    assert torch.equal(torch.get_rng_state(), state)
    second = train_oracle(images, labels, TINY, QUICK)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    test_images, test_labels = bright_half_images(256, seed=2)
    assert oracle_accuracy(first, test_images, test_labels) > 0.95


def test_data_fingerprint_sees_every_value_and_the_shape():
    images, labels = bright_half_images(10, seed=3)
    reference = data_sha256(images, labels)
    assert data_sha256(images.clone(), labels.clone()) == reference
    changed = images.clone()
    changed[7, 3, 2] += 1e-3
    assert data_sha256(changed, labels) != reference
    assert data_sha256(images.reshape(10, 64), labels) != reference


# ---------------------------------------------------------------------------------------------- the cache
def test_cache_round_trip_gives_identical_predictions(tmp_path):
    images, labels = bright_half_images(256, seed=4)
    test_images, test_labels = bright_half_images(128, seed=5)
    path = tmp_path / "oracles" / "tiny.safetensors"
    trained = load_or_train_oracle(path, images, labels, test_images, test_labels, architecture=TINY, training=QUICK)
    assert not trained.from_cache
    assert trained.test_accuracy == oracle_accuracy(trained.classifier, test_images, test_labels)
    description = json.loads(metadata_path(path).read_text())
    assert description["train_data_sha256"] == data_sha256(images, labels)
    assert description["test_accuracy"] == trained.test_accuracy
    assert description["architecture"]["channels"] == [4]
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.json", "tiny.safetensors"]  # no temporary left

    reloaded = load_or_train_oracle(path, images, labels, test_images, test_labels, architecture=TINY, training=QUICK)
    assert reloaded.from_cache
    assert reloaded.test_accuracy == trained.test_accuracy
    assert torch.equal(reloaded.classifier.predict(test_images), trained.classifier.predict(test_images))

    # Other test data: the cached oracle is reused and its accuracy on the new data measured and recorded.
    half_images, half_labels = test_images[:64], test_labels[:64]
    remeasured = load_or_train_oracle(path, images, labels, half_images, half_labels, architecture=TINY, training=QUICK)
    assert remeasured.from_cache
    assert remeasured.test_accuracy == oracle_accuracy(trained.classifier, half_images, half_labels)
    assert json.loads(metadata_path(path).read_text())["test_data_sha256"] == data_sha256(half_images, half_labels)


def test_stale_caches_are_retrained(tmp_path):
    images, labels = bright_half_images(128, seed=6)
    path = tmp_path / "tiny.safetensors"
    load_or_train_oracle(path, images, labels, architecture=TINY, training=QUICK)

    other_images = images.clone()
    other_images[0] += 0.1
    assert not load_or_train_oracle(path, other_images, labels, architecture=TINY, training=QUICK).from_cache
    assert not load_or_train_oracle(
        path, other_images, labels, architecture=TINY, training=OracleTraining(epochs=1)
    ).from_cache
    # Weights replaced behind the JSON's back (a crash between the two writes, say): retrain, don't trust.
    stranger = OracleClassifier(TINY)
    safetensors.torch.save_file(stranger.state_dict(), str(path))
    assert not load_or_train_oracle(
        path, other_images, labels, architecture=TINY, training=OracleTraining(epochs=1)
    ).from_cache
    assert load_or_train_oracle(
        path, other_images, labels, architecture=TINY, training=OracleTraining(epochs=1)
    ).from_cache


def test_unreadable_descriptions_are_errors_naming_the_file(tmp_path):
    images, labels = bright_half_images(64, seed=7)
    path = tmp_path / "tiny.safetensors"
    metadata_path(path).write_text("{not json")
    with pytest.raises(OracleCacheError, match="tiny.json"):
        load_or_train_oracle(path, images, labels, architecture=TINY, training=QUICK)
    metadata_path(path).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(OracleCacheError, match="format"):
        load_or_train_oracle(path, images, labels, architecture=TINY, training=QUICK)
    with pytest.raises(ValueError, match=r"\.safetensors"):
        load_or_train_oracle(tmp_path / "tiny.pt", images, labels, architecture=TINY, training=QUICK)


# ---------------------------------------------------------------------------------------------- views
def test_views_rebuild_the_whole_image_and_pick_one_modality():
    images = torch.rand(3, 28, 28)
    bands = split_rows(images, MNIST_SPLIT_PARTS)
    joined = joined_rows_view(MNIST_SPLIT_PARTS)(bands)
    assert joined.shape == (3, 1, 28, 28)
    assert torch.equal(joined[:, 0], images)
    assert modality_view("top")(bands) is bands["top"]
    with pytest.raises(KeyError, match="bottom"):
        joined_rows_view(MNIST_SPLIT_PARTS)({"top": bands["top"]})


# ---------------------------------------------------------------------------------------------- real MNIST
def autoencoder_of_halves() -> ScriptedVAE:
    """A 'perfect' model: z is the whole image (missing half = zeros), each decoder reads its own rows back."""
    half = 14 * 28

    def rule(present, data):
        batch = next(iter(data.values())).shape[0]
        halves = []
        for name in ("top", "bottom"):
            value = data.get(name, torch.zeros(batch, half))
            halves.append(torch.where(present[name].unsqueeze(-1), value, torch.zeros_like(value)))
        mean = torch.cat(halves, dim=-1)
        return DiagonalGaussian(mean, torch.full_like(mean, -30.0))

    decoders = {"top": lambda z: z[..., :half], "bottom": lambda z: z[..., half:]}
    return ScriptedVAE(decoders, 2 * half, rule)


@pytest.mark.data
def test_mnist_oracle_is_accurate_cached_and_scores_a_perfect_model_at_its_own_accuracy(
    mnist_npz, tmp_path, one_thread
):
    mnist = read_mnist_npz(mnist_npz)
    train_images, train_labels = mnist.train_images[:10_000], mnist.train_labels[:10_000]
    test_images, test_labels = mnist.test_images[:2000], mnist.test_labels[:2000]
    architecture = OracleArchitecture(channels=(8, 16), hidden_dim=64, kernel_size=5)
    training = OracleTraining(epochs=2, batch_size=32, learning_rate=3e-3, seed=0)
    path = tmp_path / "mnist-oracle.safetensors"

    trained = load_or_train_oracle(
        path, train_images, train_labels, test_images, test_labels, architecture=architecture, training=training
    )
    assert trained.test_accuracy > 0.95
    cached = load_or_train_oracle(
        path, train_images, train_labels, test_images, test_labels, architecture=architecture, training=training
    )
    assert cached.from_cache
    assert torch.equal(cached.classifier.predict(test_images), trained.classifier.predict(test_images))

    # Both halves given: the perfect model returns the test digits exactly, so it scores the oracle's accuracy.
    classify = ViewClassifier(cached.classifier, joined_rows_view(MNIST_SPLIT_PARTS))
    loader = loader_of(split_rows(test_images, MNIST_SPLIT_PARTS), test_labels, batch_size=500)
    result = mnist_split_accuracy(autoencoder_of_halves(), loader, classify)
    assert result["accuracy/from_top+bottom"] == pytest.approx(trained.test_accuracy, abs=1e-12)
    # One half given: the other is blank, which the oracle gets wrong more often.
    assert result["accuracy/from_top"] < trained.test_accuracy - 0.1
    assert result["accuracy/from_bottom"] < trained.test_accuracy - 0.1
