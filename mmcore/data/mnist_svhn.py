"""MNIST-SVHN (Shi et al. 2019, MMVAE) and MNIST-SVHN-Text (Sutter et al. 2020, MMJSD): one digit, two or three views.

Pairing protocol (MMVAE, ``bin/make-mnist-svhn-idx.py`` of its code release; MMJSD and MoPoE reuse it):
for every digit class, take the first ``n = min(#MNIST, #SVHN, 10,000)`` instances of the class from
each data set, then ``dm`` times draw an independent random permutation of each list and pair them
position by position. Every selected instance thus appears in exactly ``dm`` pairs, each time with a
random SVHN (MNIST) instance of the same digit; instances beyond ``n`` are not used. The MMVAE README
and paper say "each instance ... is randomly paired with 20 instances of the same digit class from the
other dataset" and MMJSD/MoPoE run with ``data_multiplications=20``, so ``dm = 20`` is the default here
(the MMVAE script itself sets ``dm = 30``). Test pairs are built the same way from the test sets.

MNIST-SVHN-Text adds the digit's English name ("zero" ... "nine") as a character string of length 8:
spaces everywhere except the word, which starts at a uniformly drawn position in
``[0, 8 - 1 - len(word)]`` (MMJSD's ``create_text_from_label_mnist``). MMJSD draws the position anew each
time a sample is read; here it is drawn once per pair from the seed, so a data set is a fixed object.
Characters are stored as ids into :data:`TEXT_ALPHABET` (space = 0, then a-z); MMJSD one-hot encodes
into a 71-character alphabet whose other characters never occur in this data set. Spaces carry the
word's position, so they are scored like any character (no padding index).

SVHN (Netzer et al. 2011) is read from the official ``train_32x32.mat`` / ``test_32x32.mat`` in a
user's data directory (``<data_dir>/svhn/``, checksums in ``data_manifests/svhn.json``); its label 10
means digit 0. Images are stored once, as uint8, and every pair only holds indices into them
(:class:`~mmcore.data.gathered.GatheredRows`): about 1.1 million training pairs cost two index vectors.
Pixels are read as float32 in [0, 1], flat and channel-major: MNIST ``(n, 784)``, SVHN ``(n, 3·32·32)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.gathered import GatheredRows, random_subset
from mmcore.data.manifest import data_file, resolve_data_dir
from mmcore.data.mnist import IMAGE_SIDE, load_mnist
from mmcore.data.splits import DataSplits, validation_indices

SVHN_FILES = {"train": "svhn/train_32x32.mat", "test": "svhn/test_32x32.mat"}
"""Official SVHN files (format 2, cropped digits) relative to the data root; see ``data_manifests/svhn.json``."""
SVHN_IMAGE_SHAPE = (3, 32, 32)
MNIST_IMAGE_SHAPE = (1, IMAGE_SIDE, IMAGE_SIDE)
MNIST_SVHN_MODALITIES: tuple[str, ...] = ("mnist", "svhn")
TEXT_MODALITY = "text"
PAIRS_PER_INSTANCE = 20
"""``dm`` of the MMVAE pairing: how many pairs each selected instance appears in."""
MAX_PER_CLASS = 10_000
"""``max_d`` of the MMVAE pairing: at most this many instances per class and data set are used."""
DIGIT_NAMES: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEXT_LENGTH = 8
TEXT_ALPHABET = " abcdefghijklmnopqrstuvwxyz"
"""Characters of the text modality; a character's id is its position (space = 0)."""


class SvhnFormatError(ValueError):
    """An SVHN .mat file lacks the X/y arrays of the official layout or has them in the wrong shape."""


@dataclass(frozen=True)
class SvhnImages:
    """SVHN as tensors: images uint8 ``(n, 3, 32, 32)``, labels int64 ``(n,)`` with digit 0 as 0."""

    images: Tensor
    labels: Tensor


