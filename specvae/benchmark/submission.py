"""The contest submission format: one tab-separated file per challenge, so results can go through the official
CASMI evaluation.

CASMI's rules (http://casmi-contest.org/2017/rules-submit_evaluate.shtml, the same as 2016): no header; first
column the structure (SMILES or InChI), second a non-negative score, higher is better; further columns are
ignored. Our score is a log-likelihood (negative), so the file holds ``score - min + 1`` over the scored
candidates of the list (order, ties and differences unchanged; every scored candidate > 0), and 0 for a candidate
without a fingerprint. Scores are written with ``repr`` so ties survive exactly. A third column holds the
InChIKey. The official file name is ``<participant>-<category>-<challenge>.txt``; ours is ``<challenge>.tsv``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmcore.atomic import atomic_write_text
from specvae.benchmark.challenges import Challenge
from specvae.benchmark.evaluation import SystemRun


def submission_scores(scores: np.ndarray) -> np.ndarray:
    """Non-negative scores for the contest: ``score - min + 1`` for finite scores, 0 for NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    shifted = np.zeros_like(scores)
    if finite.any():
        shifted[finite] = scores[finite] - scores[finite].min() + 1.0
    return shifted


def submission_text(challenge: Challenge, scores: np.ndarray) -> str:
    """The file content of one challenge: candidates best first (list order among ties)."""
    shifted = submission_scores(scores)
    order = np.lexsort((np.arange(len(shifted)), -shifted))
    candidates = challenge.candidates
    lines = []
    for index in order:
        structure = candidates.smiles[index] or candidates.inchis[index]
        lines.append(f"{structure}\t{float(shifted[index])!r}\t{candidates.inchikeys[index]}")
    return "\n".join(lines) + "\n"


def write_submission(directory: str | os.PathLike[str], challenges: Sequence[Challenge], run: SystemRun) -> list[Path]:
    """Write ``<directory>/<challenge>.tsv`` for every challenge the run ranked; returns the paths written."""
    directory = Path(directory)
    by_name = {challenge.name: challenge for challenge in challenges}
    written = []
    for result in run.results:
        if result.scores is None or not len(result.scores):
            continue
        path = directory / f"{result.challenge}.tsv"
        atomic_write_text(path, submission_text(by_name[result.challenge], result.scores))
        written.append(path)
    return written
