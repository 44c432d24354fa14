"""``specvae train``: a prepared training set -> a ``.specvae`` model file, with mmcore's Trainer.

The best epoch is the one whose model ranks the validation spectra's true structures highest among all
validation structures (retrieval top-1, ties broken by mean rank), the quantity annotation cares about,
rather than the validation loss.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from mmcore.training import FitResult, Trainer, TrainerConfig
from specvae.architecture import FINGERPRINT, ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.calibration import (
    CALIBRATION_KINDS,
    fit_bit_calibration,
    fold_into_linear,
    last_linear_layer,
    mean_log_loss,
)
from specvae.ensemble_network import ENSEMBLE
from specvae.fingerprints import FingerprintDefinition, compute_fingerprints, fit_bit_mask
from specvae.model_file import ModelMetadata, load_model, save_model
from specvae.prediction import predict_fingerprint_probabilities, retrieval_ranks, retrieval_summary
from specvae.training_set_reader import SpectrumFingerprintDataset, TrainingSet
from specvae.training_set_writer import TrainingSetError
from specvae.unpaired_molecules import UnpairedMolecules, select_unpaired_molecules

SAMPLE_WEIGHTED_FUSIONS = ("svae", "svae-star", "vaevae", "vaevae-a", "vaevae-star")
"""Fusion models with a ``weighting`` option (mmcore's SVAE/VAEVAE family)."""


@dataclass
class TrainingOptions:
    """What ``specvae train`` can be told; saved in the model file."""

    ion_mode: str = "positive"
    fusion: str = "svae"
    fusion_options: dict[str, Any] = field(default_factory=dict)
    latent_dim: int = 64
    hidden_dim: int = 192
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    beta: float = 1.0
    beta_warmup_epochs: float = 5.0
    min_bit_count: int = 10
    seed: int = 0
    max_validation_spectra: int = 2000
    device: str = "cpu"
    progress: bool = True
    early_stopping_patience: int | None = None
    lr_decay_patience: int | None = None
    calibration: str | None = None
    spectrum_reconstruction_pool: int = 1
    formula_dropout: float | None = None
    """None: the network reads the spectrum only. A share in [0, 1): it also reads each spectrum's structure formula
    (:mod:`specvae.formula_features`), left out of that share of the training rows (feed-forward network only)."""
    input_pool: int = 1
    """Consecutive bins the first layer reads summed as one (feed-forward network only)."""
    depth: int = 1
    """Hidden layers of the decoders (the feed-forward network's one, or both of a fusion model)."""
    batch_norm: bool = False
    """Batch normalisation after the first layer (of the feed-forward network, or of every encoder)."""
    dropout: float = 0.0
    """Dropout after the first layer's activation (of the feed-forward network, or of every encoder)."""

    def __post_init__(self) -> None:
        if self.ion_mode not in ("positive", "negative"):
            raise ValueError(f"ion_mode must be 'positive' or 'negative', got {self.ion_mode!r}")
        if self.min_bit_count < 1:
            raise ValueError(f"min_bit_count must be >= 1, got {self.min_bit_count}")
        if self.fusion in SAMPLE_WEIGHTED_FUSIONS and "weighting" not in self.fusion_options:
            # Eq. 22 of the SVAE paper weighs each presence pattern's average equally. A MassBank training set has
            # 74 spectra without a structure among 66,585: per pattern, the one such spectrum in a batch would weigh
            # as much as the 127 paired ones together. specvae weighs every sample alike (1 / batch size), as the
            # shipped models were trained; the paper's weighting stays available as fusion option weighting=paper.
            self.fusion_options = {**self.fusion_options, "weighting": "sample"}
        if self.formula_dropout is not None and not 0.0 <= self.formula_dropout < 1.0:
            raise ValueError(f"formula_dropout must be None or in [0, 1), got {self.formula_dropout!r}")
        if self.calibration is not None and self.calibration not in CALIBRATION_KINDS:
            raise ValueError(f"calibration must be one of {CALIBRATION_KINDS} or None, got {self.calibration!r}")


def _validation_metric(validation_spectra: scipy.sparse.csr_matrix, true_rows: np.ndarray, candidate_bits: np.ndarray):
    def metric(model, _loader) -> dict[str, float]:
        probabilities = predict_fingerprint_probabilities(model, validation_spectra)
        summary = retrieval_summary(retrieval_ranks(probabilities, true_rows, candidate_bits))
        # One number to maximise: top-1 share, with the mean rank breaking ties between epochs.
        summary["retrieval_score"] = summary["retrieval_top1"] - 1e-6 * summary["retrieval_mean_rank"]
        return summary

    return metric


@dataclass
class TrainingInputs:
    """Everything a model is trained and validated on, prepared once from a training-set file.

    Shared by ``train_specvae_model`` and the feed-forward baseline (``specvae.baseline``), so that both see the
    same samples, the same kept bits and the same validation retrieval metric.
    """

    data: TrainingSet
    definition: FingerprintDefinition
    dataset: SpectrumFingerprintDataset
    validation_dataset: SpectrumFingerprintDataset
    metric: Callable[[Any, Any], dict[str, float]]
    n_training_spectra: int
    n_training_structures: int
    n_unpaired_spectra: int
    n_unpaired_molecules: int
    n_validation_spectra: int
    n_validation_structures: int
    validation_spectra: scipy.sparse.csr_matrix | None = None
    validation_true_rows: np.ndarray | None = None
    validation_candidate_bits: np.ndarray | None = None
    unpaired: UnpairedMolecules | None = None

    @property
    def validation_bits(self) -> np.ndarray:
        """Kept bits of each validation spectrum's true structure, ``(n_validation_spectra, n_kept_bits)``."""
        return self.validation_candidate_bits[self.validation_true_rows]


def with_structure_formulas(data: TrainingSet, training_set_path: str | os.PathLike[str]) -> scipy.sparse.csr_matrix:
    """The set's spectra with their structures' formula features appended (zeros for a spectrum without one), the
    input of a network that reads formulas: in training it learns from the true formula, and the validation metric
    measures it given the true formula."""
    from specvae.formula_features import formula_feature_matrix
    from specvae.validation_lists import structure_formulas_and_masses

    formulas, _ = structure_formulas_and_masses(training_set_path)
    features = formula_feature_matrix(formulas)
    has_structure = data.spectrum_structure >= 0
    block = np.zeros((data.spectra.shape[0], features.shape[1]), dtype=np.float32)
    block[has_structure] = features[data.spectrum_structure[has_structure]]
    return scipy.sparse.hstack([data.spectra, scipy.sparse.csr_matrix(block)], format="csr", dtype=np.float32)


def prepare_training_inputs(
    training_set_path: str | os.PathLike[str], options: TrainingOptions, unpaired_smiles: Sequence[str] = ()
) -> TrainingInputs:
    """Load one ion mode of a training set, fit the kept-bit mask on the training structures, and build the
    training samples, the validation samples and the validation retrieval metric."""
    data = TrainingSet.load(training_set_path, options.ion_mode)
    if options.formula_dropout is not None:
        data.spectra = with_structure_formulas(data, training_set_path)
    train_structures = data.structures_in("train")
    if train_structures.size == 0:
        raise TrainingSetError(f"{training_set_path}: no training structure in {options.ion_mode} mode")

    all_bits = data.fingerprint_bits()
    structures_with_spectra = np.unique(data.spectrum_structure[data.spectrum_structure >= 0])
    train_with_spectra = np.intersect1d(train_structures, structures_with_spectra)
    kept = fit_bit_mask(all_bits[train_with_spectra], options.min_bit_count)
    definition = data.fingerprint.with_kept_bits(kept)
    kept_bits = definition.select_kept(all_bits)

    train_spectra = data.spectra_in("train")
    spectrum_rows = train_spectra
    fingerprint_rows = data.spectrum_structure[train_spectra]
    extra_fingerprints = np.zeros((0, kept_bits.shape[1]), dtype=bool)
    unpaired = None
    if unpaired_smiles:
        # neither a structure of the training-set file (any split) nor one excluded from it may come back in
        unpaired = select_unpaired_molecules(
            unpaired_smiles, set(data.structure_inchikey14.tolist()) | data.excluded_inchikey14()
        )
        # packed, then unpacked a block at a time: a million molecules' full bits would hold gigabytes at once
        result = compute_fingerprints(unpaired.smiles, data.fingerprint, n_workers=1, packed=True)
        valid = np.setdiff1d(np.arange(len(unpaired.smiles)), [error.index for error in result.errors])
        packed = result.fingerprints[valid]
        rows = 50_000
        blocks = [
            definition.select_kept(
                np.unpackbits(packed[start : start + rows], axis=1, count=data.fingerprint.n_bits)
            ).astype(bool)
            for start in range(0, len(packed), rows)
        ]
        extra_fingerprints = np.concatenate(blocks) if blocks else extra_fingerprints
    n_extra = extra_fingerprints.shape[0]
    dataset = SpectrumFingerprintDataset(
        data.spectra,
        np.concatenate([kept_bits, extra_fingerprints]),
        np.concatenate([spectrum_rows, np.full(n_extra, -1)]),
        np.concatenate([fingerprint_rows, np.arange(len(kept_bits), len(kept_bits) + n_extra)]),
    )

    validation_spectra = data.spectra_in("validation")
    generator = np.random.default_rng(options.seed)
    if validation_spectra.size > options.max_validation_spectra:
        validation_spectra = np.sort(
            generator.choice(validation_spectra, options.max_validation_spectra, replace=False)
        )
    if validation_spectra.size == 0:
        raise TrainingSetError(f"{training_set_path}: no validation spectrum in {options.ion_mode} mode")
    validation_structures = np.unique(data.spectrum_structure[validation_spectra])
    row_of = {structure: row for row, structure in enumerate(validation_structures)}
    true_rows = np.array([row_of[structure] for structure in data.spectrum_structure[validation_spectra]])
    metric = _validation_metric(data.spectra[validation_spectra], true_rows, kept_bits[validation_structures])
    validation_dataset = SpectrumFingerprintDataset(
        data.spectra, kept_bits, validation_spectra, data.spectrum_structure[validation_spectra]
    )
    return TrainingInputs(
        data=data,
        definition=definition,
        dataset=dataset,
        validation_dataset=validation_dataset,
        metric=metric,
        n_training_spectra=int(len(train_spectra)),
        n_training_structures=int(train_with_spectra.size),
        n_unpaired_spectra=int((fingerprint_rows < 0).sum()),
        n_unpaired_molecules=int(n_extra),
        n_validation_spectra=int(validation_spectra.size),
        n_validation_structures=int(validation_structures.size),
        validation_spectra=data.spectra[validation_spectra],
        validation_true_rows=true_rows,
        validation_candidate_bits=kept_bits[validation_structures],
        unpaired=unpaired,
    )


def _fingerprint_decoder(model: Any) -> torch.nn.Module:
    decoders = getattr(model, "decoders", None)
    return decoders[FINGERPRINT] if decoders is not None else model.decoder


def calibrate_fingerprint_bits(model: Any, inputs: TrainingInputs, kind: str, seed: int = 0) -> dict[str, Any]:
    """Calibrate the model's predicted bits on the validation spectra (see :mod:`specvae.calibration`), in place.

    What it is worth is measured first, honestly: the map is fitted on the spectra of half the validation
    structures and scored on the other half (log-loss and retrieval among all validation structures, before and
    after). Then it is refitted on every validation spectrum and folded into the decoder's last layer.
    """
    probabilities = predict_fingerprint_probabilities(model, inputs.validation_spectra).astype(np.float64)
    bits = inputs.validation_bits
    structures = np.unique(inputs.validation_true_rows)
    fit_half = np.random.default_rng(seed).permutation(structures)[: structures.size // 2]
    fit_rows = np.isin(inputs.validation_true_rows, fit_half)
    held_out = ~fit_rows
    half_map = fit_bit_calibration(probabilities[fit_rows], bits[fit_rows], kind)
    calibrated = half_map.apply(probabilities[held_out])
    true_rows, candidates = inputs.validation_true_rows[held_out], inputs.validation_candidate_bits
    before = retrieval_summary(retrieval_ranks(probabilities[held_out], true_rows, candidates))
    after = retrieval_summary(retrieval_ranks(calibrated, true_rows, candidates))
    report = {
        "kind": kind,
        "held_out_spectra": int(held_out.sum()),
        "held_out_log_loss_before": mean_log_loss(probabilities[held_out], bits[held_out]),
        "held_out_log_loss_after": mean_log_loss(calibrated, bits[held_out]),
        "held_out_top1_before": before.get("retrieval_top1"),
        "held_out_top1_after": after.get("retrieval_top1"),
        "held_out_top10_before": before.get("retrieval_top10"),
        "held_out_top10_after": after.get("retrieval_top10"),
    }
    fold_into_linear(last_linear_layer(_fingerprint_decoder(model)), fit_bit_calibration(probabilities, bits, kind))
    return report


def validation_inputs_of(
    metadata: ModelMetadata, training_set_path: str | os.PathLike[str], model_path: str | os.PathLike[str]
) -> TrainingInputs:
    """The training inputs a trained model was validated on: its ion mode, kept bits and draw of validation spectra
    (the options its training record states), from the training set it was trained on.

    Raises :class:`TrainingSetError` when the set's kept bits differ from the model's (another file or
    ``min_bit_count``): whatever is fitted or measured on other bits would not describe the model.
    """
    saved = metadata.training.get("options", {})
    options = TrainingOptions(
        ion_mode=metadata.ion_mode,
        min_bit_count=int(saved.get("min_bit_count", TrainingOptions.min_bit_count)),
        seed=int(saved.get("seed", 0)),
        max_validation_spectra=int(saved.get("max_validation_spectra", TrainingOptions.max_validation_spectra)),
        progress=False,
    )
    inputs = prepare_training_inputs(training_set_path, options)
    if inputs.definition.to_dict() != metadata.fingerprint:
        raise TrainingSetError(
            f"{training_set_path}: its kept fingerprint bits differ from those of {model_path}; "
            "give the training set the model was trained on"
        )
    return inputs


def calibrate_model_file(
    model_path: str | os.PathLike[str],
    training_set_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    kind: str = "temperature",
    command: str = "",
) -> dict[str, Any]:
    """Calibrate a trained model (fusion or feed-forward) on the validation spectra of the training set it was
    trained on, and write the calibrated model to ``output``; returns the calibration report it stores.

    The training set must give the model's own kept bits (same file and ``min_bit_count``): a calibration fitted
    on other bits would be folded into the wrong outputs, so a mismatch is refused.
    """
    model, metadata = load_model(model_path)
    if metadata.architecture.fusion == ENSEMBLE:
        raise TrainingSetError(
            f"{model_path}: an ensemble is calibrated through its members: calibrate each, then build the ensemble"
        )
    if metadata.training.get("calibration"):
        raise TrainingSetError(f"{model_path}: the model is calibrated already")
    inputs = validation_inputs_of(metadata, training_set_path, model_path)
    seed = int(metadata.training.get("options", {}).get("seed", 0))
    report = {**calibrate_fingerprint_bits(model, inputs, kind, seed=seed), "command": command}
    metadata.training = {**metadata.training, "calibration": report}
    save_model(output, model, metadata, half_precision=True)
    return report


def trainer_config(options: TrainingOptions, checkpoint_dir: str | os.PathLike[str] | None) -> TrainerConfig:
    """The Trainer settings of ``options``: best epoch by the validation retrieval score."""
    return TrainerConfig(
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        beta=options.beta,
        beta_warmup_epochs=options.beta_warmup_epochs,
        seed=options.seed,
        device=options.device,
        checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        log_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        validation_metric="retrieval_score",
        validation_mode="max",
        progress=options.progress,
        early_stopping_patience=options.early_stopping_patience,
        lr_decay_patience=options.lr_decay_patience,
    )


def _json_attribute(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def training_record(
    training_set_path: str | os.PathLike[str],
    inputs: TrainingInputs,
    result: FitResult,
    options: TrainingOptions,
    command: str,
    seconds: float,
) -> dict[str, Any]:
    """What a model file says about its training (``ModelMetadata.training``)."""
    data = inputs.data
    return {
        "training_set": Path(training_set_path).name,
        # The training-set file stores these as JSON text; the model file holds the lists themselves.
        "sources": _json_attribute(data.attributes.get("sources")),
        "licenses": _json_attribute(data.attributes.get("licenses")),
        "excluded_inchikey14_count": len(data.excluded_inchikey14()),
        "n_training_spectra": inputs.n_training_spectra,
        "n_training_structures": inputs.n_training_structures,
        "n_unpaired_spectra": inputs.n_unpaired_spectra,
        "n_unpaired_molecules": inputs.n_unpaired_molecules,
        "n_validation_spectra": inputs.n_validation_spectra,
        "n_validation_structures": inputs.n_validation_structures,
        "best_epoch": result.best_epoch,
        "validation_metrics": result.best_metrics,
        "history": result.history,
        "options": options.__dict__,
        "command": command,
        "seconds": round(seconds, 1),
        **({"unpaired_molecules": inputs.unpaired.summary()} if inputs.unpaired else {}),
        # Every structure of the training-set file (train, validation and test splits) and every unpaired molecule:
        # a benchmark refuses a model that may have seen one of its answers, and this list is what it checks against.
        "structures_inchikey14": sorted(
            set(data.structure_inchikey14.tolist()) | set(inputs.unpaired.inchikey14 if inputs.unpaired else ())
        ),
    }


def train_specvae_model(
    training_set_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: TrainingOptions | None = None,
    unpaired_smiles: Sequence[str] = (),
    checkpoint_dir: str | os.PathLike[str] | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Train a model on one ion mode of a prepared training set and write it to ``output``.

    ``unpaired_smiles`` adds molecules without spectra (they train the fingerprint side, as in the SVAE paper).
    Returns the training record stored in the model file.
    """
    options = options or TrainingOptions()
    if options.formula_dropout is not None or options.input_pool != 1:
        raise ValueError(
            "formula_dropout and input_pool: only the feed-forward network has them (specvae benchmark train-baseline)"
        )
    started = time.perf_counter()
    torch.manual_seed(options.seed)
    inputs = prepare_training_inputs(training_set_path, options, unpaired_smiles)

    architecture = ArchitectureConfig(
        n_bins=inputs.data.binner.n_bins,
        n_fingerprint_bits=inputs.definition.n_kept_bits,
        fusion=options.fusion,
        fusion_options=options.fusion_options,
        latent_dim=options.latent_dim,
        hidden_dim=options.hidden_dim,
        spectrum_reconstruction_pool=options.spectrum_reconstruction_pool,
        depth=options.depth,
        batch_norm=options.batch_norm,
        dropout=options.dropout,
    )
    model = build_spectrum_fingerprint_model(architecture)
    trainer = Trainer(model, trainer_config(options, checkpoint_dir), validation_metric=inputs.metric)
    result = trainer.fit(inputs.dataset, inputs.validation_dataset, resume=checkpoint_dir is not None)
    model.to("cpu").eval()
    calibration = None
    if options.calibration is not None:
        calibration = calibrate_fingerprint_bits(model, inputs, options.calibration, options.seed)

    record = training_record(training_set_path, inputs, result, options, command, time.perf_counter() - started)
    record["calibration"] = calibration
    metadata = ModelMetadata(
        architecture=architecture,
        binning=inputs.data.binner.to_dict(),
        fingerprint=inputs.definition.to_dict(),
        ion_mode=options.ion_mode,
        training=record,
    )
    if trainer.is_main_process:  # under torchrun every process trains; only rank 0 writes the model file
        save_model(output, model, metadata, half_precision=True)
    return record
