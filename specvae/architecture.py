"""The two modalities of specvae (a binned spectrum and a fingerprint) and the model built from them.

specvae knows nothing about how a posterior is fused: it names a fusion model (``svae``, ``vaevae``, ...)
and mmcore builds it from these two modality descriptions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from mmcore import Modality, MultimodalVAE, build_model
from mmcore.likelihoods import BernoulliLikelihood
from mmcore.networks import MLP
from specvae.sparse_linear import SparseLinear

SPECTRUM = "spectrum"
FINGERPRINT = "fingerprint"


@dataclass
class ArchitectureConfig:
    """Sizes and fusion model of a spectrum↔fingerprint VAE; stored in every model file."""

    n_bins: int
    n_fingerprint_bits: int
    fusion: str = "svae"
    fusion_options: dict[str, Any] = field(default_factory=dict)
    latent_dim: int = 64
    hidden_dim: int = 512
    spectrum_weight: float = 1.0
    fingerprint_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("n_bins", "n_fingerprint_bits", "latent_dim", "hidden_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ArchitectureConfig:
        return cls(**values)


def spectrum_modality(config: ArchitectureConfig) -> Modality:
    """Binned spectrum: a sparse first layer reads the peaks; intensities in [0, 1] scored as Bernoulli."""
    encoder = nn.Sequential(SparseLinear(config.n_bins, config.hidden_dim), nn.ReLU())
    decoder = MLP(config.latent_dim, [config.hidden_dim], config.n_bins)
    return Modality(SPECTRUM, encoder, config.hidden_dim, decoder, BernoulliLikelihood(), config.spectrum_weight)


def fingerprint_modality(config: ArchitectureConfig) -> Modality:
    """Structural fingerprint bits (only the kept bits) with a Bernoulli likelihood."""
    encoder = nn.Sequential(nn.Linear(config.n_fingerprint_bits, config.hidden_dim), nn.ReLU())
    decoder = MLP(config.latent_dim, [config.hidden_dim], config.n_fingerprint_bits)
    return Modality(FINGERPRINT, encoder, config.hidden_dim, decoder, BernoulliLikelihood(), config.fingerprint_weight)


def build_spectrum_fingerprint_model(config: ArchitectureConfig) -> MultimodalVAE:
    """A fresh (untrained) multimodal VAE over spectra and fingerprints."""
    modalities = [spectrum_modality(config), fingerprint_modality(config)]
    return build_model(config.fusion, modalities, config.latent_dim, **config.fusion_options)
