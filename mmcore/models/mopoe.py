"""MoPoE-VAE: a mixture over the products of experts of every non-empty subset of the present modalities.

Sutter, Daunhawer & Vogt (2021), "Generalized Multimodal ELBO" (ICLR); equations of
mopoe_generalized_multimodal_elbo.txt.

Posterior (eq. 6's MoPoE posterior): for a sample with modalities X,

    q(z | X) = 1 / |P⁺(X)| Σ_{X_k ∈ P⁺(X)} q̃(z | X_k),   q̃(z | X_k) = ∏_{x_i ∈ X_k} q(z | x_i),

a uniform mixture over the non-empty subsets P⁺(X) of the modalities the sample has, each component the
product of its unimodal Gaussian experts (no prior expert). A sample with no modality gets the prior.

Loss: **not eq. 6** (E_{q(z|X)}[log p(X|z)] − KL(mixture ‖ p(z)), whose mixture KL has no closed form), but the
average of the subsets' ELBOs, eq. 12 (Appendix A.1),

    (1/|P⁺(X)|) Σ_{X_k} E_{q̃(z|X_k)} [log p(X | z) p(z) / q̃(z | X_k)],

which is a lower bound of eq. 6 (Jensen, Appendix A.2, eqs. 18–19) and the tractable form we keep: each
subset's product has a closed-form KL. It is estimated with one subset X_k drawn uniformly per sample among
its non-empty present subsets (eq. 12 writes the powerset P(X); the empty subset's term, whose posterior
would be the prior, is left out as in the authors' code),

    −[Σ_{i present} λ_i log p(x_i | z)] + β KL(q̃(z | X_k) ‖ p(z)),   z ~ q̃(z | X_k),

every present modality reconstructed from the drawn subset's product; in expectation over the draw this is
eq. 12. The same rule holds for any number of modalities (the paper writes it for M).

Efficiency: the subset is drawn first, and a sample's loss depends only on the experts of its drawn subset, so
each modality is encoded only for the samples whose drawn subset holds it (2ⁿ⁻¹ of the 2ⁿ − 1 subsets do), only
the drawn subset's product is formed, and each modality is decoded once, for the samples that have it. The
loss and its gradients are those of encoding every sample and forming every subset's product (a test compares
the two); a network with batch statistics (batch normalisation) still runs on the whole batch. The posterior
forms all 2ⁿ − 1 products from one batched :func:`~mmcore.distributions.product_of_experts` call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, MixtureOfExperts, kl_standard_normal, product_of_experts
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE
from mmcore.models.registry import register
from mmcore.models.subsets import (
    Subset,
    membership_matrix,
    mixes_samples,
    nonempty_subsets,
    scatter_rows,
    stack_experts,
    subset_is_observed,
    subset_products,
    zero_missing,
)


@register
class MoPoE(MultimodalVAE):
    """Mixture of the products of experts of all non-empty modality subsets (MoPoE-VAE)."""

    name = "mopoe"
    description = "Mixture over the products of experts of every non-empty subset of the present modalities"

    def __init__(self, modalities: Sequence[Modality], latent_dim: int) -> None:
        super().__init__(modalities, latent_dim)
        self.encoders = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})
        self.subsets: list[Subset] = nonempty_subsets(self.modality_names)
        # A buffer so that the membership follows the model across devices; not part of the checkpoint.
        self.register_buffer("membership", membership_matrix(self.subsets, self.modality_names), persistent=False)

    def _subset_posteriors(self, data: Data, mask: Mask | None) -> tuple[DiagonalGaussian, Tensor, Tensor]:
        """Products of every subset ``(n_subsets, batch, latent)``, which of them a sample has, and presence."""
        present = self.presence(data, mask)
        means, logvars, presence = stack_experts(self.encoders, data, present, self.modality_names)
        products = subset_products(means, logvars, presence, self.membership, prior_expert=False)
        return products, subset_is_observed(self.membership, presence), presence

    def draw_subsets(self, observed: Tensor) -> Tensor:
        """One subset index per sample, uniform among the subsets it has (``observed``: ``(n_subsets, batch)``).

        The largest of independent uniform scores is uniform among the allowed subsets. A sample with no
        modality gets index 0, whose product over no present expert is the prior. Tests replace this method
        to fix the draw.
        """
        scores = torch.rand(observed.shape, device=observed.device)
        return torch.where(observed, scores, torch.full_like(scores, -1.0)).argmax(0)

    def posterior(self, data: Data, mask: Mask | None = None) -> MixtureOfExperts:
        """The uniform mixture over the products of the non-empty subsets of each sample's modalities."""
        products, observed, presence = self._subset_posteriors(data, mask)
        # With no modality every component is the product of nothing, N(0, I): the mixture is the prior.
        components_mask = observed | ~presence.any(0, keepdim=True)
        return MixtureOfExperts(products, components_mask)

    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        present = self.presence(data, mask)
        names = self.modality_names
        batch = self.batch_size(data)
        presence = torch.stack([present[name] for name in names])  # (M, B)
        chosen = self.draw_subsets(subset_is_observed(self.membership, presence))  # (B,)
        # The experts in each sample's drawn subset (M, B): the only ones its loss depends on. A sample with no
        # modality uses none, and its product is the prior.
        uses = self.membership.index_select(0, chosen).T & presence
        means, logvars = self._drawn_experts(data, present, uses)
        posterior = product_of_experts(means, logvars, uses)
        z = self.rsample(posterior)

        terms: dict[str, Tensor] = {}
        loss = z.new_zeros(())
        counts = presence.sum(1).tolist()
        for row, name in enumerate(names):
            if name not in data:
                terms[f"nll/{name}"] = z.new_zeros(())
                continue
            present_row = presence[row]
            if counts[row] == batch:
                log_likelihood = self.log_likelihood(name, z, data[name])
            elif mixes_samples(self.decoders[name]):
                log_likelihood = self.log_likelihood(name, z, zero_missing(data[name], present_row))
                log_likelihood = torch.where(present_row, log_likelihood, torch.zeros_like(log_likelihood))
            else:
                # Decode only the samples that have the modality: the others' terms are zero anyway.
                rows = present_row.nonzero().squeeze(-1)
                log_likelihood = self.log_likelihood(name, z.index_select(0, rows), data[name].index_select(0, rows))
            nll = -log_likelihood.sum() / batch
            terms[f"nll/{name}"] = nll
            loss = loss + self.reconstruction_weights[name] * nll
        # A sample without modalities drew the product of nothing, N(0, I), whose KL is exactly zero.
        kl = kl_standard_normal(posterior).sum() / batch
        terms["kl/subset"] = kl
        loss = loss + beta * kl
        return LossOutput(loss=loss, terms=terms)

    def _drawn_experts(self, data: Data, present: dict[str, Tensor], uses: Tensor) -> tuple[Tensor, Tensor]:
        """Means and log-variances ``(M, B, latent)`` of the experts ``uses`` marks; other entries are zero.

        A sample's loss depends only on the experts of its drawn subset, so each modality is encoded for
        those samples alone (about 2ⁿ⁻¹ of the 2ⁿ − 1 subsets hold a given modality): the same loss and
        gradients as encoding every sample, with fewer rows through the encoders.
        """
        batch = uses.shape[1]
        counts = uses.sum(1).tolist()
        means, logvars = [], []
        for row, name in enumerate(self.modality_names):
            encoder = self.encoders[name]
            if name not in data:
                means.append(None)
                logvars.append(None)
            elif counts[row] == batch:
                expert = encoder(data[name])
                means.append(expert.mean)
                logvars.append(expert.logvar)
            elif mixes_samples(encoder):
                expert = encoder(zero_missing(data[name], present[name]))
                means.append(expert.mean)
                logvars.append(expert.logvar)
            else:
                rows = uses[row].nonzero().squeeze(-1)
                expert = encoder(data[name].index_select(0, rows))
                means.append(scatter_rows(expert.mean, rows, batch))
                logvars.append(scatter_rows(expert.logvar, rows, batch))
        encoded = next(mean for mean in means if mean is not None)
        placeholder = torch.zeros_like(encoded)
        means = [placeholder if mean is None else mean for mean in means]
        logvars = [placeholder if logvar is None else logvar for logvar in logvars]
        return torch.stack(means), torch.stack(logvars)
