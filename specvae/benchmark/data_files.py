"""Finding a benchmark's directory and checking its files against the data manifest.

A user points the command at a copy of the data with ``--data-dir DIR`` or the environment variable
``SPECVAE_DATA_DIR`` (``MMCORE_DATA_DIR`` also works). ``DIR`` may be the data root that holds ``casmi2016/`` or
that folder itself. Files are verified against their sha256 in ``data_manifests/<benchmark>.json`` before they are
trusted (the torchvision habit); the checksums end up in the report either way.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmcore.data.manifest import ChecksumError, ManifestError, manifest_file, sha256_of, verify_file
from specvae.benchmark.challenges import BenchmarkDataError

DATA_DIR_VARIABLES = ("SPECVAE_DATA_DIR", "MMCORE_DATA_DIR")


def benchmark_directory(data_dir: str | os.PathLike[str] | None, name: str, marker: str) -> Path:
    """The folder holding benchmark ``name``: ``DIR/name`` or ``DIR`` itself, whichever contains ``marker``.

    ``DIR`` is ``data_dir`` when given, else the first of the environment variables ``DATA_DIR_VARIABLES`` set.
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = next((os.environ[variable] for variable in DATA_DIR_VARIABLES if os.environ.get(variable)), None)
    if not data_dir:
        raise BenchmarkDataError(
            f"no data directory for {name}: pass --data-dir DIR or set {DATA_DIR_VARIABLES[0]}=DIR, where DIR (or "
            f"DIR/{name}) holds {marker}"
        )
    root = Path(data_dir)
    for folder in (root / name, root):
        if (folder / marker).is_file():
            return folder
    raise BenchmarkDataError(f"{name}: neither {root / name / marker} nor {root / marker} exists")


def checked_file(folder: Path, file_name: str, benchmark: str, verify: bool, checksums: dict[str, str]) -> Path:
    """``folder/file_name``, verified against the manifest entry ``<benchmark>/<file_name>`` when ``verify``; its
    sha256 is added to ``checksums``."""
    path = folder / file_name
    if not path.is_file():
        raise BenchmarkDataError(f"{benchmark}: {path} not found")
    if verify:
        try:
            expected = manifest_file(benchmark, f"{benchmark}/{file_name}")
            verify_file(path, expected)
        except (ManifestError, ChecksumError) as error:
            raise BenchmarkDataError(f"{error} (--no-verify skips the check)") from error
        checksums[file_name] = expected.sha256
    else:
        checksums[file_name] = sha256_of(path)
    return path
