"""Shared test fixtures: where the real data lives, and the rule that CI never skips a data test."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_helpers import real_data_path, write_tiny_model


@pytest.fixture(scope="session")
def mnist_npz() -> Path:
    return real_data_path("mnist/mnist.npz")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return real_data_path(".")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("models")
    return {
        mode: write_tiny_model(directory / f"{mode}.specvae", mode, seed)
        for seed, mode in enumerate(("positive", "negative"))
    }


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    """The shared small spectrum file and per-spectrum candidate table (tests_specvae_inputs), written to tmp_path."""
    from tests_specvae_inputs import CANDIDATES, MGF

    spectra, candidates = tmp_path / "spectra.mgf", tmp_path / "candidates.csv"
    spectra.write_text(MGF)
    candidates.write_text(CANDIDATES)
    return spectra, candidates
