"""Ridge regression hashing: the linear supervised reference for DCHN, computed in the same run on the same split.

Each view alone: standardise the features with the training mean and standard deviation, regress the same
label-derived target codes DCHN learns (``o = sgn(y W)``, SHAM's ``W``) by ridge regression with an intercept,
and take the sign of the prediction as the code. It answers "does DCHN's deep network beat a linear map to the
same targets?" (the target codes are shared, so only the view -> code mapping differs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass
class RidgeHasher:
    """A fitted per-view linear map: ``codes = sgn(((x - mean) / std) @ coef + intercept)``."""

    mean: np.ndarray        # (d,)
    std: np.ndarray         # (d,)
    coef: np.ndarray        # (d, bits)
    intercept: np.ndarray   # (bits,)
    ridge: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Real-valued predictions (n, bits) for (n, d) features."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features: expected (n, {self.mean.shape[0]}), got {features.shape}")
        return ((features - self.mean) / self.std) @ self.coef + self.intercept

    def encode(self, features: np.ndarray) -> np.ndarray:
        """(n, bits) int8 codes in {-1, +1} (``+1`` where the prediction is > 0)."""
        return np.where(self.predict(features) > 0, 1, -1).astype(np.int8)


def fit_ridge_hasher(features: np.ndarray, targets: np.ndarray, *, ridge: float = 1.0,
                     form: str = "auto") -> RidgeHasher:
    """Fit ``min ||Z P + 1 c - T||^2 + ridge ||P||^2`` on standardised training features ``Z`` (n, d) and target
    codes ``T`` (n, bits) in {-1, +1}; the intercept ``c`` is not penalised.

    ``form``: ``"primal"`` solves the d x d system ``(Z^T Z + ridge I) P = Z^T (T - c)``; ``"dual"`` the n x n
    system, ``P = Z^T (Z Z^T + ridge I)^-1 (T - c)`` (the same P, push-through identity); ``"auto"`` the smaller."""
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2 or targets.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise ValueError(f"features (n, d) and targets (n, bits) must have the same rows, got "
                         f"{features.shape} and {targets.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features contain NaN or inf")
    if not ridge > 0:
        raise ValueError(f"ridge must be > 0, got {ridge!r}")
    if form not in ("auto", "primal", "dual"):
        raise ValueError(f"form must be 'auto', 'primal' or 'dual', got {form!r}")
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    z = (features - mean) / std
    intercept = targets.mean(axis=0)
    n, d = z.shape
    if form == "dual" or (form == "auto" and n < d):
        coef = z.T @ scipy.linalg.solve(z @ z.T + ridge * np.eye(n), targets - intercept, assume_a="pos")
    else:
        coef = scipy.linalg.solve(z.T @ z + ridge * np.eye(d), z.T @ (targets - intercept), assume_a="pos")
    return RidgeHasher(mean=mean, std=std, coef=coef, intercept=intercept, ridge=float(ridge))
