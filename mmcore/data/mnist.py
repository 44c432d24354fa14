"""MNIST-Split and MNIST-Split-3: MNIST digits cut into horizontal bands, one modality per band.

MNIST-Split (Kutuzova et al. 2021, "Multimodal variational autoencoders for semi-supervised learning: in
defense of product-of-experts") treats the top half (rows 0-13) and the bottom half (rows 14-27)
of a 28×28 digit as two modalities. MNIST-Split-3 extends it to three bands; the seed paper does not fix
the cut, so here it is rows 0-8 ("top", 9 rows), 9-17 ("middle", 9 rows) and 18-27 ("bottom", 10 rows).

Pixels are grey levels scaled to [0, 1] and stored flat, ``(n, rows·28)``; the default likelihood of the
benchmark (:mod:`mmcore.benchmarks_setup`) is Bernoulli on these grey levels, the common choice for MNIST
VAEs. Class labels are kept for metrics. The validation set is drawn from the 60,000 training images with
a fixed seed; the test set is the official 10,000.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.manifest import data_file, resolve_data_dir
from mmcore.data.splits import DataSplits, validation_indices

MNIST_FILE = "mnist/mnist.npz"
"""Path of the MNIST archive relative to the data root (see ``data_manifests/mnist.json``)."""
IMAGE_SIDE = 28

MNIST_SPLIT_PARTS: dict[str, tuple[int, int]] = {"top": (0, 14), "bottom": (14, 28)}
"""Row ranges [start, stop) of the two MNIST-Split modalities."""
MNIST_SPLIT3_PARTS: dict[str, tuple[int, int]] = {"top": (0, 9), "middle": (9, 18), "bottom": (18, 28)}
"""Row ranges [start, stop) of the three MNIST-Split-3 modalities."""

_EXPECTED_ARRAYS = {"x_train": 3, "y_train": 1, "x_test": 3, "y_test": 1}


class MnistFormatError(ValueError):
    """The MNIST archive lacks an array or has one of the wrong shape."""


@dataclass(frozen=True)
class MnistImages:
    """MNIST as tensors: images ``(n, 28, 28)`` float in [0, 1], labels ``(n,)`` int64."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor


def read_mnist_npz(path: Path) -> MnistImages:
    """Read ``x_train, y_train, x_test, y_test`` (uint8) from an npz archive and scale pixels to [0, 1]."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise MnistFormatError(f"{path}: not a readable npz archive ({error})") from None
    with archive:
        arrays = {}
        for key, ndim in _EXPECTED_ARRAYS.items():
            if key not in archive.files:
                raise MnistFormatError(f"{path}: array {key!r} missing (found {sorted(archive.files)})")
            array = archive[key]
            if array.ndim != ndim or (ndim == 3 and array.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE)):
                raise MnistFormatError(f"{path}: array {key!r} has shape {array.shape}")
            arrays[key] = array
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"x_{split}"]), len(arrays[f"y_{split}"])
        if n_images != n_labels:
            raise MnistFormatError(f"{path}: {n_images} {split} images but {n_labels} labels")

    def images(array: np.ndarray) -> Tensor:
        return torch.from_numpy(array.astype(np.float32) / 255.0)

    def labels(array: np.ndarray) -> Tensor:
        return torch.from_numpy(array.astype(np.int64))

    return MnistImages(
        images(arrays["x_train"]), labels(arrays["y_train"]), images(arrays["x_test"]), labels(arrays["y_test"])
    )


def load_mnist(data_dir: str | Path | None = None, verify: bool = True) -> MnistImages:
    """MNIST from ``<data_dir>/mnist/mnist.npz`` (``data_dir`` defaults to ``$MMCORE_DATA_DIR``), sha256-checked."""
    root = resolve_data_dir(data_dir)
    return read_mnist_npz(data_file(root, "mnist", MNIST_FILE, verify=verify))


def split_rows(images: Tensor, parts: Mapping[str, tuple[int, int]]) -> dict[str, Tensor]:
    """Cut images ``(n, H, W)`` into named bands of rows, each flattened to ``(n, rows·W)``."""
    height = images.shape[-2]
    bands = {}
    for name, (start, stop) in parts.items():
        if not 0 <= start < stop <= height:
            raise ValueError(f"part {name!r}: rows [{start}, {stop}) do not fit images of height {height}")
        bands[name] = images[:, start:stop, :].reshape(images.shape[0], -1)
    return bands


def join_rows(bands: Mapping[str, Tensor], parts: Mapping[str, tuple[int, int]], width: int = IMAGE_SIDE) -> Tensor:
    """The inverse of :func:`split_rows`: stack flat bands back into images ``(n, H, width)`` in row order."""
    ordered = sorted(parts, key=lambda name: parts[name][0])
    rows = [bands[name].reshape(bands[name].shape[0], parts[name][1] - parts[name][0], width) for name in ordered]
    return torch.cat(rows, dim=-2)


def split_dataset(images: Tensor, labels: Tensor, parts: Mapping[str, tuple[int, int]]) -> MultimodalDataset:
    """A fully paired :class:`MultimodalDataset` of image bands with their digit labels."""
    return MultimodalDataset(split_rows(images, parts), labels=labels)


def split_mnist(
    mnist: MnistImages,
    parts: Mapping[str, tuple[int, int]] = MNIST_SPLIT_PARTS,
    validation_size: int = 10_000,
    seed: int = 0,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DataSplits:
    """Cut loaded MNIST into bands and split it into train/validation/test sets.

    The validation set is ``validation_size`` training images drawn with ``seed``; ``train_size`` and
    ``test_size`` keep only the first samples (after the seeded shuffle for training), for quick runs.
    Every returned set is fully paired; apply a supervision level with
    :func:`mmcore.training.supervision.apply_supervision`.
    """
    train_index, validation_index = validation_indices(len(mnist.train_images), validation_size, seed)
    if train_size is not None:
        train_index = train_index[:train_size]
    test_images, test_labels = mnist.test_images, mnist.test_labels
    if test_size is not None:
        test_images, test_labels = test_images[:test_size], test_labels[:test_size]
    return DataSplits(
        train=split_dataset(mnist.train_images[train_index], mnist.train_labels[train_index], parts),
        validation=split_dataset(mnist.train_images[validation_index], mnist.train_labels[validation_index], parts),
        test=split_dataset(test_images, test_labels, parts),
    )


def mnist_split_data(
    data_dir: str | Path | None = None,
    parts: Mapping[str, tuple[int, int]] = MNIST_SPLIT_PARTS,
    validation_size: int = 10_000,
    seed: int = 0,
    verify: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DataSplits:
    """MNIST-Split (or, with ``parts=MNIST_SPLIT3_PARTS``, MNIST-Split-3) read from ``data_dir``.

    Loads ``<data_dir>/mnist/mnist.npz`` (sha256-checked unless ``verify`` is False) and applies
    :func:`split_mnist`.
    """
    mnist = load_mnist(data_dir, verify=verify)
    return split_mnist(mnist, parts, validation_size, seed, train_size, test_size)
