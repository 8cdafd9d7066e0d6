"""PCA, a random orthogonal rotation, sign: the recipe of Moummad et al., "Hashing-Baseline" (arXiv 2509.14427,
2025), single-view.

The centred training features are reduced by PCA to ``bits`` dimensions (fewer when their rank is lower), turned
by one seeded Haar-random orthogonal matrix R (k, bits) (orthonormal rows when k < bits) so that the variance is
spread over the bits, and binarised: ``code(x) = sgn((x - mean) C R)``. Unlike ITQ the rotation is not learned.
"""

from __future__ import annotations

import numpy as np

from .linear import PCA, check_bits, random_orthogonal, sign_codes


class PCARotationHash:
    """``fit(X_train)``, then ``encode(X)`` -> (n, bits) int8 +-1."""

    def __init__(self, bits: int, seed: int = 0):
        self.bits = check_bits(bits)
        self.seed = int(seed)

    def fit(self, features) -> "PCARotationHash":
        self.pca_ = PCA.fit(features, self.bits)
        self.rotation_ = random_orthogonal(self.pca_.dim, self.bits, np.random.default_rng(self.seed))
        return self

    def encode(self, features) -> np.ndarray:
        if not hasattr(self, "pca_"):
            raise ValueError("PCARotationHash is not fitted yet: call fit(features) first")
        return sign_codes(self.pca_.transform(features) @ self.rotation_)

    def describe(self) -> dict:
        return {"components": self.pca_.dim, "input_dim": int(self.pca_.mean.shape[0]), "seed": self.seed,
                "rotation": "Haar-random orthogonal"}
