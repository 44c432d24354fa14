"""The network a model file's architecture describes: a fusion model, the feed-forward network, or an ensemble.

One function for every reader of model files (shape checks on the ``meta`` device, loading), so a new kind of
stored network is added in one place.
"""

from __future__ import annotations

from torch import nn

from specvae.architecture import ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.ensemble_network import ENSEMBLE, FingerprintEnsemble
from specvae.feedforward_network import FEEDFORWARD, build_feedforward_network


def build_network(architecture: ArchitectureConfig) -> nn.Module:
    """A fresh (untrained) network of ``architecture``; raises ``ValueError``/``KeyError`` for an unknown kind."""
    if architecture.fusion == ENSEMBLE:
        members = [ArchitectureConfig.from_dict(member) for member in architecture.members]
        for member in members:
            if member.fusion == ENSEMBLE:
                raise ValueError("an ensemble member cannot itself be an ensemble")
            if (member.n_bins, member.n_fingerprint_bits) != (architecture.n_bins, architecture.n_fingerprint_bits):
                raise ValueError("every ensemble member must read the ensemble's bins and predict its kept bits")
        return FingerprintEnsemble([build_network(member) for member in members])
    if architecture.members:
        raise ValueError(f"only an ensemble has members (fusion={architecture.fusion!r})")
    if architecture.fusion == FEEDFORWARD:
        return build_feedforward_network(architecture)
    return build_spectrum_fingerprint_model(architecture)
