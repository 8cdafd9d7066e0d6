"""The ridge-to-SHAM-codes baseline as a per-view hasher with its penalty chosen on the training rows.

Wraps :func:`hashlib_core.baselines.ridge.fit_ridge_hasher` (standardised features, ridge regression with an
unpenalised intercept onto the SHAM target codes ``sgn(y W)`` of the training labels, sign of the prediction).
``ridge=None`` chooses the penalty from :data:`RIDGE_GRID` on a seeded, stratified 20 % hold-out of the training
rows by the fraction of held-out bits that equal their target code (ties: the larger penalty); the queries are
never used. A number fixes it (DCHN's in-run comparison uses 1.0).
"""

from __future__ import annotations

import numpy as np

from .linear import as_matrix, holdout_rows
from .ridge import fit_ridge_hasher

RIDGE_GRID = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


class RidgeShamHash:
    """``fit(X_train, train_labels)``, ``encode(X)`` -> (n, bits) int8 +-1; ``sham``: a fitted ShamResult."""

    def __init__(self, sham, *, ridge: float | None = None, seed: int = 0):
        self.sham = sham
        self.ridge = ridge
        self.seed = int(seed)

    def fit(self, features, labels) -> "RidgeShamHash":
        X = as_matrix("features", features, min_rows=2)
        targets = self.sham.target_codes(np.asarray(labels))
        if self.ridge is None:
            fit_rows, held = holdout_rows(X.shape[0], self.seed, labels=np.asarray(labels))
            self.scores_ = {}
            for ridge in RIDGE_GRID:
                hasher = fit_ridge_hasher(X[fit_rows], targets[fit_rows], ridge=ridge)
                self.scores_[ridge] = float(np.mean(hasher.encode(X[held]) == targets[held]))
            best = max(self.scores_.values())
            self.ridge_ = float(max(r for r, s in self.scores_.items() if s >= best - 1e-12))
        else:
            self.ridge_, self.scores_ = float(self.ridge), None
        self.hasher_ = fit_ridge_hasher(X, targets, ridge=self.ridge_)
        return self

    def encode(self, features) -> np.ndarray:
        if not hasattr(self, "hasher_"):
            raise ValueError("RidgeShamHash is not fitted yet: call fit(features, labels) first")
        return self.hasher_.encode(features)

    def describe(self) -> dict:
        return {"ridge": self.ridge_, "ridge_chosen_on": "hold-out of the training rows" if self.ridge is None
                else "given", "bit_agreement": None if self.scores_ is None else
                {str(r): round(s, 6) for r, s in self.scores_.items()}}
