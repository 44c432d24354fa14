"""Spectrum -> predicted fingerprint probabilities, batched; and the retrieval metrics built on it."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch

from mmcore import MultimodalVAE
from specvae.architecture import FINGERPRINT, SPECTRUM
from specvae.ranking import CandidateBitMatrix, rank_scores, score_candidates


@torch.no_grad()
def predict_fingerprint_probabilities(
    model: MultimodalVAE, binned_spectra: scipy.sparse.csr_matrix, batch_size: int = 512
) -> np.ndarray:
    """``(n_spectra, n_kept_bits)`` float32 probabilities that each kept fingerprint bit is set.

    The posterior given the spectrum alone (each fusion model's own rule for a missing fingerprint) is decoded
    at its mean: a point prediction, which is what ranking by cross-entropy expects.
    """
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, binned_spectra.shape[0], batch_size):
            dense = torch.from_numpy(binned_spectra[start : start + batch_size].toarray().astype(np.float32))
            generated = model.cross_generate({SPECTRUM: dense}, [SPECTRUM], [FINGERPRINT])
            outputs.append(generated[FINGERPRINT].numpy())
    finally:
        model.train(was_training)
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32)


def retrieval_ranks(probabilities: np.ndarray, true_rows: np.ndarray, candidate_bits: np.ndarray) -> np.ndarray:
    """Rank (1 = best, ties share the best rank) of each spectrum's true structure among all candidates.

    ``candidate_bits`` ``(n_candidates, n_kept_bits)``; ``true_rows[i]`` is spectrum i's structure row in it.
    """
    candidates = CandidateBitMatrix.from_bits(candidate_bits)
    ranks = np.empty(len(true_rows), dtype=np.int64)
    for index, (prediction, true_row) in enumerate(zip(probabilities, true_rows, strict=True)):
        ranks[index] = rank_scores(score_candidates(prediction, candidates))[true_row]
    return ranks


def retrieval_summary(ranks: np.ndarray) -> dict[str, float]:
    """Share of spectra with the truth at rank 1, ≤5, ≤10, and the mean and median rank."""
    if len(ranks) == 0:
        return {}
    return {
        "retrieval_top1": float(np.mean(ranks <= 1)),
        "retrieval_top5": float(np.mean(ranks <= 5)),
        "retrieval_top10": float(np.mean(ranks <= 10)),
        "retrieval_mean_rank": float(np.mean(ranks)),
        "retrieval_median_rank": float(np.median(ranks)),
    }
