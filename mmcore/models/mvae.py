"""MVAE: a product-of-experts posterior with a prior expert, trained on sub-sampled ELBOs.

Wu & Goodman (2018), "Multimodal Generative Models for Scalable Weakly-Supervised Learning" (NeurIPS).

Posterior (the paper's product-of-experts inference network): for the modalities X_S a sample has,

    q(z | X_S) ∝ p(z) ∏_{i ∈ S} q̃(z | x_i),

a precision-weighted product of one Gaussian expert per present modality and the N(0, I) prior expert.
A sample with no modality gets the prior.

Loss (§2.2 of mvae_scalable_weakly_supervised.txt, eq. 5): the sum of ELBOs over the full set, every single
modality, and k = ``n_random_subsets`` random subsets X_j (default k = 1, as the paper's experiments use),

    ELBO(X_1..X_N) + Σ_i ELBO(x_i) + Σ_{j=1}^k ELBO(X_j),
    ELBO(X_S) = E_{q(z|X_S)} [Σ_{i∈S} λ_i log p(x_i | z)] − β KL(q(z | X_S) ‖ p(z)).

Each ELBO reconstructs only the modalities of its own subset. Partial data (§2.2, last paragraph): "given an
example with missing data X = {x_i | i-th modality present}, we can still sample partial data from X, ignoring
modalities that are missing" — a sample with the modalities P is sub-sampled like a complete one:

* the "full-set" ELBO is ELBO(X_P), the product of the experts it has (for |P| ≥ 2; a sample with one
  modality has only its unimodal ELBO, which is its whole set — counted once);
* the unimodal ELBOs of every i ∈ P;
* a random subset S drawn for the step (2 ≤ |S| ≤ N−1, drawn once per batch) counts for a sample when it is a
  *proper* subset of P with at least two modalities (S = P would repeat the sample's full-set ELBO).

With two modalities no random subset exists and a paired sample takes ELBO(x1, x2) + ELBO(x1) + ELBO(x2), an
unpaired one its unimodal ELBO. Loss terms: ``nll/<m>`` sums modality m's negative log-likelihood over every
ELBO that reconstructs it; ``kl/joint`` (each sample's full-set ELBO), ``kl/<m>`` and ``kl/random_subsets``
are the KLs of those ELBOs. The sum over samples is divided by the batch size.

Efficiency: each present modality is encoded once for every ELBO, and each decoder decodes only the draws of
the ELBOs that count its modality for a sample (with missing data the others are not decoded at all).

The subset helpers (:mod:`mmcore.models.subsets`) are shared with the other product-of-experts models:
MoPoE-VAE's posterior is a mixture over the same subset products.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, kl_standard_normal, product_of_experts
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE
from mmcore.models.registry import register
from mmcore.models.subsets import (
    Subset,
    membership_matrix,
    mixes_samples,
    nonempty_subsets,
    stack_experts,
    subset_is_observed,
    subset_products,
    zero_missing,
)


@register
class MVAE(MultimodalVAE):
    """Product of experts with a prior expert, trained on the joint, unimodal and random-subset ELBOs."""

    name = "mvae"
    description = "Product-of-experts posterior with a prior expert; joint + unimodal + random-subset ELBOs"

    def __init__(self, modalities: Sequence[Modality], latent_dim: int, *, n_random_subsets: int = 1) -> None:
        super().__init__(modalities, latent_dim)
        if n_random_subsets < 0:
            raise ValueError(f"n_random_subsets must be >= 0, got {n_random_subsets}")
        self.n_random_subsets = n_random_subsets
        self.encoders = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})
        n = len(self.modality_names)
        # Subsets of size 2..n-1: the candidates for the random ELBO terms (none with two modalities).
        self.random_subset_candidates: list[Subset] = nonempty_subsets(self.modality_names, 2, n - 1)

    # ------------------------------------------------------------------ which ELBOs a step sums
    def draw_random_subsets(self) -> list[Subset]:
        """``n_random_subsets`` distinct subsets drawn uniformly among the candidates (all of them if fewer).

        Drawn with the global torch generator, so ``torch.manual_seed`` makes a step reproducible; a test may
        replace this method to fix the subsets.
        """
        count = min(self.n_random_subsets, len(self.random_subset_candidates))
        if count == 0:
            return []
        order = torch.randperm(len(self.random_subset_candidates))[:count].tolist()
        return [self.random_subset_candidates[index] for index in order]

    def elbo_subsets(self) -> list[Subset]:
        """The subsets whose ELBOs this step sums, in order: the full set, each modality, the random subsets."""
        unimodal = [(name,) for name in self.modality_names]
        return [tuple(self.modality_names), *unimodal, *self.draw_random_subsets()]

    # ------------------------------------------------------------------ the interface
    def posterior(self, data: Data, mask: Mask | None = None) -> DiagonalGaussian:
        """q(z | X_S) ∝ p(z) ∏_{i∈S} q̃(z | x_i) over the modalities S each sample has."""
        present = self.presence(data, mask)
        means, logvars, presence = stack_experts(self.encoders, data, present, self.modality_names)
        return product_of_experts(means, logvars, presence, prior_expert=True)

    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        present = self.presence(data, mask)
        batch = self.batch_size(data)
        names = self.modality_names
        means, logvars, presence = stack_experts(self.encoders, data, present, names)

        subsets = self.elbo_subsets()
        membership = membership_matrix(subsets, names, device=means.device)
        posteriors = subset_products(means, logvars, presence, membership, prior_expert=True)  # (T, B, L)
        observed = subset_is_observed(membership, presence)  # (T, B)
        # §2.2: a sample's full-set ELBO is over the modalities it has (row 0's product already takes only those),
        # for samples with two or more; a random subset counts where it is a proper subset of what the sample has.
        count = presence.sum(0)
        sizes = membership.sum(1, keepdim=True)  # (T, 1)
        proper = count.unsqueeze(0) > sizes
        is_random = torch.zeros(len(subsets), 1, dtype=torch.bool, device=means.device)
        is_random[1 + len(names) :] = True
        observed = torch.where(is_random, observed & proper, observed)
        observed[0] = count >= 2
        z = self.rsample(posteriors)

        terms: dict[str, Tensor] = {}
        loss = means.new_zeros(())
        for name in names:
            if name not in data:
                terms[f"nll/{name}"] = means.new_zeros(())
                continue
            # Decode only the latent draws of the ELBOs that reconstruct this modality.
            rows = [t for t, subset in enumerate(subsets) if name in subset]
            row_index = torch.tensor(rows, device=z.device)
            # The full-set ELBO of a partial sample reconstructs only the modalities it has.
            counted = observed.index_select(0, row_index) & present[name]  # (R, B)
            nll = -self._counted_log_likelihood(name, z.index_select(0, row_index), data[name], counted).sum() / batch
            terms[f"nll/{name}"] = nll
            loss = loss + self.reconstruction_weights[name] * nll

        kl = kl_standard_normal(posteriors)
        kl = torch.where(observed, kl, torch.zeros_like(kl)).sum(-1) / batch  # (T,)
        n = len(names)
        terms["kl/joint"] = kl[0]
        for index, name in enumerate(names):
            terms[f"kl/{name}"] = kl[1 + index]
        if self.random_subset_candidates and self.n_random_subsets > 0:
            terms["kl/random_subsets"] = kl[1 + n :].sum()
        loss = loss + beta * kl.sum()
        return LossOutput(loss=loss, terms=terms)

    def _counted_log_likelihood(self, name: str, z: Tensor, x: Tensor, counted: Tensor) -> Tensor:
        """log p(x_name | z) of the ELBO draws ``z`` ``(R, B, latent)`` where ``counted`` ``(R, B)``, zero elsewhere.

        With missing data only the counted draws are decoded (the others would be masked out); a decoder with
        batch statistics decodes them all, as the user built it.
        """
        n_rows, batch = counted.shape
        n_counted = int(counted.sum())
        if n_counted == n_rows * batch or mixes_samples(self.decoders[name]):
            log_likelihood = self.log_likelihood(name, z, zero_missing(x, counted.any(0)))
            return torch.where(counted, log_likelihood, torch.zeros_like(log_likelihood))
        columns = counted.flatten().nonzero().squeeze(-1)  # over (R·B)
        log_likelihood = self.log_likelihood(
            name, z.reshape(n_rows * batch, -1).index_select(0, columns), x.index_select(0, columns % batch)
        )
        return log_likelihood.new_zeros(n_rows * batch).index_copy(0, columns, log_likelihood)
