"""Semi-supervised data: which training samples keep all their modalities, and which keep only one.

The protocol of the seed papers (the semi-supervised experiments of Kutuzova et al. 2021): at supervision
level ``s`` a share ``s`` of the training samples stays paired; every other sample keeps exactly one
modality, and the unpaired samples are split evenly between the modalities. Which samples are which
depends only on the seed. Only masks are returned; the data are not copied.
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
