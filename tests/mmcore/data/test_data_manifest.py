"""Manifests: the MNIST entry, checksums, and how the data directory is found."""

from __future__ import annotations

import json

import pytest

from mmcore.data import manifest
from mmcore.data.manifest import (
    ChecksumError,
    DataDirectoryError,
    ManifestError,
    ManifestFile,
    data_file,
    load_manifest,
    manifest_file,
    resolve_data_dir,
    sha256_of,
    verify_file,
)

MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 test vector


def test_mnist_manifest_names_the_archive_and_the_official_files():
    entry = manifest_file("mnist", "mnist/mnist.npz")
    assert entry == ManifestFile("mnist/mnist.npz", MNIST_SHA256, 11490519)
    document = load_manifest("mnist")
    assert document["license"] == "CC BY-SA 3.0"
    sources = {source["file"] for source in document["sources"]}
    assert sources == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert all(any("yann.lecun.com" in url for url in source["urls"]) for source in document["sources"])


def test_sha256_of_a_known_vector(tmp_path):
    path = tmp_path / "abc.bin"
    path.write_bytes(b"abc")
    assert sha256_of(path) == ABC_SHA256
    verify_file(path, ManifestFile("abc.bin", ABC_SHA256))
    path.write_bytes(b"abd")
    with pytest.raises(ChecksumError, match="abc.bin.*does not match"):
        verify_file(path, ManifestFile("abc.bin", ABC_SHA256))


def test_missing_and_malformed_manifests_name_the_file(tmp_path):
    with pytest.raises(ManifestError, match="nothing.json not found"):
        load_manifest("nothing", tmp_path)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ManifestError, match="broken.json is not valid JSON"):
        load_manifest("broken", tmp_path)
    with pytest.raises(ManifestError, match="no entry for 'mnist/other.npz'"):
        manifest_file("mnist", "mnist/other.npz")


def test_manifest_directory_can_be_overridden(tmp_path, monkeypatch):
    (tmp_path / "tiny.json").write_text(json.dumps({"files": [{"path": "t.bin", "sha256": ABC_SHA256}]}))
    monkeypatch.setenv(manifest.MANIFEST_DIR_VARIABLE, str(tmp_path))
    assert manifest_file("tiny", "t.bin").sha256 == ABC_SHA256


def test_data_dir_comes_from_the_argument_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(manifest.DATA_DIR_VARIABLE, raising=False)
    with pytest.raises(DataDirectoryError, match="MMCORE_DATA_DIR"):
        resolve_data_dir(None)
    monkeypatch.setenv(manifest.DATA_DIR_VARIABLE, str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    assert resolve_data_dir(tmp_path / ".") == tmp_path / "."
    with pytest.raises(DataDirectoryError, match="does not exist"):
        resolve_data_dir(tmp_path / "absent")


def test_data_file_checks_presence_and_checksum(tmp_path):
    with pytest.raises(DataDirectoryError, match="mnist/mnist.npz not found"):
        data_file(tmp_path, "mnist", "mnist/mnist.npz")
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mnist.npz").write_bytes(b"not mnist")
    with pytest.raises(ChecksumError, match="mnist.npz"):
        data_file(tmp_path, "mnist", "mnist/mnist.npz")
    assert data_file(tmp_path, "mnist", "mnist/mnist.npz", verify=False) == tmp_path / "mnist" / "mnist.npz"
