"""Unsupervised CCA hashing baseline for two-view (image-text) retrieval.

Canonical correlation analysis (Hotelling 1936) fitted on the training pairs finds projections ``A`` (d_x, k) and
``B`` (d_y, k) that make the projected views maximally correlated, component by component. Both views of any item
are then projected into that shared k-dimensional space, multiplied by one seeded Gaussian matrix ``R`` (k, bits)
shared by the views, and binarised with ``sign``: ``codes_x = sign((X - mean_x) A R)``,
``codes_y = sign((Y - mean_y) B R)``. This is the simple "CCA + random projection" reference the DJSRH chapter
shows beside the deep method (no labels are used anywhere).

Views whose covariance is rank-deficient (e.g. topic proportions that sum to one) are whitened on their
non-degenerate subspace only (eigenvalues below ``rank_tol`` times the largest are dropped), so ``k`` is at most
the smaller rank; an optional ridge ``reg`` (relative to the mean variance) is added first.
"""

from __future__ import annotations

import numpy as np


def _as_matrix(name: str, array) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _project(name: str, data, mean: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Centre ``data`` (the view called ``name``) with the fitted ``mean`` and project it on ``weights``."""
    data = _as_matrix(name, data)
    if data.shape[1] != mean.shape[0]:
        raise ValueError(f"{name} has {data.shape[1]} columns, CCA was fitted on {mean.shape[0]}")
    return (data - mean) @ weights


def _inverse_sqrt(cov: np.ndarray, reg: float, rank_tol: float) -> np.ndarray:
    """(d, r) matrix W with W^T C W = I_r on the r non-degenerate eigen-directions of C (+ ridge)."""
    d = cov.shape[0]
    cov = cov + reg * (np.trace(cov) / d) * np.eye(d)
    values, vectors = np.linalg.eigh(cov)
    keep = values > rank_tol * max(values.max(), 0.0)
    if not keep.any():
        raise ValueError("a view has zero variance on the training pairs: CCA is undefined")
    return vectors[:, keep] / np.sqrt(values[keep])


class CanonicalComponents:
    """What CCA and generalised CCA are configured with: ``n_components`` (None: every usable component), the
    covariance ridge ``reg`` (>= 0) and the rank tolerance ``rank_tol``; ``ValueError`` naming a bad one."""

    def __init__(self, n_components: int | None = None, *, reg: float = 0.0, rank_tol: float = 1e-10):
        if n_components is not None and (int(n_components) != n_components or n_components < 1):
            raise ValueError(f"n_components must be a positive integer or None, got {n_components!r}")
        if reg < 0:
            raise ValueError(f"reg must be non-negative, got {reg!r}")
        self.n_components = n_components
        self.reg = float(reg)
        self.rank_tol = float(rank_tol)


class CCA(CanonicalComponents):
    """Linear CCA: ``fit(X, Y)`` on paired rows, then ``transform_x`` / ``transform_y`` -> (n, k) projections.

    ``n_components`` (default: every usable component, i.e. the smaller of the two views' ranks) is capped at that
    number. After fitting, ``correlations_`` (k,) holds the canonical correlations in decreasing order.
    """

    def fit(self, X, Y) -> "CCA":
        X = _as_matrix("X", X)
        Y = _as_matrix("Y", Y)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}: CCA needs paired rows")
        if X.shape[0] < 2:
            raise ValueError("CCA needs at least two training pairs")
        self.mean_x_ = X.mean(axis=0)
        self.mean_y_ = Y.mean(axis=0)
        Xc, Yc = X - self.mean_x_, Y - self.mean_y_
        n = X.shape[0]
        Wx = _inverse_sqrt(Xc.T @ Xc / (n - 1), self.reg, self.rank_tol)
        Wy = _inverse_sqrt(Yc.T @ Yc / (n - 1), self.reg, self.rank_tol)
        cross = Wx.T @ (Xc.T @ Yc / (n - 1)) @ Wy
        U, singular, Vt = np.linalg.svd(cross, full_matrices=False)
        k = len(singular) if self.n_components is None else min(int(self.n_components), len(singular))
        self.x_weights_ = Wx @ U[:, :k]
        self.y_weights_ = Wy @ Vt.T[:, :k]
        self.correlations_ = singular[:k]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "x_weights_"):
            raise ValueError("CCA is not fitted yet: call fit(X, Y) first")

    def transform_x(self, X) -> np.ndarray:
        self._check_fitted()
        return _project("X", X, self.mean_x_, self.x_weights_)

    def transform_y(self, Y) -> np.ndarray:
        self._check_fitted()
        return _project("Y", Y, self.mean_y_, self.y_weights_)


class CCAHash:
    """CCA fitted on training pairs, then one seeded Gaussian projection to ``bits`` shared by both views, then
    ``sign``. ``encode_x`` / ``encode_y`` return int8 codes (n, bits) in {-1, +1}."""

    def __init__(self, bits: int, seed: int = 0, *, n_components: int | None = None, reg: float = 0.0):
        if int(bits) != bits or bits < 1:
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        self.bits = int(bits)
        self.seed = int(seed)
        self.cca = CCA(n_components, reg=reg)

    def fit(self, X, Y) -> "CCAHash":
        self.cca.fit(X, Y)
        k = self.cca.x_weights_.shape[1]
        self.projection_ = np.random.default_rng(self.seed).standard_normal((k, self.bits))
        return self

    @staticmethod
    def _sign(z: np.ndarray) -> np.ndarray:
        return np.where(z >= 0, 1, -1).astype(np.int8)

    def encode_x(self, X) -> np.ndarray:
        return self._sign(self.cca.transform_x(X) @ self.projection_)

    def encode_y(self, Y) -> np.ndarray:
        return self._sign(self.cca.transform_y(Y) @ self.projection_)

    def describe(self) -> dict:
        """Settings and fitted facts for a run record."""
        return {"components": int(self.cca.x_weights_.shape[1]), "reg": self.cca.reg, "seed": self.seed,
                "canonical_correlations": [round(float(c), 4) for c in self.cca.correlations_]}
