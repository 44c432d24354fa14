"""The KL weight schedule."""

from __future__ import annotations


def warmup_beta(beta: float, warmup_epochs: float, progress_epochs: float) -> float:
    """β after ``progress_epochs`` epochs of training (fractional: epoch + step / steps per epoch).

    β rises linearly from 0 at the start to ``beta`` after ``warmup_epochs`` epochs and stays there; with
    no warm-up it is ``beta`` from the first step. A warm-up keeps the KL term from collapsing the posterior
    to the prior before the decoders have learned anything (Bowman et al. 2016; Sønderby et al. 2016).
    """
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, max(0.0, progress_epochs) / warmup_epochs)
