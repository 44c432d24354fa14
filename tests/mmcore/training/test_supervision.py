"""The semi-supervised protocol: a share s stays paired, every other sample keeps exactly one modality."""

from __future__ import annotations

import pytest
import torch

from mmcore.data.dataset import MultimodalDataset
from mmcore.training.supervision import apply_supervision, supervision_masks, with_unimodal_copies


@pytest.mark.parametrize(("n_samples", "names", "supervision"), [(1000, ["a", "b"], 0.1), (101, ["a", "b", "c"], 0.3)])
def test_counts_follow_the_protocol(n_samples, names, supervision):
    masks = supervision_masks(n_samples, names, supervision, seed=0)
    stacked = torch.stack([masks[name] for name in names])  # (modalities, samples)
    paired = stacked.all(0)
    assert int(paired.sum()) == round(supervision * n_samples)
    unpaired = ~paired
    assert torch.equal(stacked[:, unpaired].sum(0), torch.ones(int(unpaired.sum()), dtype=torch.long))
    counts = stacked[:, unpaired].sum(1)
    assert int(counts.sum()) == n_samples - round(supervision * n_samples)
    assert int(counts.max() - counts.min()) <= 1


def test_exact_split_for_two_modalities():
    masks = supervision_masks(1000, ["top", "bottom"], 0.1, seed=5)
    only_top = masks["top"] & ~masks["bottom"]
    only_bottom = masks["bottom"] & ~masks["top"]
    assert (int(only_top.sum()), int(only_bottom.sum())) == (450, 450)


def test_masks_depend_only_on_the_seed():
    first = supervision_masks(200, ["a", "b"], 0.25, seed=7)
    again = supervision_masks(200, ["a", "b"], 0.25, seed=7)
    other = supervision_masks(200, ["a", "b"], 0.25, seed=8)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_extreme_levels():
    full = supervision_masks(10, ["a", "b"], 1.0, seed=0)
    assert all(bool(mask.all()) for mask in full.values())
    none = supervision_masks(10, ["a", "b"], 0.0, seed=0)
    assert torch.equal(none["a"] ^ none["b"], torch.ones(10, dtype=torch.bool))


@pytest.mark.parametrize("supervision", [-0.1, 1.5])
def test_invalid_level_is_rejected(supervision):
    with pytest.raises(ValueError, match="supervision"):
        supervision_masks(10, ["a", "b"], supervision, seed=0)


def test_apply_supervision_changes_masks_not_data():
    top, bottom = torch.randn(20, 3), torch.randn(20, 4)
    dataset = MultimodalDataset({"top": top, "bottom": bottom}, labels=torch.arange(20))
    semi = apply_supervision(dataset, 0.5, seed=1)
    assert semi.data["top"].data_ptr() == top.data_ptr() and semi.data["bottom"].data_ptr() == bottom.data_ptr()
    assert int((semi.mask["top"] & semi.mask["bottom"]).sum()) == 10
    expected = supervision_masks(20, ["top", "bottom"], 0.5, seed=1)
    assert torch.equal(semi.mask["top"], expected["top"])


def test_apply_supervision_keeps_samples_already_missing_a_modality():
    already_missing = torch.ones(20, dtype=torch.bool)
    already_missing[:5] = False
    dataset = MultimodalDataset({"a": torch.randn(20, 2), "b": torch.randn(20, 2)}, mask={"a": already_missing})
    semi = apply_supervision(dataset, 1.0, seed=0)
    assert torch.equal(semi.mask["a"], already_missing)


def test_unimodal_copies_add_every_sample_alone_to_the_same_paired_share():
    n = 40
    top = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    dataset = MultimodalDataset({"top": top, "bottom": -top}, labels=torch.arange(n) % 10)
    dataset = dataset.with_mask({"top": torch.ones(n, dtype=torch.bool), "bottom": torch.arange(n) != 3})
    copies = with_unimodal_copies(dataset, 0.25, seed=7)

    described = apply_supervision(dataset, 0.25, seed=7)
    paired_described = (described.mask["top"] & described.mask["bottom"]).sum().item()
    both = copies.mask["top"] & copies.mask["bottom"]
    only_top = copies.mask["top"] & ~copies.mask["bottom"]
    only_bottom = copies.mask["bottom"] & ~copies.mask["top"]
    assert both.sum().item() == paired_described  # the same paired share as the described protocol
    assert only_top.sum().item() == n and only_bottom.sum().item() == n - 1  # sample 3 never had a bottom
    assert len(copies) == paired_described + 2 * n - 1
    # Every copy keeps its own data and label: top value v belongs with bottom -v and label v mod 10.
    values = copies.data["top"][only_top].flatten()
    assert sorted(values.tolist()) == list(range(n))
    assert torch.equal(copies.labels[only_top], values.long() % 10)
    assert torch.equal(copies.data["bottom"][both], -copies.data["top"][both])
    assert set((-copies.data["bottom"][only_bottom].flatten()).long().tolist()) == set(range(n)) - {3}
