"""Linear-algebra pieces the training-free baselines share: input checks, sign codes, PCA, random orthogonal
matrices, the orthogonal Procrustes solution and a seeded hold-out of training rows.

Conventions: feature matrices are (n, d) (rows = items); a projection is (d, k); codes are int8 in {-1, +1} with
``+1`` where the projection is > 0 (zero maps to -1, as :func:`hashlib_core.records.finish_run` stores codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def as_matrix(name: str, array, *, min_rows: int = 1) -> np.ndarray:
    """``array`` as a float64 (n, d) matrix; ``ValueError`` naming ``name`` when it is not 2-D, not finite or has
    fewer than ``min_rows`` rows."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_bits(bits) -> int:
    """``bits`` as a positive int, else ``ValueError``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    return int(bits)


def sign_codes(values: np.ndarray) -> np.ndarray:
    """int8 codes in {-1, +1}: ``+1`` where ``values > 0``, else ``-1``."""
    return np.where(np.asarray(values) > 0, 1, -1).astype(np.int8)


def random_orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed (rows, cols) matrix with orthonormal columns (``rows >= cols``) or orthonormal rows
    (``rows < cols``): the Q factor of a Gaussian matrix with the signs of R's diagonal folded in."""
    tall = rows >= cols
    gaussian = rng.standard_normal((rows, cols) if tall else (cols, rows))
    q, r = np.linalg.qr(gaussian)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return q if tall else q.T


def procrustes(cross: np.ndarray) -> np.ndarray:
    """The orthogonal Procrustes solution: for ``cross`` (k, b) with k <= b, the (k, b) matrix R with orthonormal
    rows maximising ``trace(R^T cross)``, i.e. ``U W^T`` from the thin SVD ``cross = U S W^T`` (for k = b an
    orthogonal matrix). ``min_R ||B - V R||_F`` over such R is ``procrustes(V^T B)``."""
    u, _, wt = np.linalg.svd(np.asarray(cross, dtype=np.float64), full_matrices=False)
    return u @ wt


def row_space(data: np.ndarray, rank_tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """The non-degenerate right singular directions of ``data`` (n, d) from the eigendecomposition of the n x n
    Gram matrix (cheaper than an SVD when n < d): squared singular values (r,) in decreasing order and the
    orthonormal (d, r) directions ``data^T u / s``."""
    values, vectors = np.linalg.eigh(data @ data.T)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = values > rank_tol * max(float(values[0]) if values.size else 0.0, 0.0)
    values, vectors = values[keep], vectors[:, keep]
    return values, (data.T @ vectors) / np.sqrt(values)


@dataclass
class PCA:
    """Principal components of centred training rows: ``transform(X) = (X - mean) @ components``.

    ``components`` (d, k) are orthonormal, in decreasing order of ``variances`` (k,) (sample variance, n - 1);
    each column's sign makes its entry of largest magnitude positive (so results do not depend on LAPACK).
    Directions whose variance is below ``rank_tol`` times the largest are dropped, so k <= rank.
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray

    @classmethod
    def fit(cls, features, n_components: int | None = None, *, rank_tol: float = 1e-10,
            name: str = "features") -> "PCA":
        X = as_matrix(name, features, min_rows=2)
        mean = X.mean(axis=0)
        centred = X - mean
        n, d = X.shape
        if n < d:   # the n x n Gram matrix is cheaper than the d x d covariance
            variances, vectors = row_space(centred)
            variances = variances / (n - 1)
        else:
            values, vectors = np.linalg.eigh(centred.T @ centred / (n - 1))
            order = np.argsort(values)[::-1]
            variances, vectors = values[order], vectors[:, order]
        top = max(float(variances[0]), 0.0) if variances.size else 0.0
        keep = variances > rank_tol * top
        if not keep.any():
            raise ValueError(f"{name} has zero variance on the training rows: PCA is undefined")
        variances, vectors = variances[keep], vectors[:, keep]
        if n_components is not None:
            variances, vectors = variances[:int(n_components)], vectors[:, :int(n_components)]
        pivot = np.abs(vectors).argmax(axis=0)
        vectors = vectors * np.where(vectors[pivot, np.arange(vectors.shape[1])] < 0, -1.0, 1.0)
        return cls(mean=mean, components=vectors, variances=variances)

    @property
    def dim(self) -> int:
        return int(self.components.shape[1])

    def transform(self, features, *, name: str = "features") -> np.ndarray:
        X = as_matrix(name, features)
        if X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"{name} has {X.shape[1]} columns, PCA was fitted on {self.mean.shape[0]}")
        return (X - self.mean) @ self.components


def holdout_rows(n: int, seed: int, *, fraction: float = 0.2, labels: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``n`` training rows into (fit rows, held-out rows), about ``fraction`` held out, sorted;
    stratified by each row's first label when ``labels`` (n, C) are given (every class keeps at least one fit
    row). Used to choose a regularisation weight without touching the queries."""
    if n < 2:
        raise ValueError(f"a hold-out needs at least 2 training rows, got {n}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    rng = np.random.default_rng([int(seed), 7])
    strata = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels).argmax(axis=1)
    held = []
    for value in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == value))
        take = int(round(fraction * members.size))
        held.append(members[:min(take, members.size - 1)])
    held = np.sort(np.concatenate(held)).astype(np.int64)
    if held.size == 0:
        held = np.array([int(rng.integers(n))], dtype=np.int64)
    fit = np.setdiff1d(np.arange(n, dtype=np.int64), held)
    return fit, held
