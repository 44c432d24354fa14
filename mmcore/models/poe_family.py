"""What SVAE and VAEVAE share: posteriors per subset of modalities, and the two objectives built on them.

Kutuzova, Krause, McCloskey, Nielsen & Igel (2021), "Multimodal variational autoencoders for semi-supervised
learning: In defense of product-of-experts" (arXiv 2101.07240, "the seed"); VAEVAE from Wu & Goodman (2019),
"Multimodal generative models for compositional representation learning".

The seed's four models differ in two independent choices, kept apart here so that a "star" variant is one line:

* the **architecture**: how q(z | x_S) is computed for a subset S of the modalities. A subclass of
  :class:`PoEFamilyVAE` implements :meth:`~PoEFamilyVAE.subset_posteriors` (SVAE: products of experts with
  replacement experts; VAEVAE: a network per subset);
* the **objective**, written once below in terms of subset posteriors: :func:`svae_objective`,
  :func:`vaevae_objective`.

Terms, for a sample whose present modalities are P (λ_i the reconstruction weights, β the KL weight):

* the unimodal ELBO of a modality i (the seed's L_1, L_2)::

      L_i = E_{q(z|x_i)} [λ_i log p(x_i | z)] − β KL(q(z | x_i) ‖ p(z))

* for |P| ≥ 2, the multimodal term of every subset S ⊆ P with |S| ≥ 2::

      L_S^P = E_{q(z|x_S)} [Σ_{i∈P} λ_i log p(x_i | z)] − β Σ_{k∈S} KL(q(z | x_S) ‖ q(z | x_{S∖k}))
              − β [S ≠ P] KL(q(z | x_S) ‖ p(z))

  With two modalities only S = P = {1, 2} exists and L_P^P is the seed's paired term::

      L(x1, x2) = E_{q(z|x1,x2)} [λ_1 log p(x1|z) + λ_2 log p(x2|z)]
                  − β KL(q(z|x1,x2) ‖ q(z|x1)) − β KL(q(z|x1,x2) ‖ q(z|x2))

  With more, every intermediate subset reconstructs all the sample's modalities and is pulled towards the
  prior and towards the posteriors one modality smaller, as the seed's public three-modality code does (the
  issue cites the seed's n-modality forms as eqs. 29–38).

Objectives:

* **SVAE** (seed eqs. 19–22 and Algorithm 1: L + L_1 + L_2): a sample with |P| ≥ 2 takes every L_S^P *and*
  L_i for each i ∈ P; a sample with P = {i} takes L_i. The unimodal terms of paired samples are what train
  SVAE's replacement experts on paired data too.
* **VAEVAE** (Wu & Goodman; the seed's VAEVAE loss): a sample with |P| ≥ 2 takes every L_S^P only; a sample
  with P = {i} takes L_i.

The loss is the negative objective summed over samples and divided by the batch size B (all samples counted;
one with no modality contributes nothing). Gradients flow through both sides of every KL, as in the seed's
code. Equation numbers are those the project issue cites for the seed; the paper's text could not be
consulted here, its public code could (the two-modality terms above match it).

Efficiency: the batch's presence patterns are read once (one small device-to-host copy) and decide, on the
host, which subsets take part; each needed subset posterior is computed once for every sample (each encoder
network runs once per batch), each modality is decoded once on a stack of latents, and every per-sample
selection is a ``torch.where``. Nothing loops over samples, and a modality no sample has is never encoded
or decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from mmcore.distributions import DiagonalGaussian, kl_divergence, kl_standard_normal
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE
from mmcore.models.subsets import Subset, nonempty_subsets, zero_missing


class PresencePatterns:
    """Which modalities each sample has, as one integer code per sample and the list of patterns that occur.

    The code of a subset is Σ 2^k over the indices k of its modalities, so "the sample has exactly S" is one
    comparison, and listing the patterns of a batch takes a single device-to-host copy.
    """

    def __init__(self, present: Mapping[str, Tensor], names: Sequence[str]) -> None:
        self.names = list(names)
        self.present = dict(present)
        codes = torch.zeros_like(present[self.names[0]], dtype=torch.long)
        for index, name in enumerate(self.names):
            codes = codes + present[name].long() * (1 << index)
        self.codes = codes
        observed = torch.unique(codes).tolist()
        self.patterns: list[Subset] = [self.subset_of(code) for code in observed if code != 0]
        """The non-empty presence patterns that occur in the batch."""

    def code_of(self, subset: Subset) -> int:
        return sum(1 << self.names.index(name) for name in subset)

    def subset_of(self, code: int) -> Subset:
        return tuple(name for index, name in enumerate(self.names) if code & (1 << index))

    def has_exactly(self, subset: Subset) -> Tensor:
        """Boolean ``(batch,)``: the sample's modalities are exactly ``subset``."""
        return self.codes == self.code_of(subset)

    def has_all(self, subset: Subset) -> Tensor:
        """Boolean ``(batch,)``: the sample has every modality of ``subset`` (and maybe more)."""
        return torch.stack([self.present[name] for name in subset]).all(0)


