"""What SVAE and VAEVAE share: posteriors per subset of modalities, and the objectives built on them.

Kutuzova, Krause, McCloskey, Nielsen & Igel, "Multimodal variational autoencoders for semi-supervised learning:
In defense of product-of-experts" (conference version: seed 000, svae_product_of_experts_semi_supervised.txt;
journal version with the three-modality equations: seed 004, svae_vaevae_journal_with_spectra.txt, whose
equation numbers are cited below). VAEVAE from Wu & Goodman (2019).

The models differ in two independent choices, kept apart here so that a "star" variant is one line:

* the **architecture**: how q(z | x_S) is computed for a subset S of the modalities. A subclass of
  :class:`PoEFamilyVAE` implements :meth:`~PoEFamilyVAE.subset_posteriors` (SVAE: products of experts with
  replacement experts; VAEVAE: a network per subset). An architecture may train *several* posteriors for one
  subset (:meth:`~PoEFamilyVAE.subset_posterior_variants`): n-modal SVAE keeps q_i(z|x_i,x_j) and q_j(z|x_i,x_j)
  (eqs. 35–36), and every term below is then summed over them, "f(q(z|x_i,x_j)) = f(q_i(z|x_i,x_j)) +
  f(q_j(z|x_i,x_j)) for any function f" (text after eq. 38). A KL between two such subsets sums over both sides;
* the **objective**, written once below in terms of subset posteriors: :func:`svae_objective`,
  :func:`vaevae_objective`.

Terms of a sample whose present modalities are P (λ_i the reconstruction weights, β the KL weight):

* |P| = 1, P = {i}: the unimodal ELBO (eqs. 20–21, 31)::

      L_i = E_{q(z|x_i)} [λ_i log p(x_i | z)] − β KL(q(z | x_i) ‖ p(z))

* |P| ≥ 2: for every S ⊆ P with |S| ≥ 2 the term::

      L_S^P = E_{q(z|x_S)} [Σ_{i∈S} λ_i log p(x_i | z)] − β Σ_{T ⊆ P, |T| = |S|−1} KL(q(z | x_S) ‖ q(z | x_T))
              − β [S ≠ P] KL(q(z | x_S) ‖ p(z))

  For P = {1, 2} this is the paired line of eq. 19: E[log p1 + log p2] − KL(q(z|x1,x2) ‖ q(z|x1)) −
  KL(q(z|x1,x2) ‖ q(z|x2)). For P = {1, 2, 3} it is eq. 29 (S = P: KL to the three pair posteriors) and
  eq. 30 (S = {i, j}: only x_i and x_j reconstructed, KL to *all three* unimodal posteriors q(z|x_1), q(z|x_2),
  q(z|x_3) and to q(z) = N(0, I), eq. 38). Eq. 32 sums "i, j ∈ {1,2,3}, i ≠ j"; we read it as one L_ij per
  unordered pair (L_ij = L_ji for a single pair network), SVAE's two pair posteriors giving its two terms.
  With four or more modalities the papers give no equation; the rule above (targets one modality smaller
  drawn from P, prior KL for every S ≠ P) is this module's extension of eqs. 29–30.

* unimodal terms on samples with several modalities — each equation as written:

  - **SVAE objective**, |P| = 2: L_1 + L_2 on the paired sample too (eq. 19's second and third lines:
    E_{p_paired(x_i)}[...]; Algorithm 1);
  - |P| ≥ 3 (both objectives): none — eq. 31 puts L_i on unpaired data only;
  - **VAEVAE objective**: none for |P| ≥ 2 (Wu & Goodman; Algorithm 1 without the bold terms).

  So the SVAE and VAEVAE objectives differ on two-modality samples only; on fully paired three-modality
  samples both are eqs. 29–32 (the journal writes one loss for both; SVAE differs by its posteriors).

**Weighting** (``weighting`` option). Eq. 22 (and eq. 32) is a sum of expectations, each over its own data:
E_{p_paired}[L] + E_{p_unpaired(x1)}[L_1] + E_{p_unpaired(x2)}[L_2].

* ``"paper"`` (the default): every presence pattern's terms are averaged over the batch's samples with that
  pattern, and the pattern averages are summed — the three expectations of eq. 22 weigh equally whatever the
  share of paired samples (as in the seed's code, which draws one batch of each per step). On a batch with
  one presence pattern (all paired, say) this equals ``"sample"``.
* ``"sample"``: the terms are summed over samples and divided by the batch size B (each sample weighs
  1/B, so at 1 % supervision the paired term weighs ≈ 1/50 of the unpaired ones). This was the only
  behaviour before the ``weighting`` option existed.

Gradients flow through both sides of every KL, as in the seed's code.

Efficiency: the batch's presence patterns are read once (one small device-to-host copy) and decide, on the
host, which subsets take part; each needed subset posterior is computed once for every sample (each encoder
network runs once per batch), each modality is decoded once on a stack of latents, and every per-sample
selection is a ``torch.where``. Nothing loops over samples, and a modality no sample has is never encoded
or decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import ClassVar

import torch
from torch import Tensor

from mmcore.distributions import DiagonalGaussian, kl_divergence, kl_standard_normal
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE
from mmcore.models.subsets import Subset, zero_missing


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
    which is all that distinguishes e.g. ``svae`` from ``svae-star``. ``weighting`` is ``"paper"`` (eq. 22:
    each presence pattern's expectation weighs equally; the default) or ``"sample"`` (every sample weighs 1/B).
    """

    default_objective: ClassVar[str] = "svae"

    def __init__(
        self,
        modalities: Sequence[Modality],
        latent_dim: int,
        *,
        objective: str | None = None,
        weighting: str = "paper",
    ) -> None:
        super().__init__(modalities, latent_dim)
        objective = self.default_objective if objective is None else objective
        if objective not in OBJECTIVES:
            raise ValueError(
                f"{type(self).__name__}: unknown objective {objective!r}; choose from {sorted(OBJECTIVES)}"
            )
        if weighting not in WEIGHTINGS:
            raise ValueError(f"{type(self).__name__}: unknown weighting {weighting!r}; choose from {WEIGHTINGS}")
        self.objective = objective
        self.weighting = weighting
        self.build_encoders()

    def build_encoders(self) -> None:
        """Create the architecture's expert networks (called once by ``__init__``, after the common setup)."""
        raise NotImplementedError

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

    def subset_posterior_variants(self, data: Data, subsets: Iterable[Subset]) -> dict[Subset, list[DiagonalGaussian]]:
        """Every posterior the objective trains for each subset: one, unless the architecture keeps several.

        n-modal SVAE overrides this with its |S| posteriors of an intermediate subset (eqs. 35–36); the
        objective sums each term over the list. Each encoder network still runs at most once per call.
        """
        return {subset: [posterior] for subset, posterior in self.subset_posteriors(data, subsets).items()}

    # ------------------------------------------------------------------ the interface
    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        present = self.presence(data, mask)
        clean = {name: zero_missing(x, present[name]) for name, x in data.items()}
        return OBJECTIVES[self.objective](self, clean, present, beta, self.weighting)

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
WEIGHTINGS = ("paper", "sample")
"""How samples are weighed: per presence pattern as eq. 22 (``paper``) or 1/B each (``sample``)."""


