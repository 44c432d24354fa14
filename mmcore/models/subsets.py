"""Subsets of modalities and the expert bookkeeping every product- and mixture-of-experts model shares.

A model encodes each present modality once per batch (:func:`stack_experts`), then forms the products of
experts of many subsets at once (:func:`subset_products`); these helpers keep that vectorised and keep
placeholders of missing modalities out of every forward and backward pass (:func:`zero_missing`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, product_of_experts
from mmcore.models.base import Data

Subset = tuple[str, ...]


def nonempty_subsets(names: Sequence[str], min_size: int = 1, max_size: int | None = None) -> list[Subset]:
    """Subsets of ``names`` by increasing size, each in the order of ``names``.

    >>> nonempty_subsets(["a", "b", "c"], min_size=2)
    [('a', 'b'), ('a', 'c'), ('b', 'c'), ('a', 'b', 'c')]
    """
    max_size = len(names) if max_size is None else max_size
    return [subset for size in range(min_size, max_size + 1) for subset in combinations(names, size)]


def membership_matrix(subsets: Sequence[Subset], names: Sequence[str], device: torch.device | None = None) -> Tensor:
    """Boolean ``(n_subsets, n_modalities)``: whether modality ``names[j]`` belongs to ``subsets[t]``."""
    rows = [[name in subset for name in names] for subset in subsets]
    return torch.tensor(rows, dtype=torch.bool, device=device).reshape(len(subsets), len(names))


def zero_missing(x: Tensor, present: Tensor) -> Tensor:
    """``x`` with the samples that lack the modality set to zero.

    Why: ``torch.where`` after a network keeps a NaN placeholder out of the forward pass, but not out of
    the backward pass (0 · NaN = NaN in the chain rule); cleaning the input first keeps both finite.
    """
    return torch.where(present.reshape(-1, *([1] * (x.dim() - 1))), x, torch.zeros_like(x))


def mixes_samples(network: nn.Module) -> bool:
    """Whether a network's output for one sample can depend on the other samples of its batch.

    Batch normalisation with batch statistics (in training, or without running statistics) does. Models
    run such a network on the whole batch, as the user built it, and feed it only the rows they need
    otherwise: a row-wise network gives every row the same output either way, so the loss is the same.
    """
    return any(
        isinstance(module, nn.modules.batchnorm._BatchNorm) and (module.training or not module.track_running_stats)
        for module in network.modules()
    )


def scatter_rows(values: Tensor, rows: Tensor, batch: int) -> Tensor:
    """``values`` computed for the samples ``rows`` (indices) placed in a zero ``(batch, ...)`` tensor."""
    return values.new_zeros((batch, *values.shape[1:])).index_copy(0, rows, values)


def stack_experts(
    encoders: nn.ModuleDict, data: Data, present: Mapping[str, Tensor], names: Sequence[str]
) -> tuple[Tensor, Tensor, Tensor]:
    """Every modality's Gaussian expert, encoded once per batch and stacked on a leading expert axis.

    Returns ``means`` and ``logvars`` ``(n_modalities, batch, latent)`` and the presence ``(n_modalities, batch)``.
    A modality absent from ``data`` is not encoded; its slot holds zeros and is marked absent.
    """
    encoded = {name: encoders[name](zero_missing(data[name], present[name])) for name in names if name in data}
    if not encoded:
        raise ValueError(f"the batch holds none of the modalities {list(names)}")
    placeholder = torch.zeros_like(next(iter(encoded.values())).mean)
    means = torch.stack([encoded[name].mean if name in encoded else placeholder for name in names])
    logvars = torch.stack([encoded[name].logvar if name in encoded else placeholder for name in names])
    presence = torch.stack([present[name] for name in names])
    return means, logvars, presence


def subset_products(
    means: Tensor, logvars: Tensor, presence: Tensor, membership: Tensor, prior_expert: bool
) -> DiagonalGaussian:
    """The product of experts of every subset at once: ``(n_subsets, batch, latent)``.

    Subset t of a sample multiplies the experts that are both in the subset and present for the sample,
    so a missing expert never enters a product (whatever its placeholder values).
    """
    n_subsets = membership.shape[0]
    expanded_means = means.unsqueeze(1).expand(-1, n_subsets, -1, -1)
    expanded_logvars = logvars.unsqueeze(1).expand(-1, n_subsets, -1, -1)
    mask = membership.T.unsqueeze(-1) & presence.unsqueeze(1)  # (n_modalities, n_subsets, batch)
    return product_of_experts(expanded_means, expanded_logvars, mask, prior_expert=prior_expert)


def subset_is_observed(membership: Tensor, presence: Tensor) -> Tensor:
    """Boolean ``(n_subsets, batch)``: the sample has every modality of the subset."""
    return (~membership.unsqueeze(-1) | presence.unsqueeze(0)).all(1)


def subset_label(subset: Subset) -> str:
    """A subset's name for module keys and loss terms: ``("m0", "m2")`` -> ``"m0+m2"``."""
    return "+".join(subset)
