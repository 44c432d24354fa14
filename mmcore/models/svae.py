"""SVAE: a product of experts in which a missing modality's expert is replaced by one the present modalities provide.

Kutuzova, Krause, McCloskey, Nielsen & Igel (2021), "Multimodal variational autoencoders for semi-supervised
learning: In defense of product-of-experts" (arXiv 2101.07240, the seed of this architecture).

Architecture: n² Gaussian experts q_i^j(z | x_i), one per reading modality i and slot j (k·n² parameters for
experts of k parameters; seed eqs. 33–38). Expert q_i^i is modality i's own; q_i^j, j ≠ i, is the
*replacement expert* that stands in for the slot of modality j when x_j is missing. With two modalities:

    q(z | x1, x2) ∝ q_1^1(z | x1) q_2^2(z | x2),
    q(z | x1)     ∝ q_1^1(z | x1) q_1^2(z | x1),        (q_1^2 = the seed's q*_2(z | x1))
    q(z | x2)     ∝ q_2^2(z | x2) q_2^1(z | x2).

Posterior of a subset S of n modalities: every slot keeps one factor — its own expert if j ∈ S, otherwise the
normalised geometric mean of the replacement experts of the present modalities,

    q(z | x_S) ∝ ∏_{j∈S} q_j^j(z | x_j) · ∏_{j∉S} ∏_{i∈S} q_i^j(z | x_i)^{1/|S|}.

This is the seed's rule for two modalities and for any single modality (q(z | x_i) ∝ ∏_j q_i^j); for larger
subsets of n ≥ 3 the seed's code trains one posterior per choice of replacing modality, and the geometric mean
is the normalised geometric mean of those posteriors (one posterior per subset, computed once).
A sample's posterior (:meth:`posterior`) uses exactly the modalities it has.

Loss: the SVAE objective L + L1 + L2 (seed eqs. 19–22, Algorithm 1) — see
:mod:`mmcore.models.poe_family` — so that, the seed's key point, unpaired samples train every expert, the
replacement experts included. ``svae-star`` (the seed's SVAE*) is this architecture with the VAEVAE objective.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from mmcore.distributions import DiagonalGaussian, product_of_experts
from mmcore.modality import Modality
from mmcore.models.base import Data
from mmcore.models.poe_family import PoEFamilyVAE
from mmcore.models.registry import register
from mmcore.models.subsets import Subset


@register
class SVAE(PoEFamilyVAE):
    """Products of n² experts q_i^j with replacement experts for missing modalities; SVAE objective by default."""

    name = "svae"
    description = "Product of experts with replacement experts for missing modalities (Kutuzova et al. 2021)"
    default_objective = "svae"

    def __init__(self, modalities: Sequence[Modality], latent_dim: int, *, objective: str | None = None) -> None:
        super().__init__(modalities, latent_dim, objective=objective)
        experts = nn.ModuleDict()
        for reader in self.modality_names:
            # The modality's own expert first, so that it is the one built on the user's encoder network.
            own = self.make_expert(reader)
            replacements = {slot: self.make_expert(reader) for slot in self.modality_names if slot != reader}
            experts[reader] = nn.ModuleDict(
                {slot: own if slot == reader else replacements[slot] for slot in self.modality_names}
            )
        # experts[i][j] is q_i^j(z | x_i): it reads modality i and fills the slot of modality j.
        self.experts = experts

    def factors(self, subset: Subset) -> list[tuple[str, str]]:
        """The (reader, slot) experts whose product is q(z | x_subset)."""
        pairs = []
        for slot in self.modality_names:
            readers = [slot] if slot in subset else list(subset)
            pairs += [(reader, slot) for reader in readers]
        return pairs

    def subset_posteriors(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, DiagonalGaussian]:
        subsets = list(subsets)
        encoded: dict[tuple[str, str], DiagonalGaussian] = {}
        result = {}
        for subset in subsets:
            means, logvars = [], []
            for reader, slot in self.factors(subset):
                if (reader, slot) not in encoded:
                    encoded[reader, slot] = self.experts[reader][slot](data[reader])
                expert = encoded[reader, slot]
                # A slot filled by |S| replacement experts takes each to the power 1/|S|: precision / |S|.
                share = 1 if slot in subset else len(subset)
                means.append(expert.mean)
                logvars.append(expert.logvar + math.log(share) if share > 1 else expert.logvar)
            result[subset] = product_of_experts(torch.stack(means), torch.stack(logvars))
        return result


@register
class SVAEStar(SVAE):
    """The seed's SVAE*: the SVAE architecture trained with the VAEVAE objective."""

    name = "svae-star"
    description = "SVAE architecture with the VAEVAE objective (SVAE*, Kutuzova et al. 2021)"
    default_objective = "vaevae"
