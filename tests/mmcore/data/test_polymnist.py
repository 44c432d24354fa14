"""PolyMNIST generator: composition, the release's pairing, procedural and user backgrounds, cache, loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmcore.data.mnist import load_mnist
from mmcore.data.polymnist import (
    POLYMNIST_MODALITIES,
    BackgroundImageError,
    PolyMnistCacheError,
    binarize_digits,
    compose_digits,
    load_background_images,
    load_polymnist,
    make_polymnist,
    plan_polymnist,
    polymnist_data,
    polymnist_fingerprint,
    procedural_backgrounds,
    save_polymnist,
)


def _fake_mnist(n=40, seed=0):
    """Float digits in [0, 1] on the k/255 grid, like MNIST's reader returns, and labels 0..3."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.float32) / 255.0
    labels = rng.integers(0, 4, n)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _expected_view(digit, background, row, col):
    """One view computed pixel by pixel from the definition: crop, then 255 - v where 255·digit > 128."""
    expected = np.zeros((3, 28, 28), dtype=np.int64)
    for channel in range(3):
        for i in range(28):
            for j in range(28):
                value = int(background[row + i, col + j, channel])
                on = round(float(digit[i, j]) * 255) > 128
                expected[channel, i, j] = 255 - value if on else value
    return expected


def test_binarisation_threshold_is_grey_level_128():
    grey = np.array([[0, 127, 128, 129, 200, 255]], dtype=np.uint8)
    assert binarize_digits(grey).tolist() == [[False, False, False, True, True, True]]
    assert binarize_digits(torch.from_numpy(grey.astype(np.float32) / 255.0)).tolist() == [
        [False, False, False, True, True, True]
    ]


def test_composition_inverts_the_crop_under_the_digit():
    rng = np.random.default_rng(1)
    background = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    digits = np.zeros((2, 28, 28), dtype=np.float32)
    digits[0, 5:9, 10:12] = 1.0
    digits[0, 20, 3] = 128 / 255  # exactly at the threshold: stays off
    digits[0, 21, 3] = 129 / 255
    digits[1] = rng.integers(0, 256, (28, 28)) / 255.0
    offsets = np.array([[3, 7], [12, 22]])
    views = compose_digits(binarize_digits(digits), background, offsets)
    assert views.shape == (2, 3, 28, 28) and views.dtype == np.uint8
    for k in range(2):
        assert np.array_equal(views[k], _expected_view(digits[k], background, *offsets[k]))
    assert views[0, 1, 20, 3] == background[23, 10, 1] and views[0, 1, 21, 3] == 255 - background[24, 10, 1]
    with pytest.raises(ValueError, match="leave the 40×50 background"):
        compose_digits(binarize_digits(digits), background, np.array([[13, 0], [0, 0]]))


def test_pairing_follows_the_release_protocol():
    labels = np.array([2, 0, 1, 2, 2, 0, 1, 1, 2, 0, 0, 2])
    sizes = [(30, 40), (28, 28), (60, 29)]
    plan = plan_polymnist(labels, sizes, seed=5)
    assert plan.labels.tolist() == sorted(labels.tolist())
    assert plan.mnist_index.shape == (12, 3) and plan.offsets.shape == (12, 3, 2)
    for modality in range(3):
        column = plan.mnist_index[:, modality]
        assert sorted(column.tolist()) == list(range(12))  # every MNIST image once per modality
        assert np.array_equal(labels[column], plan.labels)  # same digit in every view of a tuple
    assert not np.array_equal(plan.mnist_index[:, 0], plan.mnist_index[:, 1])  # views are different instances
    assert plan.offsets[:, 1].max() == 0  # a 28×28 background has one crop
    assert plan.offsets[:, 0, 0].max() <= 2 and plan.offsets[:, 0, 1].max() <= 12 and plan.offsets[:, 2, 1].max() <= 1
    again = plan_polymnist(labels, sizes, seed=5)
    assert np.array_equal(again.mnist_index, plan.mnist_index) and np.array_equal(again.offsets, plan.offsets)
    other = plan_polymnist(labels, sizes, seed=6)
    assert not np.array_equal(other.offsets, plan.offsets)


