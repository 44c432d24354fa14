"""Train one fusion model on a benchmark: the pipeline behind ``mmcore train`` and behind every cell of a grid.

From a benchmark's loaded splits, :func:`train_on_benchmark` makes the training set at a supervision level,
builds the benchmark's modalities and the named fusion model (seeded), trains it with a
:class:`~mmcore.training.Trainer` and computes the seeded test loss. Layout of its output folder::

    <output>/run_config.json                 the caller's description of the run, the paired training
                                             samples, the number of processes and the trainer's settings
    <output>/checkpoints/, training_log.csv/.json    the Trainer's checkpoints and epoch log
    <output>/model.safetensors               the best epoch's weights

Under torchrun every process calls it; only the main process writes files.

    >>> splits = load_benchmark_splits("mnist-split", "data", validation_size=5_000)  # doctest: +SKIP
    >>> spec = ModelSpec("mnist-split", "svae", latent_dim=16)  # doctest: +SKIP
    >>> outcome = train_on_benchmark(spec, splits, 0.1, TrainerConfig(epochs=5), Path("out"))  # doctest: +SKIP
    >>> outcome.test_metrics["loss"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mmcore.atomic import atomic_write_text
from mmcore.benchmarks_setup import get_benchmark
from mmcore.data.dataset import MultimodalDataset
from mmcore.data.manifest import resolve_data_dir
from mmcore.data.splits import DataSplits
from mmcore.models import MultimodalVAE, build_model
from mmcore.training import FitResult, Trainer, TrainerConfig, apply_supervision, with_unimodal_copies
from mmcore.training.checkpoint import save_weights

RUN_CONFIG_FILE = "run_config.json"
MODEL_FILE = "model.safetensors"


@dataclass(frozen=True)
class ModelSpec:
    """Which fusion model to build for a benchmark, from which of the benchmark's networks.

    ``network``, ``hidden_dims`` and ``likelihood`` go to the benchmark's modality builder (``likelihood=None``
    keeps the builder's default); ``model_options`` to the model's constructor (``build_model``).
    """

    benchmark: str
    model: str
    latent_dim: int
    network: str = "mlp"
    hidden_dims: tuple[int, ...] = (400,)
    likelihood: str | None = None
    model_options: Mapping[str, Any] = field(default_factory=dict)

    def build(self, splits: DataSplits, seed: int) -> MultimodalVAE:
        """Fresh networks initialised from ``seed``; data-dependent sizes (CUB's vocabulary) come from ``splits``."""
        torch.manual_seed(seed)
        network_options: dict[str, Any] = {"network": self.network, "hidden_dims": self.hidden_dims}
        if self.likelihood is not None:
            network_options["likelihood"] = self.likelihood
        modalities = get_benchmark(self.benchmark).modalities(self.latent_dim, data=splits, **network_options)
        return build_model(self.model, modalities, self.latent_dim, **self.model_options)


@dataclass
class TrainingOutcome:
    """A trained model, its fit (best epoch and its validation metrics), the training set it saw and its test loss.

    ``test_metrics`` is None when no epoch was trained. ``is_main_process`` is False on every process of a
    torchrun launch but the one that writes files.
    """

    model: MultimodalVAE
    fit: FitResult
    train_data: MultimodalDataset
    train_seconds: float
    test_metrics: dict[str, float] | None
    is_main_process: bool = True


def json_text(values: Mapping[str, Any]) -> str:
    """``values`` as indented JSON with sorted keys; paths and other objects as their text."""
    return json.dumps(values, indent=2, sort_keys=True, default=str) + "\n"


def paired_count(dataset: MultimodalDataset) -> int:
    """How many samples of ``dataset`` have every modality."""
    return int(torch.stack(list(dataset.mask.values())).all(0).sum())


def load_benchmark_splits(
    benchmark: str,
    data_dir: str | Path | None,
    *,
    validation_size: int | None = None,
    seed: int = 0,
    verify: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
    **options: Any,
) -> DataSplits:
    """A benchmark's train/validation/test sets from ``data_dir`` (default: ``$MMCORE_DATA_DIR``).

    ``validation_size`` defaults to the benchmark's; ``options`` go to its loader (``background_dir``,
    ``image_source``, ...). A missing data root raises :class:`~mmcore.data.manifest.DataDirectoryError`
    naming the option and the variable that set it.
    """
    spec = get_benchmark(benchmark)
    if validation_size is None:
        validation_size = spec.validation_size
    return spec.load(
        resolve_data_dir(data_dir),
        validation_size=validation_size,
        seed=seed,
        verify=verify,
        train_size=train_size,
        test_size=test_size,
        **options,
    )


def train_on_benchmark(
    spec: ModelSpec,
    splits: DataSplits,
    supervision: float,
    trainer_config: TrainerConfig,
    output_dir: str | Path,
    *,
    run_config: Mapping[str, Any] | None = None,
    unimodal_copies: bool = False,
    resume: bool = False,
) -> TrainingOutcome:
    """Train ``spec``'s model on ``splits`` with a share ``supervision`` of paired training samples.

    The training set keeps every modality for that share and one modality for the other samples
    (:func:`~mmcore.training.apply_supervision`), or adds unimodal copies of the unpaired share with
    ``unimodal_copies`` (:func:`~mmcore.training.with_unimodal_copies`). ``trainer_config.seed`` seeds the
    masks, the networks' initialisation and the test loss; its checkpoint and log folders are set to
    ``output_dir``. ``run_config`` (the caller's description of the run) is written to ``run_config.json``
    before training starts, with the paired training samples, the processes and the trainer's settings. With
    ``resume`` the Trainer continues from the latest checkpoint in ``output_dir/checkpoints``.
    """
    output_dir = Path(output_dir)
    seed = trainer_config.seed
    make_training_set = with_unimodal_copies if unimodal_copies else apply_supervision
    train_data = make_training_set(splits.train, supervision, seed)
    model = spec.build(splits, seed)
    trainer_config = replace(trainer_config, checkpoint_dir=str(output_dir / "checkpoints"), log_dir=str(output_dir))
    trainer = Trainer(model, trainer_config)
    if trainer.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        description = {
            **(run_config or {}),
            "paired_train_samples": paired_count(train_data),
            "processes": trainer.world_size,
            "trainer": trainer_config.to_dict(),
        }
        atomic_write_text(output_dir / RUN_CONFIG_FILE, json_text(description))
    started = time.perf_counter()
    fit = trainer.fit(train_data, splits.validation, resume=resume)
    train_seconds = time.perf_counter() - started
    if trainer.is_main_process:
        save_weights(output_dir / MODEL_FILE, model.state_dict())
    test_metrics = None
    if fit.best_epoch is not None:
        with torch.random.fork_rng(devices=[]):  # the test loss draws noise: seed it so that it can be recomputed
            torch.manual_seed(seed)
            test_metrics = trainer.evaluate(splits.test)  # every process evaluates its share of the test set
    return TrainingOutcome(model, fit, train_data, train_seconds, test_metrics, trainer.is_main_process)
