"""The data order is a pure function of (seed, epoch); the loader covers every sample once per epoch."""

from __future__ import annotations

import numpy as np
import torch

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.loader import EpochSampler, MultimodalLoader, stratified_order
from mmcore.training.supervision import supervision_masks


def test_order_is_a_function_of_seed_and_epoch():
    sampler = EpochSampler(50, seed=3)
    sampler.set_epoch(2)
    first = list(sampler)
    sampler.set_epoch(0)
    list(sampler)
    torch.manual_seed(0)
    np.random.seed(0)  # global states must not matter
    sampler.set_epoch(2)
    assert list(sampler) == first
    assert sorted(first) == list(range(50))
    fresh = EpochSampler(50, seed=3)
    fresh.set_epoch(2)
    assert list(fresh) == first
    fresh.set_epoch(3)
    assert list(fresh) != first
    assert list(EpochSampler(50, seed=4)) != list(EpochSampler(50, seed=3))


def test_order_has_a_stream_of_its_own_not_the_supervision_masks_one():
    # default_rng([seed, 0]) is default_rng(seed): the epoch-0 order once replayed the permutation that picks
    # the paired share (and the validation split), so every paired sample came first.
    n_samples = 200
    for seed in (0, 1, 7):
        supervision_stream = np.random.default_rng(seed).permutation(n_samples)
        masks = supervision_masks(n_samples, ["a", "b"], 0.1, seed)
        paired = (masks["a"] & masks["b"]).numpy()
        for epoch in range(3):
            sampler = EpochSampler(n_samples, seed=seed)
            sampler.set_epoch(epoch)
            order = np.array(list(sampler))
            assert not np.array_equal(order, supervision_stream)
            assert not paired[order[: int(paired.sum())]].all()
            assert np.array_equal(stratified_order(np.zeros(n_samples, dtype=int), seed, epoch), order)


def test_sequential_sampler_keeps_the_order():
    assert list(EpochSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_loader_yields_every_sample_once_in_the_sampler_order():
    values = torch.arange(23.0).unsqueeze(1)
    dataset = MultimodalDataset({"a": values, "b": -values})
    sampler = EpochSampler(23, seed=1)
    loader = MultimodalLoader(dataset, batch_size=5, sampler=sampler)
    loader.set_epoch(4)
    batches = list(loader)
    assert [batch.batch_size for batch in batches] == [5, 5, 5, 5, 3] and len(loader) == 5
    seen = torch.cat([batch.data["a"][:, 0] for batch in batches]).long().tolist()
    sampler.set_epoch(4)
    assert seen == list(sampler)
    assert torch.equal(torch.cat([batch.data["b"] for batch in batches]), -torch.cat([b.data["a"] for b in batches]))


def test_drop_last_drops_the_short_batch():
    dataset = MultimodalDataset({"a": torch.zeros(23, 1), "b": torch.zeros(23, 1)})
    loader = MultimodalLoader(dataset, batch_size=5, drop_last=True)
    assert [batch.batch_size for batch in loader] == [5, 5, 5, 5] and len(loader) == 4


class _SampleOnlyDataset:
    """A map-style data set without a vectorised ``batch`` method."""

    def __init__(self, dataset: MultimodalDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]


def test_datasets_without_batch_method_are_collated_sample_by_sample():
    mask = {"b": torch.tensor([True, False] * 5)}
    dataset = MultimodalDataset({"a": torch.randn(10, 2), "b": torch.randn(10, 3)}, mask=mask)
    fast = list(MultimodalLoader(dataset, 4, EpochSampler(10, seed=2)))
    slow = list(MultimodalLoader(_SampleOnlyDataset(dataset), 4, EpochSampler(10, seed=2)))
    for fast_batch, slow_batch in zip(fast, slow, strict=True):
        for name in ("a", "b"):
            assert torch.equal(fast_batch.data[name], slow_batch.data[name])
            assert torch.equal(fast_batch.mask[name], slow_batch.mask[name])
