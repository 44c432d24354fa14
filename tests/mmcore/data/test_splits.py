"""The seeded cut of a training set into train and validation samples (mmcore/data/splits.py)."""

from __future__ import annotations

import pytest
import torch

from mmcore.data.splits import validation_indices


def test_validation_split_is_disjoint_and_seeded():
    train, validation = validation_indices(100, 20, seed=4)
    assert len(train) == 80 and len(validation) == 20
    assert sorted(torch.cat([train, validation]).tolist()) == list(range(100))
    again_train, again_validation = validation_indices(100, 20, seed=4)
    assert torch.equal(train, again_train) and torch.equal(validation, again_validation)
    assert not torch.equal(validation, validation_indices(100, 20, seed=5)[1])


def test_validation_size_must_leave_training_samples():
    assert len(validation_indices(10, 0, seed=0)[1]) == 0
    for size in (-1, 10):
        with pytest.raises(ValueError, match="validation_size"):
            validation_indices(10, size, seed=0)
