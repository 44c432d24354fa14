"""What mmcore/data/dataset.py and mmcore/data/loader.py say about data sets they cannot use as given."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from mmcore.data.dataset import MultimodalDataset, collate_multimodal
from mmcore.data.loader import MissingModalityWarning, MultimodalLoader, presence_groups


def test_a_tensor_dataset_is_refused_with_what_to_do():
    plain = TensorDataset(torch.zeros(4, 3), torch.ones(4, 2))
    with pytest.raises(TypeError, match="from_tensor_dataset"):
        MultimodalLoader(plain, batch_size=2)
    with pytest.raises(TypeError, match="modality's name"):
        presence_groups(plain)
    with pytest.raises(TypeError, match="MultimodalBatch"):
        collate_multimodal([plain[0]])


def test_a_tensor_dataset_is_accepted_with_modality_names():
    plain = TensorDataset(torch.zeros(4, 3), torch.ones(4, 2), torch.arange(4))
    dataset = MultimodalDataset.from_tensor_dataset(plain, ["image", "text"], labels=True)
    assert dataset.names == ["image", "text"] and torch.equal(dataset.labels, torch.arange(4))
    batch = next(iter(MultimodalLoader(dataset, batch_size=4)))
    assert batch.data["text"].shape == (4, 2) and bool(batch.mask["image"].all())
    with pytest.raises(ValueError, match="expected 2"):
        MultimodalDataset.from_tensor_dataset(plain, ["image", "text"])


def test_a_modality_absent_from_every_training_sample_warns():
    dataset = MultimodalDataset(
        {"a": torch.zeros(3, 2), "b": torch.zeros(3, 2)}, mask={"b": torch.zeros(3, dtype=torch.bool)}
    )
    with pytest.warns(MissingModalityWarning, match="'b' is absent from every training sample"):
        presence_groups(dataset)
