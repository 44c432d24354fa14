"""Classical canonical correlation analysis (Hotelling 1936) with ridge regularisation, in numpy.

Given paired features a (n × d_a) and b (n × d_b), CCA finds projections u_i = A_i·(a − ā), v_i = B_i·(b − b̄)
with maximal correlation ρ_1 ≥ ρ_2 ≥ ..., each pair uncorrelated with the others. Computed by whitening:
with C_aa, C_bb the (regularised) covariances and C_ab the cross-covariance, the SVD
C_aa^{-1/2} C_ab C_bb^{-1/2} = U diag(ρ) Vᵀ gives A = C_aa^{-1/2} U, B = C_bb^{-1/2} V; the inverse square
roots come from symmetric eigen-decompositions. Each canonical variate has unit variance on the data
the projection was fitted on.

Regularisation adds ``regularisation`` × (mean variance of the view) to the diagonal of each covariance, so it
is relative to the features' scale and keeps the whitening finite when d is close to n or features are
collinear (image features often are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def _as_matrix(features: ArrayLike, name: str) -> np.ndarray:
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
        raise ValueError(f"{name} must be a matrix (samples × features) with at least 2 samples, got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return matrix


def _inverse_square_root(covariance: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.clip(eigenvalues, np.finfo(np.float64).tiny, None)
    return (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T


def _regularised_covariance(centred: np.ndarray, regularisation: float) -> np.ndarray:
    covariance = centred.T @ centred / (centred.shape[0] - 1)
    ridge = regularisation * float(np.mean(np.diag(covariance))) + 1e-12
    return covariance + ridge * np.eye(covariance.shape[0])


@dataclass(frozen=True)
class CCAProjection:
    """Fitted CCA: the training means, the projections (d × k) and the canonical correlations on the fit data."""

    mean_a: np.ndarray
    mean_b: np.ndarray
    projection_a: np.ndarray
    projection_b: np.ndarray
    correlations: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.correlations.shape[0])

    def transform_a(self, features_a: ArrayLike) -> np.ndarray:
        """Canonical variates of view a ``(n, k)``, centred with the training mean."""
        return (_as_matrix(features_a, "features_a") - self.mean_a) @ self.projection_a

    def transform_b(self, features_b: ArrayLike) -> np.ndarray:
        """Canonical variates of view b ``(n, k)``, centred with the training mean."""
        return (_as_matrix(features_b, "features_b") - self.mean_b) @ self.projection_b

    def component_correlations(self, features_a: ArrayLike, features_b: ArrayLike) -> np.ndarray:
        """Pearson correlation of each pair of canonical variates on new pairs ``(k,)``."""
        u, v = self.transform_a(features_a), self.transform_b(features_b)
        if u.shape[0] != v.shape[0]:
            raise ValueError(f"{u.shape[0]} samples of view a but {v.shape[0]} of view b")
        u = u - u.mean(0)
        v = v - v.mean(0)
        denominator = np.sqrt((u**2).sum(0) * (v**2).sum(0))
        return (u * v).sum(0) / np.where(denominator > 0, denominator, np.inf)

    def mean_pair_cosine(self, features_a: ArrayLike, features_b: ArrayLike) -> float:
        """Mean over pairs of the cosine similarity of their k-dimensional canonical variates.

        The score of Shi et al. 2019 for CUB: a pair whose projections point the same way scores 1, an
        unrelated pair 0 on average. The variates are centred with the *training* means, so a set of
        generated pairs that is shifted as a whole is not silently re-centred.
        """
        u, v = self.transform_a(features_a), self.transform_b(features_b)
        if u.shape[0] != v.shape[0]:
            raise ValueError(f"{u.shape[0]} samples of view a but {v.shape[0]} of view b")
        norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
        cosines = (u * v).sum(1) / np.where(norms > 0, norms, np.inf)
        return float(cosines.mean())


def fit_cca(
    features_a: ArrayLike, features_b: ArrayLike, n_components: int, regularisation: float = 1e-4
) -> CCAProjection:
    """Fit the first ``n_components`` canonical directions of paired features (rows are pairs)."""
    a = _as_matrix(features_a, "features_a")
    b = _as_matrix(features_b, "features_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"CCA needs paired rows: {a.shape[0]} samples of view a but {b.shape[0]} of view b")
    if not 1 <= n_components <= min(a.shape[1], b.shape[1]):
        raise ValueError(f"n_components must be in [1, {min(a.shape[1], b.shape[1])}], got {n_components}")
    if regularisation < 0:
        raise ValueError(f"regularisation must be >= 0, got {regularisation}")
    mean_a, mean_b = a.mean(0), b.mean(0)
    centred_a, centred_b = a - mean_a, b - mean_b
    whiten_a = _inverse_square_root(_regularised_covariance(centred_a, regularisation))
    whiten_b = _inverse_square_root(_regularised_covariance(centred_b, regularisation))
    cross = centred_a.T @ centred_b / (a.shape[0] - 1)
    left, singular_values, right_transposed = np.linalg.svd(whiten_a @ cross @ whiten_b)
    return CCAProjection(
        mean_a=mean_a,
        mean_b=mean_b,
        projection_a=whiten_a @ left[:, :n_components],
        projection_b=whiten_b @ right_transposed.T[:, :n_components],
        correlations=singular_values[:n_components],
    )


def cca_correlation(
    features_a: ArrayLike, features_b: ArrayLike, n_components: int, regularisation: float = 1e-4
) -> float:
    """Mean of the first ``n_components`` canonical correlations of paired features (fitted on these pairs)."""
    return float(fit_cca(features_a, features_b, n_components, regularisation).correlations.mean())
