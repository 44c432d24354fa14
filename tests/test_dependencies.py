"""Every third-party package the installed code imports is declared in pyproject.toml, and importing specvae
does not print psims' "hdf5plugin is missing" warning (while other warnings still show)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml without an extra package")

ROOT = Path(__file__).resolve().parents[1]
# Installed package name -> the repository folder it is built from (pyproject.toml's package-dir).
INSTALLED_PACKAGES = {"mmcore": "mmcore", "specvae": "specvae", "specvae_cli": "cli",
                      "specvae_data_manifests": "data_manifests"}


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    declared = set()
    for requirement in requirements:
        declared.add(re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower())
        if requirement.startswith("dask[distributed]"):
            declared.add("distributed")  # the extra is the documented way to install dask's distributed
    return declared


def test_every_imported_distribution_is_declared():
    imported = set()
    for folder in INSTALLED_PACKAGES.values():
        for path in (ROOT / folder).rglob("*.py"):
            imported |= _top_level_imports(path)
    local = set(INSTALLED_PACKAGES) | set(sys.stdlib_module_names) | {"__future__"}
    distributions = packages_distributions()
    declared = _declared_distributions()
    missing = {}
    for module in sorted(imported - local):
        for distribution in distributions.get(module, []):
            if distribution.lower() not in declared:
                missing[module] = distribution
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert {"pyteomics", "pillow"} <= declared


def test_importing_specvae_silences_only_the_hdf5plugin_warning():
    code = (
        "import warnings, specvae.annotator, matchms, pyteomics.mzml\n"
        "warnings.warn('another warning', UserWarning)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "hdf5plugin" not in completed.stderr
    assert "another warning" in completed.stderr
