"""Train, validation and test sets of a benchmark, and the seeded cut of a training set into train and validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test sets of one benchmark."""

    train: MultimodalDataset
    validation: MultimodalDataset
    test: MultimodalDataset


def validation_indices(n_train: int, validation_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Indices of the training and validation samples: a permutation drawn from ``seed``, cut at ``validation_size``."""
    if not 0 <= validation_size < n_train:
        raise ValueError(f"validation_size must be in [0, {n_train}), got {validation_size}")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n_train))
    return order[validation_size:], order[:validation_size]
