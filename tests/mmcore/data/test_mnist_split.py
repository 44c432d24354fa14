"""MNIST-Split and MNIST-Split-3: bands of rows, scaling, the validation split, and the real archive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmcore.data.mnist import (
    MNIST_SPLIT3_PARTS,
    MNIST_SPLIT_PARTS,
    MnistFormatError,
    join_rows,
    load_mnist,
    mnist_split_data,
    read_mnist_npz,
    split_mnist,
    split_rows,
)
from mmcore.data.splits import validation_indices


def _fake_archive(path, n_train=30, n_test=10, seed=0):
    """An npz in the MNIST layout with random pixels."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def test_halves_are_rows_0_to_13_and_14_to_27():
    images = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 28, 28)
    bands = split_rows(images, MNIST_SPLIT_PARTS)
    assert bands["top"].shape == (2, 392) and bands["bottom"].shape == (2, 392)
    assert torch.equal(bands["top"][1], images[1, :14].flatten())
    assert torch.equal(bands["bottom"][0], images[0, 14:].flatten())
    assert bands["bottom"][0, 0] == 14 * 28  # first pixel of row 14
    assert torch.equal(join_rows(bands, MNIST_SPLIT_PARTS), images)


def test_thirds_have_9_9_and_10_rows():
    images = torch.rand(3, 28, 28)
    bands = split_rows(images, MNIST_SPLIT3_PARTS)
    assert {name: band.shape[1] // 28 for name, band in bands.items()} == {"top": 9, "middle": 9, "bottom": 10}
    assert torch.equal(bands["middle"], images[:, 9:18].reshape(3, -1))
    assert torch.equal(join_rows(bands, MNIST_SPLIT3_PARTS), images)


def test_rows_outside_the_image_are_rejected():
    with pytest.raises(ValueError, match="part 'low'"):
        split_rows(torch.zeros(1, 28, 28), {"low": (20, 30)})


def test_archive_is_scaled_to_unit_interval(tmp_path):
    arrays = _fake_archive(tmp_path / "mnist" / "mnist.npz")
    mnist = read_mnist_npz(tmp_path / "mnist" / "mnist.npz")
    assert mnist.train_images.dtype == torch.float32 and mnist.train_labels.dtype == torch.int64
    assert torch.equal(mnist.train_images, torch.from_numpy(arrays["x_train"].astype(np.float32) / 255.0))
    assert torch.equal(mnist.test_labels, torch.from_numpy(arrays["y_test"].astype(np.int64)))


def test_malformed_archives_name_the_problem(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(MnistFormatError, match="bad.npz: array 'x_test' missing"):
        read_mnist_npz(path)
    np.savez(
        path,
        x_train=np.zeros((2, 28, 27), np.uint8),
        y_train=np.zeros(2),
        x_test=np.zeros((1, 28, 28)),
        y_test=np.zeros(1),
    )
    with pytest.raises(MnistFormatError, match="'x_train' has shape"):
        read_mnist_npz(path)
    path.write_bytes(b"garbage")
    with pytest.raises(MnistFormatError, match="not a readable npz"):
        read_mnist_npz(path)


def test_split_data_from_a_directory_without_verification(tmp_path):
    arrays = _fake_archive(tmp_path / "mnist" / "mnist.npz", n_train=30, n_test=10)
    splits = mnist_split_data(tmp_path, validation_size=6, seed=1, verify=False, train_size=20, test_size=4)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (20, 6, 4)
    train_index, validation_index = validation_indices(30, 6, seed=1)
    first = int(train_index[0])
    expected_top = torch.from_numpy(arrays["x_train"][first, :14].astype(np.float32).reshape(-1) / 255.0)
    assert torch.equal(splits.train.data["top"][0], expected_top)
    assert int(splits.train.labels[0]) == int(arrays["y_train"][first])
    assert all(bool(mask.all()) for mask in splits.train.mask.values())
    with pytest.raises(ValueError, match="sha256"):
        mnist_split_data(tmp_path, validation_size=6)  # a random archive fails verification


@pytest.mark.data
def test_real_mnist_split(mnist_npz):
    data_root = mnist_npz.parent.parent  # mnist_npz is real_data_path("mnist/mnist.npz") from tests/conftest.py
    mnist = load_mnist(data_root, verify=True)
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_images.shape == (10000, 28, 28)
    assert float(mnist.train_images.min()) == 0.0 and float(mnist.train_images.max()) == 1.0
    assert sorted(mnist.train_labels.unique().tolist()) == list(range(10))
    # Digits are centred: the middle rows hold more ink than the border rows.
    ink = mnist.train_images[:1000].mean((0, 2))
    assert float(ink[10:18].mean()) > 5 * float(ink[[0, 1, 26, 27]].mean())
    splits = split_mnist(mnist, MNIST_SPLIT_PARTS, validation_size=10_000, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (50_000, 10_000, 10_000)
    assert splits.train.data["top"].shape == (50_000, 392)
    three = split_mnist(mnist, MNIST_SPLIT3_PARTS, validation_size=100, train_size=10, test_size=5)
    assert [three.test.data[name].shape[1] for name in ("top", "middle", "bottom")] == [252, 252, 280]
    joined = join_rows({name: three.test.data[name] for name in MNIST_SPLIT3_PARTS}, MNIST_SPLIT3_PARTS)
    assert torch.equal(joined, mnist.test_images[:5])
