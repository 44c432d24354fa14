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
