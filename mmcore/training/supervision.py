"""Semi-supervised data: which training samples keep all their modalities, and which keep only one.

The protocol of the seed papers (the semi-supervised experiments of Kutuzova et al. 2021): at supervision
level ``s`` a share ``s`` of the training samples stays paired; every other sample keeps exactly one
modality, and the unpaired samples are split evenly between the modalities. Which samples are which
depends only on the seed. Only masks are returned; the data are not copied.

The seed's public code (sgalkina/poe-vaes, ``experiments/mnist_split/run.py``) trains differently from that
description: each step takes a batch of the paired share *and* a batch of top halves and a batch of bottom halves
drawn from **all** training images, so every image also contributes each of its modalities alone, at every
supervision level, 100 % included. :func:`with_unimodal_copies` builds that training set, for reproducing the
seed's numbers; :func:`apply_supervision` is the protocol as described.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalDataset


def supervision_masks(
    n_samples: int,
    modality_names: Sequence[str],
    supervision: float,
    seed: int,
) -> dict[str, Tensor]:
    """Presence masks for ``n_samples`` samples at supervision level ``supervision`` in [0, 1].

    ``round(supervision · n_samples)`` samples, drawn with ``seed``, have every modality. The others, in a
    seeded random order, are dealt to the modalities round-robin, so their counts differ by at most one
    and each keeps exactly the modality it was dealt.
    """
    if not 0.0 <= supervision <= 1.0:
        raise ValueError(f"supervision must be in [0, 1], got {supervision}")
    if len(modality_names) < 1 or len(set(modality_names)) != len(modality_names):
        raise ValueError(f"modality names must be unique and non-empty, got {list(modality_names)}")
    order = np.random.default_rng(seed).permutation(n_samples)
    n_paired = int(round(supervision * n_samples))
    unpaired = order[n_paired:]
    masks = {}
    for position, name in enumerate(modality_names):
        present = np.zeros(n_samples, dtype=bool)
        present[order[:n_paired]] = True
        present[unpaired[position :: len(modality_names)]] = True
        masks[name] = torch.from_numpy(present)
    return masks


def apply_supervision(dataset: MultimodalDataset, supervision: float, seed: int) -> MultimodalDataset:
    """``dataset`` (same tensors) with the masks of :func:`supervision_masks` combined with its own."""
    masks = supervision_masks(len(dataset), dataset.names, supervision, seed)
    return dataset.with_mask({name: masks[name] & dataset.mask[name] for name in dataset.names})


def with_unimodal_copies(dataset: MultimodalDataset, supervision: float, seed: int) -> MultimodalDataset:
    """The seed code's training set: the paired share of ``dataset`` plus, for every modality, a copy of every
    sample that has that modality alone.

    The paired share is the one :func:`supervision_masks` picks (same seed, same samples), so the two protocols
    differ only in the unimodal copies. The result has ``round(s·n) + Σ_m n_m`` samples (``n_m``: samples that
    have modality m) and its tensors are copies; labels follow their samples.
    """
    masks = supervision_masks(len(dataset), dataset.names, supervision, seed)
    paired = torch.stack([masks[name] & dataset.mask[name] for name in dataset.names]).all(0)
    parts = [dataset.subset(torch.nonzero(paired).flatten())]
    for name in dataset.names:
        having = torch.nonzero(dataset.mask[name]).flatten()
        copy = dataset.subset(having)
        parts.append(
            copy.with_mask(
                {
                    other: copy.mask[other] if other == name else torch.zeros_like(copy.mask[other])
                    for other in dataset.names
                }
            )
        )
    return MultimodalDataset(
        {name: torch.cat([part.data[name] for part in parts]) for name in dataset.names},
        {name: torch.cat([part.mask[name] for part in parts]) for name in dataset.names},
        None if dataset.labels is None else torch.cat([part.labels for part in parts]),
    )
