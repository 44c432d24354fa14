"""JMVAE-kl: a joint encoder on all modalities, and unimodal encoders pulled towards it by KL terms.

Suzuki, Nakayama & Matsuo (2016), "Joint Multimodal Learning with Deep Generative Models" (arXiv:1611.01891).

Posterior: the joint encoder q(z | x_1..x_n) (one network on the concatenated features of every modality,
the paper's JMVAE encoder) for a sample that has every modality; the unimodal encoder q(z | x_i) for a
sample that has only x_i (the paper's JMVAE-kl networks for a missing modality). The paper defines no
encoder for other partial sets (n > 2); there we take the product of the present unimodal experts, and a
sample with no modality gets the prior.

Loss (the paper's JMVAE-kl objective, written for n modalities):

    −[Σ_i λ_i E_{q(z|X)} log p(x_i | z) − β KL(q(z | X) ‖ p(z))] + β α Σ_i KL(q(z | X) ‖ q(z | x_i)),

the JMVAE bound on the joint log-likelihood plus α-weighted KL terms that train each unimodal encoder
to match the joint one. Every KL is weighted by ``beta`` (so a KL warm-up anneals them all); the matching
terms carry ``alpha`` on top. (The parts are cited by name.)

JMVAE learns from fully paired samples only: :meth:`JMVAE.loss` raises
:class:`~mmcore.models.base.UnpairedDataError` on a batch with an unpaired sample, rather than silently
dropping it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmcore.distributions import (
    DiagonalGaussian,
    kl_divergence,
    kl_standard_normal,
    product_of_experts,
)
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE, UnpairedDataError
from mmcore.models.registry import register
from mmcore.models.subsets import stack_experts, zero_missing


@register
class JMVAE(MultimodalVAE):
    """Joint encoder plus unimodal encoders trained with KL(q(z|X) ‖ q(z|x_i)) terms (JMVAE-kl); paired data only."""

    name = "jmvae"
    description = "Joint encoder with KL-matched unimodal encoders (JMVAE-kl); trains on paired samples only"

    def __init__(self, modalities: Sequence[Modality], latent_dim: int, *, alpha: float = 1.0) -> None:
        super().__init__(modalities, latent_dim)
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.encoders = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})
        self.joint_encoder = self.make_subset_encoder(self.modality_names)

    def _check_paired(self, data: Data, present: dict[str, Tensor]) -> None:
        batch = self.batch_size(data)
        absent = [name for name in self.modality_names if name not in data]
        if absent:
            raise UnpairedDataError(
                f"JMVAE trains on paired samples only, but modalities {absent} are absent from the batch: "
                f"all {batch} samples are unpaired"
            )
        unpaired = ~torch.stack([present[name] for name in self.modality_names]).all(0)
        n_unpaired = int(unpaired.sum())
        if n_unpaired:
            missing = {name: int((~present[name]).sum()) for name in self.modality_names}
            missing_text = ", ".join(f"{name} missing in {count}" for name, count in missing.items() if count)
            raise UnpairedDataError(
                f"JMVAE trains on paired samples only, but {n_unpaired} of {batch} samples in the batch are "
                f"unpaired ({missing_text}); train on the paired samples, or pick a model that learns from "
                f"unpaired data"
            )

    def posterior(self, data: Data, mask: Mask | None = None) -> DiagonalGaussian:
        """Joint encoder where a sample has every modality, else the product of its unimodal experts."""
        present = self.presence(data, mask)
        means, logvars, presence = stack_experts(self.encoders, data, present, self.modality_names)
        unimodal = product_of_experts(means, logvars, presence)
        if any(name not in data for name in self.modality_names):
            return unimodal
        cleaned = {name: zero_missing(data[name], present[name]) for name in self.modality_names}
        joint = self.joint_encoder(cleaned)
        paired = presence.all(0).unsqueeze(-1)
        return DiagonalGaussian(
            torch.where(paired, joint.mean, unimodal.mean), torch.where(paired, joint.logvar, unimodal.logvar)
        )

    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        present = self.presence(data, mask)
        self._check_paired(data, present)
        batch = self.batch_size(data)
        joint = self.joint_encoder(data)
        z = self.rsample(joint)

        terms: dict[str, Tensor] = {}
        loss = z.new_zeros(())
        for name in self.modality_names:
            nll = -self.log_likelihood(name, z, data[name]).sum() / batch
            terms[f"nll/{name}"] = nll
            loss = loss + self.reconstruction_weights[name] * nll

        kl_prior = kl_standard_normal(joint).sum() / batch
        terms["kl/prior"] = kl_prior
        # All unimodal encoders against the joint one in a single batched KL: (n_modalities, batch).
        unimodal = [self.encoders[name](data[name]) for name in self.modality_names]
        stacked = DiagonalGaussian(torch.stack([q.mean for q in unimodal]), torch.stack([q.logvar for q in unimodal]))
        kl_unimodal = kl_divergence(joint, stacked).sum(-1) / batch  # (n_modalities,)
        for row, name in enumerate(self.modality_names):
            terms[f"kl/unimodal_{name}"] = kl_unimodal[row]
        loss = loss + beta * (kl_prior + self.alpha * kl_unimodal.sum())
        return LossOutput(loss=loss, terms=terms)
