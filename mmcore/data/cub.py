"""CUB image-captions (Shi et al. 2019, MMVAE): bird images and their captions as two modalities.

Data: Caltech-UCSD Birds 200 (Wah et al. 2011) images with ten captions per image (Reed et al. 2016),
split by class as in Reed et al.: 150 train+validation classes (8,855 images) and 50 test classes (2,933
images). This module reads the layout of the MMVAE release (``cub.zip``), unpacked under a user's data
directory::

    <data_dir>/cub/text_trainvalclasses.txt     88,550 captions, one a line, 10 per training image
    <data_dir>/cub/text_testclasses.txt         29,330 captions, 10 per test image
    <data_dir>/cub/train/<NNN.Class_Name>/*.jpg training images, one folder per class
    <data_dir>/cub/test/<NNN.Class_Name>/*.jpg  test images
    <data_dir>/cub/features/{train,test}.npy    optional: precomputed image features (n_images, D) float

Pairing (MMVAE's ``resampler``: ``idx // 10``): caption line ``k`` of a split belongs to image ``k // 10``,
images taken in torchvision ``ImageFolder`` order (class folders sorted by name, files sorted by name
within a folder). Every caption is one sample; its image is shared with the other nine.

Images are resized to 64×64 RGB (bilinear, as MMVAE's ``transforms.Resize([64, 64])``) and stored as
uint8, read as float32 in [0, 1], flat channel-major ``(n, 3·64·64)``. Instead of pixels, the image
modality can be feature vectors (``image_source="features"``): MMVAE's ``cubISft`` variant uses 2048-d
ResNet-101 features, which this package does not compute (it would need pretrained torchvision weights);
put your own in ``features/{split}.npy``, row ``i`` for image ``i`` in the order above.

Captions are token ids (:mod:`mmcore.data.text`): a vocabulary built on the training captions, 32 tokens
per caption with ``<eos>`` and ``<pad>`` (= 0). Labels are CUB class ids minus one (0..199), from the
folder names, when the image folders are present.

Checksums: ``data_manifests/cub.json`` knows the sha256 of ``text_testclasses.txt`` only (the file in
the shared data); files without a published checksum are used with an :class:`UnverifiedDataWarning`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.gathered import GatheredRows, random_subset, select_samples
from mmcore.data.manifest import DataDirectoryError, data_file, load_manifest, resolve_data_dir
from mmcore.data.splits import DataSplits, validation_indices
from mmcore.data.text import MAX_LENGTH, MIN_COUNT, Vocabulary

CUB_CAPTION_FILES = {"train": "cub/text_trainvalclasses.txt", "test": "cub/text_testclasses.txt"}
CUB_IMAGE_DIRS = {"train": "cub/train", "test": "cub/test"}
CUB_FEATURE_FILES = {"train": "cub/features/train.npy", "test": "cub/features/test.npy"}
CUB_MODALITIES: tuple[str, ...] = ("image", "caption")
CAPTIONS_PER_IMAGE = 10
IMAGE_SIZE = 64
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_SOURCES = ("images", "features")
VALIDATION_IMAGES = 885
"""Default number of training images (with their captions) held out for validation: 10% of 8,855."""

_CLASS_FOLDER = re.compile(r"^(\d+)\.")


class CubLayoutError(ValueError):
    """The CUB directory does not have the documented layout (counts, folder names, array shapes)."""


class UnverifiedDataWarning(UserWarning):
    """A data file is used although its manifest has no checksum to verify it against."""


@dataclass(frozen=True)
class CubSplits(DataSplits):
    """CUB train/validation/test sets and the vocabulary their caption ids refer to."""

    vocabulary: Vocabulary | None = None


def _checked_file(root: Path, relative: str, verify: bool) -> Path:
    """``data_file`` that verifies when the manifest has a sha256, and warns when it has none."""
    entries = {entry.get("path"): entry for entry in load_manifest("cub")["files"]}
    has_checksum = isinstance(entries.get(relative, {}).get("sha256"), str)
    if verify and not has_checksum:
        warnings.warn(
            f"{relative}: data_manifests/cub.json has no published sha256 for it; using it unverified",
            UnverifiedDataWarning,
            stacklevel=3,
        )
    return data_file(root, "cub", relative, verify=verify and has_checksum)


def read_captions(path: str | Path) -> list[str]:
    """The captions of a CUB text file, one per line (a final newline ends the last line)."""
    return Path(path).read_text(encoding="utf-8").splitlines()


def list_images(split_dir: str | Path) -> tuple[list[Path], Tensor]:
    """Image paths of a split in ``ImageFolder`` order, and their class labels (CUB class id - 1)."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataDirectoryError(f"CUB image directory {split_dir} does not exist")
    paths, labels = [], []
    for folder in sorted(path for path in split_dir.iterdir() if path.is_dir()):
        match = _CLASS_FOLDER.match(folder.name)
        if match is None:
            raise CubLayoutError(
                f"{folder}: class folders must be named 'NNN.Class_Name' (e.g. 001.Black_footed_Albatross)"
            )
        files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [int(match.group(1)) - 1] * len(files)
    if not paths:
        raise CubLayoutError(f"{split_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in class folders")
    return paths, torch.tensor(labels, dtype=torch.long)


