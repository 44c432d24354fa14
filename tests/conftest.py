"""Shared test fixtures: where the real data lives, and the rule that CI never skips a data test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

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


# ---------------------------------------------------------------- small specvae model files
# Untrained: the tests that use them check plumbing (reading, ranking, output), not accuracy.
TINY_KEPT_BITS = 64


def write_tiny_model(path: Path, ion_mode: str, seed: int = 0, fusion: str = "svae") -> Path:
    from specvae.architecture import ArchitectureConfig
    from specvae.fingerprints import FingerprintDefinition
    from specvae.model_file import ModelMetadata, save_model
    from specvae.networks import build_network
    from specvae.spectra.binning import SpectrumBinner

    """A randomly initialised model (any fusion model, or ``"feedforward"``) on a 1 Da grid with the first 64
    fingerprint bits kept."""
    torch.manual_seed(seed)
    binner = SpectrumBinner(bin_width_da=1.0, max_mz_da=1000.0)
    definition = FingerprintDefinition().with_kept_bits(np.arange(TINY_KEPT_BITS))
    config = ArchitectureConfig(
        n_bins=binner.n_bins, n_fingerprint_bits=TINY_KEPT_BITS, fusion=fusion, latent_dim=4, hidden_dim=16
    )
    model = build_network(config)
    metadata = ModelMetadata(
        architecture=config,
        binning=binner.to_dict(),
        fingerprint=definition.to_dict(),
        ion_mode=ion_mode,
        training={"structures_inchikey14": ["KWILGNNWGSNMPA"], "sources": "test"},
    )
    save_model(path, model, metadata)
    return path


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