def test_make_polymnist_renders_its_plan():
    images, labels = _fake_mnist()
    backgrounds = procedural_backgrounds(3, size=(34, 41), seed=2)
    dataset = make_polymnist(images, labels, backgrounds, seed=[7, 0])
    plan = plan_polymnist(labels, [(34, 41)] * 3, seed=[7, 0])
    assert dataset.names == ["m0", "m1", "m2"] and len(dataset) == 40
    assert torch.equal(dataset.labels, torch.from_numpy(plan.labels))
    batch = dataset.batch(torch.arange(40))
    for sample in (0, 17, 39):
        for modality in range(3):
            source = plan.mnist_index[sample, modality]
            row, col = plan.offsets[sample, modality]
            expected = _expected_view(images[source].numpy(), backgrounds[modality], row, col)
            got = batch.data[f"m{modality}"][sample]
            assert got.shape == (3 * 28 * 28,)
            assert torch.equal(got, torch.from_numpy(expected.reshape(-1).astype(np.float32)) / 255.0)


def test_procedural_backgrounds_are_deterministic_distinct_and_keep_digits_visible():
    backgrounds = procedural_backgrounds(5, size=(64, 80), seed=0)
    assert [background.shape for background in backgrounds] == [(64, 80, 3)] * 5
    assert all(background.dtype == np.uint8 for background in backgrounds)
    again = procedural_backgrounds(5, size=(64, 80), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(backgrounds, again, strict=True))
    assert not np.array_equal(procedural_backgrounds(5, size=(64, 80), seed=1)[0], backgrounds[0])
    for background in backgrounds:
        unit = background.astype(np.float64) / 255.0
        assert np.abs(2.0 * unit - 1.0).min() >= 0.4  # an inverted pixel differs from v by |1 - 2v| >= 0.4
        assert unit.reshape(-1, 3).std(0).min() > 8.0 / 255.0  # a texture, not a flat colour
    means = [background.reshape(-1, 3).mean(0) / 255.0 for background in backgrounds]
    for first in range(5):
        for second in range(first + 1, 5):
            # Different colour families: some channel is dark in one background and bright in the other.
            assert np.abs(means[first] - means[second]).max() > 0.4


def test_user_backgrounds_are_read_in_file_name_order(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 256, (30 + k, 33, 3), dtype=np.uint8) for k in range(3)]
    Image.fromarray(arrays[1]).save(tmp_path / "b.png")
    Image.fromarray(arrays[0]).save(tmp_path / "a.png")
    np.save(tmp_path / "c.npy", arrays[2].astype(np.float64) / 255.0)
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = load_background_images(tmp_path, n=3)
    assert all(np.array_equal(got, want) for got, want in zip(loaded, arrays, strict=True))
    assert len(load_background_images(tmp_path, n=2)) == 2
    with pytest.raises(BackgroundImageError, match="found 3 background images"):
        load_background_images(tmp_path, n=5)
    Image.fromarray(arrays[0][:20]).save(tmp_path / "d.png")
    with pytest.raises(BackgroundImageError, match="d.png: 20×33 is too small"):
        load_background_images(tmp_path, n=4)
    (tmp_path / "d.png").write_bytes(b"not a png")
    with pytest.raises(BackgroundImageError, match="d.png: not a readable image"):
        load_background_images(tmp_path, n=4)


