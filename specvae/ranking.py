"""Ranking candidate structures by how well their fingerprints agree with a predicted fingerprint.

The score of a candidate with fingerprint bits ``y`` (over the model's kept bits) under predicted bit
probabilities ``p`` is the Bernoulli log-likelihood (the negative cross-entropy the seed method ranks by)::

    score(y) = Σ_i y_i log p_i + (1 − y_i) log(1 − p_i)
             = Σ_i log(1 − p_i)  +  Σ_i y_i (log p_i − log(1 − p_i))
             = constant          +  y · log_odds(p)

so all candidates of a spectrum are scored at once by one matrix-vector product of their bit matrix with the
log-odds vector. Candidate fingerprints are sparse (about 4% of the ~2,400 bits are set), so the bit matrix is
kept in CSR form: the product then reads ~100 column indices per candidate instead of 2,400 floats, which is what
brings 10k candidates under a millisecond on one core (see ``benchmarks/results/ranking.md``). The CSR product
also sums each row in one fixed order, so candidates with identical fingerprints (stereoisomers, which candidate
lists are full of) get bit-identical scores and tie exactly; a dense BLAS product does not promise that.

Example::

    candidates = CandidateBitMatrix.from_bits(definition.select_kept(cache.get_or_compute(keys, smiles)))
    scores = score_candidates(predicted_probabilities, candidates)   # reuse `candidates` for every spectrum
    ranked = rank_candidates(scores, identifiers=keys)               # ranked[0] is the best candidate
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse

DEFAULT_EPS = 1e-6


@dataclass(frozen=True)
class CandidateBitMatrix:
    """The candidates' fingerprint bits as a sparse ``(n_candidates, n_bits)`` CSR matrix of 0/1 float64 entries.

    Build it once per candidate set with ``from_bits`` (a ``nonzero`` pass over the bits, tens of ms for 10k
    candidates) and score it against any number of predictions.
    """

    matrix: scipy.sparse.csr_array

    @classmethod
    def from_bits(cls, candidate_bits: np.ndarray) -> CandidateBitMatrix:
        """From a dense ``(n_candidates, n_bits)`` bool or 0/1 integer matrix."""
        bits = np.asarray(candidate_bits)
        if bits.ndim != 2:
            raise ValueError(f"candidate bits must be a (n_candidates, n_bits) matrix, got shape {bits.shape}")
        if bits.dtype != bool:
            if np.issubdtype(bits.dtype, np.integer):
                binary = bits.size == 0 or (bits.min() >= 0 and bits.max() <= 1)
            elif np.issubdtype(bits.dtype, np.floating):
                binary = bool(np.all((bits == 0) | (bits == 1)))
            else:
                raise ValueError(f"candidate bits must be bool or 0/1 numbers, got dtype {bits.dtype}")
            if not binary:
                raise ValueError("candidate bits must be 0 or 1")
        bits = np.ascontiguousarray(bits)
        n_candidates, n_bits = bits.shape
        # flatnonzero + searchsorted is about twice as fast as a 2-D nonzero + bincount on a 10k x 2,300 matrix.
        flat_positions = np.flatnonzero(bits)
        index_type = np.int32 if max(flat_positions.size, n_bits) < np.iinfo(np.int32).max else np.int64
        columns = (flat_positions % n_bits).astype(index_type) if n_bits else flat_positions.astype(index_type)
        row_starts = np.arange(n_candidates + 1, dtype=np.int64) * n_bits
        row_pointers = np.searchsorted(flat_positions, row_starts).astype(index_type)
        matrix = scipy.sparse.csr_array(
            (np.ones(columns.size, dtype=np.float64), columns, row_pointers), shape=(n_candidates, n_bits)
        )
        return cls(matrix)

    @property
    def n_candidates(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_bits(self) -> int:
        return self.matrix.shape[1]


def log_odds_weights(predicted_probabilities: np.ndarray, eps: float = DEFAULT_EPS) -> tuple[np.ndarray, float]:
    """``(log p − log(1 − p), Σ log(1 − p))`` with ``p`` clipped to ``[eps, 1 − eps]``, in float64.

    Clipping keeps a confident wrong prediction (p = 0 for a bit the candidate has) a large finite penalty
    (log eps) instead of −inf, which would tie every such candidate at the bottom.
    """
    probabilities = np.asarray(predicted_probabilities, dtype=np.float64)
    if probabilities.ndim != 1:
        raise ValueError(f"predicted probabilities must be a vector, got shape {probabilities.shape}")
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("predicted probabilities contain NaN or infinity")
    if probabilities.size and (probabilities.min() < 0.0 or probabilities.max() > 1.0):
        raise ValueError(
            f"predicted probabilities must lie in [0, 1], got range [{probabilities.min()}, {probabilities.max()}]"
        )
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
    clipped = np.clip(probabilities, eps, 1.0 - eps)
    log_not = np.log1p(-clipped)
    return np.log(clipped) - log_not, float(log_not.sum())


def score_candidates(
    predicted_probabilities: np.ndarray,
    candidate_bits: np.ndarray | CandidateBitMatrix,
    *,
    eps: float = DEFAULT_EPS,
) -> np.ndarray:
    """Score ``(n_candidates,)`` float64 of each candidate: Σ y log p + (1 − y) log(1 − p) over the kept bits.

    ``predicted_probabilities`` ``(n_kept_bits,)``; ``candidate_bits`` ``(n_candidates, n_kept_bits)`` bool/uint8,
    or a ``CandidateBitMatrix`` built once for the candidate set (pass that when scoring one candidate set against
    several predictions: building it costs more than scoring). Higher is better.
    """
    log_odds, constant = log_odds_weights(predicted_probabilities, eps)
    candidates = (
        candidate_bits
        if isinstance(candidate_bits, CandidateBitMatrix)
        else CandidateBitMatrix.from_bits(candidate_bits)
    )
    if candidates.n_bits != log_odds.size:
        raise ValueError(
            f"candidates have {candidates.n_bits} bits but the prediction has {log_odds.size}: "
            "select the model's kept bits of the candidate fingerprints (FingerprintDefinition.select_kept)"
        )
    return candidates.matrix @ log_odds + constant


def rank_scores(scores: np.ndarray) -> np.ndarray:
    """Rank ``(n,)`` int64 of each score, 1 = highest; equal scores share the lowest rank of their group
    (competition ranking: scores 5, 3, 3, 1 get ranks 1, 2, 2, 4). NaN scores rank last, tied with each other."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be a vector, got shape {scores.shape}")
    ranks = np.empty(scores.size, dtype=np.int64)
    is_nan = np.isnan(scores)
    scored = np.flatnonzero(~is_nan)
    order = scored[np.argsort(-scores[scored], kind="stable")]
    sorted_scores = scores[order]
    starts_group = np.ones(order.size, dtype=bool)
    starts_group[1:] = sorted_scores[1:] != sorted_scores[:-1]
    group_start = np.maximum.accumulate(np.where(starts_group, np.arange(order.size), 0))
    ranks[order] = group_start + 1
    ranks[is_nan] = order.size + 1
    return ranks


@dataclass(frozen=True)
class RankedCandidate:
    """One candidate in a ranking: its rank (1 = best, ties share), score, position in the candidate list given,
    and identifier (InChIKey, database id, ...) when one was given."""

    rank: int
    score: float
    index: int
    identifier: str | None = None


def rank_candidates(scores: np.ndarray, identifiers: Sequence[str] | None = None) -> list[RankedCandidate]:
    """Candidates best first (ties in input order), with ranks from ``rank_scores``."""
    scores = np.asarray(scores, dtype=np.float64)
    if identifiers is not None and len(identifiers) != scores.size:
        raise ValueError(f"got {scores.size} scores but {len(identifiers)} identifiers")
    ranks = rank_scores(scores)
    order = np.lexsort((np.arange(scores.size), ranks))
    return [
        RankedCandidate(
            rank=int(ranks[index]),
            score=float(scores[index]),
            index=int(index),
            identifier=None if identifiers is None else identifiers[index],
        )
        for index in order
    ]