class PoEFamilyVAE(MultimodalVAE):
    """Base of SVAE and VAEVAE: subclasses give q(z | x_S) per subset; the objective is chosen by name.

    ``objective`` is ``"svae"`` or ``"vaevae"`` (see the module docstring); ``None`` takes the class default,
    which is all that distinguishes e.g. ``svae`` from ``svae-star``.
    """

    default_objective: ClassVar[str] = "svae"

    def __init__(self, modalities: Sequence[Modality], latent_dim: int, *, objective: str | None = None) -> None:
        super().__init__(modalities, latent_dim)
        objective = self.default_objective if objective is None else objective
        if objective not in OBJECTIVES:
            raise ValueError(
                f"{type(self).__name__}: unknown objective {objective!r}; choose from {sorted(OBJECTIVES)}"
            )
        self.objective = objective

    # ------------------------------------------------------------------ what an architecture provides
    def subset_posteriors(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, DiagonalGaussian]:
        """q(z | x_S) for each subset S (a tuple in the model's modality order), for every sample of the batch.

        Computed from the modalities of S only and for every sample (from zeroed placeholders where a sample
        lacks a member of S); callers keep a posterior only where the sample has the whole subset. Each
        encoder network runs at most once per call, however many subsets share it.
        """
        raise NotImplementedError

    def subset_posterior(self, data: Data, subset: Sequence[str]) -> DiagonalGaussian:
        """q(z | x_S) for one subset S, for every sample of the batch (see :meth:`subset_posteriors`)."""
        unknown = set(subset) - set(self.modality_names)
        if unknown or not subset:
            raise KeyError(f"not a non-empty subset of {self.modality_names}: {list(subset)}")
        canonical = tuple(name for name in self.modality_names if name in subset)
        return self.subset_posteriors(data, [canonical])[canonical]

    # ------------------------------------------------------------------ the interface
    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        present = self.presence(data, mask)
        clean = {name: zero_missing(x, present[name]) for name, x in data.items()}
        return OBJECTIVES[self.objective](self, clean, present, beta)

    def posterior(self, data: Data, mask: Mask | None = None) -> DiagonalGaussian:
        """q(z | x_P) for the modalities P each sample has; N(0, I) for a sample with none."""
        present = self.presence(data, mask)
        clean = {name: zero_missing(x, present[name]) for name, x in data.items()}
        patterns = PresencePatterns(present, self.modality_names)
        if not patterns.patterns:
            return self.prior(self.batch_size(data))
        by_pattern = self.subset_posteriors(clean, patterns.patterns)
        only = patterns.patterns[0]
        if len(patterns.patterns) == 1 and bool(patterns.has_exactly(only).all()):
            return by_pattern[only]
        first = by_pattern[only]
        mean, logvar = torch.zeros_like(first.mean), torch.zeros_like(first.logvar)  # the prior, for empty samples
        for pattern, posterior in by_pattern.items():
            chosen = patterns.has_exactly(pattern).unsqueeze(-1)
            mean = torch.where(chosen, posterior.mean, mean)
            logvar = torch.where(chosen, posterior.logvar, logvar)
        return DiagonalGaussian(mean, logvar)


# ---------------------------------------------------------------------- the objectives
def _one_smaller(subset: Subset, left_out: str) -> Subset:
    return tuple(name for name in subset if name != left_out)


def _kl_label(subset: Subset, target: Subset | None) -> str:
    return f"kl/q({','.join(subset)})||" + ("p(z)" if target is None else f"q({','.join(target)})")