def test_cache_round_trip_and_fingerprint(tmp_path):
    images, labels = _fake_mnist(n=12)
    backgrounds = procedural_backgrounds(2, size=(30, 30), seed=4)
    dataset = make_polymnist(images, labels, backgrounds, seed=1)
    fingerprint = polymnist_fingerprint(images, labels, backgrounds, seed=1)
    assert fingerprint != polymnist_fingerprint(images, labels, backgrounds, seed=2)
    path = tmp_path / "cache" / "poly.npz"
    save_polymnist(path, dataset, fingerprint)
    loaded = load_polymnist(path, fingerprint)
    assert loaded.names == dataset.names and torch.equal(loaded.labels, dataset.labels)
    for name in dataset.names:
        assert torch.equal(loaded.data[name].materialize(), dataset.data[name].materialize())
    with pytest.raises(PolyMnistCacheError, match="generated from other inputs"):
        load_polymnist(path, "0" * 64)
    path.write_bytes(b"garbage")
    with pytest.raises(PolyMnistCacheError, match="not a PolyMNIST archive"):
        load_polymnist(path)


def _fake_archive(path, n_train=60, n_test=20):
    rng = np.random.default_rng(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test, dtype=np.uint8),
    )


def test_loader_splits_mnist_before_forming_tuples_and_uses_the_cache(tmp_path):
    _fake_archive(tmp_path / "mnist" / "mnist.npz")
    cache = tmp_path / "cache"
    splits = polymnist_data(tmp_path, validation_size=15, seed=3, verify=False, train_size=30, cache_dir=cache)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (30, 15, 20)
    assert splits.train.names == list(POLYMNIST_MODALITIES)
    assert len(list(cache.glob("*.npz"))) == 3
    again = polymnist_data(tmp_path, validation_size=15, seed=3, verify=False, train_size=30, cache_dir=cache)
    assert torch.equal(again.train.data["m4"].materialize(), splits.train.data["m4"].materialize())
    fresh = polymnist_data(tmp_path, validation_size=15, seed=3, verify=False, train_size=30)
    assert torch.equal(fresh.test.data["m2"].materialize(), splits.test.data["m2"].materialize())


def test_loader_uses_original_backgrounds_when_given(tmp_path):
    _fake_archive(tmp_path / "mnist" / "mnist.npz", n_train=20, n_test=5)
    colours = [10, 60, 110, 160, 210]
    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir()
    for position, colour in enumerate(colours):
        np.save(backgrounds / f"photo{position}.npy", np.full((40, 40, 3), colour, dtype=np.uint8))
    splits = polymnist_data(tmp_path, background_dir=backgrounds, validation_size=5, verify=False)
    for modality, colour in enumerate(colours):
        grey_levels = set(np.unique(splits.train.data[f"m{modality}"].materialize().numpy() * 255).round().tolist())
        assert grey_levels == {colour, 255 - colour}  # the background, and its inversion under digits


@pytest.mark.data
def test_real_mnist_digits_are_recoverable_from_every_view(mnist_npz):
    mnist = load_mnist(mnist_npz.parent.parent)
    images, labels = mnist.test_images[:1000], mnist.test_labels[:1000]
    backgrounds = procedural_backgrounds(seed=0)
    dataset = make_polymnist(images, labels, backgrounds, seed=0)
    plan = plan_polymnist(labels, [background.shape[:2] for background in backgrounds], seed=0)
    assert np.bincount(dataset.labels.numpy(), minlength=10).tolist() == np.bincount(labels.numpy()).tolist()
    ink = binarize_digits(images)
    for modality, background in enumerate(backgrounds):
        view = dataset.data[f"m{modality}"].materialize().reshape(-1, 3, 28, 28)
        # Procedural channels are dark (<= 76) or bright (>= 179): a pixel is inverted iff it left its band.
        background_bright = background[0, 0, 0] >= 179
        inverted = (view[:, 0] * 255 >= 179).numpy() != background_bright
        assert np.array_equal(inverted, ink[plan.mnist_index[:, modality]])
        assert 0.05 < inverted.mean() < 0.35  # MNIST digits cover roughly a fifth of the image
