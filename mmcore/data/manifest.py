"""Data manifests: which files a data set consists of, where they come from, and their sha256.

A loader verifies a file against its manifest entry before trusting it (the torchvision habit), so a
truncated download or a file from another release fails loudly with the file's name instead of training
on wrong data. The manifests live in the repository's ``data_manifests/`` folder (format described in
``data_manifests/README.md``), which is installed with the project; they are the one place a checksum is written
down.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR_VARIABLE = "MMCORE_DATA_DIR"
"""Environment variable naming the data root when no directory is given explicitly."""

MANIFEST_DIR_VARIABLE = "MMCORE_MANIFEST_DIR"
"""Environment variable overriding where the manifests are read from (for a user's own manifests)."""

_CHUNK_BYTES = 1 << 20


class ManifestError(ValueError):
    """A manifest is missing, malformed, or lacks the file asked for."""


class ChecksumError(ValueError):
    """A data file's sha256 differs from its manifest entry."""


class DataDirectoryError(FileNotFoundError):
    """No data directory was given, or a data file is not in it."""


@dataclass(frozen=True)
class ManifestFile:
    """One file of a data set: its path relative to the data root and its expected sha256."""

    path: str
    sha256: str
    size_bytes: int | None = None


def manifest_directory() -> Path:
    """Where the manifests are: ``$MMCORE_MANIFEST_DIR``, else the repository's ``data_manifests/`` folder as the
    project installs it, the ``specvae_data_manifests`` package (the folder itself in an editable install)."""
    override = os.environ.get(MANIFEST_DIR_VARIABLE)
    if override:
        return Path(override)
    return Path(str(importlib.resources.files("specvae_data_manifests")))


def load_manifest(dataset: str, directory: Path | None = None) -> dict[str, Any]:
    """The parsed manifest ``<directory>/<dataset>.json``."""
    path = (manifest_directory() if directory is None else Path(directory)) / f"{dataset}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"manifest {path} not found; set {MANIFEST_DIR_VARIABLE} to the folder holding {dataset}.json"
        ) from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"manifest {path} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ManifestError(f"manifest {path} must be an object with a 'files' list")
    return manifest


def manifest_file(dataset: str, relative_path: str, directory: Path | None = None) -> ManifestFile:
    """The manifest entry of one file of ``dataset``."""
    for entry in load_manifest(dataset, directory)["files"]:
        if entry.get("path") == relative_path:
            sha256 = entry.get("sha256")
            if not isinstance(sha256, str) or len(sha256) != 64:
                raise ManifestError(f"manifest {dataset}.json: entry {relative_path!r} has no valid sha256")
            return ManifestFile(relative_path, sha256.lower(), entry.get("size_bytes"))
    raise ManifestError(f"manifest {dataset}.json has no entry for {relative_path!r}")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected: ManifestFile) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the manifest's sha256."""
    actual = sha256_of(path)
    if actual != expected.sha256:
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match the manifest ({expected.sha256}); the file is corrupt or "
            "from another release (pass verify=False / --no-verify to use it anyway)"
        )


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The data root: ``data_dir`` when given, else ``$MMCORE_DATA_DIR``, else a :class:`DataDirectoryError`."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(DATA_DIR_VARIABLE)
    if not data_dir:
        raise DataDirectoryError(
            f"no data directory given: pass --data-dir DIR (data_dir=...) or set the environment variable "
            f"{DATA_DIR_VARIABLE}=DIR, where DIR holds the files listed in data_manifests/ (e.g. DIR/mnist/mnist.npz)"
        )
    root = Path(data_dir)
    if not root.is_dir():
        raise DataDirectoryError(f"data directory {root} does not exist")
    return root


def data_file(data_dir: Path, dataset: str, relative_path: str, verify: bool = True) -> Path:
    """Path of a data file under ``data_dir``, checked to exist and (with ``verify``) against its manifest."""
    path = Path(data_dir) / relative_path
    if not path.is_file():
        raise DataDirectoryError(f"{relative_path} not found in data directory {data_dir} (expected {path})")
    if verify:
        verify_file(path, manifest_file(dataset, relative_path))
    return path
