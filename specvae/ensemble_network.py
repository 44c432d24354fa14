"""Several spectrum -> fingerprint networks that predict as one: the average of their bit probabilities.

Why an average of probabilities: networks trained from different seeds, or of different kinds (an SVAE and the
feed-forward network), make partly independent errors; averaging their predicted bit probabilities (not their
logits, which lets one over-confident member dominate) gives a prediction that ranks candidates better than
either member on validation retrieval. The ensemble answers ``cross_generate`` like a single model, so the
annotator, the benchmark and the confidence fit use it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from specvae.architecture import FINGERPRINT, SPECTRUM, SpectrumToFingerprintPredictor

ENSEMBLE = "ensemble"
"""The ``fusion`` name an ensemble model file stores in its architecture."""


class FingerprintEnsemble(SpectrumToFingerprintPredictor):
    """Predicts the mean of its members' fingerprint bit probabilities given a spectrum (members that read a
    molecular formula predict only under a given formula, :meth:`probabilities_under_formulas`).

    Members are any networks with the ``cross_generate`` of a fusion model (fusion models, the feed-forward
    network) over the same bins and the same kept fingerprint bits.
    """

    kind_name = "an ensemble"

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)

    def fingerprint_probabilities(self, spectrum: Tensor) -> Tensor:
        """The mean probabilities of the members that read no formula (of all members if every one reads one)."""
        data = {SPECTRUM: spectrum}
        members = [member for member in self.members if not _reads_formulas(member)] or list(self.members)
        predictions = [member.cross_generate(data, [SPECTRUM], [FINGERPRINT])[FINGERPRINT] for member in members]
        return torch.stack(predictions).mean(dim=0)

    @property
    def reads_formulas(self) -> bool:
        """Whether a member predicts under a given molecular formula."""
        return any(_reads_formulas(member) for member in self.members)

    @torch.no_grad()
    def probabilities_under_formulas(self, spectrum: Tensor, formula_block: Tensor) -> Tensor:
        """``(k, n_kept_bits)``: the mean probabilities of the members that read formulas, for one spectrum
        ``(1, n_bins)`` under each of ``k`` formulas.

        Why the two kinds of member are kept apart: the members that read no formula make the ordinary prediction
        (which formula: :mod:`specvae.formula_conditioning`), the ones that read formulas the prediction within a
        formula; averaging a formula-free member into the latter only blurs it (measured in
        ``benchmarks/results/accuracy/formula_input.md``)."""
        readers = [member for member in self.members if _reads_formulas(member)]
        if not readers:
            raise ValueError("no member of this ensemble reads a formula")
        return torch.stack([member.probabilities_under_formulas(spectrum, formula_block) for member in readers]).mean(0)


def _reads_formulas(member: nn.Module) -> bool:
    return bool(getattr(member, "n_formula_features", 0))
