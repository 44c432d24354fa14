"""Several spectrum -> fingerprint networks that predict as one: the average of their bit probabilities.

Why an average of probabilities: networks trained from different seeds, or of different kinds (an SVAE and the
feed-forward network), make partly independent errors; averaging their predicted bit probabilities (not their
logits, which lets one over-confident member dominate) gives a prediction that ranks candidates better than
either member on validation retrieval. The ensemble answers ``cross_generate`` like a single model, so the
annotator, the benchmark and the confidence fit use it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from specvae.architecture import FINGERPRINT, SPECTRUM

ENSEMBLE = "ensemble"
"""The ``fusion`` name an ensemble model file stores in its architecture."""


class FingerprintEnsemble(nn.Module):
    """Predicts the mean of its members' fingerprint bit probabilities given a spectrum.

    Members are any networks with the ``cross_generate`` of a fusion model (fusion models, the feed-forward
    network) over the same bins and the same kept fingerprint bits.
    """

    modality_names = (SPECTRUM, FINGERPRINT)

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)

    @torch.no_grad()
    def cross_generate(
        self,
        data: Mapping[str, Tensor],
        sources: Iterable[str],
        targets: Iterable[str] | None = None,
        sample_latent: bool = False,
    ) -> dict[str, Tensor]:
        """Fingerprint probabilities from the spectrum: the members' mean (the only direction an ensemble has)."""
        sources = list(sources)
        targets = [FINGERPRINT] if targets is None else list(targets)
        if sources != [SPECTRUM] or targets != [FINGERPRINT]:
            raise ValueError(f"an ensemble maps spectrum -> fingerprint only, not {sources} -> {targets}")
        predictions = [member.cross_generate(data, sources, targets)[FINGERPRINT] for member in self.members]
        return {FINGERPRINT: torch.stack(predictions).mean(dim=0)}
