"""GatheredRows: index-backed rows that stand in for data tensors inside a MultimodalDataset."""

from __future__ import annotations

import pytest
import torch

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.gathered import GatheredRows, random_subset, select_samples
from mmcore.data.loader import MultimodalLoader


def test_rows_are_gathered_through_the_index_and_divided():
    base = torch.tensor([[0, 255], [51, 102], [204, 153]], dtype=torch.uint8)
    rows = GatheredRows(base, torch.tensor([2, 0, 2, 1]), divisor=255.0)
    assert rows.shape == (4, 2) and len(rows) == 4 and rows.dtype == torch.float32
    assert torch.equal(rows[torch.tensor([0, 3])], torch.tensor([[0.8, 0.6], [0.2, 0.4]]))
    assert torch.equal(rows[1], torch.tensor([0.0, 1.0]))
    assert torch.equal(rows.materialize(), base[[2, 0, 2, 1]].float() / 255.0)
    plain = GatheredRows(base.float())
    assert plain.dtype == torch.float32 and torch.equal(plain[0:2], base[:2].float())


def test_selection_reindexes_without_copying_the_base():
    base = torch.arange(10.0).reshape(5, 2)
    rows = GatheredRows(base, torch.tensor([4, 3, 2, 1, 0]))
    picked = rows.select([0, 2])
    assert picked.base is base
    assert torch.equal(picked.materialize(), torch.tensor([[8.0, 9.0], [4.0, 5.0]]))


def test_invalid_indices_are_rejected():
    with pytest.raises(IndexError, match=r"\[0, 3\), got \[0, 3\]"):
        GatheredRows(torch.zeros(3, 2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="divisor must be positive"):
        GatheredRows(torch.zeros(3, 2), divisor=0.0)


def test_a_dataset_of_gathered_rows_batches_masks_and_splits():
    images = torch.tensor([[10, 20], [30, 40]], dtype=torch.uint8)
    dataset = MultimodalDataset(
        {"image": GatheredRows(images, torch.tensor([0, 0, 1, 1]), divisor=10.0), "tag": torch.arange(4.0)[:, None]},
        {"image": torch.tensor([True, False, True, True])},
        labels=torch.tensor([5, 6, 7, 8]),
    )
    batch = dataset.batch(torch.tensor([1, 2]))
    assert torch.equal(batch.data["image"], torch.tensor([[0.0, 0.0], [3.0, 4.0]]))  # sample 1 lacks the image
    half = select_samples(dataset, [3, 0])
    assert isinstance(half.data["image"], GatheredRows) and half.data["image"].base is images
    assert torch.equal(half.batch([0, 1]).data["image"], torch.tensor([[3.0, 4.0], [1.0, 2.0]]))
    assert half.labels.tolist() == [8, 5] and half.mask["image"].tolist() == [True, True]
    batches = list(MultimodalLoader(dataset, batch_size=3))
    assert [len(batch.labels) for batch in batches] == [3, 1]


def test_random_subset_is_seeded_and_keeps_order():
    dataset = MultimodalDataset({"x": torch.arange(100.0)[:, None]})
    first = random_subset(dataset, 10, seed=[1, 2])
    values = first.data["x"][:, 0].tolist()
    assert len(values) == 10 and values == sorted(values) and len(set(values)) == 10
    assert torch.equal(random_subset(dataset, 10, seed=[1, 2]).data["x"], first.data["x"])
    assert not torch.equal(random_subset(dataset, 10, seed=[1, 3]).data["x"], first.data["x"])
    assert random_subset(dataset, None, seed=0) is dataset and random_subset(dataset, 500, seed=0) is dataset
