"""What a user tells the engine about one modality."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mmcore.likelihoods import Likelihood


@dataclass
class Modality:
    """One modality of a multimodal VAE.

    ``encoder`` maps a batch of this modality to a feature vector ``(batch, feature_dim)``; the engine
    puts a Gaussian head on top. Models that need several experts reading this modality (SVAE's
    replacement experts, VAEVAE's subset networks) build fresh copies of the same architecture, so one
    encoder describes them all. ``decoder`` maps latent codes ``(..., batch, latent_dim)`` to the
    parameters that ``likelihood`` scores. ``reconstruction_weight`` scales this modality's
    log-likelihood in every loss (to balance a 784-pixel image against a 10-class label, say).
    """

    name: str
    encoder: nn.Module
    feature_dim: int
    decoder: nn.Module
    likelihood: Likelihood
    reconstruction_weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise ValueError(f"modality name must be a Python identifier, got {self.name!r}")
        if self.feature_dim <= 0:
            raise ValueError(f"modality {self.name!r}: feature_dim must be positive, got {self.feature_dim}")
        if self.reconstruction_weight < 0:
            raise ValueError(f"modality {self.name!r}: reconstruction_weight must be >= 0")
