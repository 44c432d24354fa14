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
    """Predicts the mean of its members' fingerprint bit probabilities given a spectrum.

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
        """The members' mean probabilities."""
        data = {SPECTRUM: spectrum}
        predictions = [member.cross_generate(data, [SPECTRUM], [FINGERPRINT])[FINGERPRINT] for member in self.members]
        return torch.stack(predictions).mean(dim=0)

    @property
    def reads_formulas(self) -> bool:
        """Whether a member predicts under a given molecular formula."""
        return any(getattr(member, "n_formula_features", 0) for member in self.members)

    @torch.no_grad()
    def probabilities_under_formulas(self, spectrum: Tensor, formula_block: Tensor) -> Tensor:
        """``(k, n_kept_bits)``: the members' mean probabilities for one spectrum ``(1, n_bins)`` under each of ``k``
        formulas; a member that reads no formula gives its one prediction for every formula."""
        if not self.reads_formulas:
            raise ValueError("no member of this ensemble reads a formula")
        n_formulas = formula_block.shape[0]
        predictions = []
        for member in self.members:
            if getattr(member, "n_formula_features", 0):
                predictions.append(member.probabilities_under_formulas(spectrum, formula_block))
            else:
                plain = member.cross_generate({SPECTRUM: spectrum}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
                predictions.append(plain.expand(n_formulas, -1))
        return torch.stack(predictions).mean(dim=0)
