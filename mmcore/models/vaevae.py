"""VAEVAE: unimodal experts plus a separate network for every subset of two or more modalities.

Wu & Goodman (2019), "Multimodal generative models for compositional representation learning"; variants and
n-modality form as benchmarked by Kutuzova, Krause, McCloskey, Nielsen & Igel (2021), arXiv 2101.07240
("the seed").

Architectures:

* **VAEVAE (b)** (``vaevae``, the seed's VAEVAE): q_i(z | x_i) per modality, and for every subset S with
  |S| ≥ 2 a network q_S(z | x_S) on the concatenated features of its members (with two modalities the joint
  network q(z | x1, x2)). 2ⁿ − 1 networks, k·n·2ⁿ⁻¹ parameters for bodies of k parameters (seed eqs. 29–32).
  q(z | x_S) = q_S(z | x_S).
* **VAEVAE (a)** (``vaevae-a``): no joint networks; q(z | x_S) ∝ ∏_{i∈S} q_i(z | x_i), a product of experts
  without the replacement experts of SVAE.

A sample's posterior (:meth:`posterior`) is q(z | x_P) for exactly the modalities P it has.

Loss: the VAEVAE objective (see :mod:`mmcore.models.poe_family`): a paired sample takes

    L(x1, x2) = E_{q(z|x1,x2)} [λ_1 log p(x1|z) + λ_2 log p(x2|z)]
                − β KL(q(z|x1,x2) ‖ q(z|x1)) − β KL(q(z|x1,x2) ‖ q(z|x2)),

a sample with only x_i the unimodal ELBO L_i. Since the subset networks appear only in terms of samples
that have the whole subset, the joint network of VAEVAE (b) learns from paired samples only.
``vaevae-star`` (the seed's VAEVAE*) is architecture (b) with the SVAE objective L + L1 + L2.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from mmcore.distributions import DiagonalGaussian, product_of_experts
from mmcore.models.base import Data
from mmcore.models.poe_family import PoEFamilyVAE
from mmcore.models.registry import register
from mmcore.models.subsets import Subset, nonempty_subsets, subset_label


@register
class VAEVAE(PoEFamilyVAE):
    """VAEVAE (b): unimodal experts and a network per subset of two or more modalities; VAEVAE objective."""

    name = "vaevae"
    description = "Unimodal experts plus a network per modality subset, KL-tied to the smaller subsets (Wu & Goodman)"
    default_objective = "vaevae"

    def build_encoders(self) -> None:
        # Unimodal experts first, so that they are the networks built on the user's encoders.
        self.unimodal = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})
        self.subset_encoders = nn.ModuleDict(
            {
                subset_label(subset): self.make_subset_encoder(subset)
                for subset in nonempty_subsets(self.modality_names, 2)
            }
        )

    def subset_posteriors(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, DiagonalGaussian]:
        result = {}
        for subset in subsets:
            if len(subset) == 1:
                result[subset] = self.unimodal[subset[0]](data[subset[0]])
            else:
                result[subset] = self.subset_encoders[subset_label(subset)]({name: data[name] for name in subset})
        return result


@register
class VAEVAEStar(VAEVAE):
    """The seed's VAEVAE*: the VAEVAE (b) architecture trained with the SVAE objective."""

    name = "vaevae-star"
    description = "VAEVAE (b) architecture with the SVAE objective (VAEVAE*, Kutuzova et al. 2021)"
    default_objective = "svae"


@register
class VAEVAEProduct(PoEFamilyVAE):
    """VAEVAE (a): a product of the unimodal experts of the present modalities, no joint network."""

    name = "vaevae-a"
    description = "VAEVAE (a): product of unimodal experts without replacement experts, VAEVAE objective"
    default_objective = "vaevae"

    def build_encoders(self) -> None:
        self.unimodal = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})

    def subset_posteriors(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, DiagonalGaussian]:
        subsets = list(subsets)
        readers = [name for name in self.modality_names if any(name in subset for subset in subsets)]
        encoded = {name: self.unimodal[name](data[name]) for name in readers}
        result = {}
        for subset in subsets:
            if len(subset) == 1:
                result[subset] = encoded[subset[0]]
                continue
            means = torch.stack([encoded[name].mean for name in subset])
            logvars = torch.stack([encoded[name].logvar for name in subset])
            result[subset] = product_of_experts(means, logvars)
        return result
