"""A molecular formula as a fixed-length network input: what a formula-conditioned network reads beside the spectrum.

Why a formula input: most candidates of a list share the answer's formula or a few others, and a network told the
formula predicts bits that structures of that formula can have (CSI:FingerID conditions its predictions on the
formula the same way). The features are counts on a log scale, so that C6 and C60 differ by a step a linear layer
can use, presence flags, so that one halogen atom is not lost next to forty carbons, and the ring-plus-double-bond
equivalent, which says how unsaturated any structure of the formula must be.

Example::

    features = formula_features("C9H8O4")           # aspirin: shape (N_FORMULA_FEATURES,)
    block = formula_feature_matrix(["C9H8O4", None])  # (2, N_FORMULA_FEATURES); None reads as all zeros

``benchmarks/results/accuracy/formula_input.md`` measures what a network with these inputs is worth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from specvae.fragment_formulas import element_counts

FORMULA_ELEMENTS = ("C", "H", "N", "O", "P", "S", "F", "Cl", "Br", "I", "Si", "Se", "B")
"""The elements with a count and a presence feature each, in feature order."""

N_FORMULA_FEATURES = 2 * len(FORMULA_ELEMENTS) + 3
"""log(1 + count) and presence of each of :data:`FORMULA_ELEMENTS`, any other element present, ring-plus-double-bond
equivalent / 10, and log(1 + C + N + O)."""

_VALENCES = {"C": 4, "Si": 4, "N": 3, "P": 3, "B": 3, "F": 1, "Cl": 1, "Br": 1, "I": 1, "H": 1}
"""Valences for the ring-plus-double-bond equivalent; any other element counts as divalent (O, S, Se)."""


def ring_double_bond_equivalent(counts: dict[str, int]) -> float:
    """1 + Σ count × (valence − 2) / 2: rings plus double bonds of any neutral structure with these atoms."""
    return 1 + sum(count * (_VALENCES.get(element, 2) - 2) for element, count in counts.items()) / 2


def formula_features(formula: str | None) -> np.ndarray:
    """``(N_FORMULA_FEATURES,)`` float32 features of a molecular formula; all zeros for None, an empty text or a
    formula that cannot be read (the input a formula-conditioned network sees when no formula is given)."""
    features = np.zeros(N_FORMULA_FEATURES, dtype=np.float32)
    try:
        counts = element_counts(formula) if formula else None
    except ValueError:
        counts = None
    if not counts:
        return features
    n_elements = len(FORMULA_ELEMENTS)
    for position, element in enumerate(FORMULA_ELEMENTS):
        features[position] = np.log1p(counts.get(element, 0))
        features[n_elements + position] = float(counts.get(element, 0) > 0)
    features[-3] = float(any(element not in FORMULA_ELEMENTS for element in counts))
    features[-2] = ring_double_bond_equivalent(counts) / 10
    features[-1] = np.log1p(counts.get("C", 0) + counts.get("N", 0) + counts.get("O", 0))
    return features


def formula_feature_matrix(formulas: Sequence[str | None]) -> np.ndarray:
    """``(len(formulas), N_FORMULA_FEATURES)`` float32: :func:`formula_features` of each, each distinct formula
    worked out once (a candidate list repeats a few formulas many times)."""
    distinct = {formula: formula_features(formula) for formula in set(formulas)}
    if not formulas:
        return np.zeros((0, N_FORMULA_FEATURES), dtype=np.float32)
    return np.stack([distinct[formula] for formula in formulas])
