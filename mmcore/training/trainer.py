"""One trainer for every fusion model.

The trainer only uses the :class:`~mmcore.models.base.MultimodalVAE` interface (``model(data, mask,
beta=...)`` returns a :class:`~mmcore.models.base.LossOutput`), so it never branches on a model's name.
It owns everything a model must not know about: the device, the optimiser (Adam), the KL warm-up, the
data order, checkpoints, logs and the progress bar.

Reproducibility: the data order of epoch ``e`` is a function of ``(seed, e)`` only
(:class:`~mmcore.data.loader.EpochSampler`), and the state of torch's random number generator (which the
models use for their reparametrisation noise) is saved in every checkpoint. Hence training ``n`` epochs
straight and training ``k`` epochs, stopping, and resuming for ``n - k`` give the same parameters.

Distributed training is prepared for, not implemented: the model never sees a device, batches are moved
here, the data order comes from a sampler object, and only the main process (``is_main_process``) writes
files.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mmcore.data.loader import BatchSource, DeviceLoader, EpochSampler, MultimodalLoader
from mmcore.models.base import MultimodalVAE
from mmcore.training import checkpoint as checkpoints
from mmcore.training.config import TrainerConfig
from mmcore.training.epoch_log import write_epoch_log
from mmcore.training.schedule import warmup_beta
from mmcore.training.validation import ValidationMetric, validation_loss


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns: the best epoch (1-based), its validation metrics, and every epoch's record."""

    best_epoch: int | None
    best_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def epochs_completed(self) -> int:
        return len(self.history)


def _copy_state(model: torch.nn.Module) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