def read_images(paths: list[Path], size: int = IMAGE_SIZE) -> Tensor:
    """Images resized to ``size``×``size`` RGB (bilinear), uint8 flat channel-major ``(n, 3·size·size)``."""
    from PIL import Image  # a dependency of matplotlib, hence always installed with mmcore

    pixels = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for row, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                resized = image.convert("RGB").resize((size, size), Image.BILINEAR)
        except OSError as error:
            raise CubLayoutError(f"{path}: not a readable image ({error})") from None
        pixels[row] = np.asarray(resized).transpose(2, 0, 1)
    return torch.from_numpy(pixels.reshape(len(paths), -1))


def read_features(path: str | Path) -> Tensor:
    """Image features ``(n_images, D)`` from a ``.npy`` file, as float32."""
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CubLayoutError(f"{path}: not a readable .npy array ({error})") from None
    if features.ndim != 2:
        raise CubLayoutError(f"{path}: features must be (n_images, D), got shape {features.shape}")
    return torch.from_numpy(features.astype(np.float32))


def caption_image_index(n_captions: int, n_images: int, captions_per_image: int = CAPTIONS_PER_IMAGE) -> Tensor:
    """For every caption, the position of its image: ``k // captions_per_image``."""
    if n_captions != captions_per_image * n_images:
        raise CubLayoutError(
            f"{n_captions} captions for {n_images} images; the layout needs exactly {captions_per_image} per image"
        )
    return torch.arange(n_captions) // captions_per_image


def make_cub_dataset(
    image_rows: Tensor,
    caption_ids: Tensor,
    image_labels: Tensor | None = None,
    captions_per_image: int = CAPTIONS_PER_IMAGE,
) -> MultimodalDataset:
    """One sample per caption: modality "image" (the caption's image, gathered, not copied) and "caption".

    ``image_rows``: ``(n_images, D)``, uint8 pixels (read as float in [0, 1]) or float features;
    ``caption_ids``: ``(n_images · captions_per_image, length)`` token ids.
    """
    image_index = caption_image_index(len(caption_ids), len(image_rows), captions_per_image)
    divisor = 255.0 if image_rows.dtype == torch.uint8 else None
    labels = None if image_labels is None else image_labels[image_index]
    data = {"image": GatheredRows(image_rows, image_index, divisor), "caption": caption_ids.long()}
    return MultimodalDataset(data, labels=labels)  # type: ignore[arg-type]  # GatheredRows stands in for tensors


def load_cub_split(
    root: Path,
    split: str,
    vocabulary: Vocabulary,
    image_source: str = "images",
    image_size: int = IMAGE_SIZE,
    max_length: int = MAX_LENGTH,
    verify: bool = True,
) -> MultimodalDataset:
    """One split ("train" or "test") of the layout in the module docstring, as caption-image pairs."""
    if image_source not in IMAGE_SOURCES:
        raise ValueError(f"unknown image_source {image_source!r}; choose one of {IMAGE_SOURCES}")
    captions = read_captions(_checked_file(root, CUB_CAPTION_FILES[split], verify))
    image_dir = root / CUB_IMAGE_DIRS[split]
    paths, labels = list_images(image_dir) if image_dir.is_dir() or image_source == "images" else ([], None)
    if image_source == "images":
        image_rows = read_images(paths, image_size)
    else:
        image_rows = read_features(_checked_file(root, CUB_FEATURE_FILES[split], verify))
        if labels is not None and len(labels) != len(image_rows):
            raise CubLayoutError(f"{CUB_FEATURE_FILES[split]}: {len(image_rows)} rows but {len(labels)} images")
    return make_cub_dataset(image_rows, vocabulary.encode_batch(captions, max_length), labels)


def _caption_rows(image_positions: Tensor, captions_per_image: int = CAPTIONS_PER_IMAGE) -> Tensor:
    """The caption rows of the images at ``image_positions`` (all ten of each)."""
    offsets = torch.arange(captions_per_image)
    return (image_positions.sort().values[:, None] * captions_per_image + offsets).reshape(-1)


def cub_data(
    data_dir: str | Path | None = None,
    *,
    image_source: str = "images",
    vocabulary: Vocabulary | None = None,
    min_count: int = MIN_COUNT,
    max_length: int = MAX_LENGTH,
    image_size: int = IMAGE_SIZE,
    validation_size: int = VALIDATION_IMAGES,
    seed: int = 0,
    verify: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
) -> CubSplits:
    """CUB image-caption train/validation/test sets and the vocabulary (built on the training captions).

    The papers have no validation set: ``validation_size`` training *images* (with all their captions) are
    drawn with ``seed``, so no image is shared between training and validation pairs. ``train_size`` /
    ``test_size`` keep that many caption-image pairs, drawn with ``seed``.
    """
    root = resolve_data_dir(data_dir)
    if vocabulary is None:
        vocabulary = Vocabulary.build(read_captions(_checked_file(root, CUB_CAPTION_FILES["train"], verify)), min_count)
    options = {"image_source": image_source, "image_size": image_size, "max_length": max_length, "verify": verify}
    train_all = load_cub_split(root, "train", vocabulary, **options)
    n_images = len(train_all) // CAPTIONS_PER_IMAGE
    train_images, validation_images = validation_indices(n_images, validation_size, seed)
    train = select_samples(train_all, _caption_rows(train_images))
    validation = select_samples(train_all, _caption_rows(validation_images))
    test = load_cub_split(root, "test", vocabulary, **options)
    return CubSplits(
        train=random_subset(train, train_size, [seed, 1]),
        validation=validation,
        test=random_subset(test, test_size, [seed, 2]),
        vocabulary=vocabulary,
    )
