"""The benchmark report's confidence section on synthetic ranks: precision at confidence >= t, the
reliability bins and the reliability diagram (the CASMI numbers come with the new shipped models)."""

from __future__ import annotations

import numpy as np
import pytest

from specvae.benchmark.plot import plot_reliability_diagram
from specvae.benchmark.report import confidence_markdown, precision_at_confidence, reliability_bins


def synthetic(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, list[int | None]]:
    """A calibrated confidence: the answer is at rank 1 with probability equal to it, else at rank 2-50 or absent."""
    generator = np.random.default_rng(seed)
    confidence = generator.random(n)
    right = generator.random(n) < confidence
    ranks = [1 if ok else (None if generator.random() < 0.1 else int(generator.integers(2, 50))) for ok in right]
    return confidence, ranks


def test_precision_at_confidence_and_reliability_bins():
    confidence, ranks = synthetic()
    rows = precision_at_confidence(confidence, ranks, thresholds=(0.0, 0.5, 0.9, 1.1))
    assert rows[0][1] == 2000 and rows[-1] == (1.1, 0, None)
    assert rows[1][2] == pytest.approx(0.75, abs=0.04) and rows[2][2] > 0.9
    bins = reliability_bins(confidence, ranks, n_bins=5)
    assert sum(row[2] for row in bins) == 2000
    for _, _, _, mean, share in bins:  # calibrated by construction: on the diagonal
        assert share == pytest.approx(mean, abs=0.06)
    assert precision_at_confidence([0.2, 0.8], [1, None], thresholds=(0.5,)) == [(0.5, 1, 0.0)]


def test_confidence_section_and_diagram(tmp_path):
    confidence, ranks = synthetic(300)
    text = confidence_markdown(confidence, ranks)
    assert "Precision at confidence" in text and "| 0.5 |" in text and "Reliability" in text
    path = tmp_path / "reliability.png"
    plot_reliability_diagram(path, confidence, ranks)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