class Trainer:
    """Train a :class:`MultimodalVAE` with Adam on a :class:`~mmcore.data.dataset.MultimodalDataset`.

    Example::

        trainer = Trainer(model, TrainerConfig(epochs=20, beta_warmup_epochs=5, checkpoint_dir="out/"))
        result = trainer.fit(splits.train, splits.validation, resume=True)
        print(result.best_epoch, result.best_metrics)

    ``validation_metric`` is a callable ``(model, validation_loader) -> dict[str, float]``; the config's
    ``validation_metric`` names the entry that picks the best epoch. The default is
    :func:`~mmcore.training.validation.validation_loss` at the final β.
    """

    def __init__(
        self,
        model: MultimodalVAE,
        config: TrainerConfig | None = None,
        validation_metric: ValidationMetric | None = None,
    ) -> None:
        self.config = TrainerConfig() if config is None else config
        if self.config.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.config.device!r} requested, but torch.cuda.is_available() is False")
        self.device = torch.device(self.config.device)
        unknown = set(self.config.reconstruction_weights) - set(model.modality_names)
        if unknown:
            raise KeyError(
                f"reconstruction_weights name unknown modalities {sorted(unknown)}; model has {model.modality_names}"
            )
        model.reconstruction_weights.update(self.config.reconstruction_weights)
        self.model = model.to(self.device)
        self.validation_metric = validation_metric
        trainable = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=self.config.learning_rate)
        self.epoch = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.best_metrics: dict[str, float] = {}
        self._best_state: dict[str, Tensor] | None = None

    # ------------------------------------------------------------------ process and file layout
    @property
    def is_main_process(self) -> bool:
        """True unless torch.distributed runs and this is not rank 0: only the main process writes files."""
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        return not distributed or torch.distributed.get_rank() == 0

    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.config.checkpoint_dir is None else Path(self.config.checkpoint_dir)

    @property
    def log_dir(self) -> Path | None:
        return None if self.config.log_dir is None else Path(self.config.log_dir)

    def _show_progress(self) -> bool:
        return self.config.progress and sys.stderr.isatty()

    # ------------------------------------------------------------------ random state
    def _rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _set_rng_state(self, state: Mapping[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state_all(state["cuda"])

    # ------------------------------------------------------------------ checkpoints
    def _trainer_state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "optimizer": self.optimizer.state_dict(),
            "rng": self._rng_state(),
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "best_metrics": dict(self.best_metrics),
            "history": list(self.history),
            "config": self.config.to_dict(),
        }

    def _save_checkpoint(self) -> None:
        directory = self.checkpoint_dir
        if directory is None or not self.is_main_process:
            return
        checkpoints.save_checkpoint(directory, self.epoch, self.model.state_dict(), self._trainer_state())
        checkpoints.remove_checkpoints_before(directory, self.epoch)

    def _check_resumable(self, saved: Mapping[str, Any], path: Path) -> None:
        """A resumed run must draw the same batches: the seed and batch size must not change."""
        for setting in ("seed", "batch_size"):
            before, now = saved.get(setting), getattr(self.config, setting)
            if before != now:
                raise checkpoints.CheckpointError(
                    f"{path}: checkpoint was trained with {setting}={before}, this run has {setting}={now}; "
                    "resuming would change the data order"
                )

    def resume(self) -> bool:
        """Load the latest checkpoint in ``checkpoint_dir``; False when there is none."""
        directory = self.checkpoint_dir
        latest = None if directory is None else checkpoints.latest_checkpoint(directory)
        if latest is None:
            return False
        state = checkpoints.load_state(latest.state)
        self._check_resumable(state.get("config", {}), latest.state)
        checkpoints.load_weights_into(self.model, latest.weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.history = list(state["history"])
        self.best_epoch = state["best_epoch"]
        self.best_value = state["best_value"]
        self.best_metrics = dict(state["best_metrics"])
        best_path = directory / checkpoints.BEST_WEIGHTS
        if self.best_epoch is not None and best_path.is_file():
            self._best_state = checkpoints.load_weights(best_path, self.device)
        self._set_rng_state(state["rng"])
        return True

    # ------------------------------------------------------------------ one epoch
    def beta_at(self, progress_epochs: float) -> float:
        """β after ``progress_epochs`` (fractional) epochs under the configured warm-up."""
        return warmup_beta(self.config.beta, self.config.beta_warmup_epochs, progress_epochs)

    def _train_epoch(self, loader: MultimodalLoader) -> tuple[dict[str, float], float]:
        self.model.train()
        n_batches = len(loader)
        totals: dict[str, Tensor] = {}
        n_samples = 0
        beta = self.beta_at(self.epoch)
        bar = tqdm(
            total=n_batches,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            disable=not self._show_progress(),
            leave=False,
            dynamic_ncols=True,
        )
        with bar:
            for step, batch in enumerate(loader):
                beta = self.beta_at(self.epoch + step / max(n_batches, 1))
                batch = batch.to(self.device)
                output = self.model(batch.data, batch.mask, beta=beta)
                if not torch.isfinite(output.loss):
                    terms = {name: round(value, 4) for name, value in output.detached_terms().items()}
                    raise FloatingPointError(
                        f"non-finite loss {float(output.loss.detach())} at epoch {self.epoch + 1}, step {step + 1}; "
                        f"terms {terms}"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                output.loss.backward()
                if self.config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
                self.optimizer.step()
                self.global_step += 1
                size = batch.batch_size
                n_samples += size
                for name, value in {"loss": output.loss, **output.terms}.items():
                    totals[name] = totals.get(name, 0.0) + value.detach().double() * size
                bar.update(1)
                if not bar.disable:  # float() waits for the device; only pay for it when the bar shows
                    bar.set_postfix(loss=f"{float(output.loss.detach()):.3f}", refresh=False)
        if n_samples == 0:
            raise ValueError("the training set is empty")
        return {name: float(total / n_samples) for name, total in totals.items()}, beta

    def _validate(self, loader: MultimodalLoader | None) -> dict[str, float]:
        if loader is None:
            return {}
        self.model.eval()
        try:
            with torch.no_grad():
                device_loader = DeviceLoader(loader, self.device)
                if self.validation_metric is None:
                    metrics = validation_loss(self.model, device_loader, beta=self.config.beta)
                else:
                    metrics = self.validation_metric(self.model, device_loader)
        finally:
            self.model.train()
        return {name: float(value) for name, value in metrics.items()}

    def _select(self, train_terms: Mapping[str, float], validation: Mapping[str, float]) -> None:
        """Update the best epoch with this epoch's metric (training terms when there is no validation set)."""
        source, label = (validation, "validation") if validation else (train_terms, "training")
        name = self.config.validation_metric
        if name not in source:
            raise KeyError(f"validation metric {name!r} is not among the {label} metrics {sorted(source)}")
        value = source[name]
        if self.config.is_better(value, self.best_value):
            self.best_value = value
            self.best_epoch = self.epoch
            self.best_metrics = dict(source)
            self._best_state = _copy_state(self.model)
            if self.checkpoint_dir is not None and self.is_main_process:
                checkpoints.save_weights(self.checkpoint_dir / checkpoints.BEST_WEIGHTS, self._best_state)

    # ------------------------------------------------------------------ the loop
    def fit(
        self,
        train_data: BatchSource,
        validation_data: BatchSource | None = None,
        resume: bool = False,
    ) -> FitResult:
        """Train for ``config.epochs`` epochs in total; with ``resume``, continue from the latest checkpoint.

        Without ``validation_data`` the best epoch is chosen on the training average of the named metric,
        and a custom validation metric is not allowed. Calling ``fit`` again on the same trainer continues
        from its current epoch (raise ``config.epochs`` first). With ``restore_best`` the model ends with the best
        epoch's weights; the last epoch's are in the last checkpoint.
        """
        if validation_data is None and self.validation_metric is not None:
            raise ValueError("a custom validation metric needs validation data")
        resumed = resume and self.resume()
        if not resumed and self.epoch == 0:
            # The models draw their noise from torch's global generator; a fresh run starts it from the seed.
            torch.manual_seed(self.config.seed)
        if self.checkpoint_dir is not None and self.is_main_process:
            checkpoints.atomic_write_json(self.checkpoint_dir / checkpoints.CONFIG_FILE, self.config.to_dict())
        sampler = EpochSampler(len(train_data), seed=self.config.seed, shuffle=True)
        train_loader = MultimodalLoader(train_data, self.config.batch_size, sampler)
        validation_loader = None
        if validation_data is not None:
            validation_loader = MultimodalLoader(validation_data, self.config.batch_size)
        while self.epoch < self.config.epochs:
            started = time.perf_counter()
            train_loader.set_epoch(self.epoch)
            train_terms, beta = self._train_epoch(train_loader)
            validation = self._validate(validation_loader)
            self._select(train_terms, validation)
            self.epoch += 1
            record: dict[str, Any] = {"epoch": self.epoch, "step": self.global_step, "beta": beta}
            record.update({f"train/{name}": value for name, value in train_terms.items()})
            record.update({f"validation/{name}": value for name, value in validation.items()})
            record["seconds"] = round(time.perf_counter() - started, 3)
            self.history.append(record)
            if self.log_dir is not None and self.is_main_process:
                write_epoch_log(self.log_dir, self.history)
            self._save_checkpoint()
        if self.config.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        best_epoch = None if self.best_epoch is None else self.best_epoch + 1
        return FitResult(best_epoch, dict(self.best_metrics), list(self.history))
