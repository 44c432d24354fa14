"""The trainer's settings: a small dataclass with defaults and validation, saved as JSON next to the weights."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VALIDATION_MODES = ("min", "max")


@dataclass
class TrainerConfig:
    """How :class:`~mmcore.training.trainer.Trainer` trains a model.

    ``beta`` weights every KL term; during the first ``beta_warmup_epochs`` it rises linearly from 0 to
    ``beta`` (per step, not per epoch). ``reconstruction_weights`` overrides the weights of the named
    modalities (those not named keep the weight of their :class:`~mmcore.modality.Modality`). The best
    epoch is the one whose ``validation_metric`` (a key of the validation metric's dictionary; default
    ``"loss"``) is smallest (``validation_mode="min"``) or largest (``"max"``). Without ``checkpoint_dir``
    nothing is written to disk; without ``log_dir`` no CSV/JSON log is written.

    Several processes (launched by torchrun): ``batch_size`` is the *global* batch, split evenly over the
    processes, so it must be a multiple of their number. ``data_shards`` (default: the number of processes)
    is the round size of the stratified data order (:func:`~mmcore.data.loader.stratified_order`); setting
    it to ``N`` on one process replays an ``N``-process run's batches exactly, and a run may resume with any
    number of processes that divides it. ``checkpoint_every_steps`` adds checkpoints within epochs, from
    which a resumed run continues at that step with the same data order. ``distributed_timeout_s`` bounds
    how long a process waits for the others in a collective before it raises.

    Training to convergence: with ``lr_decay_patience`` the learning rate is multiplied by ``lr_decay_factor``
    whenever the validation metric has not improved for that many epochs (and as often again after each cut);
    with ``early_stopping_patience`` training stops once the best epoch lies that many epochs behind. A flat
    curve is then what ends a run, not the epoch budget, and the model file can say it was not still improving.
    Neither counts epochs of the β warm-up: while β rises the objective itself changes, and a validation curve
    that stalls then (it does, for a VAE whose KL weight is growing) says nothing about convergence.
    """

    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    beta: float = 1.0
    beta_warmup_epochs: float = 0.0
    reconstruction_weights: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    checkpoint_dir: str | None = None
    log_dir: str | None = None
    validation_metric: str = "loss"
    validation_mode: str = "min"
    max_grad_norm: float | None = None
    restore_best: bool = True
    progress: bool = True
    checkpoint_every_steps: int | None = None
    data_shards: int | None = None
    distributed_timeout_s: float = 1800.0
    early_stopping_patience: int | None = None
    lr_decay_patience: int | None = None
    lr_decay_factor: float = 0.5

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0 (it seeds numpy's SeedSequence), got {self.seed}")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.beta_warmup_epochs < 0:
            raise ValueError(f"beta_warmup_epochs must be >= 0, got {self.beta_warmup_epochs}")
        for name, weight in self.reconstruction_weights.items():
            if weight < 0:
                raise ValueError(f"reconstruction weight of {name!r} must be >= 0, got {weight}")
        if self.validation_mode not in VALIDATION_MODES:
            raise ValueError(f"validation_mode must be one of {VALIDATION_MODES}, got {self.validation_mode!r}")
        if not self.validation_metric:
            raise ValueError("validation_metric must name a metric")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:index]', got {self.device!r}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive, got {self.max_grad_norm}")
        if self.checkpoint_every_steps is not None and self.checkpoint_every_steps <= 0:
            raise ValueError(f"checkpoint_every_steps must be positive, got {self.checkpoint_every_steps}")
        if self.data_shards is not None and self.data_shards <= 0:
            raise ValueError(f"data_shards must be positive, got {self.data_shards}")
        if not self.distributed_timeout_s > 0:
            raise ValueError(f"distributed_timeout_s must be positive, got {self.distributed_timeout_s}")
        for name in ("early_stopping_patience", "lr_decay_patience"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0 < self.lr_decay_factor < 1:
            raise ValueError(f"lr_decay_factor must be in (0, 1), got {self.lr_decay_factor}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainerConfig:
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown trainer settings {sorted(unknown)}")
        return cls(**values)

    @classmethod
    def from_json(cls, path: Path) -> TrainerConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def is_better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` of the validation metric beats ``best`` (any finite value beats None)."""
        if value != value:  # NaN never wins
            return False
        if best is None:
            return True
        return value < best if self.validation_mode == "min" else value > best
