"""PolyMNIST (Sutter, Daunhawer & Vogt 2021, "Generalized Multimodal ELBO", ICLR): five views of one digit.

Each sample is a tuple of five 28×28 RGB images m0..m4 that show the same digit class. Modality ``m`` is
an MNIST digit drawn over a random 28×28 crop of background image ``m``; where the binarised digit is on
(grey level > 128 of 255), the background's colours are inverted (``v -> 1 - v``). The digit class is
the content shared by all modalities; the background and the handwriting are modality-specific style.

Pairing, as the authors' generator in the MoPoE code release does it: for every digit class and every
modality, the class's MNIST images are permuted independently, and the i-th tuple of class ``d`` takes
the i-th image of each modality's permutation. So the five views of a tuple are (almost always)
*different* MNIST instances of the same digit, and every MNIST image appears exactly once per modality
(60,000 training tuples from the 60,000 training images, 10,000 test tuples from the test images).

The original backgrounds are five photographs that this package does not ship. :func:`load_background_images`
reads a user's copy (sorted by file name: the first is m0's); by default :func:`procedural_backgrounds`
draws five textures from a fixed seed. That **procedural variant** is a different data set from the
published one (numbers on it are not comparable with the papers'), built by the same generator; its
textures keep every colour channel at least 0.4 away from mid-grey so the inverted digit always shows.

Small differences to the release, all documented choices: crops may start at every valid offset (the
release's generator never uses the last row and column of offsets); sample order is class-major (the
release reads PNG files in directory order); the seed is an argument.

Pixels are stored as uint8 and read as float32 in [0, 1], flat ``(n, 3·28·28)`` in channel-major order
(reshape to ``(n, 3, 28, 28)`` for display), like the flat bands of :mod:`mmcore.data.mnist`.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.gathered import GatheredRows
from mmcore.data.mnist import IMAGE_SIDE, load_mnist
from mmcore.data.splits import DataSplits, validation_indices

POLYMNIST_MODALITIES: tuple[str, ...] = ("m0", "m1", "m2", "m3", "m4")
"""Modality names, as in the MoPoE release (m0 uses the first background)."""
IMAGE_SHAPE = (3, IMAGE_SIDE, IMAGE_SIDE)
DIGIT_THRESHOLD = 128
"""A digit pixel is "on" when its grey level (0..255) exceeds this (the release's binarisation)."""
BACKGROUND_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")
PROCEDURAL_SIZE = (256, 256)
PROCEDURAL_PATTERNS = ("gradient", "stripes", "checkers", "clouds", "rings")

_CHUNK = 8192  # tuples rendered at once: bounds the (chunk, 28, 28) index arrays to a few tens of MB
_DARK_BAND = (0, 76)  # uint8 ranges a procedural channel lives in: |2v/255 - 1| >= 0.4 in both
_BRIGHT_BAND = (179, 255)


class BackgroundImageError(ValueError):
    """A background image is missing, unreadable, or too small for a 28×28 crop."""


class PolyMnistCacheError(ValueError):
    """A cached PolyMNIST archive is unreadable or was generated from other inputs."""


# --------------------------------------------------------------------------------------------- backgrounds


def _unit_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    height, width = size
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    return rows, cols


def _normalise(field: np.ndarray) -> np.ndarray:
    low, high = field.min(), field.max()
    return (field - low) / (high - low) if high > low else np.zeros_like(field)


def _pattern_field(pattern: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A texture in [0, 1] of shape ``size``; its parameters come from ``rng``."""
    rows, cols = _unit_grid(size)
    angle = rng.uniform(0.0, np.pi)
    along = np.cos(angle) * cols + np.sin(angle) * rows
    if pattern == "gradient":
        return _normalise(along)
    if pattern == "stripes":
        period = rng.uniform(8.0, 24.0)
        return 0.5 + 0.5 * np.sin(2.0 * np.pi * along / period + rng.uniform(0.0, 2.0 * np.pi))
    if pattern == "checkers":
        period = int(rng.integers(6, 17))
        shift_rows, shift_cols = rng.integers(0, period, size=2)
        return (((rows + shift_rows) // period + (cols + shift_cols) // period) % 2).astype(np.float64)
    if pattern == "clouds":
        coarse = torch.from_numpy(rng.random((1, 1, 9, 9)))
        smooth = torch.nn.functional.interpolate(coarse, size=size, mode="bicubic", align_corners=True)
        return _normalise(smooth[0, 0].numpy())
    if pattern == "rings":
        centre_row, centre_col = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        radius = np.hypot(rows - centre_row, cols - centre_col)
        return 0.5 + 0.5 * np.cos(2.0 * np.pi * radius / rng.uniform(10.0, 30.0))
    raise ValueError(f"unknown pattern {pattern!r}; choose one of {PROCEDURAL_PATTERNS}")


def procedural_backgrounds(
    n: int = len(POLYMNIST_MODALITIES), size: tuple[int, int] = PROCEDURAL_SIZE, seed: int = 0
) -> list[np.ndarray]:
    """``n`` deterministic RGB textures, uint8 ``(height, width, 3)``: the default PolyMNIST backgrounds.

    Background ``i`` uses pattern ``PROCEDURAL_PATTERNS[i % 5]`` (gradient, stripes, checkers, clouds,
    rings), each channel with its own orientation/period/phase. Each channel lives either in a dark
    (0..76) or a bright (179..255) band, and the up-to-six mixed dark/bright combinations are dealt to the
    backgrounds without repetition, so two backgrounds always differ in the band of some channel (their
    colour families differ) and an inverted digit pixel differs from the background by at least 0.4.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    if min(size) < IMAGE_SIDE:
        raise ValueError(f"backgrounds must be at least {IMAGE_SIDE}×{IMAGE_SIDE}, got {size}")
    rng = np.random.default_rng(seed)
    # Band patterns 1..6 as 3 bits (channel c bright if bit c is set); all-dark and all-bright are left out
    # because they would give grey-only backgrounds.
    band_codes = rng.permutation(np.arange(1, 7))
    backgrounds = []
    for index in range(n):
        code = int(band_codes[index % len(band_codes)])
        pattern = PROCEDURAL_PATTERNS[index % len(PROCEDURAL_PATTERNS)]
        channels = []
        for channel in range(3):
            low, high = _BRIGHT_BAND if code >> channel & 1 else _DARK_BAND
            field = _pattern_field(pattern, size, rng)
            channels.append(low + np.rint(field * (high - low)))
        backgrounds.append(np.stack(channels, axis=-1).astype(np.uint8))
    return backgrounds


def _as_rgb_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise BackgroundImageError(f"{path}: expected an RGB image (height, width, 3), got shape {array.shape}")
    array = array[..., :3]
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        if values.min() < 0.0 or values.max() > 1.0:
            raise BackgroundImageError(f"{path}: float pixels must lie in [0, 1]")
        array = np.rint(values * 255.0).astype(np.uint8)
    if min(array.shape[:2]) < IMAGE_SIDE:
        raise BackgroundImageError(f"{path}: {array.shape[0]}×{array.shape[1]} is too small for a 28×28 crop")
    return np.ascontiguousarray(array)


def read_background_image(path: str | Path) -> np.ndarray:
    """One background image (PNG/JPEG through Pillow, or a ``.npy`` array) as uint8 ``(height, width, 3)``."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            from PIL import Image  # a dependency of matplotlib, hence always installed with mmcore

            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise BackgroundImageError(f"{path}: not a readable image ({error})") from None
    return _as_rgb_uint8(array, path)


def load_background_images(directory: str | Path, n: int = len(POLYMNIST_MODALITIES)) -> list[np.ndarray]:
    """The first ``n`` images of ``directory`` in file-name order (PNG, JPEG or .npy): a user's original backgrounds.

    The release's generator also sorts the file names and gives the first to m0.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise BackgroundImageError(f"background directory {directory} does not exist")
    paths = sorted(path for path in directory.iterdir() if path.suffix.lower() in BACKGROUND_SUFFIXES)
    if len(paths) < n:
        raise BackgroundImageError(
            f"{directory}: found {len(paths)} background images ({', '.join(BACKGROUND_SUFFIXES)}), need {n}"
        )
    return [read_background_image(path) for path in paths[:n]]


# --------------------------------------------------------------------------------------------- generator


def binarize_digits(images: Tensor | np.ndarray) -> np.ndarray:
    """Where the digit is on: grey level > 128 of 255. Accepts uint8 or [0, 1] float images."""
    array = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
    if array.dtype == np.uint8:
        return array > DIGIT_THRESHOLD
    # round(255·x) > 128  <=>  x > 128.5 / 255 (ties round down): one comparison instead of scaling 47 M pixels.
    return array > (DIGIT_THRESHOLD + 0.5) / 255.0


def compose_digits(digit_on: np.ndarray, background: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Crops of ``background`` at ``offsets`` with inverted colours where ``digit_on``.

    ``digit_on``: bool ``(k, 28, 28)``; ``background``: uint8 ``(H, W, 3)``; ``offsets``: ``(k, 2)`` top-left
    (row, column) of each crop. Returns uint8 ``(k, 3, 28, 28)``; inversion is ``255 - v``, which is
    ``1 - v`` on the [0, 1] scale.
    """
    if digit_on.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or offsets.shape != (len(digit_on), 2):
        raise ValueError(f"expected digits (k, 28, 28) and offsets (k, 2), got {digit_on.shape}, {offsets.shape}")
    height, width = background.shape[:2]
    if (
        offsets.min(initial=0) < 0
        or (offsets[:, 0] > height - IMAGE_SIDE).any()
        or (offsets[:, 1] > width - IMAGE_SIDE).any()
    ):
        raise ValueError(f"crop offsets leave the {height}×{width} background")
    # Every 28×28 window of the background as a view (no copy): windows[r, c] is the crop at (r, c).
    windows = np.lib.stride_tricks.sliding_window_view(background, (IMAGE_SIDE, IMAGE_SIDE), axis=(0, 1))
    crops = windows[offsets[:, 0], offsets[:, 1]]  # (k, 3, 28, 28)
    return np.where(digit_on[:, None], 255 - crops, crops)


@dataclass(frozen=True)
class PolyMnistPlan:
    """Which MNIST image and which crop every view of every tuple uses.

    ``mnist_index``: ``(n, M)`` MNIST positions; ``offsets``: ``(n, M, 2)`` crop corners (row, column);
    ``labels``: ``(n,)`` digit of each tuple.
    """

    mnist_index: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray


def plan_polymnist(
    labels: Tensor | np.ndarray, background_sizes: Sequence[tuple[int, int]], seed: int | Sequence[int]
) -> PolyMnistPlan:
    """Pair MNIST images of equal digit across modalities and draw crop corners (the release's protocol).

    Tuples are ordered by digit class; within class ``d`` and modality ``m``, the class's images appear in
    an independent random order, so each MNIST image is used exactly once per modality.
    """
    labels = np.asarray(labels).astype(np.int64)
    rng = np.random.default_rng(seed)
    n_modalities = len(background_sizes)
    order_by_class = np.argsort(labels, kind="stable")
    mnist_index = np.empty((len(labels), n_modalities), dtype=np.int64)
    start = 0
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        for modality in range(n_modalities):
            mnist_index[start : start + len(members), modality] = rng.permutation(members)
        start += len(members)
    offsets = np.empty((len(labels), n_modalities, 2), dtype=np.int64)
    for modality, (height, width) in enumerate(background_sizes):
        if min(height, width) < IMAGE_SIDE:
            raise ValueError(f"background {modality} is {height}×{width}, smaller than a 28×28 crop")
        offsets[:, modality, 0] = rng.integers(0, height - IMAGE_SIDE + 1, size=len(labels))
        offsets[:, modality, 1] = rng.integers(0, width - IMAGE_SIDE + 1, size=len(labels))
    return PolyMnistPlan(mnist_index, offsets, labels[order_by_class])


def render_polymnist(
    mnist_images: Tensor | np.ndarray, plan: PolyMnistPlan, backgrounds: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Pixels of every modality, uint8 ``(n, 3, 28, 28)``, named m0, m1, ... in background order."""
    if len(backgrounds) != plan.mnist_index.shape[1]:
        raise ValueError(f"plan has {plan.mnist_index.shape[1]} modalities but {len(backgrounds)} backgrounds")
    digit_on = binarize_digits(mnist_images)
    views = {}
    for modality, background in enumerate(backgrounds):
        pixels = np.empty((len(plan.labels), *IMAGE_SHAPE), dtype=np.uint8)
        for start in range(0, len(plan.labels), _CHUNK):
            stop = start + _CHUNK
            sources = plan.mnist_index[start:stop, modality]
            pixels[start:stop] = compose_digits(digit_on[sources], background, plan.offsets[start:stop, modality])
        views[f"m{modality}"] = pixels
    return views


def polymnist_dataset(views: Mapping[str, np.ndarray], labels: Tensor | np.ndarray) -> MultimodalDataset:
    """A fully paired data set over uint8 views ``(n, 3, 28, 28)``, read as flat float32 in [0, 1]."""
    data = {
        name: GatheredRows(torch.from_numpy(np.ascontiguousarray(pixels)).reshape(len(pixels), -1), divisor=255.0)
        for name, pixels in views.items()
    }
    return MultimodalDataset(data, labels=torch.as_tensor(np.asarray(labels), dtype=torch.long))


def make_polymnist(
    mnist_images: Tensor | np.ndarray,
    mnist_labels: Tensor | np.ndarray,
    backgrounds: Sequence[np.ndarray],
    seed: int | Sequence[int],
) -> MultimodalDataset:
    """PolyMNIST from MNIST images ``(n, 28, 28)`` and one background per modality.

    Example::

        mnist = load_mnist(data_dir)
        train = make_polymnist(mnist.train_images, mnist.train_labels, procedural_backgrounds(), seed=0)
        train.batch(torch.arange(4)).data["m0"].shape    # (4, 2352)
    """
    if len(mnist_images) != len(mnist_labels):
        raise ValueError(f"{len(mnist_images)} MNIST images but {len(mnist_labels)} labels")
    plan = plan_polymnist(mnist_labels, [background.shape[:2] for background in backgrounds], seed)
    return polymnist_dataset(render_polymnist(mnist_images, plan, backgrounds), plan.labels)


# --------------------------------------------------------------------------------------------- cache


def polymnist_fingerprint(
    mnist_images: Tensor | np.ndarray,
    mnist_labels: Tensor | np.ndarray,
    backgrounds: Sequence[np.ndarray],
    seed: int | Sequence[int],
) -> str:
    """sha256 of every input of :func:`make_polymnist`: a cache made from other inputs is never reused."""
    digest = hashlib.sha256(repr(np.asarray(seed).tolist()).encode())
    for array in (np.asarray(mnist_images, dtype=np.float32), np.asarray(mnist_labels, dtype=np.int64), *backgrounds):
        digest.update(repr(array.shape).encode())
        digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()


def save_polymnist(path: str | Path, dataset: MultimodalDataset, fingerprint: str) -> None:
    """Write a data set from :func:`make_polymnist` to a compressed ``.npz`` (uint8 views, labels, fingerprint)."""
    views = {}
    for name, rows in dataset.data.items():
        if not isinstance(rows, GatheredRows) or rows.base.dtype != torch.uint8:
            raise TypeError(f"modality {name!r} holds no uint8 PolyMNIST pixels; only make_polymnist output is cached")
        views[name] = rows.base[rows.index].numpy().reshape(-1, *IMAGE_SHAPE)
    labels = np.zeros(0, np.int64) if dataset.labels is None else dataset.labels.numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, labels=labels, fingerprint=np.array(fingerprint), **views)
    partial.replace(path)  # a crash mid-write leaves no half archive under the final name


def load_polymnist(path: str | Path, fingerprint: str | None = None) -> MultimodalDataset:
    """Read an archive of :func:`save_polymnist`; with ``fingerprint``, refuse one made from other inputs."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            stored = str(archive["fingerprint"])
            names = sorted((name for name in archive.files if name.startswith("m")), key=lambda name: int(name[1:]))
            views = {name: archive[name] for name in names}
            labels = archive["labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise PolyMnistCacheError(f"{path}: not a PolyMNIST archive ({error})") from None
    if fingerprint is not None and stored != fingerprint:
        raise PolyMnistCacheError(
            f"{path}: generated from other inputs (fingerprint {stored[:16]}..., expected {fingerprint[:16]}...)"
        )
    if not views or any(view.shape[1:] != IMAGE_SHAPE or view.dtype != np.uint8 for view in views.values()):
        raise PolyMnistCacheError(f"{path}: views must be uint8 arrays (n, 3, 28, 28)")
    return polymnist_dataset(views, labels)


def _generate_or_load(
    images: Tensor,
    labels: Tensor,
    backgrounds: Sequence[np.ndarray],
    seed: Sequence[int],
    cache_dir: Path | None,
    split: str,
) -> MultimodalDataset:
    if cache_dir is None:
        return make_polymnist(images, labels, backgrounds, seed)
    fingerprint = polymnist_fingerprint(images, labels, backgrounds, seed)
    path = Path(cache_dir) / f"polymnist_{split}_{fingerprint[:16]}.npz"
    if path.is_file():
        return load_polymnist(path, fingerprint)
    dataset = make_polymnist(images, labels, backgrounds, seed)
    save_polymnist(path, dataset, fingerprint)
    return dataset


def polymnist_data(
    data_dir: str | Path | None = None,
    *,
    background_dir: str | Path | None = None,
    background_seed: int = 0,
    validation_size: int = 10_000,
    seed: int = 0,
    verify: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
    cache_dir: str | Path | None = None,
) -> DataSplits:
    """PolyMNIST train/validation/test sets generated from ``<data_dir>/mnist/mnist.npz``.

    ``background_dir``: a directory with the five original background images (m0..m4 in file-name
    order); None gives the procedural variant (:func:`procedural_backgrounds` with ``background_seed``).
    The validation images are ``validation_size`` MNIST training images drawn with ``seed`` *before*
    tuples are formed, so no MNIST instance is shared between training and validation tuples;
    ``train_size``/``test_size`` keep only the first MNIST images (after the seeded shuffle for training).
    ``cache_dir``: keep generated sets as compressed ``.npz`` files keyed by a fingerprint of all inputs.
    """
    mnist = load_mnist(data_dir, verify=verify)
    if background_dir is None:
        backgrounds = procedural_backgrounds(len(POLYMNIST_MODALITIES), seed=background_seed)
    else:
        backgrounds = load_background_images(background_dir, len(POLYMNIST_MODALITIES))
    train_index, validation_index = validation_indices(len(mnist.train_images), validation_size, seed)
    if train_size is not None:
        train_index = train_index[:train_size]
    test_stop = len(mnist.test_images) if test_size is None else test_size
    cache = None if cache_dir is None else Path(cache_dir)
    parts = {
        "train": (mnist.train_images[train_index], mnist.train_labels[train_index]),
        "validation": (mnist.train_images[validation_index], mnist.train_labels[validation_index]),
        "test": (mnist.test_images[:test_stop], mnist.test_labels[:test_stop]),
    }
    sets = {
        split: _generate_or_load(images, labels, backgrounds, [seed, position], cache, split)
        for position, (split, (images, labels)) in enumerate(parts.items())
    }
    return DataSplits(train=sets["train"], validation=sets["validation"], test=sets["test"])
