"""Iterative Quantization (Gong & Lazebnik, "Iterative Quantization: A Procrustean Approach to Learning Binary
Codes", CVPR 2011), single-view (PCA-ITQ).

PCA of the centred training features to ``bits`` dimensions gives V (n, k); ITQ then looks for the rotation R
minimising the quantisation loss ``Q(B, R) = ||B - V R||_F^2`` over codes ``B`` in {-1, +1}^(n x bits) by
alternating, from a seeded random orthogonal R:

- B step: ``B = sgn(V R)`` (the exact minimiser for fixed R);
- R step: the orthogonal Procrustes solution ``R = U W^T`` from the SVD ``V^T B = U S W^T`` (exact for fixed B).

Both steps are exact, so the recorded loss ``Q(B_t, R_t)`` never increases; the paper runs 50 iterations. An
item's code is ``sgn((x - mean) C R)`` (C: the k principal directions). When the features have fewer than
``bits`` usable directions (k < bits), R is k x bits with orthonormal rows and the same two steps stay exact
(the extra bits are then linear combinations of the k directions). Cross-modal CCA-ITQ (a common space first) is
:class:`hashlib_core.baselines.common_space.CrossViewHash` with ``mode="itq"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .linear import PCA, as_matrix, check_bits, procrustes, random_orthogonal, sign_codes


def quantization_loss(V: np.ndarray, B: np.ndarray, R: np.ndarray) -> float:
    """``||B - V R||_F^2``."""
    return float(np.sum((B - V @ R) ** 2))


@dataclass
class ITQResult:
    """The learned rotation (k, bits) and the loss ``Q(B_t, R_t)`` after each iteration t (index 0 = first)."""

    rotation: np.ndarray
    loss: list[float] = field(default_factory=list)
    initial_loss: float = float("nan")   # Q(sgn(V R_0), R_0) of the random start


def itq(V, bits: int | None = None, *, iterations: int = 50, seed: int = 0) -> ITQResult:
    """Run ITQ on projected, centred data ``V`` (n, k) for ``bits`` (default k, must be >= k) code bits."""
    V = as_matrix("V", V)
    k = V.shape[1]
    bits = k if bits is None else check_bits(bits)
    if bits < k:
        raise ValueError(f"ITQ rotates k={k} dimensions into bits={bits} >= k; reduce V to {bits} dimensions first")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    R = random_orthogonal(k, bits, np.random.default_rng(int(seed)))
    result = ITQResult(rotation=R, initial_loss=quantization_loss(V, sign_codes(V @ R).astype(np.float64), R))
    for _ in range(int(iterations)):
        B = sign_codes(V @ R).astype(np.float64)
        R = procrustes(V.T @ B)
        result.loss.append(quantization_loss(V, B, R))
    result.rotation = R
    return result


class ITQHash:
    """PCA-ITQ on one view: ``fit(X_train)``, then ``encode(X)`` -> (n, bits) int8 +-1."""

    def __init__(self, bits: int, seed: int = 0, *, iterations: int = 50):
        self.bits = check_bits(bits)
        self.seed = int(seed)
        self.iterations = int(iterations)

    def fit(self, features) -> "ITQHash":
        self.pca_ = PCA.fit(features, self.bits)
        self.result_ = itq(self.pca_.transform(features), self.bits, iterations=self.iterations, seed=self.seed)
        return self

    def encode(self, features) -> np.ndarray:
        if not hasattr(self, "pca_"):
            raise ValueError("ITQHash is not fitted yet: call fit(features) first")
        return sign_codes(self.pca_.transform(features) @ self.result_.rotation)

    def describe(self) -> dict:
        return {"components": self.pca_.dim, "input_dim": int(self.pca_.mean.shape[0]),
                "iterations": self.iterations, "seed": self.seed,
                "explained_variance": round(float(self.pca_.variances.sum()), 6),
                "initial_loss": round(self.result_.initial_loss, 6),
                "final_loss": round(self.result_.loss[-1], 6)}