def _family_objective(
    model: PoEFamilyVAE, data: Data, present: Mapping[str, Tensor], beta: float, unimodal_terms_when_paired: bool
) -> LossOutput:
    """−(Σ over samples of the terms their presence patterns take) / B; see the module docstring."""
    names = model.modality_names
    batch = model.batch_size(data)
    patterns = PresencePatterns(present, names)
    multimodal = [pattern for pattern in patterns.patterns if len(pattern) >= 2]
    # Decided per presence pattern on the host: which subsets take part in some sample's terms.
    joint_subsets = [s for s in nonempty_subsets(names, 2) if any(set(s) <= set(p) for p in multimodal)]
    singles = [
        name
        for name in names
        if (name,) in patterns.patterns or (unimodal_terms_when_paired and any(name in p for p in multimodal))
    ]
    needed = {(name,) for name in singles} | set(joint_subsets)
    needed |= {_one_smaller(s, left_out) for s in joint_subsets for left_out in s}
    order = {name: index for index, name in enumerate(names)}
    posteriors = model.subset_posteriors(data, sorted(needed, key=lambda s: (len(s), [order[n] for n in s])))
    if not posteriors:  # no sample has any modality: nothing to learn, but keep a valid graph
        return LossOutput(loss=sum(parameter.sum() for parameter in model.parameters()) * 0.0, terms={})

    count = torch.stack([present[name] for name in names]).sum(0)
    takes: dict[Subset, Tensor] = {s: patterns.has_all(s) for s in joint_subsets}
    for name in singles:
        takes[(name,)] = present[name] if unimodal_terms_when_paired else present[name] & (count == 1)
    draws = {subset: model.rsample(posteriors[subset]) for subset in takes}

    terms: dict[str, Tensor] = {}
    kl_total = None

    def add_kl(subset: Subset, target: Subset | None, kl: Tensor, keep: Tensor) -> None:
        nonlocal kl_total
        value = torch.where(keep, kl, torch.zeros_like(kl)).sum() / batch
        terms[_kl_label(subset, target)] = value
        kl_total = value if kl_total is None else kl_total + value

    for subset in joint_subsets:
        posterior = posteriors[subset]
        for left_out in subset:
            smaller = _one_smaller(subset, left_out)
            add_kl(subset, smaller, kl_divergence(posterior, posteriors[smaller]), takes[subset])
        # Pulled towards the prior too when it is not the sample's whole pattern (an intermediate subset).
        if any(set(subset) < set(p) for p in multimodal):
            add_kl(subset, None, kl_standard_normal(posterior), takes[subset] & (count > len(subset)))
    for name in singles:
        add_kl((name,), None, kl_standard_normal(posteriors[name,]), takes[name,])
    loss = beta * kl_total

    for name in names:
        # A multimodal subset reconstructs every modality its samples have; a single modality only itself.
        sources = [s for s in joint_subsets if any(set(s) <= set(p) and name in p for p in multimodal)]
        keep = [takes[s] & present[name] for s in sources]
        if name in singles:
            sources.append((name,))
            keep.append(takes[name,])
        if not sources:
            continue
        # One decoder pass per modality, over the latents of every subset that reconstructs it (a leading axis).
        log_likelihood = model.log_likelihood(name, torch.stack([draws[s] for s in sources]), data[name])
        kept = torch.stack(keep)
        nll = -torch.where(kept, log_likelihood, torch.zeros_like(log_likelihood)).sum() / batch
        terms[f"nll/{name}"] = nll
        loss = loss + model.reconstruction_weights[name] * nll
    return LossOutput(loss=loss, terms=terms)


def svae_objective(model: PoEFamilyVAE, data: Data, present: Mapping[str, Tensor], beta: float = 1.0) -> LossOutput:
    """The SVAE loss L + L_1 + L_2: a sample with several modalities also takes the unimodal ELBO of each.

    ``data`` must already have its missing samples zeroed (:func:`zero_missing`); ``present`` comes from
    :meth:`MultimodalVAE.presence`.
    """
    return _family_objective(model, data, present, beta, unimodal_terms_when_paired=True)


def vaevae_objective(model: PoEFamilyVAE, data: Data, present: Mapping[str, Tensor], beta: float = 1.0) -> LossOutput:
    """The VAEVAE loss: the multimodal terms for a sample with several modalities, L_i for a lone x_i.

    Unlike :func:`svae_objective`, a paired sample does not train the unimodal posteriors by their own ELBOs:
    they learn from unpaired samples and as KL targets of the larger subsets' posteriors.
    """
    return _family_objective(model, data, present, beta, unimodal_terms_when_paired=False)


Objective = Callable[[PoEFamilyVAE, Data, Mapping[str, Tensor], float], LossOutput]
OBJECTIVES: dict[str, Objective] = {"svae": svae_objective, "vaevae": vaevae_objective}
"""The objectives by the name the ``objective`` option takes."""
