"""A plain feed-forward spectrum -> fingerprint network: the baseline that shows what the multimodal VAE adds.

The network is the SVAE's spectrum -> fingerprint path at the posterior mean, made deterministic: the same
sparse first layer (``n_bins -> hidden_dim``, ReLU), a linear map to ``latent_dim`` (where the VAE has its
posterior mean), and the same decoder MLP (``latent_dim -> hidden_dim -> n_kept_bits``). It is trained only on
spectra with a structure, by binary cross-entropy of the kept fingerprint bits, with the same data, epochs,
batch size, learning rate, seed and best-epoch rule (validation retrieval) as ``specvae train``. Everything a
fusion model has on top of this (a fingerprint encoder, spectrum reconstruction, the KL term, posterior fusion,
unpaired data) is what a comparison against it measures.

The network answers the calls the trainer and the prediction code make of a fusion model (``loss``/``forward``,
``cross_generate``, ``modality_names``, ``reconstruction_weights``), so neither branches on the kind of model.
Its model file is an ordinary ``.specvae`` file whose architecture names ``fusion="feedforward"``; read it with
:func:`load_feedforward_model` (``specvae.model_file.load_model`` builds fusion models only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from mmcore.models.base import LossOutput
from mmcore.networks import MLP
from mmcore.training import Trainer
from specvae.architecture import FINGERPRINT, SPECTRUM, ArchitectureConfig
from specvae.model_file import ModelFileError, ModelMetadata, read_metadata, save_model
from specvae.sparse_linear import SparseLinear
from specvae.training import (
    TrainingOptions,
    calibrate_fingerprint_bits,
    prepare_training_inputs,
    trainer_config,
    training_record,
)

FEEDFORWARD = "feedforward"
"""The ``fusion`` name a feed-forward model file stores in its architecture."""


class FeedForwardFingerprintNetwork(nn.Module):
    """Binned spectrum -> probabilities of the kept fingerprint bits, with no latent variable.

    Layers: ``SparseLinear(n_bins, hidden_dim)``, ReLU, ``Linear(hidden_dim, latent_dim)``, then the decoder MLP
    ``latent_dim -> hidden_dim -> n_kept_bits`` (ReLU between), giving one logit per bit.
    """

    modality_names = (SPECTRUM, FINGERPRINT)

    def __init__(self, n_bins: int, n_fingerprint_bits: int, hidden_dim: int = 192, latent_dim: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(SparseLinear(n_bins, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim))
        self.decoder = MLP(latent_dim, [hidden_dim], n_fingerprint_bits)
        # The trainer sets per-modality weights here; the baseline has one term and ignores them.
        self.reconstruction_weights: dict[str, float] = {}

    def logits(self, spectrum: Tensor) -> Tensor:
        """``(batch, n_kept_bits)`` logits of the bits."""
        return self.decoder(self.encoder(spectrum))

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

    @torch.no_grad()
    def cross_generate(
        self,
        data: Mapping[str, Tensor],
        sources: Iterable[str],
        targets: Iterable[str] | None = None,
        sample_latent: bool = False,
    ) -> dict[str, Tensor]:
        """Fingerprint probabilities from the spectrum (the only direction this network has)."""
        sources = list(sources)
        targets = [FINGERPRINT] if targets is None else list(targets)
        if sources != [SPECTRUM] or targets != [FINGERPRINT]:
            raise ValueError(f"the feed-forward baseline maps spectrum -> fingerprint only, not {sources} -> {targets}")
        return {FINGERPRINT: torch.sigmoid(self.logits(data[SPECTRUM]))}


def build_feedforward_network(architecture: ArchitectureConfig) -> FeedForwardFingerprintNetwork:
    """A fresh network of the sizes in ``architecture`` (whose ``fusion`` must be ``"feedforward"``)."""
    if architecture.fusion != FEEDFORWARD:
        raise ValueError(f"not a feed-forward architecture (fusion={architecture.fusion!r})")
    return FeedForwardFingerprintNetwork(
        architecture.n_bins, architecture.n_fingerprint_bits, architecture.hidden_dim, architecture.latent_dim
    )


def load_feedforward_model(path: str | os.PathLike[str]) -> tuple[FeedForwardFingerprintNetwork, ModelMetadata]:
    """The network (eval mode, CPU) and metadata of a feed-forward model file."""
    metadata = read_metadata(path)
    if metadata.architecture.fusion != FEEDFORWARD:
        raise ModelFileError(f"{path}: not a feed-forward model (fusion={metadata.architecture.fusion!r})")
    network = build_feedforward_network(metadata.architecture)
    try:
        network.load_state_dict(load_file(str(path), device="cpu"))
    except (SafetensorError, RuntimeError) as error:
        raise ModelFileError(f"{path}: weights do not match the stored architecture ({error})") from error
    return network.eval(), metadata


def train_feedforward_model(
    training_set_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: TrainingOptions | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Train the baseline on one ion mode of a prepared training set exactly as ``train_specvae_model`` trains a
    fusion model (same samples, kept bits, trainer settings and best-epoch rule) and write it to ``output``.

    ``options.fusion`` and the KL settings are ignored. Returns the training record stored in the model file.
    """
    options = options or TrainingOptions()
    started = time.perf_counter()
    torch.manual_seed(options.seed)
    inputs = prepare_training_inputs(training_set_path, options)
    architecture = ArchitectureConfig(
        n_bins=inputs.data.binner.n_bins,
        n_fingerprint_bits=inputs.definition.n_kept_bits,
        fusion=FEEDFORWARD,
        latent_dim=options.latent_dim,
        hidden_dim=options.hidden_dim,
    )
    network = build_feedforward_network(architecture)
    trainer = Trainer(network, trainer_config(options, checkpoint_dir), validation_metric=inputs.metric)
    result = trainer.fit(inputs.dataset, inputs.validation_dataset, resume=checkpoint_dir is not None)
    network.to("cpu").eval()
    calibration = None
    if options.calibration is not None:
        calibration = calibrate_fingerprint_bits(network, inputs, options.calibration, options.seed)
    record = training_record(training_set_path, inputs, result, options, command, time.perf_counter() - started)
    record["calibration"] = calibration
    record["options"] = {**record["options"], "fusion": FEEDFORWARD}
    metadata = ModelMetadata(
        architecture=architecture,
        binning=inputs.data.binner.to_dict(),
        fingerprint=inputs.definition.to_dict(),
        ion_mode=options.ion_mode,
        training=record,
    )
    if trainer.is_main_process:
        save_model(output, network, metadata, half_precision=True)
    return record
