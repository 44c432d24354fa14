"""The two modalities of specvae (a binned spectrum and a fingerprint) and the model built from them.

specvae knows nothing about how a posterior is fused: it names a fusion model (``svae``, ``vaevae``, ...)
and mmcore builds it from these two modality descriptions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from mmcore import Modality, MultimodalVAE, build_model
from mmcore.likelihoods import BernoulliLikelihood
from mmcore.networks import MLP
from specvae.sparse_linear import SparseLinear
from specvae.spectrum_likelihood import PooledBernoulliLikelihood

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
    spectrum_reconstruction_pool: int = 1
    members: list[dict[str, Any]] = field(default_factory=list)
    """Architectures of the member networks when ``fusion`` is ``"ensemble"`` (empty otherwise)."""
    formula_features: int = 0
    """Formula features the network reads after the bins (:mod:`specvae.formula_features`; feed-forward only)."""
    input_pool: int = 1
    """Consecutive bins the first layer reads summed as one (feed-forward only)."""
    depth: int = 1
    """Hidden layers of the decoders: the feed-forward network's fingerprint decoder, or both decoders of a fusion
    model."""
    batch_norm: bool = False
    """Batch normalisation after the first (widest) layer: of the feed-forward network, or of every encoder of a
    fusion model."""
    dropout: float = 0.0
    """Dropout after the first layer's activation, in training: of the feed-forward network, or of every encoder
    of a fusion model."""

    def __post_init__(self) -> None:
        # A model file is data from anywhere: reject wrong types here, not as a TypeError deep in torch.
        for name in ("n_bins", "n_fingerprint_bits", "latent_dim", "hidden_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        pool = self.spectrum_reconstruction_pool
        if isinstance(pool, bool) or not isinstance(pool, int) or pool <= 0 or self.n_bins % pool:
            raise ValueError(
                f"spectrum_reconstruction_pool must be a positive integer dividing n_bins ({self.n_bins}), got {pool!r}"
            )
        if not isinstance(self.fusion, str):
            raise ValueError(f"fusion must be a model name, got {self.fusion!r}")
        if not isinstance(self.fusion_options, dict):
            raise ValueError(f"fusion_options must be a mapping, got {self.fusion_options!r}")
        if not isinstance(self.members, list) or not all(isinstance(member, dict) for member in self.members):
            raise ValueError(f"members must be a list of architectures, got {self.members!r}")
        input_pool = self.input_pool
        if (
            isinstance(input_pool, bool)
            or not isinstance(input_pool, int)
            or input_pool <= 0
            or self.n_bins % input_pool
        ):
            raise ValueError(
                f"input_pool must be a positive integer dividing n_bins ({self.n_bins}), got {input_pool!r}"
            )
        if self.formula_features:
            from specvae.formula_features import N_FORMULA_FEATURES

            if self.formula_features != N_FORMULA_FEATURES:
                raise ValueError(
                    f"formula_features must be 0 or {N_FORMULA_FEATURES} (the features this version computes), "
                    f"got {self.formula_features!r}"
                )
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth must be a positive integer, got {self.depth!r}")
        if not isinstance(self.batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false, got {self.batch_norm!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        for name in ("spectrum_weight", "fingerprint_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ArchitectureConfig:
        """The config of a stored dict; ``ValueError`` names unknown or missing fields."""
        if not isinstance(values, dict):
            raise ValueError(f"architecture must be a mapping, got {type(values).__name__}")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown architecture field(s) {unknown}")
        try:
            return cls(**values)
        except TypeError as error:  # a required field is missing
            raise ValueError(str(error)) from None


def first_layer_block(first_layer: nn.Module, width: int, batch_norm: bool, dropout: float) -> list[nn.Module]:
    """The first (widest) layer, then (``batch_norm``) batch normalisation, ReLU and (``dropout``) dropout: the
    start of the feed-forward network and of every encoder of a fusion model.

    Without either option the layers, and so the stored names, are the ones of every model file written before the
    options existed (``0``: the first layer, ``1``: ReLU), so those files load unchanged.
    """
    return [
        first_layer,
        *([nn.BatchNorm1d(width)] if batch_norm else []),
        nn.ReLU(),
        *([nn.Dropout(dropout)] if dropout else []),
    ]


def _encoder(first_layer: nn.Module, config: ArchitectureConfig) -> nn.Sequential:
    return nn.Sequential(*first_layer_block(first_layer, config.hidden_dim, config.batch_norm, config.dropout))


def spectrum_modality(config: ArchitectureConfig) -> Modality:
    """Binned spectrum: a sparse first layer reads the peaks; intensities in [0, 1] scored as Bernoulli, per bin or
    (``spectrum_reconstruction_pool > 1``) per group of bins, see :mod:`specvae.spectrum_likelihood`."""
    encoder = _encoder(SparseLinear(config.n_bins, config.hidden_dim), config)
    pool = config.spectrum_reconstruction_pool
    decoder = MLP(config.latent_dim, [config.hidden_dim] * config.depth, config.n_bins // pool)
    likelihood = BernoulliLikelihood() if pool == 1 else PooledBernoulliLikelihood(pool)
    return Modality(SPECTRUM, encoder, config.hidden_dim, decoder, likelihood, config.spectrum_weight)


def fingerprint_modality(config: ArchitectureConfig) -> Modality:
    """Structural fingerprint bits (only the kept bits) with a Bernoulli likelihood."""
    encoder = _encoder(nn.Linear(config.n_fingerprint_bits, config.hidden_dim), config)
    decoder = MLP(config.latent_dim, [config.hidden_dim] * config.depth, config.n_fingerprint_bits)
    return Modality(FINGERPRINT, encoder, config.hidden_dim, decoder, BernoulliLikelihood(), config.fingerprint_weight)


def build_spectrum_fingerprint_model(config: ArchitectureConfig) -> MultimodalVAE:
    """A fresh (untrained) multimodal VAE over spectra and fingerprints."""
    modalities = [spectrum_modality(config), fingerprint_modality(config)]
    return build_model(config.fusion, modalities, config.latent_dim, **config.fusion_options)


class SpectrumToFingerprintPredictor(nn.Module):
    """A network that only predicts fingerprint bits from a spectrum (the feed-forward network, an ensemble).

    It answers ``cross_generate`` as a fusion model does, so the trainer's metric, the annotator and the benchmark
    use it unchanged; any other direction is refused. Subclasses give :meth:`fingerprint_probabilities`.
    """

    modality_names = (SPECTRUM, FINGERPRINT)
    kind_name = "this network"
    """How a refusal names the network (``"the feed-forward baseline"``, ``"an ensemble"``)."""

    def fingerprint_probabilities(self, spectrum: Tensor) -> Tensor:
        """``(batch, n_kept_bits)`` probabilities of the kept bits."""
        raise NotImplementedError

    @torch.no_grad()
    def cross_generate(
        self,
        data: Mapping[str, Tensor],
        sources: Iterable[str],
        targets: Iterable[str] | None = None,
        sample_latent: bool = False,
    ) -> dict[str, Tensor]:
        """Fingerprint probabilities from the spectrum (the only direction such a network has)."""
        sources = list(sources)
        targets = [FINGERPRINT] if targets is None else list(targets)
        if sources != [SPECTRUM] or targets != [FINGERPRINT]:
            raise ValueError(f"{self.kind_name} maps spectrum -> fingerprint only, not {sources} -> {targets}")
        return {FINGERPRINT: self.fingerprint_probabilities(data[SPECTRUM])}
