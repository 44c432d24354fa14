"""Training: one trainer for every fusion model, on one process or many; semi-supervised masks, checkpoints, logs."""

from mmcore.training.checkpoint import CheckpointError
from mmcore.training.config import TrainerConfig
from mmcore.training.distributed import DistributedSetupError, ProcessPlace
from mmcore.training.supervision import apply_supervision, supervision_masks, with_unimodal_copies
from mmcore.training.trainer import FitResult, Trainer
from mmcore.training.validation import ValidationMetric, validation_loss

__all__ = [
    "CheckpointError",
    "DistributedSetupError",
    "FitResult",
    "ProcessPlace",
    "Trainer",
    "TrainerConfig",
    "ValidationMetric",
    "apply_supervision",
    "supervision_masks",
    "with_unimodal_copies",
    "validation_loss",
]
