"""What `pip install .` (the README's first command) puts in the wheel: code, shipped models, example files and the
data manifests that benchmark commands verify their data against."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "mmcore", "specvae", "cli", "data_manifests")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    # Build from a copy: an in-tree build would leave build/ and egg-info behind in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        origin = REPOSITORY / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    wheel_dir = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
               str(source), "-w", str(wheel_dir)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    (wheel,) = wheel_dir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_ships_every_data_manifest(wheel_names):
    manifests = sorted(path.name for path in (REPOSITORY / "data_manifests").glob("*.json"))
    assert manifests, "no manifest in data_manifests/"
    for name in [*manifests, "README.md"]:
        assert f"data_manifests/{name}" in wheel_names


def test_the_wheel_ships_the_models_and_the_example(wheel_names):
    for folder in ("specvae/pretrained", "specvae/examples"):
        # Every file, the example script (specvae/examples/draw_top_candidates.py) included.
        files = [path for path in (REPOSITORY / folder).iterdir() if path.is_file()]
        assert files, f"nothing in {folder}"
        for path in files:
            assert f"{folder}/{path.name}" in wheel_names


def test_manifests_are_read_from_the_data_manifests_package(monkeypatch):
    """manifest_directory() follows the data_manifests package wherever it is installed (here: the checkout)."""
    from mmcore.data import manifest

    monkeypatch.delenv(manifest.MANIFEST_DIR_VARIABLE, raising=False)
    assert (manifest.manifest_directory() / "casmi2016.json").is_file()
    assert manifest.manifest_directory().resolve() == (REPOSITORY / "data_manifests").resolve()
