"""CUB image-captions: the MMVAE directory layout, caption k <-> image k // 10, splits, features, checksums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmcore.data.cub import (
    CubLayoutError,
    CubSplits,
    UnverifiedDataWarning,
    caption_image_index,
    cub_data,
    list_images,
    make_cub_dataset,
)
from mmcore.data.manifest import ChecksumError, load_manifest
from mmcore.data.text import Vocabulary

COLOURS = ["red", "blue", "green", "black", "white"]
# (split, class folder, file name, grey level of the solid image); listed out of order on purpose.
IMAGES = [
    ("train", "002.Laysan_Albatross", "b.png", 40),
    ("train", "001.Black_footed_Albatross", "z.png", 20),
    ("train", "001.Black_footed_Albatross", "a.jpg", 10),
    ("test", "004.Groove_billed_Ani", "only.png", 90),
    ("test", "003.Sooty_Albatross", "x.png", 70),
]


def _write_layout(root, captions_per_image=10):
    """A CUB directory in the MMVAE layout; each image's captions name its colour and its position."""
    from PIL import Image

    for split, folder, name, grey in IMAGES:
        directory = root / "cub" / split / folder
        directory.mkdir(parents=True, exist_ok=True)
        # A solid image stays the same solid colour after any resize, also through JPEG.
        Image.fromarray(np.full((70, 90, 3), grey, dtype=np.uint8)).save(directory / name)
    ordered = {"train": [10, 20, 40], "test": [70, 90]}  # ImageFolder order: sorted folders, then sorted files
    for split, file_name in (("train", "text_trainvalclasses.txt"), ("test", "text_testclasses.txt")):
        lines = [
            f"a {COLOURS[position]} bird number {position} , caption {k} ."
            for position, _ in enumerate(ordered[split])
            for k in range(captions_per_image)
        ]
        (root / "cub" / file_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ordered


def test_images_are_listed_in_image_folder_order_with_class_labels(tmp_path):
    _write_layout(tmp_path)
    paths, labels = list_images(tmp_path / "cub" / "train")
    assert [path.name for path in paths] == ["a.jpg", "z.png", "b.png"]
    assert labels.tolist() == [0, 0, 1]  # class ids 001, 001, 002 minus one
    (tmp_path / "cub" / "train" / "misc").mkdir()
    with pytest.raises(CubLayoutError, match="misc: class folders must be named 'NNN.Class_Name'"):
        list_images(tmp_path / "cub" / "train")


def test_caption_k_belongs_to_image_k_div_10():
    assert caption_image_index(30, 3).tolist() == [0] * 10 + [1] * 10 + [2] * 10
    with pytest.raises(CubLayoutError, match="29 captions for 3 images"):
        caption_image_index(29, 3)
    images = torch.tensor([[0, 255], [51, 102]], dtype=torch.uint8)
    dataset = make_cub_dataset(images, torch.arange(40).reshape(20, 2), torch.tensor([7, 9]))
    batch = dataset.batch(torch.tensor([0, 9, 10, 19]))
    assert torch.equal(batch.data["image"], torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.2, 0.4], [0.2, 0.4]]))
    assert batch.data["caption"][:, 0].tolist() == [0, 18, 20, 38] and batch.labels.tolist() == [7, 7, 9, 9]


def test_loader_pairs_captions_with_their_images(tmp_path):
    ordered = _write_layout(tmp_path)
    with pytest.warns(UnverifiedDataWarning, match="text_trainvalclasses.txt"):
        with pytest.raises(ChecksumError, match="text_testclasses.txt"):
            cub_data(tmp_path, validation_size=1, min_count=1, image_size=16)  # generated test captions
    splits = cub_data(tmp_path, validation_size=1, seed=0, verify=False, min_count=1, image_size=16)
    assert isinstance(splits, CubSplits) and isinstance(splits.vocabulary, Vocabulary)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (20, 10, 20)
    for split, greys in (("train", ordered["train"]), ("test", ordered["test"])):
        datasets = [splits.train, splits.validation] if split == "train" else [splits.test]
        for dataset in datasets:
            batch = dataset.batch(torch.arange(len(dataset)))
            assert batch.data["image"].shape == (len(dataset), 3 * 16 * 16)
            for image, caption in zip(batch.data["image"], batch.data["caption"], strict=True):
                words = splits.vocabulary.decode(caption)
                position = int(words[4])  # "a <colour> bird number <position> , caption <k> ."
                assert words[1] == COLOURS[position]
                assert torch.allclose(image, torch.full_like(image, greys[position] / 255.0), atol=2 / 255)
    # The validation image and its ten captions are not in the training set.
    def positions(dataset):
        captions = dataset.batch(range(len(dataset))).data["caption"]
        return {int(splits.vocabulary.decode(caption)[4]) for caption in captions}

    validation_positions, train_positions = positions(splits.validation), positions(splits.train)
    assert len(validation_positions) == 1 and not validation_positions & train_positions
    assert splits.test.labels.tolist() == [2] * 10 + [3] * 10  # folders 003 then 004


def test_features_replace_pixels(tmp_path):
    _write_layout(tmp_path)
    features = tmp_path / "cub" / "features"
    features.mkdir()
    np.save(features / "train.npy", np.array([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]))
    np.save(features / "test.npy", np.array([[7.0, 7.5], [8.0, 8.5]]))
    splits = cub_data(tmp_path, image_source="features", validation_size=1, verify=False, min_count=1, test_size=4)
    test = splits.test.batch(torch.arange(4))
    assert test.data["image"].dtype == torch.float32 and test.data["image"].shape == (4, 2)
    image_of_caption = [int(splits.vocabulary.decode(caption)[4]) for caption in test.data["caption"]]
    assert test.data["image"][:, 0].tolist() == [7.0 + position for position in image_of_caption]
    np.save(features / "test.npy", np.zeros((3, 2)))
    with pytest.raises(CubLayoutError, match="3 rows but 2 images"):
        cub_data(tmp_path, image_source="features", validation_size=1, verify=False, min_count=1)


def test_caption_count_must_match_the_images(tmp_path):
    _write_layout(tmp_path, captions_per_image=9)
    with pytest.raises(CubLayoutError, match="27 captions for 3 images"):
        cub_data(tmp_path, validation_size=1, verify=False, image_size=8)


def test_manifest_knows_the_test_captions_checksum_only():
    entries = {entry["path"]: entry for entry in load_manifest("cub")["files"]}
    assert entries["cub/text_testclasses.txt"]["sha256"] == (
        "839b13171b614b12efb08737dcbab3bd0f1d0dfe8700cfb4fd0d68233b42c7fd"
    )
    assert entries["cub/text_testclasses.txt"]["lines"] == 29_330
    assert entries["cub/text_trainvalclasses.txt"]["sha256"] is None
