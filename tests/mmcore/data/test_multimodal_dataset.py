"""MultimodalDataset and collation: masks are stored, and hidden values never reach a batch."""

from __future__ import annotations

import pytest
import torch

from mmcore.data.dataset import MultimodalDataset, collate_multimodal


def _dataset():
    top = torch.arange(12.0).reshape(6, 2) + 1.0  # no zeros, so zeroing is visible
    bottom = torch.arange(18.0).reshape(6, 3) + 100.0
    mask = {"bottom": torch.tensor([True, False, True, True, False, True])}
    return MultimodalDataset({"top": top, "bottom": bottom}, mask=mask, labels=torch.arange(6) * 10)


def test_batch_zeroes_the_values_a_sample_lacks():
    dataset = _dataset()
    batch = dataset.batch([4, 0, 1])
    assert torch.equal(batch.mask["bottom"], torch.tensor([False, True, False]))
    assert torch.equal(batch.mask["top"], torch.tensor([True, True, True]))
    assert torch.equal(batch.data["bottom"], torch.tensor([[0.0, 0, 0], [100, 101, 102], [0, 0, 0]]))
    assert torch.equal(batch.data["top"], torch.tensor([[9.0, 10.0], [1, 2], [3, 4]]))
    assert torch.equal(batch.labels, torch.tensor([40, 0, 10]))
    assert batch.batch_size == 3
    assert torch.equal(dataset.data["bottom"][1], torch.tensor([103.0, 104, 105]))  # stored data untouched


def test_collate_of_single_samples_equals_the_vectorised_batch():
    dataset = _dataset()
    indices = [5, 2, 1, 3]
    collated = collate_multimodal([dataset[index] for index in indices])
    batch = dataset.batch(indices)
    for name in dataset.names:
        assert torch.equal(collated.data[name], batch.data[name])
        assert torch.equal(collated.mask[name], batch.mask[name])
    assert torch.equal(collated.labels, batch.labels)


def test_with_mask_shares_the_tensors_and_subset_copies():
    dataset = _dataset()
    masked = dataset.with_mask({"top": torch.zeros(6, dtype=torch.bool)})
    assert masked.data["top"].data_ptr() == dataset.data["top"].data_ptr()
    assert not masked.mask["top"].any() and masked.mask["bottom"].all()
    subset = dataset.subset([1, 2])
    assert torch.equal(subset.mask["bottom"], torch.tensor([False, True]))
    assert torch.equal(subset.labels, torch.tensor([10, 20]))


def test_batch_moves_to_a_device():
    moved = _dataset().batch([0, 1]).to("cpu")
    assert moved.data["top"].device.type == "cpu" and moved.labels is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(data={}), "at least one modality"),
        (dict(data={"a": torch.zeros(3, 1), "b": torch.zeros(4, 1)}), "same number of samples"),
        (dict(data={"a": torch.zeros(3, 1)}, mask={"b": torch.ones(3, dtype=torch.bool)}), "lacks"),
        (dict(data={"a": torch.zeros(3, 1)}, mask={"a": torch.ones(2, dtype=torch.bool)}), "shape"),
        (dict(data={"a": torch.zeros(3, 1)}, labels=torch.zeros(2)), "2 labels for 3 samples"),
    ],
)
def test_inconsistent_inputs_are_rejected(kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        MultimodalDataset(**kwargs)