def _kl_label(subset: Subset, target: Subset | None) -> str:
    return f"kl/q({','.join(subset)})||" + ("p(z)" if target is None else f"q({','.join(target)})")


def sample_weights(patterns: PresencePatterns, weighting: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """The weight of each sample's terms: 1/B (``sample``) or 1/(samples sharing its pattern) (``paper``).

    A sample with no modality weighs 0 under ``paper`` (it has no terms under either).
    """
    codes = patterns.codes
    if weighting == "sample":
        return torch.full(codes.shape, 1.0 / codes.shape[0], dtype=dtype, device=codes.device)
    counts = torch.bincount(codes, minlength=1 << len(patterns.names))[codes].to(dtype)
    return torch.where(codes > 0, 1.0 / counts.clamp(min=1), torch.zeros((), dtype=dtype, device=codes.device))


def _takes_subset(subset: Subset, pattern: Subset, unimodal_terms_when_paired: bool) -> bool:
    """Whether a sample with exactly ``pattern`` has a term whose posterior is q(z | x_subset)."""
    if not set(subset) <= set(pattern):
        return False
    if len(subset) >= 2 or subset == pattern:
        return True
    # A single modality of a multimodal sample: eq. 19 (two modalities, SVAE objective) but not eq. 31 (three+).
    return unimodal_terms_when_paired and len(pattern) == 2


def _family_objective(
    model: PoEFamilyVAE,
    data: Data,
    present: Mapping[str, Tensor],
    beta: float,
    unimodal_terms_when_paired: bool,
    weighting: str,
) -> LossOutput:
    """−Σ over samples of weight × the terms their presence patterns take; see the module docstring."""
    names = model.modality_names
    patterns = PresencePatterns(present, names)
    order = {name: index for index, name in enumerate(names)}

    def canonical(subset: Iterable[str]) -> Subset:
        return tuple(sorted(set(subset), key=order.__getitem__))

    # Decided per presence pattern on the host: which subsets take a term, and which KL targets they need.
    takers: dict[Subset, list[Subset]] = {}  # subset -> the patterns whose samples take its term
    for pattern in patterns.patterns:
        for size in range(1, len(pattern) + 1):
            for subset in combinations(pattern, size):
                if _takes_subset(subset, pattern, unimodal_terms_when_paired):
                    takers.setdefault(subset, []).append(pattern)
    kl_targets: dict[Subset, list[Subset]] = {}
    for subset, its_patterns in takers.items():
        if len(subset) >= 2:
            pool = canonical(name for pattern in its_patterns for name in pattern)
            kl_targets[subset] = [
                target
                for target in combinations(pool, len(subset) - 1)
                if any(set(target) <= set(pattern) for pattern in its_patterns)
            ]
    needed = set(takers) | {target for targets in kl_targets.values() for target in targets}
    posteriors = model.subset_posterior_variants(data, sorted(needed, key=lambda s: (len(s), [order[n] for n in s])))
    if not takers:  # no sample has any modality: nothing to learn, but keep a valid graph
        return LossOutput(loss=sum(parameter.sum() for parameter in model.parameters()) * 0.0, terms={})

    weight = sample_weights(patterns, weighting, next(iter(posteriors.values()))[0].mean.dtype)
    count = torch.stack([present[name] for name in names]).sum(0)
    takes = {
        subset: torch.stack([patterns.has_exactly(pattern) for pattern in its_patterns]).any(0)
        for subset, its_patterns in takers.items()
    }
    draws = {subset: [model.rsample(variant) for variant in posteriors[subset]] for subset in takes}

    def weighed(value: Tensor, keep: Tensor) -> Tensor:
        """Σ_b w_b · value_b over the samples in ``keep`` (``value`` may have leading axes, summed too)."""
        return torch.where(keep, value * weight, torch.zeros_like(value)).sum()

    terms: dict[str, Tensor] = {}
    kl_total = None

    def add_kl(subset: Subset, target: Subset | None, kl: Tensor, keep: Tensor) -> None:
        nonlocal kl_total
        value = weighed(kl, keep)
        terms[_kl_label(subset, target)] = value
        kl_total = value if kl_total is None else kl_total + value

    for subset in takes:
        variants = posteriors[subset]
        for target in kl_targets.get(subset, []):
            # f(q_S) = Σ over S's posteriors, and likewise over the target's (eqs. 35–36 and the text after 38).
            kl = sum(kl_divergence(q, p) for q in variants for p in posteriors[target])
            add_kl(subset, target, kl, takes[subset] & patterns.has_all(canonical(subset + target)))
        if len(subset) == 1:
            add_kl(subset, None, sum(kl_standard_normal(q) for q in variants), takes[subset])
        elif any(len(pattern) > len(subset) for pattern in takers[subset]):
            # Pulled towards the prior when it is not the sample's whole pattern (eq. 30's last KL).
            add_kl(subset, None, sum(kl_standard_normal(q) for q in variants), takes[subset] & (count > len(subset)))
    loss = beta * kl_total

    for name in names:
        # A subset's posterior reconstructs the modalities of the subset only (eqs. 29–31).
        sources = [(subset, index) for subset in takes if name in subset for index in range(len(draws[subset]))]
        if not sources:
            continue
        # One decoder pass per modality, over the latents of every posterior that reconstructs it (a leading axis).
        latents = torch.stack([draws[subset][index] for subset, index in sources])
        log_likelihood = model.log_likelihood(name, latents, data[name])
        kept = torch.stack([takes[subset] for subset, _ in sources])
        nll = -weighed(log_likelihood, kept)
        terms[f"nll/{name}"] = nll
        loss = loss + model.reconstruction_weights[name] * nll
    return LossOutput(loss=loss, terms=terms)


def svae_objective(
    model: PoEFamilyVAE, data: Data, present: Mapping[str, Tensor], beta: float = 1.0, weighting: str = "paper"
) -> LossOutput:
    """The SVAE loss (eqs. 19–22 for two modalities, 29–32 for three): a two-modality sample also takes L_1 + L_2.

    ``data`` must already have its missing samples zeroed (:func:`zero_missing`); ``present`` comes from
    :meth:`MultimodalVAE.presence`.
    """
    return _family_objective(model, data, present, beta, True, weighting)


def vaevae_objective(
    model: PoEFamilyVAE, data: Data, present: Mapping[str, Tensor], beta: float = 1.0, weighting: str = "paper"
) -> LossOutput:
    """The VAEVAE loss: the multimodal terms for a sample with several modalities, L_i for a lone x_i.

    Unlike :func:`svae_objective`, a two-modality sample does not train the unimodal posteriors by their own
    ELBOs: they learn from unpaired samples and as KL targets of the larger subsets' posteriors.
    """
    return _family_objective(model, data, present, beta, False, weighting)


Objective = Callable[[PoEFamilyVAE, Data, Mapping[str, Tensor], float, str], LossOutput]
OBJECTIVES: dict[str, Objective] = {"svae": svae_objective, "vaevae": vaevae_objective}
"""The objectives by the name the ``objective`` option takes."""
