"""MNIST-SVHN(-Text): the SVHN .mat reader, MMVAE's pairing by label, the digit-name text, the loader."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.io
import torch

from mmcore.data.manifest import ChecksumError, load_manifest, manifest_file
from mmcore.data.mnist_svhn import (
    DIGIT_NAMES,
    TEXT_ALPHABET,
    SvhnFormatError,
    SvhnImages,
    decode_text,
    digit_text_ids,
    digit_texts,
    encode_text,
    load_svhn,
    make_mnist_svhn,
    match_digit_pairs,
    mnist_svhn_data,
    read_svhn_mat,
)


def _write_svhn_mat(path, n, seed=0):
    """A .mat in the official layout. Image j carries its number in pixel (0, 0) of channels 0 and 1."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    pixels[0, 0, 0, :] = np.arange(n) % 256
    pixels[0, 0, 1, :] = np.arange(n) // 256
    raw_labels = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # 10 means digit 0
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": pixels, "y": raw_labels})
    return pixels, raw_labels


def _svhn_ids(rows):
    """Instance numbers of gathered SVHN rows (flat channel-major floats): channel 1 starts at 32·32."""
    return (torch.round(rows[:, 0] * 255) + 256 * torch.round(rows[:, 1024] * 255)).long()


def _fake_mnist(n, seed=1):
    """Float digits whose pixel (0, 0) holds the image number (n <= 256)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.float32)
    images[:, 0, 0] = np.arange(n)
    return torch.from_numpy(images / 255.0), torch.from_numpy(rng.integers(0, 10, n))


def test_mat_reader_transposes_to_channels_first_and_maps_10_to_0(tmp_path):
    pixels, raw_labels = _write_svhn_mat(tmp_path / "train_32x32.mat", n=7)
    svhn = read_svhn_mat(tmp_path / "train_32x32.mat")
    assert svhn.images.shape == (7, 3, 32, 32) and svhn.images.dtype == torch.uint8
    assert svhn.images[4, 2, 5, 9] == pixels[5, 9, 2, 4]  # X is (height, width, channel, image)
    assert svhn.labels.tolist() == [0 if label == 10 else int(label) for label in raw_labels[:, 0]]


def test_malformed_mat_files_name_the_problem(tmp_path):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(SvhnFormatError, match="bad.mat: array 'y' missing"):
        read_svhn_mat(path)
    scipy.io.savemat(path, {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(SvhnFormatError, match=r"'X' has shape \(28, 28, 3, 2\)"):
        read_svhn_mat(path)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.full((2, 1), 11)})
    with pytest.raises(SvhnFormatError, match="labels must lie in 1..10"):
        read_svhn_mat(path)
    path.write_bytes(b"not a mat file at all")
    with pytest.raises(SvhnFormatError, match="not a readable MATLAB file"):
        read_svhn_mat(path)


def test_pairing_by_hand():
    labels_a = np.array([0, 0, 1, 1, 1, 2])
    labels_b = np.array([1, 0, 1, 0, 0, 0, 1])
    index_a, index_b = match_digit_pairs(labels_a, labels_b, pairs_per_instance=3, seed=4)
    # Class 0: n = min(2, 4) = 2 (first two zeros of b: positions 1, 3); class 1: n = 3; class 2: none in b.
    assert len(index_a) == len(index_b) == 3 * (2 + 3)
    assert np.array_equal(labels_a[index_a], labels_b[index_b])
    assert Counter(index_a.tolist()) == {0: 3, 1: 3, 2: 3, 3: 3, 4: 3}
    assert Counter(index_b.tolist()) == {1: 3, 3: 3, 0: 3, 2: 3, 6: 3}
    assert labels_a[index_a].tolist() == [0] * 6 + [1] * 9  # class by class
    capped_a, _ = match_digit_pairs(labels_a, labels_b, pairs_per_instance=3, max_per_class=1, seed=4)
    assert Counter(capped_a.tolist()) == {0: 3, 2: 3}


def test_pairing_uses_each_instance_at_most_dm_times_and_is_seeded():
    rng = np.random.default_rng(0)
    labels_a, labels_b = rng.integers(0, 10, 300), rng.integers(0, 10, 500)
    index_a, index_b = match_digit_pairs(labels_a, labels_b, pairs_per_instance=20, seed=1)
    assert np.array_equal(labels_a[index_a], labels_b[index_b])
    expected = sum(min((labels_a == d).sum(), (labels_b == d).sum()) for d in range(10))
    assert len(index_a) == 20 * expected
    assert max(Counter(index_a.tolist()).values()) == 20 and max(Counter(index_b.tolist()).values()) == 20
    used_b = set(index_b.tolist())
    for digit in range(10):  # the used SVHN instances of a class are its first n
        members = np.flatnonzero(labels_b == digit)
        n = min(len(members), (labels_a == digit).sum())
        assert used_b.intersection(members.tolist()) == set(members[:n].tolist())
    again_a, again_b = match_digit_pairs(labels_a, labels_b, pairs_per_instance=20, seed=1)
    assert torch.equal(again_a, index_a) and torch.equal(again_b, index_b)
    assert not torch.equal(match_digit_pairs(labels_a, labels_b, pairs_per_instance=20, seed=2)[1], index_b)


def test_digit_text_places_the_name_where_mmjsd_does():
    labels = np.arange(10).repeat(60)
    texts = digit_texts(labels, length=8, seed=3)
    starts_of_one = set()
    for label, text in zip(labels, texts, strict=True):
        name = DIGIT_NAMES[label]
        assert len(text) == 8 and text.strip() == name and text.replace(name, "", 1).strip() == ""
        start = text.index(name)
        assert 0 <= start <= 8 - 1 - len(name)  # the last character is always a space
        if name == "one":
            starts_of_one.add(start)
    assert starts_of_one == {0, 1, 2, 3, 4}
    assert digit_texts(labels, seed=3) == texts and digit_texts(labels, seed=4) != texts
    ids = encode_text(texts)
    assert ids.shape == (600, 8) and ids.dtype == torch.long
    assert decode_text(ids) == texts and torch.equal(digit_text_ids(labels, length=8, seed=3), ids)
    assert encode_text(["  five  "]).tolist() == [[0, 0, 6, 9, 22, 5, 0, 0]]  # space = 0, a = 1, ...
    assert TEXT_ALPHABET[0] == " "
    with pytest.raises(ValueError, match="'7' of 'seven 7 ' is not in the alphabet"):
        encode_text(["seven 7 "])


def test_pairs_hold_images_of_the_same_digit(tmp_path):
    mnist_images, mnist_labels = _fake_mnist(120)
    _write_svhn_mat(tmp_path / "s.mat", n=300)
    svhn = read_svhn_mat(tmp_path / "s.mat")
    dataset = make_mnist_svhn(mnist_images, mnist_labels, svhn, pairs_per_instance=5, seed=2, with_text=True)
    batch = dataset.batch(torch.arange(len(dataset)))
    mnist_ids = torch.round(batch.data["mnist"][:, 0] * 255).long()
    svhn_ids = _svhn_ids(batch.data["svhn"])
    assert torch.equal(mnist_labels[mnist_ids], batch.labels) and torch.equal(svhn.labels[svhn_ids], batch.labels)
    assert torch.equal(batch.data["mnist"], mnist_images[mnist_ids].reshape(-1, 784))
    assert torch.equal(batch.data["svhn"], svhn.images[svhn_ids].reshape(-1, 3072).float() / 255.0)
    assert max(Counter(mnist_ids.tolist()).values()) == 5 and max(Counter(svhn_ids.tolist()).values()) == 5
    expected = sum(min(int((mnist_labels == d).sum()), int((svhn.labels == d).sum())) for d in range(10))
    assert len(dataset) == 5 * expected
    names = [text.strip() for text in decode_text(batch.data["text"])]
    assert names == [DIGIT_NAMES[label] for label in batch.labels.tolist()]


def _fake_data_dir(root):
    rng = np.random.default_rng(5)
    (root / "mnist").mkdir(parents=True)
    train = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    train[:, 0, 0] = np.arange(200) % 256
    np.savez(
        root / "mnist" / "mnist.npz",
        x_train=train,
        y_train=rng.integers(0, 10, 200, dtype=np.uint8),
        x_test=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 50, dtype=np.uint8),
    )
    _write_svhn_mat(root / "svhn" / "train_32x32.mat", n=300, seed=6)
    _write_svhn_mat(root / "svhn" / "test_32x32.mat", n=80, seed=7)


def test_loader_keeps_validation_instances_apart(tmp_path):
    _fake_data_dir(tmp_path)
    splits = mnist_svhn_data(tmp_path, validation_size=40, pairs_per_instance=3, seed=1, verify=False, test_size=25)
    train = splits.train.batch(range(len(splits.train)))
    validation = splits.validation.batch(range(len(splits.validation)))

    def mnist_ids(batch):
        return set(torch.round(batch.data["mnist"][:, 0] * 255).long().tolist())

    assert not mnist_ids(train) & mnist_ids(validation) and len(mnist_ids(validation)) <= 40
    train_svhn, validation_svhn = (set(_svhn_ids(batch.data["svhn"]).tolist()) for batch in (train, validation))
    assert not train_svhn & validation_svhn and len(validation_svhn) <= 60  # 40/200 of 300 SVHN images
    assert len(splits.test) == 25 and splits.train.names == ["mnist", "svhn"]
    with_text = mnist_svhn_data(
        tmp_path, with_text=True, validation_size=40, pairs_per_instance=3, seed=1, verify=False
    )
    assert with_text.train.names == ["mnist", "svhn", "text"] and len(with_text.train) == len(splits.train)
    with pytest.raises(ChecksumError, match="train_32x32.mat: sha256"):
        load_svhn(tmp_path, "train")  # a generated file fails verification against the official checksum


def test_svhn_manifest_lists_the_official_files():
    train = manifest_file("svhn", "svhn/train_32x32.mat")
    assert train.sha256 == "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8"
    assert train.size_bytes == 182040794
    assert manifest_file("svhn", "svhn/test_32x32.mat").size_bytes == 64275384
    assert all("ufldl.stanford.edu" in source["urls"][0] for source in load_manifest("svhn")["sources"])
    assert load_manifest("mnist_svhn")["requires"] == ["mnist", "svhn"]


def test_svhn_images_dataclass_holds_what_the_pairing_needs():
    svhn = SvhnImages(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([3, 3]))
    dataset = make_mnist_svhn(torch.zeros(1, 28, 28), torch.tensor([3]), svhn, pairs_per_instance=4)
    assert len(dataset) == 4 and dataset.labels.tolist() == [3, 3, 3, 3]
