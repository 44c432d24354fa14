"""Tests of mmcore/metrics/cca.py and mmcore/metrics/cub.py on features with a planted correlation.

View a holds a shared Gaussian signal s plus independent noise dimensions, view b holds ρ·s + √(1−ρ²)·e plus
noise, each mixed by a fixed random invertible matrix. The first canonical correlation is then ρ, the others 0;
and for one component, the mean cosine of paired variates is E[sign(u)·sign(v)] = (2/π)·arcsin(ρ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from mmcore.metrics import cca_correlation, cub_cca_coherence, fit_cca

RHO = 0.9


def planted_views(n: int, rho: float = RHO, seed: int = 0, dims: tuple[int, int] = (4, 5)):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(n)
    partner = rho * shared + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    a = np.column_stack([shared, rng.standard_normal((n, dims[0] - 1))])
    b = np.column_stack([partner, rng.standard_normal((n, dims[1] - 1))])
    # The same mixing for every seed: a projection fitted on one draw applies to another.
    mixing = np.random.default_rng(1000)
    mix_a = mixing.standard_normal((dims[0], dims[0])) + 2 * np.eye(dims[0])
    mix_b = mixing.standard_normal((dims[1], dims[1])) + 2 * np.eye(dims[1])
    return a @ mix_a + 3.0, b @ mix_b - 1.0


def test_cca_recovers_a_planted_correlation_and_nothing_else():
    a, b = planted_views(20_000)
    projection = fit_cca(a, b, n_components=3, regularisation=0.0)
    assert projection.correlations[0] == pytest.approx(RHO, abs=0.01)
    assert np.all(projection.correlations[1:] < 0.04)
    assert cca_correlation(a, b, n_components=1) == pytest.approx(RHO, abs=0.01)


def test_independent_views_have_no_canonical_correlation():
    rng = np.random.default_rng(1)
    assert cca_correlation(rng.standard_normal((20_000, 4)), rng.standard_normal((20_000, 5)), 1) < 0.04


def test_correlations_match_the_generalised_eigenvalue_problem():
    """ρ² are the eigenvalues of C_aa⁻¹ C_ab C_bb⁻¹ C_ba (scipy, independently of the whitening route)."""
    a, b = planted_views(500, rho=0.6, seed=2)
    ca, cb = a - a.mean(0), b - b.mean(0)
    c_aa, c_bb, c_ab = ca.T @ ca, cb.T @ cb, ca.T @ cb
    eigenvalues = scipy.linalg.eigvals(np.linalg.solve(c_aa, c_ab) @ np.linalg.solve(c_bb, c_ab.T))
    expected = np.sqrt(np.sort(eigenvalues.real)[::-1])
    projection = fit_cca(a, b, n_components=4, regularisation=0.0)
    np.testing.assert_allclose(projection.correlations, expected, atol=1e-8)


def test_variates_are_whitened_and_pairwise_correlated_only_with_their_partner():
    a, b = planted_views(3000, seed=3)
    projection = fit_cca(a, b, n_components=3, regularisation=0.0)
    u, v = projection.transform_a(a), projection.transform_b(b)
    np.testing.assert_allclose(np.cov(u.T), np.eye(3), atol=1e-8)
    np.testing.assert_allclose(np.cov(v.T), np.eye(3), atol=1e-8)
    cross = (u - u.mean(0)).T @ (v - v.mean(0)) / (len(u) - 1)
    np.testing.assert_allclose(cross, np.diag(projection.correlations), atol=1e-8)
    np.testing.assert_allclose(projection.component_correlations(a, b), projection.correlations, atol=1e-8)


def test_regularisation_shrinks_the_correlations():
    a, b = planted_views(2000, seed=4)
    plain = fit_cca(a, b, 1, regularisation=0.0).correlations[0]
    ridged = fit_cca(a, b, 1, regularisation=1.0).correlations[0]
    assert ridged < plain - 0.05


def test_bad_inputs_are_refused_with_the_reason():
    a, b = planted_views(100)
    with pytest.raises(ValueError, match="paired rows"):
        fit_cca(a, b[:50], 1)
    with pytest.raises(ValueError, match="n_components"):
        fit_cca(a, b, 5)
    with pytest.raises(ValueError, match="NaN"):
        fit_cca(np.where(a > 4, np.nan, a), b, 1)


def test_cub_protocol_scores_true_pairs_by_the_arcsine_law_and_shuffled_pairs_near_zero():
    train_a, train_b = planted_views(20_000, seed=5)
    test_a, test_b = planted_views(20_000, seed=6)
    shuffled_b = test_b[np.random.default_rng(7).permutation(len(test_b))]
    result = cub_cca_coherence(
        train_a, train_b, {"ground_truth": (test_a, test_b), "shuffled": (test_a, shuffled_b)}, n_components=1
    )
    assert set(result) == {"cca/train_first_correlation", "cca/ground_truth", "cca/shuffled"}
    assert result["cca/train_first_correlation"] == pytest.approx(RHO, abs=0.01)
    assert result["cca/ground_truth"] == pytest.approx(2 / math.pi * math.asin(RHO), abs=0.02)
    assert result["cca/shuffled"] == pytest.approx(0.0, abs=0.03)
