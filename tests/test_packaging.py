"""What `pip install .` (the README's first command) puts in the wheel: code, shipped models, example files and the
data manifests that benchmark commands verify their data against, under top-level names no other project takes
(the folders cli/ and data_manifests/ install as specvae_cli and specvae_data_manifests)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "mmcore", "specvae", "cli", "data_manifests")
INSTALLED_TOP_LEVEL = {"mmcore", "specvae", "specvae_cli", "specvae_data_manifests"}
# Repository folders whose names are not the installed ones: code importing them works only from a checkout.
FOLDER_NAMES_NOT_INSTALLED = {"cli", "data_manifests"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
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
    return wheel


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def unpacked_wheel(wheel, tmp_path_factory) -> Path:
    """The wheel's files as pip would place them in site-packages (a pure-Python wheel is one folder tree)."""
    target = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_the_wheel_installs_only_unique_top_level_names(wheel_names):
    top_level = {name.split("/")[0] for name in wheel_names}
    (dist_info,) = {name for name in top_level if name.endswith(".dist-info")}
    assert top_level - {dist_info} == INSTALLED_TOP_LEVEL
    assert not {name for name in wheel_names if name.split("/")[0] in FOLDER_NAMES_NOT_INSTALLED}


def test_the_wheel_ships_every_data_manifest(wheel_names):
    manifests = sorted(path.name for path in (REPOSITORY / "data_manifests").glob("*.json"))
    assert manifests, "no manifest in data_manifests/"
    for name in [*manifests, "README.md"]:
        assert f"specvae_data_manifests/{name}" in wheel_names


def test_the_wheel_ships_every_module_of_the_command_lines(wheel_names):
    modules = sorted(path.name for path in (REPOSITORY / "cli").glob("*.py"))
    assert "specvae_cli.py" in modules
    for name in modules:
        assert f"specvae_cli/{name}" in wheel_names


def test_the_entry_points_resolve_from_the_wheel_alone(unpacked_wheel, tmp_path):
    """`mmcore --help` and `specvae --help` through the wheel's console_scripts, run outside the checkout with the
    unpacked wheel first on the path: the commands, their lazily imported subcommands and the manifests all come
    from the wheel."""
    script = """
import importlib.metadata, json, sys
from pathlib import Path
site = Path(sys.argv[1])
(distribution,) = importlib.metadata.distributions(path=[str(site)])
scripts = {entry.name: entry for entry in distribution.entry_points if entry.group == "console_scripts"}
result = {"scripts": {name: entry.value for name, entry in scripts.items()}, "exit_codes": {}, "files": {}}
for name, entry in sorted(scripts.items()):
    command = entry.load()
    for arguments in (["--help"], ["benchmark", "--help"]):
        try:
            command.main(arguments, prog_name=name)
        except SystemExit as stop:
            result["exit_codes"][" ".join([name, *arguments])] = stop.code
    result["files"][name] = sys.modules[entry.module].__file__
from mmcore.data import manifest
result["manifests"] = str(manifest.manifest_directory())
result["files"]["benchmark"] = sys.modules["specvae_cli.specvae_benchmark_cli"].__file__
print(json.dumps(result))
"""
    environment = {key: value for key, value in os.environ.items() if key != "MMCORE_MANIFEST_DIR"}
    environment["PYTHONPATH"] = str(unpacked_wheel)
    finished = subprocess.run([sys.executable, "-c", script, str(unpacked_wheel)], capture_output=True, text=True,
                              cwd=tmp_path, env=environment, timeout=300)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["scripts"] == {"mmcore": "specvae_cli.mmcore_cli:main", "specvae": "specvae_cli.specvae_cli:main"}
    assert set(result["exit_codes"].values()) == {0}
    assert len(result["exit_codes"]) == 4
    for path in result["files"].values():
        assert Path(path).is_relative_to(unpacked_wheel / "specvae_cli")
    assert Path(result["manifests"]) == unpacked_wheel / "specvae_data_manifests"


def test_the_package_list_names_every_package_folder():
    """pyproject.toml lists the packages one by one (package-dir renames two folders); a new subpackage of mmcore
    or specvae that is not listed would be left out of the wheel."""
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml without an extra package")
    from setuptools import find_namespace_packages

    settings = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert settings["package-dir"] == {"specvae_cli": "cli", "specvae_data_manifests": "data_manifests"}
    found = find_namespace_packages(str(REPOSITORY), include=["mmcore", "mmcore.*", "specvae", "specvae.*"],
                                    exclude=["*.__pycache__"])
    assert sorted(settings["packages"]) == sorted([*found, "specvae_cli", "specvae_data_manifests"])


def _old_name_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [f"{path.relative_to(REPOSITORY)}:{node.lineno} {name}" for name in names
                  if name.split(".")[0] in FOLDER_NAMES_NOT_INSTALLED]
    return found


def test_no_code_imports_the_folder_names():
    """The repository root is on the test path (pytest's pythonpath), so `import cli` would pass here and fail in
    an installed copy; code and tests import the installed names."""
    paths = [path for folder in ("mmcore", "specvae", "cli", "data_manifests", "tests", "benchmarks")
             for path in (REPOSITORY / folder).rglob("*.py")]
    offending = [line for path in paths for line in _old_name_imports(path)]
    assert not offending


def test_the_wheel_ships_the_models_and_the_example(wheel_names):
    for folder in ("specvae/pretrained", "specvae/examples"):
        # Every file, the example script (specvae/examples/draw_top_candidates.py) included.
        files = [path for path in (REPOSITORY / folder).iterdir() if path.is_file()]
        assert files, f"nothing in {folder}"
        for path in files:
            assert f"{folder}/{path.name}" in wheel_names


def test_manifests_are_read_from_the_data_manifests_package(monkeypatch):
    """manifest_directory() follows the specvae_data_manifests package wherever it is installed (here: the
    checkout's data_manifests/ folder, through the editable install)."""
    from mmcore.data import manifest

    monkeypatch.delenv(manifest.MANIFEST_DIR_VARIABLE, raising=False)
    assert (manifest.manifest_directory() / "casmi2016.json").is_file()
    assert manifest.manifest_directory().resolve() == (REPOSITORY / "data_manifests").resolve()
