"""Shared test fixtures: where the real data lives, and the rule that CI never skips a data test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_DIR_VARIABLE = "SPECVAE_DATA_DIR"
REQUIRE_DATA_VARIABLE = "SPECVAE_REQUIRE_DATA"


def real_data_path(relative: str) -> Path:
    """Path of a file in the real-data directory, or skip (fail in CI) with the reason."""
    root = os.environ.get(DATA_DIR_VARIABLE)
    reason = None
    if not root:
        reason = f"{DATA_DIR_VARIABLE} is not set; it points at the real data directory (see data_manifests/)"
    elif not (Path(root) / relative).exists():
        reason = f"{relative} not found under {DATA_DIR_VARIABLE}={root}"
    if reason:
        if os.environ.get(REQUIRE_DATA_VARIABLE):
            pytest.fail(f"data test cannot run: {reason}")
        pytest.skip(reason)
    return Path(root) / relative


@pytest.fixture(scope="session")
def mnist_npz() -> Path:
    return real_data_path("mnist/mnist.npz")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return real_data_path(".")
