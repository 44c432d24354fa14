"""The formula features a formula-conditioned network reads (specvae/formula_features.py)."""

from __future__ import annotations

import numpy as np
import pytest

from specvae.formula_features import (
    FORMULA_ELEMENTS,
    N_FORMULA_FEATURES,
    formula_feature_matrix,
    formula_features,
    ring_double_bond_equivalent,
)


def feature(features: np.ndarray, kind: str, element: str) -> float:
    offset = {"count": 0, "present": len(FORMULA_ELEMENTS)}[kind]
    return float(features[offset + FORMULA_ELEMENTS.index(element)])


def test_counts_presence_and_unsaturation_of_aspirin() -> None:
    features = formula_features("C9H8O4")
    assert features.shape == (N_FORMULA_FEATURES,) and features.dtype == np.float32
    assert feature(features, "count", "C") == pytest.approx(np.log(10))
    assert feature(features, "count", "H") == pytest.approx(np.log(9))
    assert feature(features, "present", "O") == 1.0 and feature(features, "present", "N") == 0.0
    assert features[-3] == 0.0  # no element outside the list
    assert features[-2] == pytest.approx(0.6)  # benzene ring (4) + two C=O (2) = 6
    assert features[-1] == pytest.approx(np.log(14))


@pytest.mark.parametrize(
    ("formula", "expected"),
    [("C6H6", 4.0), ("C2H6", 0.0), ("C5H5N", 4.0), ("CH2Cl2", 0.0), ("C6H12O6", 1.0), ("C10H16Si", 4.0)],
)
def test_ring_double_bond_equivalent_matches_hand_counts(formula: str, expected: float) -> None:
    from specvae.fragment_formulas import element_counts

    assert ring_double_bond_equivalent(element_counts(formula)) == pytest.approx(expected)


def test_an_element_outside_the_list_is_flagged_not_dropped() -> None:
    with_tin = formula_features("C12H28Sn")
    assert with_tin[-3] == 1.0
    assert np.array_equal(with_tin[:-3], formula_features("C12H28")[:-3])


@pytest.mark.parametrize("missing", [None, "", "not a formula"])
def test_no_formula_reads_as_zeros(missing: str | None) -> None:
    assert not formula_features(missing).any()


def test_matrix_rows_follow_the_input_order_and_equal_single_features() -> None:
    formulas = ["C9H8O4", None, "C6H6", "C9H8O4"]
    block = formula_feature_matrix(formulas)
    assert block.shape == (4, N_FORMULA_FEATURES)
    for row, formula in zip(block, formulas, strict=True):
        assert np.array_equal(row, formula_features(formula))
    assert formula_feature_matrix([]).shape == (0, N_FORMULA_FEATURES)
