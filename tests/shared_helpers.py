"""Helpers the tests import by name: where the real data lives (and the rule that CI never skips a data test), and
small specvae model files.

A module of its own, not ``conftest.py``: several folders have a ``conftest.py``, and importing names from
``conftest`` would find whichever of them was imported first.
"""

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


# ---------------------------------------------------------------- small specvae model files
# Untrained: the tests that use them check plumbing (reading, ranking, output), not accuracy.
TINY_KEPT_BITS = 64


def write_tiny_model(
    path: Path, ion_mode: str, seed: int = 0, fusion: str = "svae", formula_features: int = 0, first_kept_bit: int = 0
) -> Path:
    """A randomly initialised model (any fusion model, or ``"feedforward"``, which may read ``formula_features``) on
    a 1 Da grid with 64 fingerprint bits kept (from ``first_kept_bit`` on)."""
    from specvae.architecture import ArchitectureConfig
    from specvae.fingerprints import FingerprintDefinition
    from specvae.model_file import ModelMetadata, save_model
    from specvae.networks import build_network
    from specvae.spectra.binning import SpectrumBinner

    torch.manual_seed(seed)
    binner = SpectrumBinner(bin_width_da=1.0, max_mz_da=1000.0)
    definition = FingerprintDefinition().with_kept_bits(np.arange(first_kept_bit, first_kept_bit + TINY_KEPT_BITS))
    config = ArchitectureConfig(
        n_bins=binner.n_bins,
        n_fingerprint_bits=TINY_KEPT_BITS,
        fusion=fusion,
        latent_dim=4,
        hidden_dim=16,
        formula_features=formula_features,
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
