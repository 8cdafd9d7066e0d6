"""Locality-sensitive hashing with random hyperplanes (Charikar 2002): the sign of a seeded Gaussian projection of
the centred features.

``fit`` learns only the training mean; the projection ``P`` (d, bits) has independent standard normal entries
from ``numpy.random.default_rng(seed)``; ``encode(X) = sgn((X - mean) P)``. Two items' Hamming distance then
estimates the angle between their centred feature vectors. No labels are used.
"""

from __future__ import annotations

import numpy as np

from .linear import as_matrix, check_bits, sign_codes


class LSHHash:
    """Random-hyperplane LSH on centred features: ``fit(X_train)``, then ``encode(X)`` -> (n, bits) int8 +-1."""

    def __init__(self, bits: int, seed: int = 0):
        self.bits = check_bits(bits)
        self.seed = int(seed)

    def fit(self, features) -> "LSHHash":
        X = as_matrix("features", features)
        self.mean_ = X.mean(axis=0)
        self.projection_ = np.random.default_rng(self.seed).standard_normal((X.shape[1], self.bits))
        return self

    def project(self, features) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise ValueError("LSHHash is not fitted yet: call fit(features) first")
        X = as_matrix("features", features)
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"features have {X.shape[1]} columns, LSH was fitted on {self.mean_.shape[0]}")
        return (X - self.mean_) @ self.projection_

    def encode(self, features) -> np.ndarray:
        return sign_codes(self.project(features))

    def describe(self) -> dict:
        return {"projection": "Gaussian N(0, 1)", "input_dim": int(self.mean_.shape[0]), "seed": self.seed}
