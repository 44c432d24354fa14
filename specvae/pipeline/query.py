"""The record that flows through the annotation pipeline: one spectrum, filled in stage by stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matchms import Spectrum

from specvae.candidates import CandidateMatch


@dataclass
class SpectrumQuery:
    """One spectrum on its way through :mod:`specvae.pipeline`; each stage fills in its part.

    - read and clean: ``spectrum_id`` (the TITLE, else ``record N``), ``record`` (its 1-based number in the input,
      so that a problem found later names the record a user finds in the file), ``source`` (the file) and the
      cleaned ``spectrum``;
    - plan: ``ion_mode`` (the model that serves it), ``matches`` (its candidates, each with its mass error and
      adduct; empty when none lies in its mass window) and ``binned_intensity_fraction``;
    - predict: ``prediction``, the model's probability of each kept fingerprint bit;
    - score: ``scores``, one per match in the same order, NaN for a candidate without a fingerprint; for a model
      with a fragment-formula weight, ``fragment_scores`` holds each candidate's part of its score from that term
      (already in ``scores``); for a model with formula conditioning, ``formula_scores`` holds what conditioning
      added to each score (:mod:`specvae.pipeline.formula_scoring`, already in ``scores``).

    Ranking turns a scored query into a :class:`~specvae.pipeline.results.SpectrumAnnotation`.
    """

    spectrum_id: str
    record: int | str
    spectrum: Spectrum
    source: str = "<spectra>"
    ion_mode: str = ""
    matches: list[CandidateMatch] = field(default_factory=list)
    binned_intensity_fraction: float = 1.0
    prediction: np.ndarray | None = None
    scores: np.ndarray | None = None
    fragment_scores: np.ndarray | None = None
    formula_scores: np.ndarray | None = None
    candidate_formulas: list[str | None] | None = None
