"""Training: one trainer for every fusion model, semi-supervised masks, checkpoints and logs."""

from mmcore.training.checkpoint import CheckpointError
from mmcore.training.config import TrainerConfig
from mmcore.training.supervision import apply_supervision, supervision_masks
from mmcore.training.trainer import FitResult, Trainer
from mmcore.training.validation import ValidationMetric, validation_loss

__all__ = [
    "CheckpointError",
    "FitResult",
    "Trainer",
    "TrainerConfig",
    "ValidationMetric",
    "apply_supervision",
    "supervision_masks",
    "validation_loss",
]
