"""A plain feed-forward spectrum -> fingerprint network: the baseline that shows what the multimodal VAE adds.

The network (:mod:`specvae.feedforward_network`) is the SVAE's spectrum -> fingerprint path at the posterior
mean, made deterministic. It is trained only on spectra with a structure, by binary cross-entropy of the kept
fingerprint bits, with the same data, epochs, batch size, learning rate, seed and best-epoch rule (validation
retrieval) as ``specvae train``. Everything a fusion model has on top of this (a fingerprint encoder, spectrum
reconstruction, the KL term, posterior fusion, unpaired data) is what a comparison against it measures.

Its model file is an ordinary ``.specvae`` file whose architecture names ``fusion="feedforward"``;
``specvae.model_file.load_model`` reads it like any other.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from mmcore.training import Trainer
from specvae.architecture import ArchitectureConfig
from specvae.feedforward_network import FEEDFORWARD, FeedForwardFingerprintNetwork, build_feedforward_network
from specvae.formula_features import N_FORMULA_FEATURES
from specvae.model_file import ModelFileError, ModelMetadata, load_model, save_model
from specvae.training import (
    TrainingOptions,
    calibrate_fingerprint_bits,
    prepare_training_inputs,
    trainer_config,
    training_record,
)

__all__ = ["FEEDFORWARD", "FeedForwardFingerprintNetwork", "load_feedforward_model", "train_feedforward_model"]


def load_feedforward_model(path: str | os.PathLike[str]) -> tuple[FeedForwardFingerprintNetwork, ModelMetadata]:
    """The network (eval mode, CPU) and metadata of a feed-forward model file, verified like any model file."""
    network, metadata = load_model(path)
    if metadata.architecture.fusion != FEEDFORWARD:
        raise ModelFileError(f"{path}: not a feed-forward model (fusion={metadata.architecture.fusion!r})")
    return network, metadata


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
        formula_features=0 if options.formula_dropout is None else N_FORMULA_FEATURES,
        input_pool=options.input_pool,
        depth=options.depth,
        batch_norm=options.batch_norm,
        dropout=options.dropout,
    )
    network = build_feedforward_network(architecture)
    network.formula_dropout = options.formula_dropout or 0.0
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