def read_svhn_mat(path: str | Path) -> SvhnImages:
    """Read an official SVHN ``*_32x32.mat``: ``X`` uint8 ``(32, 32, 3, n)``, ``y`` ``(n, 1)`` in 1..10 (10 = 0)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    try:
        arrays = loadmat(path, variable_names=["X", "y"])
    except (OSError, ValueError, TypeError, IndexError, MatReadError) as error:  # scipy fails variously on junk
        raise SvhnFormatError(f"{path}: not a readable MATLAB file ({error})") from None
    for key in ("X", "y"):
        if key not in arrays:
            raise SvhnFormatError(f"{path}: array {key!r} missing")
    pixels, raw_labels = arrays["X"], arrays["y"]
    if pixels.ndim != 4 or pixels.shape[:3] != (32, 32, 3):
        raise SvhnFormatError(f"{path}: array 'X' has shape {pixels.shape}, expected (32, 32, 3, n)")
    if pixels.dtype != np.uint8:
        raise SvhnFormatError(f"{path}: array 'X' has dtype {pixels.dtype}, expected uint8")
    labels = raw_labels.astype(np.int64).reshape(-1)
    if len(labels) != pixels.shape[3]:
        raise SvhnFormatError(f"{path}: {pixels.shape[3]} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 10):
        raise SvhnFormatError(f"{path}: labels must lie in 1..10 (10 = digit 0), found {labels.min()}..{labels.max()}")
    labels = labels % 10
    images = np.ascontiguousarray(pixels.transpose(3, 2, 0, 1))  # (32, 32, 3, n) -> (n, 3, 32, 32)
    return SvhnImages(torch.from_numpy(images), torch.from_numpy(labels))


def load_svhn(data_dir: str | Path | None = None, split: str = "train", verify: bool = True) -> SvhnImages:
    """SVHN ``split`` ("train" or "test") from ``<data_dir>/svhn/``, sha256-checked against ``svhn.json``."""
    if split not in SVHN_FILES:
        raise ValueError(f"unknown SVHN split {split!r}; choose one of {sorted(SVHN_FILES)}")
    root = resolve_data_dir(data_dir)
    return read_svhn_mat(data_file(root, "svhn", SVHN_FILES[split], verify=verify))


# ------------------------------------------------------------------------------------------------- pairing


def match_digit_pairs(
    labels_a: Tensor | np.ndarray,
    labels_b: Tensor | np.ndarray,
    pairs_per_instance: int = PAIRS_PER_INSTANCE,
    max_per_class: int = MAX_PER_CLASS,
    seed: int | Sequence[int] = 0,
) -> tuple[Tensor, Tensor]:
    """Positions ``(index_a, index_b)`` of pairs with equal labels, by MMVAE's protocol (see the module docstring).

    Pairs come class by class (ascending), then round by round. A class missing from either side yields
    no pairs.
    """
    if pairs_per_instance < 1 or max_per_class < 1:
        raise ValueError(
            f"pairs_per_instance and max_per_class must be positive, got {pairs_per_instance}, {max_per_class}"
        )
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    rng = np.random.default_rng(seed)
    pairs_a, pairs_b = [], []
    for digit in np.intersect1d(labels_a, labels_b):
        members_a, members_b = np.flatnonzero(labels_a == digit), np.flatnonzero(labels_b == digit)
        n = min(len(members_a), len(members_b), max_per_class)
        members_a, members_b = members_a[:n], members_b[:n]
        for _ in range(pairs_per_instance):
            pairs_a.append(rng.permutation(members_a))
            pairs_b.append(rng.permutation(members_b))
    if not pairs_a:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.from_numpy(np.concatenate(pairs_a)), torch.from_numpy(np.concatenate(pairs_b))


# ------------------------------------------------------------------------------------------------- text


def encode_text(strings: Sequence[str], length: int = TEXT_LENGTH) -> Tensor:
    """Character ids ``(n, length)`` of strings of exactly ``length`` characters from :data:`TEXT_ALPHABET`."""
    ids = np.zeros((len(strings), length), dtype=np.int64)
    for row, string in enumerate(strings):
        if len(string) != length:
            raise ValueError(f"text {string!r} has {len(string)} characters, expected {length}")
        for column, character in enumerate(string):
            position = TEXT_ALPHABET.find(character)
            if position < 0:
                raise ValueError(f"character {character!r} of {string!r} is not in the alphabet {TEXT_ALPHABET!r}")
            ids[row, column] = position
    return torch.from_numpy(ids)


def decode_text(ids: Tensor) -> list[str]:
    """Strings of character ids ``(n, length)`` (the inverse of :func:`encode_text`)."""
    return ["".join(TEXT_ALPHABET[int(index)] for index in row) for row in ids]


def digit_text_ids(labels: Tensor | np.ndarray, length: int = TEXT_LENGTH, seed: int | Sequence[int] = 0) -> Tensor:
    """Character ids ``(n, length)``: each label's English name at a random start in ``[0, length - 1 - len(name)]``.

    Every other position is a space (id 0). Vectorised, because MNIST-SVHN-Text has a million pairs.
    """
    longest = max(len(name) for name in DIGIT_NAMES)
    if length < longest + 1:
        raise ValueError(f"length must be at least {longest + 1} to place every digit name, got {length}")
    labels = np.asarray(labels).astype(np.int64)
    name_lengths = np.array([len(name) for name in DIGIT_NAMES])
    name_ids = np.zeros((len(DIGIT_NAMES), longest), dtype=np.int64)
    for digit, name in enumerate(DIGIT_NAMES):
        name_ids[digit, : len(name)] = [TEXT_ALPHABET.index(character) for character in name]
    starts = np.random.default_rng(seed).integers(0, length - name_lengths[labels]) if len(labels) else labels
    ids = np.zeros((len(labels), length), dtype=np.int64)
    rows = np.arange(len(labels))
    for offset in range(longest):
        inside = offset < name_lengths[labels]
        ids[rows[inside], starts[inside] + offset] = name_ids[labels[inside], offset]
    return torch.from_numpy(ids)


def digit_texts(labels: Tensor | np.ndarray, length: int = TEXT_LENGTH, seed: int | Sequence[int] = 0) -> list[str]:
    """The strings of :func:`digit_text_ids` (same seed, same strings), for reading and display."""
    return decode_text(digit_text_ids(labels, length, seed))


# ------------------------------------------------------------------------------------------------- data sets


def _stream(seed: int | Sequence[int], stream: int) -> list[int]:
    """An independent random stream for each use of one seed (pairing, text positions)."""
    return [int(value) for value in np.atleast_1d(seed)] + [stream]


def _paired_dataset(
    mnist_pixels: Tensor,
    mnist_labels: Tensor,
    mnist_positions: Tensor,
    svhn: SvhnImages,
    svhn_positions: Tensor,
    pairs_per_instance: int,
    max_per_class: int,
    seed: int | Sequence[int],
    with_text: bool,
) -> MultimodalDataset:
    """Pairs among the MNIST and SVHN instances at the given positions; pixels are gathered from the full arrays."""
    chosen_a, chosen_b = match_digit_pairs(
        mnist_labels[mnist_positions], svhn.labels[svhn_positions], pairs_per_instance, max_per_class, _stream(seed, 0)
    )
    mnist_index, svhn_index = mnist_positions[chosen_a], svhn_positions[chosen_b]
    labels = mnist_labels[mnist_index]
    data: dict[str, Tensor | GatheredRows] = {
        "mnist": GatheredRows(mnist_pixels.reshape(len(mnist_pixels), -1), mnist_index),
        "svhn": GatheredRows(svhn.images.reshape(len(svhn.images), -1), svhn_index, divisor=255.0),
    }
    if with_text:
        data[TEXT_MODALITY] = digit_text_ids(labels, TEXT_LENGTH, _stream(seed, 1))
    return MultimodalDataset(data, labels=labels)  # type: ignore[arg-type]  # GatheredRows stands in for tensors


def make_mnist_svhn(
    mnist_images: Tensor,
    mnist_labels: Tensor,
    svhn: SvhnImages,
    *,
    pairs_per_instance: int = PAIRS_PER_INSTANCE,
    max_per_class: int = MAX_PER_CLASS,
    seed: int | Sequence[int] = 0,
    with_text: bool = False,
) -> MultimodalDataset:
    """MNIST-SVHN pairs (with ``with_text``, MNIST-SVHN-Text triples) of all given instances.

    ``mnist_images``: float ``(n, 28, 28)`` in [0, 1] (:func:`~mmcore.data.mnist.load_mnist`); ``svhn`` from
    :func:`load_svhn`. Modalities "mnist", "svhn" (and "text"); labels are the digits.
    """
    if len(mnist_images) != len(mnist_labels):
        raise ValueError(f"{len(mnist_images)} MNIST images but {len(mnist_labels)} labels")
    return _paired_dataset(
        mnist_images,
        mnist_labels,
        torch.arange(len(mnist_labels)),
        svhn,
        torch.arange(len(svhn.labels)),
        pairs_per_instance,
        max_per_class,
        seed,
        with_text,
    )


def mnist_svhn_data(
    data_dir: str | Path | None = None,
    *,
    with_text: bool = False,
    pairs_per_instance: int = PAIRS_PER_INSTANCE,
    max_per_class: int = MAX_PER_CLASS,
    validation_size: int = 10_000,
    seed: int = 0,
    verify: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DataSplits:
    """MNIST-SVHN (or, with ``with_text``, MNIST-SVHN-Text) train/validation/test sets from ``data_dir``.

    Reads ``mnist/mnist.npz`` and ``svhn/{train,test}_32x32.mat`` (sha256-checked unless ``verify`` is
    False). The papers have no validation set: here ``validation_size`` MNIST training images and the same
    share of SVHN training images (drawn with ``seed``) are held out *before* pairing and paired among
    themselves, so no instance is shared between training and validation pairs. ``train_size`` /
    ``test_size`` keep that many pairs, drawn with ``seed``.
    """
    mnist = load_mnist(data_dir, verify=verify)
    svhn_train, svhn_test = load_svhn(data_dir, "train", verify), load_svhn(data_dir, "test", verify)
    mnist_train, mnist_validation = validation_indices(len(mnist.train_labels), validation_size, seed)
    svhn_validation_size = round(validation_size * len(svhn_train.labels) / len(mnist.train_labels))
    svhn_train_index, svhn_validation_index = validation_indices(len(svhn_train.labels), svhn_validation_size, seed)
    options = {"pairs_per_instance": pairs_per_instance, "max_per_class": max_per_class, "with_text": with_text}
    train = _paired_dataset(
        mnist.train_images, mnist.train_labels, mnist_train, svhn_train, svhn_train_index, seed=[seed, 0], **options
    )
    validation = _paired_dataset(
        mnist.train_images,
        mnist.train_labels,
        mnist_validation,
        svhn_train,
        svhn_validation_index,
        seed=[seed, 1],
        **options,
    )
    test = make_mnist_svhn(mnist.test_images, mnist.test_labels, svhn_test, seed=[seed, 2], **options)
    return DataSplits(
        train=random_subset(train, train_size, [seed, 3]),
        validation=validation,
        test=random_subset(test, test_size, [seed, 4]),
    )
