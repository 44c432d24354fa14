"""The feed-forward spectrum -> fingerprint network: the SVAE's spectrum -> fingerprint path made deterministic.

Kept apart from its training code (:mod:`specvae.baseline`) so that the model file reader can build any kind of
stored network (fusion model, feed-forward network, ensemble) without importing the training machinery.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcore.models.base import LossOutput
from mmcore.networks import MLP
from specvae.architecture import (
    FINGERPRINT,
    SPECTRUM,
    ArchitectureConfig,
    SpectrumToFingerprintPredictor,
    first_layer_block,
)
from specvae.sparse_linear import SparseLinear

FEEDFORWARD = "feedforward"
"""The ``fusion`` name a feed-forward model file stores in its architecture."""


class FeedForwardFingerprintNetwork(SpectrumToFingerprintPredictor):
    """Binned spectrum -> probabilities of the kept fingerprint bits, with no latent variable.

    Layers: ``SparseLinear(n_bins, hidden_dim)``, ReLU, ``Linear(hidden_dim, latent_dim)``, then the decoder MLP
    ``latent_dim -> hidden_dim -> n_kept_bits`` (ReLU between), giving one logit per bit. ``depth`` gives the decoder
    that many hidden layers; ``batch_norm`` and ``dropout`` act on the first layer's output, the layer that holds
    nearly all the weights (12,000 inputs) and so is where a network this size overfits.

    With ``n_formula_features`` (:mod:`specvae.formula_features`), the first layer also reads a molecular formula's
    features after the bins: the network predicts the bits of a structure *of that formula*
    (:meth:`probabilities_under_formulas`). A spectrum given with its bins only reads as "no formula" (a zero
    block), which is how the rest of the pipeline calls it; ``formula_dropout`` (set for training) zeroes the
    block of that share of the training rows, so the network learns to predict both ways. With ``input_pool`` the
    first layer reads groups of that many consecutive bins summed (1 Da from 0.1 Da bins with 10): a first layer
    that many times smaller.
    """

    kind_name = "the feed-forward baseline"

    def __init__(
        self,
        n_bins: int,
        n_fingerprint_bits: int,
        hidden_dim: int = 192,
        latent_dim: int = 64,
        n_formula_features: int = 0,
        input_pool: int = 1,
        depth: int = 1,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if n_bins % input_pool:
            raise ValueError(f"input_pool {input_pool} must divide the {n_bins} bins")
        self.n_bins = n_bins
        self.n_formula_features = n_formula_features
        self.input_pool = input_pool
        self.formula_dropout = 0.0
        first_layer_inputs = n_bins // input_pool + n_formula_features
        # encoder[0] is the first layer; what follows it (batch norm, ReLU, dropout, bottleneck) is applied as one
        # block, so that probabilities_under_formulas can add a formula's part to the first layer's output alone.
        self.encoder = nn.Sequential(
            *first_layer_block(SparseLinear(first_layer_inputs, hidden_dim), hidden_dim, batch_norm, dropout),
            nn.Linear(hidden_dim, latent_dim),
        )
        self.decoder = MLP(latent_dim, [hidden_dim] * depth, n_fingerprint_bits)
        # The trainer sets per-modality weights here; the baseline has one term and ignores them.
        self.reconstruction_weights: dict[str, float] = {}

    def logits(self, spectrum: Tensor) -> Tensor:
        """``(batch, n_kept_bits)`` logits of the bits of ``(batch, n_bins)`` spectra, or of ``(batch, n_bins +
        n_formula_features)`` spectra with their formulas' features."""
        return self.decoder(self.encoder(self._first_layer_input(spectrum)))

    def _first_layer_input(self, spectrum: Tensor) -> Tensor:
        """The formula block added (zeros) or dropped (training), then the bins pooled."""
        if self.n_formula_features and spectrum.shape[-1] == self.n_bins:
            spectrum = widen_columns(spectrum, self.n_formula_features)
        elif self.n_formula_features and self.training and self.formula_dropout > 0:
            spectrum = drop_formula_block(spectrum, self.n_bins, self.formula_dropout)
        return pool_columns(spectrum, self.n_bins, self.input_pool)

    @torch.no_grad()
    def probabilities_under_formulas(self, spectrum: Tensor, formula_block: Tensor) -> Tensor:
        """``(k, n_kept_bits)`` probabilities for one spectrum ``(1, n_bins)`` under each of ``k`` formulas
        (``formula_block`` ``(k, n_formula_features)``, :func:`specvae.formula_features.formula_feature_matrix`).
        The first layer is linear, so the spectrum's part of it is computed once and each formula's part added."""
        if not self.n_formula_features:
            raise ValueError(f"{self.kind_name} reads no formula")
        first, rest = self.encoder[0], self.encoder[1:]
        spectrum_part = first(self._first_layer_input(spectrum))  # bias included, zero formula block
        formula_weights = first.weight[self.n_bins // self.input_pool :]
        first_output = spectrum_part + formula_block.to(first.weight.dtype) @ formula_weights
        return torch.sigmoid(self.decoder(rest(first_output)))

    def loss(
        self, data: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None, beta: float = 1.0
    ) -> LossOutput:
        """Binary cross-entropy of the fingerprint bits, summed over bits, over samples having both modalities,
        divided by the batch size (samples missing either modality add nothing). ``beta`` is ignored."""
        if SPECTRUM not in data or FINGERPRINT not in data:
            raise KeyError("the feed-forward baseline needs a spectrum and a fingerprint in the batch")
        spectrum, fingerprint = data[SPECTRUM], data[FINGERPRINT]
        batch = spectrum.shape[0]
        paired = torch.ones(batch, dtype=torch.bool, device=spectrum.device)
        if mask is not None:
            for name in (SPECTRUM, FINGERPRINT):
                if name in mask:
                    paired = paired & mask[name].to(torch.bool)
        # Placeholders of unpaired samples are replaced before the network sees them and the loss is selected with
        # torch.where, not multiplied by the mask: a NaN placeholder then reaches neither the loss nor a gradient.
        rows = paired.unsqueeze(-1)
        spectrum = torch.where(rows, spectrum, torch.zeros_like(spectrum))
        fingerprint = torch.where(rows, fingerprint, torch.zeros_like(fingerprint))
        per_sample = F.binary_cross_entropy_with_logits(self.logits(spectrum), fingerprint, reduction="none").sum(-1)
        total = torch.where(paired, per_sample, torch.zeros_like(per_sample)).sum()
        nll_per_paired_sample = total.detach() / paired.sum().clamp(min=1)
        return LossOutput(loss=total / batch, terms={f"nll/{FINGERPRINT}": nll_per_paired_sample})

    def forward(
        self, data: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None, beta: float = 1.0
    ) -> LossOutput:
        return self.loss(data, mask, beta)

    def fingerprint_probabilities(self, spectrum: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(spectrum))


def build_feedforward_network(architecture: ArchitectureConfig) -> FeedForwardFingerprintNetwork:
    """A fresh network of the sizes in ``architecture`` (whose ``fusion`` must be ``"feedforward"``)."""
    if architecture.fusion != FEEDFORWARD:
        raise ValueError(f"not a feed-forward architecture (fusion={architecture.fusion!r})")
    return FeedForwardFingerprintNetwork(
        architecture.n_bins,
        architecture.n_fingerprint_bits,
        architecture.hidden_dim,
        architecture.latent_dim,
        architecture.formula_features,
        architecture.input_pool,
        architecture.depth,
        architecture.batch_norm,
        architecture.dropout,
    )


def widen_columns(spectrum: Tensor, n_columns: int) -> Tensor:
    """``spectrum`` (dense or sparse) with ``n_columns`` zero columns appended."""
    batch, width = spectrum.shape
    if spectrum.is_sparse or spectrum.layout == torch.sparse_csr:
        coo = spectrum.to_sparse_coo().coalesce()
        return torch.sparse_coo_tensor(
            coo.indices(), coo.values(), (batch, width + n_columns), check_invariants=False
        ).coalesce()
    return torch.cat([spectrum, spectrum.new_zeros(batch, n_columns)], dim=1)


def pool_columns(spectrum: Tensor, n_bins: int, pool: int) -> Tensor:
    """``spectrum`` (dense or sparse) with each run of ``pool`` of its first ``n_bins`` columns summed into one;
    the columns after them (a formula block) kept as they are."""
    if pool == 1:
        return spectrum
    batch, width = spectrum.shape
    n_pooled = n_bins // pool
    if spectrum.is_sparse or spectrum.layout == torch.sparse_csr:
        coo = spectrum.to_sparse_coo().coalesce()
        rows, columns = coo.indices()
        pooled_columns = torch.where(columns < n_bins, columns // pool, columns - n_bins + n_pooled)
        indices = torch.stack([rows, pooled_columns])
        shape = (batch, width - n_bins + n_pooled)
        return torch.sparse_coo_tensor(indices, coo.values(), shape, check_invariants=False).coalesce()
    bins = spectrum[:, :n_bins].reshape(batch, n_pooled, pool).sum(dim=-1)
    return torch.cat([bins, spectrum[:, n_bins:]], dim=1)


def drop_formula_block(spectrum: Tensor, n_bins: int, probability: float) -> Tensor:
    """``spectrum`` (dense or sparse, the formula block after ``n_bins``) with the block of each row zeroed with
    ``probability``."""
    dropped = torch.rand(spectrum.shape[0], device=spectrum.device) < probability
    if spectrum.is_sparse or spectrum.layout == torch.sparse_csr:
        coo = spectrum.to_sparse_coo().coalesce()
        rows, columns = coo.indices()
        keep = (columns < n_bins) | ~dropped[rows]
        return torch.sparse_coo_tensor(
            coo.indices()[:, keep], coo.values()[keep], coo.shape, check_invariants=False
        ).coalesce()
    spectrum = spectrum.clone()
    spectrum[dropped, n_bins:] = 0
    return spectrum
