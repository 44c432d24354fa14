"""A cheaper likelihood for the spectrum: Bernoulli on a coarser grid than the one the encoder reads.

A training step of a fusion model is dominated by decoding the spectrum: a ``hidden -> n_bins`` layer and a
Bernoulli term for every one of the 10,000-12,000 bins, for every posterior the objective decodes from. Ranking
never uses the reconstructed spectrum; the reconstruction term is there to shape the latent space. A decoder
that predicts which *groups* of ``pool`` neighbouring bins hold a peak (the group's largest intensity as the
Bernoulli target) keeps that job — where the fragments are, to within ``pool`` bin widths — at ``1 / pool`` of
the cost, while the encoder still reads the fine grid. The term's scale shrinks with the number of targets
(``n_bins / pool``), which also shifts the balance towards the fingerprint terms; the ablation measures both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcore.likelihoods import Likelihood


class PooledBernoulliLikelihood(Likelihood):
    """Bernoulli over groups of ``pool`` consecutive bins; the decoder outputs one logit per group.

    >>> likelihood = PooledBernoulliLikelihood(pool=2)
    >>> likelihood.pooled_target(torch.tensor([[0.0, 0.5, 0.2, 0.0]])).tolist()
    [[0.5, 0.20000000298023224]]
    """

    def __init__(self, pool: int) -> None:
        super().__init__()
        if pool < 1:
            raise ValueError(f"pool must be a positive number of bins, got {pool}")
        self.pool = pool

    def pooled_target(self, x: Tensor) -> Tensor:
        """The largest intensity of each group of ``pool`` bins (the last axis must be a multiple of ``pool``)."""
        if x.shape[-1] % self.pool:
            raise ValueError(f"{x.shape[-1]} bins are not a whole number of groups of {self.pool}")
        return x.reshape(*x.shape[:-1], x.shape[-1] // self.pool, self.pool).amax(dim=-1)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        target = self.pooled_target(x).to(params.dtype).expand_as(params)
        return -F.binary_cross_entropy_with_logits(params, target, reduction="none").sum(dim=-1)

    def mean(self, params: Tensor) -> Tensor:
        """Probability that each group holds a peak (on the coarse grid)."""
        return torch.sigmoid(params)

    def sample(self, params: Tensor) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params))
