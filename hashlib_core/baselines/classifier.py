"""The classifier baseline: "classify, then look up the class code".

Per view, a linear classifier is trained on the training rows: multinomial logistic regression (softmax) when
every training row has exactly one label, one logistic regression per label (sigmoids) otherwise; features are
standardised with the training mean and standard deviation; the loss is the mean cross-entropy plus
``l2 / 2 * ||W||_F^2`` (the intercept is not penalised), minimised by L-BFGS (scipy). An item's predicted label
vector is the one-hot of the most probable class (single-label), or every label with probability > 0.5 (the most
probable one when none is) (multi-label). Its code is the SHAM target code of that label vector,
``sgn(y_hat W_sham)`` (:meth:`hashlib_core.models.sham.ShamResult.target_codes`), the same targets DCHN's networks
and the ridge baseline learn, so the question it answers is how far a deep hashing network gets beyond a linear
classifier and a code book.

``l2=None`` chooses the weight from :data:`L2_GRID` on a seeded, stratified 20 % hold-out of the training rows by
the mean Jaccard index of predicted and true label sets (the accuracy for single-label data); ties go to the
larger weight. The queries are never used. A classifier does not depend on the code length, so
:class:`ClassifierHash` reuses an identical fit made earlier in the same process (``fit_reused`` in its facts).
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.optimize
import scipy.special

from .linear import as_matrix, holdout_rows, row_space

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _check_labels(labels, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] != n:
        raise ValueError(f"labels must be an ({n}, C) multi-hot matrix, got shape {labels.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be multi-hot 0/1")
    return labels.astype(np.float64)


def logistic_loss(params: np.ndarray, X: np.ndarray, Y: np.ndarray, l2: float, multilabel: bool
                  ) -> tuple[float, np.ndarray]:
    """Loss and gradient of the (softmax or per-label sigmoid) logistic regression at ``params`` = the flattened
    ``[W (d, C); b (1, C)]``; ``X`` (n, d) standardised, ``Y`` (n, C) 0/1."""
    n, d = X.shape
    C = Y.shape[1]
    W = params[:d * C].reshape(d, C)
    b = params[d * C:]
    logits = X @ W + b
    if multilabel:
        # mean over rows of sum over labels of the binary cross-entropy, written with log-sigmoids
        loss = np.sum(np.logaddexp(0.0, logits) - Y * logits) / n
        residual = scipy.special.expit(logits) - Y
    else:
        log_norm = scipy.special.logsumexp(logits, axis=1, keepdims=True)
        loss = float(np.sum(Y * (log_norm - logits))) / n
        residual = np.exp(logits - log_norm) - Y
    loss += 0.5 * l2 * float(np.sum(W ** 2))
    grad_W = X.T @ residual / n + l2 * W
    grad_b = residual.sum(axis=0) / n
    return float(loss), np.concatenate([grad_W.ravel(), grad_b])


class LinearClassifier:
    """Logistic regression on standardised features: ``fit(X, labels)``, ``predict_proba(X)``, ``predict(X)``.

    ``predict`` returns (n, C) uint8 label vectors (see the module docstring for the rule).
    """

    def __init__(self, l2: float = 1e-2, *, max_iter: int = 500):
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0, got {l2!r}")
        self.l2 = float(l2)
        self.max_iter = int(max_iter)

    def fit(self, features, labels, *, warm_start: "LinearClassifier | None" = None) -> "LinearClassifier":
        """Fit on (n, d) features and (n, C) multi-hot labels; ``warm_start``: a classifier fitted on the same
        kind of data whose solution starts L-BFGS (the optimum does not depend on the start: the loss is convex)."""
        X = as_matrix("features", features, min_rows=2)
        Y = _check_labels(labels, X.shape[0])
        if not Y.any(axis=0).all():
            missing = np.flatnonzero(~Y.any(axis=0)).tolist()
            raise ValueError(f"labels: classes {missing} have no training row; the classifier cannot learn them")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.std_ = np.where(std > 1e-8, std, 1.0)
        Z = (X - self.mean_) / self.std_
        self.multilabel_ = bool(np.any(Y.sum(axis=1) != 1))
        C = Y.shape[1]
        # With more features than rows, the penalised optimum lies in the span of the centred training rows
        # (the gradient of every loss term does; the intercept absorbs the mean): solve in the r <= n - 1
        # coordinates of that span (orthonormal basis B, W = B w, ||W|| = ||w||) and map back. Same optimum.
        basis = None
        if Z.shape[0] < Z.shape[1]:
            _, basis = row_space(Z)
            Z = Z @ basis
        d = Z.shape[1]
        start = np.zeros(d * C + C)
        if warm_start is not None and warm_start.solution_.shape == start.shape:
            start = warm_start.solution_.copy()   # any start reaches the same optimum (convex loss)
        result = scipy.optimize.minimize(logistic_loss, start, args=(Z, Y, self.l2, self.multilabel_), jac=True,
                                         method="L-BFGS-B", options={"maxiter": self.max_iter})
        self.solution_, self.basis_ = result.x, basis
        coef = result.x[:d * C].reshape(d, C)
        self.coef_ = coef if basis is None else basis @ coef
        self.intercept_ = result.x[d * C:]
        self.converged_ = bool(result.success)
        self.iterations_ = int(result.nit)
        return self

    def decision_function(self, features) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise ValueError("LinearClassifier is not fitted yet: call fit(features, labels) first")
        X = as_matrix("features", features)
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"features have {X.shape[1]} columns, the classifier was fitted on "
                             f"{self.mean_.shape[0]}")
        return ((X - self.mean_) / self.std_) @ self.coef_ + self.intercept_

    def predict_proba(self, features) -> np.ndarray:
        logits = self.decision_function(features)
        if self.multilabel_:
            return scipy.special.expit(logits)
        return scipy.special.softmax(logits, axis=1)

    def predict(self, features) -> np.ndarray:
        proba = self.predict_proba(features)
        top = np.zeros(proba.shape, dtype=np.uint8)
        top[np.arange(proba.shape[0]), proba.argmax(axis=1)] = 1
        if not self.multilabel_:
            return top
        chosen = (proba > 0.5).astype(np.uint8)
        empty = chosen.sum(axis=1) == 0
        chosen[empty] = top[empty]
        return chosen


def jaccard(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over rows of |predicted AND truth| / |predicted OR truth| (1 for two empty rows)."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    union = (predicted | truth).sum(axis=1)
    inter = (predicted & truth).sum(axis=1)
    return float(np.mean(np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)))


def choose_l2(features, labels, *, seed: int, grid=L2_GRID) -> tuple[float, dict]:
    """The ``l2`` of ``grid`` with the best hold-out Jaccard index (see the module docstring) and ``{l2: score}``."""
    X = as_matrix("features", features, min_rows=2)
    Y = np.asarray(labels)
    fit_rows, held = holdout_rows(X.shape[0], seed, labels=Y)
    if not Y[fit_rows].any(axis=0).all():   # a class too rare to hold out: fall back to fitting on every row
        fit_rows = np.arange(X.shape[0])
    scores, model = {}, None
    for l2 in sorted(grid, reverse=True):   # strongest penalty first, each fit warm-starts the next
        model = LinearClassifier(l2).fit(X[fit_rows], Y[fit_rows], warm_start=model)
        scores[l2] = jaccard(model.predict(X[held]), Y[held])
    scores = {l2: scores[l2] for l2 in grid}
    best = max(scores.values())
    chosen = max(l2 for l2, score in scores.items() if score >= best - 1e-12)
    return float(chosen), {str(l2): round(score, 6) for l2, score in scores.items()}


_FITTED: dict = {}     # (features digest, labels digest, l2, seed) -> (l2, scores, LinearClassifier), oldest first
_FITTED_MAX = 16


def _digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()


class ClassifierHash:
    """Per view: a :class:`LinearClassifier`, then the SHAM target code of the predicted label vector.

    ``fit(X_train, train_labels)``, ``encode(X)`` -> (n, bits) int8 +-1; ``sham``: a fitted
    :class:`~hashlib_core.models.sham.ShamResult` (``sham.bits`` code bits, ``sham.num_classes`` labels).
    """

    def __init__(self, sham, *, l2: float | None = None, seed: int = 0):
        self.sham = sham
        self.l2 = l2
        self.seed = int(seed)

    def fit(self, features, labels) -> "ClassifierHash":
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[1] != self.sham.num_classes:
            raise ValueError(f"labels: expected (n, {self.sham.num_classes}) multi-hot, got {labels.shape}")
        features = as_matrix("features", features, min_rows=2)
        # the classifier does not depend on the code length: runs of one process that differ only in bits
        # (a grid) reuse the identical fit (same features, labels, l2 setting and seed)
        key = (_digest(features), _digest(labels), self.l2, self.seed)
        self.fit_reused_ = key in _FITTED
        if self.fit_reused_:
            self.l2_, self.l2_scores_, self.model_ = _FITTED[key]
            return self
        if self.l2 is None:
            self.l2_, self.l2_scores_ = choose_l2(features, labels, seed=self.seed)
        else:
            self.l2_, self.l2_scores_ = float(self.l2), None
        self.model_ = LinearClassifier(self.l2_).fit(features, labels)
        _FITTED[key] = (self.l2_, self.l2_scores_, self.model_)
        while len(_FITTED) > _FITTED_MAX:
            _FITTED.pop(next(iter(_FITTED)))
        return self

    def predict(self, features) -> np.ndarray:
        return self.model_.predict(features)

    def encode(self, features) -> np.ndarray:
        return self.sham.target_codes(self.predict(features))

    def describe(self) -> dict:
        return {"classifier": "multi-label logistic (sigmoids)" if self.model_.multilabel_ else
                "multinomial logistic (softmax)", "l2": self.l2_,
                "l2_chosen_on": "hold-out of the training rows" if self.l2 is None else "given",
                "l2_scores": self.l2_scores_, "converged": self.model_.converged_,
                "lbfgs_iterations": self.model_.iterations_, "fit_reused": self.fit_reused_}
