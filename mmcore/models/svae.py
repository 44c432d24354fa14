"""SVAE: a product of experts in which a missing modality's expert is replaced by one the present modalities provide.

Kutuzova, Krause, McCloskey, Nielsen & Igel (2021), "Multimodal variational autoencoders for semi-supervised
learning: In defense of product-of-experts" (arXiv 2101.07240, the seed of this architecture).

Architecture: n² Gaussian experts q_i^j(z | x_i), one per reading modality i and slot j (k·n² parameters for
experts of k parameters; seed eqs. 33–38). Expert q_i^i is modality i's own; q_i^j, j ≠ i, is the
*replacement expert* that stands in for the slot of modality j when x_j is missing. With two modalities:

    q(z | x1, x2) ∝ q_1^1(z | x1) q_2^2(z | x2),
    q(z | x1)     ∝ q_1^1(z | x1) q_1^2(z | x1),        (q_1^2 = the seed's q*_2(z | x1))
    q(z | x2)     ∝ q_2^2(z | x2) q_2^1(z | x2).

Posteriors of a subset S of n ≥ 3 modalities (eqs. 33–37 of svae_vaevae_journal_with_spectra.txt, the
journal's "naive extension"): the whole set and single modalities have one posterior each,

    q(z | x_1, ..., x_n) ∝ ∏_j q_j^j(z | x_j)                (eq. 33)
    q(z | x_i)           ∝ ∏_j q_i^j(z | x_i)                (eq. 37)

and an intermediate subset (2 ≤ |S| < n) has |S| posteriors, one per modality r ∈ S that fills every missing
slot with its replacement experts:

    q_r(z | x_S) ∝ ∏_{j∈S} q_j^j(z | x_j) · ∏_{k∉S} q_r^k(z | x_r)      (eqs. 35–36 for S = {i, j}, n = 3)

The objective sums each of its terms over these posteriors ("f(q(z|x_i,x_j)) = f(q_i(z|x_i,x_j)) +
f(q_j(z|x_i,x_j))", text after eq. 38; :meth:`SVAE.subset_posterior_variants`). For eqs. 35–36 with four or
more modalities, "r fills every missing slot" is this module's reading (the papers write n = 3 only).

Inference (:meth:`posterior`, :meth:`subset_posteriors`) needs one posterior per subset; the papers define none
for an intermediate subset, so we use the normalised geometric mean of its |S| trained posteriors,

    q(z | x_S) ∝ ∏_{j∈S} q_j^j(z | x_j) · ∏_{j∉S} ∏_{i∈S} q_i^j(z | x_i)^{1/|S|},

which equals the single posterior of the papers whenever there is one (two modalities, |S| = 1 or n).
A sample's posterior uses exactly the modalities it has.

Loss: the SVAE objective L + L1 + L2 (seed eqs. 19–22, Algorithm 1) — see
:mod:`mmcore.models.poe_family` — so that, the seed's key point, unpaired samples train every expert, the
replacement experts included. ``svae-star`` (the seed's SVAE*) is this architecture with the VAEVAE objective.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from mmcore.distributions import DiagonalGaussian, product_of_experts
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

    def build_encoders(self) -> None:
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

    def _product(
        self, data: Data, encoded: dict[tuple[str, str], DiagonalGaussian], factors: list[tuple[str, str, int]]
    ) -> DiagonalGaussian:
        """∏ q_reader^slot(z | x_reader)^{1/share} over ``factors``, each expert encoded once into ``encoded``."""
        means, logvars = [], []
        for reader, slot, share in factors:
            if (reader, slot) not in encoded:
                encoded[reader, slot] = self.experts[reader][slot](data[reader])
            expert = encoded[reader, slot]
            # An expert to the power 1/share has precision / share.
            means.append(expert.mean)
            logvars.append(expert.logvar + math.log(share) if share > 1 else expert.logvar)
        return product_of_experts(torch.stack(means), torch.stack(logvars))

    def subset_posteriors(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, DiagonalGaussian]:
        """One posterior per subset: the geometric-mean rule of the module docstring (for inference)."""
        encoded: dict[tuple[str, str], DiagonalGaussian] = {}
        result = {}
        for subset in subsets:
            factors = [(reader, slot, 1 if slot in subset else len(subset)) for reader, slot in self.factors(subset)]
            result[subset] = self._product(data, encoded, factors)
        return result

    def subset_posterior_variants(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, list[DiagonalGaussian]]:
        """The posteriors the objective trains: q_r(z | x_S) for each r ∈ S of an intermediate subset (eqs. 35–36)."""
        encoded: dict[tuple[str, str], DiagonalGaussian] = {}
        result = {}
        for subset in subsets:
            own = [(slot, slot, 1) for slot in self.modality_names if slot in subset]
            missing = [slot for slot in self.modality_names if slot not in subset]
            # Each present modality fills the missing slots in turn; a single modality (eq. 37) or the whole set
            # (eq. 33) gives one posterior.
            fillers = list(subset) if missing else subset[:1]
            result[subset] = [
                self._product(data, encoded, own + [(filler, slot, 1) for slot in missing]) for filler in fillers
            ]
        return result


@register
class SVAEStar(SVAE):
    """The seed's SVAE*: the SVAE architecture trained with the VAEVAE objective."""

    name = "svae-star"
    description = "SVAE architecture with the VAEVAE objective (SVAE*, Kutuzova et al. 2021)"
    default_objective = "vaevae"
