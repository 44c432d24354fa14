"""The data manifests of MassBank, CASMI 2016 and CASMI 2017 (data_manifests/*.json)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from shared_helpers import real_data_path

MANIFESTS = Path(__file__).resolve().parents[2] / "data_manifests"


def load(name: str) -> dict:
    manifest = json.loads((MANIFESTS / f"{name}.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == 1 and manifest["name"] == name
    assert manifest["license"] and manifest["sources"]
    return manifest


def test_casmi2017_names_the_official_files_without_a_local_copy() -> None:
    manifest = load("casmi2017")
    assert manifest["files"] == []
    names = [source["file"] for source in manifest["sources"]]
    assert "CASMI-solutions.csv" in names and "challenges-001-045-msms-mgf-20170908.zip" in names
    assert all(isinstance(source["name_confirmed"], bool) for source in manifest["sources"])


@pytest.mark.parametrize("name", ["massbank", "casmi2016"])
def test_manifest_entries_are_complete(name: str) -> None:
    for entry in load(name)["files"]:
        assert len(entry["sha256"]) == 64 and int(entry["sha256"], 16) >= 0
        assert entry["size_bytes"] > 0 and entry["records"] > 0 and entry["path"].startswith(f"{name}/")


@pytest.mark.data
@pytest.mark.parametrize("name", ["massbank", "casmi2016"])
def test_checksums_and_sizes_match_the_real_files(name: str) -> None:
    for entry in load(name)["files"]:
        path = real_data_path(entry["path"])
        assert path.stat().st_size == entry["size_bytes"], entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["path"]
