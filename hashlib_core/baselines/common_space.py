"""Cross-view training-free hashing in a common space: CCA (two views) or generalised CCA (three or more), then a
projection to ``bits`` shared by every view, then sign. No labels are used.

- Two views: the linear CCA of :mod:`hashlib_core.baselines.cca` (each view whitened, canonical directions from
  the SVD of the whitened cross-covariance; every component has unit variance on the training rows).
- m >= 3 views: generalised CCA in Carroll's MAXVAR form (1968): with each centred view whitened on its
  non-degenerate subspace (``Z_j``, ``Z_j^T Z_j / (n - 1) = I``), the shared directions are the top left singular
  vectors of ``M = [Z_1 ... Z_m] / sqrt(n - 1)``, i.e. the top eigenvectors of the sum of the views' projection
  matrices; view j's weights are ``W_j V_j`` (``V_j``: view j's block of the right singular vectors). The
  eigenvalue ``lambda`` of a direction is the sum over views of its squared cosine with the view's span; only
  directions with ``lambda > 1`` (shared by more than one view's worth) are kept. For two views the eigenvalues are
  ``1 +- rho`` (canonical correlations) and the weights are CCA's divided by sqrt(2), so the rule keeps exactly
  CCA's components (tested).

:class:`CrossViewHash` turns the common space into codes with one matrix R shared by the views:
every mode keeps the leading min(bits, k) directions, then ``mode="lsh"`` applies a seeded Gaussian
(k, bits) (for two views with at most ``bits`` canonical components, e.g. Wikipedia, this is exactly
:class:`~hashlib_core.baselines.cca.CCAHash`, which projects every component), ``mode="rotation"`` a Haar-random
orthogonal R (Hashing-Baseline in a common space) and ``mode="itq"`` the ITQ rotation learned on the stacked
training projections of all views (CCA-ITQ, Gong et al.). An item's code under view j is
``sgn(((x - mean_j) A_j) R)``. (Keeping every direction drowns the codes in the many weak directions a
generalised CCA of six views has: on mfeat, 16 bits, cross-view mAP fell to chance.)

Views with more dimensions than training rows make unregularised CCA degenerate (every canonical correlation is 1
on the training rows). ``reg`` adds ``reg * mean variance`` to each view's covariance; ``reg=None`` chooses it from
:data:`REG_GRID` on a seeded 20 % hold-out of the training rows (never the queries) by the mean correlation, over
view pairs and the leading directions (as many for every candidate), of the held-out rows' projections.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .cca import CCA, CanonicalComponents
from .itq import itq
from .linear import as_matrix, check_bits, holdout_rows, random_orthogonal, row_space, sign_codes

MODES = ("lsh", "rotation", "itq")
#: ridge weights (relative to each view's mean variance) tried when ``reg=None``
REG_GRID = (0.0, 1e-3, 1e-2, 1e-1, 1.0)
_SHARED = 1.0 + 1e-9   # a GCCA direction is shared when its eigenvalue exceeds one view's worth


def _whitener(centred: np.ndarray, reg: float, rank_tol: float, name: str) -> np.ndarray:
    """(d, r) matrix W with ``W^T (C + reg * mean variance * I) W = I_r`` on the r non-degenerate directions."""
    n, d = centred.shape
    if n <= d:
        # more dimensions than rows: only the row space of the training rows reaches the GCCA (directions
        # orthogonal to it give zero columns in M, hence zero weights), so whiten there (n x n eigenproblem)
        squares, vectors = row_space(centred, rank_tol)
        values = squares / (n - 1)
        values = values + reg * (values.sum() / d)
    else:
        cov = centred.T @ centred / (n - 1)
        cov = cov + reg * (np.trace(cov) / d) * np.eye(d)
        values, vectors = np.linalg.eigh(cov)
    keep = values > rank_tol * max(values.max(), 0.0)
    if not keep.any():
        raise ValueError(f"view {name!r} has zero variance on the training rows: a common space is undefined")
    return vectors[:, keep] / np.sqrt(values[keep])


class GCCA(CanonicalComponents):
    """Generalised CCA (MAXVAR) of m >= 2 paired views: ``fit({view: X})``, ``transform(view, X)`` -> (n, k).

    After fitting: ``eigenvalues_`` (k,) in decreasing order (each in (1, m]), ``weights_`` view -> (d_j, k).
    ``n_components`` caps k (default: every shared direction).
    """

    def fit(self, views) -> "GCCA":
        names = list(views)
        if len(names) < 2:
            raise ValueError(f"GCCA needs at least two views, got {names}")
        data = {v: as_matrix(f"view {v!r}", views[v], min_rows=2) for v in names}
        rows = {v: x.shape[0] for v, x in data.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"GCCA needs paired rows; the views have {rows} rows")
        n = next(iter(rows.values()))
        self.means_ = {v: x.mean(axis=0) for v, x in data.items()}
        whiteners, blocks = {}, []
        for v in names:
            centred = data[v] - self.means_[v]
            whiteners[v] = _whitener(centred, self.reg, self.rank_tol, v)
            blocks.append(centred @ whiteners[v])
        # the right singular vectors of M are the eigenvectors of the (sum r_j)^2 Gram matrix M^T M
        stacked = np.hstack(blocks)
        values, vectors = np.linalg.eigh(stacked.T @ stacked / (n - 1))
        order = np.argsort(values)[::-1]
        eigenvalues, vt = values[order], vectors[:, order].T
        shared = int(np.sum(eigenvalues > _SHARED))
        if shared == 0:
            raise ValueError("the views share no direction on the training rows (every GCCA eigenvalue <= 1)")
        k = shared if self.n_components is None else min(int(self.n_components), shared)
        right = vt[:k].T
        self.weights_, start = {}, 0
        for v in names:
            width = whiteners[v].shape[1]
            self.weights_[v] = whiteners[v] @ right[start:start + width]
            start += width
        # sign of each direction: the first view's weight of largest magnitude is positive (in feature
        # coordinates, so it does not depend on the whitening basis or LAPACK)
        first = self.weights_[names[0]]
        flip = np.where(first[np.abs(first).argmax(axis=0), np.arange(k)] < 0, -1.0, 1.0)
        self.weights_ = {v: w * flip for v, w in self.weights_.items()}
        self.eigenvalues_ = eigenvalues[:k]
        return self

    def transform(self, view: str, features) -> np.ndarray:
        if not hasattr(self, "weights_"):
            raise ValueError("GCCA is not fitted yet: call fit(views) first")
        if view not in self.weights_:
            raise ValueError(f"view {view!r} was not part of the GCCA fit ({list(self.weights_)})")
        X = as_matrix(f"view {view!r}", features)
        if X.shape[1] != self.means_[view].shape[0]:
            raise ValueError(f"view {view!r} has {X.shape[1]} columns, GCCA was fitted on "
                             f"{self.means_[view].shape[0]}")
        return (X - self.means_[view]) @ self.weights_[view]


class CommonSpace:
    """CCA for two views, :class:`GCCA` for more; ``transform(view, X)`` -> (n, k) in the shared space."""

    def __init__(self, n_components: int | None = None, *, reg: float = 0.0):
        self.n_components = n_components
        self.reg = float(reg)

    def fit(self, views) -> "CommonSpace":
        self.views_ = list(views)
        if len(self.views_) < 2:
            raise ValueError(f"a common space needs at least two views, got {self.views_}")
        if len(self.views_) == 2:
            first, second = self.views_
            self.model_ = CCA(self.n_components, reg=self.reg).fit(views[first], views[second])
            self.kind_ = "cca"
        else:
            self.model_ = GCCA(self.n_components, reg=self.reg).fit(views)
            self.kind_ = "gcca (maxvar)"
        return self

    @property
    def dim(self) -> int:
        model = self.model_
        return int(model.x_weights_.shape[1] if self.kind_ == "cca" else model.eigenvalues_.shape[0])

    def transform(self, view: str, features) -> np.ndarray:
        if self.kind_ == "cca":
            if view not in self.views_:
                raise ValueError(f"view {view!r} was not part of the CCA fit ({self.views_})")
            return self.model_.transform_x(features) if view == self.views_[0] else self.model_.transform_y(features)
        return self.model_.transform(view, features)

    def describe(self) -> dict:
        spectrum = (self.model_.correlations_ if self.kind_ == "cca" else self.model_.eigenvalues_)
        return {"kind": self.kind_, "components": self.dim, "reg": self.reg,
                ("canonical_correlations" if self.kind_ == "cca" else "eigenvalues"):
                    [round(float(value), 4) for value in spectrum]}


def heldout_correlation(space: CommonSpace, views, rows: np.ndarray, components: int) -> float:
    """Mean Pearson correlation, over view pairs and the first ``components`` shared directions, of the projections
    of the rows ``rows`` of every view (rows not used to fit ``space``)."""
    projected = {v: space.transform(v, np.asarray(views[v])[rows])[:, :components] for v in space.views_}
    values = []
    for a, b in combinations(space.views_, 2):
        pa = projected[a] - projected[a].mean(axis=0)
        pb = projected[b] - projected[b].mean(axis=0)
        denominator = np.sqrt((pa ** 2).sum(axis=0) * (pb ** 2).sum(axis=0))
        values.extend(np.where(denominator > 0, (pa * pb).sum(axis=0) / np.where(denominator > 0, denominator, 1),
                               0.0))
    return float(np.mean(values))


def choose_reg(views, *, components: int | None, seed: int, grid=REG_GRID) -> tuple[float, dict]:
    """The ``reg`` of ``grid`` with the highest :func:`heldout_correlation` on a seeded 20 % hold-out of the
    training rows (ties: the larger reg); returns it and ``{reg: score}`` (a fit that fails scores None).

    Every candidate is scored on the same number of leading directions (the fewest any candidate has, at most
    ``components``), so a reg that keeps fewer, stronger directions is not favoured for that alone."""
    n = len(next(iter(views.values())))
    fit_rows, held = holdout_rows(n, seed)
    spaces = {}
    for reg in grid:
        try:
            spaces[reg] = CommonSpace(None, reg=reg).fit({v: np.asarray(x)[fit_rows] for v, x in views.items()})
        except (ValueError, np.linalg.LinAlgError):
            spaces[reg] = None
    usable = [space.dim for space in spaces.values() if space is not None]
    if not usable:
        raise ValueError("no reg value gives a usable common space on the training rows")
    used = min(usable) if components is None else min(min(usable), components)
    scores = {reg: (None if space is None else heldout_correlation(space, views, held, used))
              for reg, space in spaces.items()}
    valid = {reg: score for reg, score in scores.items() if score is not None}
    best = max(valid.values())
    chosen = max(reg for reg, score in valid.items() if score >= best - 1e-12)
    return float(chosen), {str(reg): (None if s is None else round(s, 6)) for reg, s in scores.items()}


class CrossViewHash:
    """One code per view in a common space: ``fit({view: X_train})``, ``encode(view, X)`` -> (n, bits) int8 +-1.

    ``mode``: ``"lsh"`` | ``"rotation"`` | ``"itq"`` (see the module docstring); ``reg``: a number, or None to
    choose it on a hold-out of the training rows; ``iterations``: ITQ's (50 in the paper).
    """

    def __init__(self, mode: str, bits: int, seed: int = 0, *, reg: float | None = None, iterations: int = 50):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.bits = check_bits(bits)
        self.seed = int(seed)
        self.reg = reg
        self.iterations = int(iterations)

    def fit(self, views) -> "CrossViewHash":
        components = self.bits
        if self.reg is None:
            self.reg_, self.reg_scores_ = choose_reg(views, components=components, seed=self.seed)
        else:
            if self.reg < 0:
                raise ValueError(f"reg must be non-negative or None, got {self.reg!r}")
            self.reg_, self.reg_scores_ = float(self.reg), None
        self.space_ = CommonSpace(components, reg=self.reg_).fit(views)
        k = self.space_.dim
        rng = np.random.default_rng(self.seed)
        self.itq_ = None
        if self.mode == "lsh":
            self.projection_ = rng.standard_normal((k, self.bits))
        elif self.mode == "rotation":
            self.projection_ = random_orthogonal(k, self.bits, rng)
        else:
            stacked = np.vstack([self.space_.transform(v, views[v]) for v in self.space_.views_])
            self.itq_ = itq(stacked, self.bits, iterations=self.iterations, seed=self.seed)
            self.projection_ = self.itq_.rotation
        return self

    def encode(self, view: str, features) -> np.ndarray:
        if not hasattr(self, "space_"):
            raise ValueError("CrossViewHash is not fitted yet: call fit(views) first")
        return sign_codes(self.space_.transform(view, features) @ self.projection_)

    def describe(self) -> dict:
        facts = {"mode": self.mode, "seed": self.seed, **self.space_.describe(),
                 "reg_chosen_on": "hold-out of the training rows" if self.reg is None else "given",
                 "reg_scores": self.reg_scores_}
        if self.itq_ is not None:
            facts.update(iterations=self.iterations, initial_loss=round(self.itq_.initial_loss, 6),
                         final_loss=round(self.itq_.loss[-1], 6))
        return facts
