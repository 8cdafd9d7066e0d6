"""DCHN's semantic hashing autoencoder (SHAM): labels -> a projection W -> one target code per label vector.

Hu et al., "Joint Versus Independent Multiview Hashing for Cross-View Retrieval", IEEE TCYB 2021, Sec. III-A.
SHAM is solved in closed form, not by SGD. With the label matrix ``Y`` (n x C: the C one-hot class rows, then
``available_num`` real training label rows drawn with the run's seed), it minimises over ``B`` in {-1, +1}^(n x
bits) and ``W`` (C x bits)::

    J(B, W) = ||Y - B W^T||_F^2 + gamma * ||B - Y W||_F^2

by alternating

- the B step (the authors' closed form): ``B = sgn((1 + gamma) Y W (W^T W + gamma I)^-1)``, the sign of the
  minimiser of the continuous relaxation;
- the W step, exact for a fixed ``B``: the Sylvester equation
  ``(B^T B) W^T + W^T (gamma Y^T Y) = (1 + gamma) B^T Y`` (``scipy.linalg.solve_sylvester``); ``Y^T Y`` is
  positive definite because the one-hot class rows are part of ``Y``, so the solution is unique for gamma > 0.

``W`` starts as a random orthogonal matrix, the alternation runs ``iterations`` times (50 in the paper) and one
``W`` of the trace is kept. Two switches name what the recipes do (``hashlib_core.methods.dchn.RECIPES``):

- ``init``: ``"seeded"`` (ours) draws the initial ``W`` with ``numpy.random.default_rng(seed)`` (QR of a Gaussian
  matrix), so it follows the run seed; ``"fixed"`` (the authors' code) draws a Gaussian matrix from
  ``numpy.random.RandomState(5555)`` and keeps the orthogonal factor ``U V^T`` of its SVD, the same ``W`` for every
  run seed. Which shape the authors draw and which SVD factor they keep could not be told apart from the facts we
  have, so the fixed ``W`` is the authors' *rule* (fixed seed, Gaussian, SVD, orthonormal), not their bytes.
- ``selection``: ``"frobenius"`` (ours) keeps the ``W`` with the lowest ``J``; ``"l1"`` (the authors' code) keeps
  the one with the lowest L1-type loss ``mean_i sum_j |Y - B W^T|_ij + gamma mean_i sum_j |B - Y W|_ij``
  (:func:`sham_l1_loss`; rows ``i`` of ``Y``), evaluated on the same ``(B, W)`` pair as ``J``: the B step's codes
  and the W step's solution of one alternation (the authors' order: B step, then W step). The sign of the relaxed solution is not an exact minimiser over
{-1, +1}, so the authors' alternation can raise the objective (it does on multi-label sets such as MIRFLICKR-25K;
hence "keep the best W"). With ``monotone=True`` (default) an alternation whose relaxed-sign B step would end
above the previous objective is replaced by a discrete coordinate-descent B step started from the previous ``B``
(bit by bit, each update exact, so it never raises ``J`` at fixed ``W``) followed by the exact W step: the
recorded objective is then non-increasing. ``monotone=False`` is the authors' alternation unchanged. Which step
each iteration took is recorded (``b_step``).

A sample's target code is ``o = sgn(y W)`` (:meth:`ShamResult.target_codes`). Results are cached on disk
under a key holding the dataset, bits, gamma, available_num, seed, iterations, monotone, init, selection and the
SHA-256 of ``Y`` (the
original code's cache key omits the dataset, so two datasets with the same settings silently share a ``W``).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg

from ..records.io import atomic_write_npz, sha256_array

CACHE_VERSION = 2
#: the authors' fixed NumPy seed of SHAM's initial W (``init="fixed"``)
AUTHORS_INIT_SEED = 5555
SHAM_INITS = ("seeded", "fixed")
SHAM_SELECTIONS = ("frobenius", "l1")


def sign_pm1(values: np.ndarray) -> np.ndarray:
    """Sign as int8 codes in {-1, +1}: ``+1`` where ``values > 0``, else ``-1`` (zero maps to -1, as in
    :func:`hashlib_core.records.finish_run`)."""
    return np.where(np.asarray(values) > 0, 1, -1).astype(np.int8)


def default_cache_dir() -> Path:
    """``$HASHLIB_CACHE`` if set, else ``~/.cache/hashbook``."""
    root = os.environ.get("HASHLIB_CACHE", "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "hashbook"


@dataclass
class ShamResult:
    """A fitted SHAM: ``W`` (C x bits, float64) and the record of how it was found."""

    W: np.ndarray
    B: np.ndarray                         # (C + available_num, bits) int8 codes of the label rows, with the kept W
    objective: list[float]                # J after each alternation (index 0 = first iteration)
    b_step: list[str]                     # per iteration: "relaxed-sign" (the authors') or "coordinate"
    best_iteration: int                   # index into ``objective`` of the kept W
    selection_loss: list[float] = field(default_factory=list)  # the criterion the W was kept by, per iteration
    settings: dict = field(default_factory=dict)  # bits, gamma, available_num, seed, iterations, dataset, ...
    cache_path: str | None = None
    from_cache: bool = False

    @property
    def bits(self) -> int:
        return int(self.W.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.W.shape[0])

    def target_codes(self, labels: np.ndarray) -> np.ndarray:
        """Target codes ``o = sgn(y W)`` of label rows ``labels`` (n, C) multi-hot -> (n, bits) int8 in {-1, +1}."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[1] != self.num_classes:
            raise ValueError(f"labels: expected shape (n, {self.num_classes}), got {labels.shape}")
        return sign_pm1(labels.astype(np.float64) @ self.W)

    def summary(self) -> dict:
        """JSON-ready description for a run record (settings, objective trace, best iteration, cache use)."""
        return {**self.settings, "objective": [float(v) for v in self.objective],
                "selection_loss": [float(v) for v in self.selection_loss],
                "b_step": list(self.b_step),
                "best_iteration": int(self.best_iteration),
                "best_objective": float(self.objective[self.best_iteration]),
                "from_cache": bool(self.from_cache),
                "cache_file": None if self.cache_path is None else Path(self.cache_path).name}


def sham_label_matrix(train_labels: np.ndarray, available_num: int, seed: int) -> np.ndarray:
    """``Y`` for SHAM: the C one-hot class rows, then ``available_num`` training label rows drawn without
    replacement with ``numpy.random.default_rng(seed)``; (C + available_num, C) float64."""
    train_labels = np.asarray(train_labels)
    if train_labels.ndim != 2 or train_labels.shape[1] < 1:
        raise ValueError(f"train_labels: expected a (n, C) multi-hot matrix, got shape {train_labels.shape}")
    if not isinstance(available_num, (int, np.integer)) or available_num < 0:
        raise ValueError(f"available_num must be a non-negative integer, got {available_num!r}")
    n, num_classes = train_labels.shape
    if available_num > n:
        raise ValueError(f"available_num={available_num} exceeds the {n} training samples")
    rows = np.random.default_rng(seed).choice(n, size=int(available_num), replace=False)
    return np.vstack([np.eye(num_classes), train_labels[np.sort(rows)].astype(np.float64)])


def sham_objective(Y: np.ndarray, B: np.ndarray, W: np.ndarray, gamma: float) -> float:
    """``J(B, W) = ||Y - B W^T||_F^2 + gamma ||B - Y W||_F^2``."""
    return float(np.sum((Y - B @ W.T) ** 2) + gamma * np.sum((B - Y @ W) ** 2))


def sham_l1_loss(Y: np.ndarray, B: np.ndarray, W: np.ndarray, gamma: float) -> float:
    """The authors' criterion for keeping a W: ``mean_i sum_j |Y - B W^T|_ij + gamma mean_i sum_j |B - Y W|_ij``
    (row means over the n label rows of the summed absolute entries)."""
    return float(np.abs(Y - B @ W.T).sum(axis=1).mean() + gamma * np.abs(B - Y @ W).sum(axis=1).mean())


def sham_b_step(Y: np.ndarray, W: np.ndarray, gamma: float) -> np.ndarray:
    """The authors' B step: ``sgn((1 + gamma) Y W (W^T W + gamma I)^-1)`` -> (n, bits) float64 in {-1, +1}."""
    bits = W.shape[1]
    gram = W.T @ W + gamma * np.eye(bits)
    relaxed = scipy.linalg.solve(gram, ((1.0 + gamma) * Y @ W).T, assume_a="pos").T
    return sign_pm1(relaxed).astype(np.float64)


def sham_w_step(Y: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """The exact W step: solve ``(B^T B) W^T + W^T (gamma Y^T Y) = (1 + gamma) B^T Y`` -> W (C x bits)."""
    w_transposed = scipy.linalg.solve_sylvester(B.T @ B, gamma * (Y.T @ Y), (1.0 + gamma) * (B.T @ Y))
    return np.ascontiguousarray(w_transposed.T)


def sham_coordinate_b_step(Y: np.ndarray, W: np.ndarray, B: np.ndarray, gamma: float,
                           max_sweeps: int = 20) -> np.ndarray:
    """Discrete B step: cyclic coordinate descent over the bits of every row, started from ``B``.

    At fixed ``W``, ``J`` depends on ``B`` only through ``tr(B W^T W B^T) - 2 (1 + gamma) tr(B^T Y W)`` (``B``
    entries are +-1, so ``||B||^2`` is constant). With the other bits fixed, bit ``k`` of a row is set to the sign
    of ``p_k - sum_{l != k} (W^T W)_kl b_l`` (``p = (1 + gamma) y W``), its exact minimiser; a zero keeps the
    current value. Hence ``J(result, W) <= J(B, W)``. Returns (n, bits) float64 in {-1, +1}.
    """
    gram = W.T @ W
    target = (1.0 + gamma) * Y @ W
    B = np.array(B, dtype=np.float64, copy=True)
    for _ in range(max_sweeps):
        changed = False
        for k in range(B.shape[1]):
            field_k = target[:, k] - (B @ gram[:, k] - gram[k, k] * B[:, k])
            new = np.where(field_k > 0, 1.0, np.where(field_k < 0, -1.0, B[:, k]))
            if not np.array_equal(new, B[:, k]):
                B[:, k] = new
                changed = True
        if not changed:
            break
    return B


def _fixed_init(num_classes: int, bits: int) -> np.ndarray:
    """The authors' rule: a Gaussian (C, bits) matrix from ``RandomState(5555)``, replaced by the orthogonal factor
    ``U V^T`` of its SVD (orthonormal rows when C <= bits, orthonormal columns otherwise); independent of any seed."""
    gaussian = np.random.RandomState(AUTHORS_INIT_SEED).standard_normal((num_classes, bits))
    u, _, vt = np.linalg.svd(gaussian, full_matrices=False)
    return u @ vt


def _orthogonal_init(num_classes: int, bits: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((max(num_classes, bits), min(num_classes, bits))))
    q = q * np.sign(np.diag(r))  # unique QR: a uniformly distributed orthogonal frame
    return q if num_classes >= bits else q.T


def _check_switches(init: str, selection: str) -> None:
    if init not in SHAM_INITS:
        raise ValueError(f"SHAM init must be one of {SHAM_INITS}, got {init!r}")
    if selection not in SHAM_SELECTIONS:
        raise ValueError(f"SHAM selection must be one of {SHAM_SELECTIONS}, got {selection!r}")


def solve_sham(Y: np.ndarray, bits: int, *, gamma: float = 1.0, iterations: int = 50, seed: int = 0,
               monotone: bool = True, init: str = "seeded", selection: str = "frobenius") -> ShamResult:
    """Run the SHAM alternation on a given label matrix ``Y`` (n, C); no cache. See the module docstring
    (``init``: ``"seeded"`` | ``"fixed"``; ``selection``: ``"frobenius"`` | ``"l1"``)."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"Y: expected a 2-D label matrix, got shape {Y.shape}")
    if not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0 (the W step's Sylvester equation is singular otherwise), got {gamma!r}")
    if not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    _check_switches(init, selection)
    W = _orthogonal_init(Y.shape[1], int(bits), seed) if init == "seeded" else _fixed_init(Y.shape[1], int(bits))
    B = None
    previous = np.inf
    objective, steps, criterion = [], [], []
    best_W, best_B, best_value, best_iteration = W, None, np.inf, 0
    for iteration in range(int(iterations)):
        new_B = sham_b_step(Y, W, gamma)
        new_W = sham_w_step(Y, new_B, gamma)
        value, step = sham_objective(Y, new_B, new_W, gamma), "relaxed-sign"
        if monotone and value > previous:
            new_B = sham_coordinate_b_step(Y, W, B, gamma)
            new_W = sham_w_step(Y, new_B, gamma)
            value, step = sham_objective(Y, new_B, new_W, gamma), "coordinate"
        B, W, previous = new_B, new_W, value
        objective.append(value)
        steps.append(step)
        kept_by = value if selection == "frobenius" else sham_l1_loss(Y, B, W, gamma)
        criterion.append(kept_by)
        if kept_by < best_value:
            best_W, best_B, best_value, best_iteration = W, B, kept_by, iteration
    settings = {"bits": int(bits), "gamma": float(gamma), "iterations": int(iterations), "seed": int(seed),
                "monotone": bool(monotone), "init": init, "selection": selection,
                "label_rows": int(Y.shape[0]), "num_classes": int(Y.shape[1])}
    return ShamResult(W=best_W, B=best_B.astype(np.int8), objective=objective, b_step=steps,
                      best_iteration=best_iteration, settings=settings, selection_loss=criterion)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)) or "_"


def sham_cache_key(*, dataset: str, bits: int, gamma: float, available_num: int, seed: int, iterations: int,
                   monotone: bool, label_sha256: str, init: str = "seeded", selection: str = "frobenius") -> str:
    """File name (without folder) of a cached SHAM: every setting that changes ``W`` is part of it."""
    return (f"sham-v{CACHE_VERSION}-{_slug(dataset)}-{int(bits)}b-g{float(gamma):g}-a{int(available_num)}"
            f"-s{int(seed)}-it{int(iterations)}-{'mono' if monotone else 'plain'}-init_{_slug(init)}"
            f"-sel_{_slug(selection)}-{label_sha256[:16]}.npz")


def _read_cache(path: Path, label_sha256: str) -> ShamResult | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["label_sha256"]) != label_sha256:
                return None
            return ShamResult(W=np.array(data["W"], dtype=np.float64), B=np.array(data["B"], dtype=np.int8),
                              objective=[float(v) for v in data["objective"]],
                              b_step=[str(v) for v in data["b_step"]],
                              best_iteration=int(data["best_iteration"]),
                              selection_loss=[float(v) for v in data["selection_loss"]],
                              cache_path=str(path), from_cache=True)
    except Exception as exc:  # unreadable or truncated cache: recompute and overwrite
        warnings.warn(f"SHAM cache file {path} is unreadable ({exc}); recomputing it", stacklevel=3)
        return None


def fit_sham(train_labels: np.ndarray, bits: int, *, dataset: str, gamma: float = 1.0, available_num: int = 100,
             seed: int = 0, iterations: int = 50, monotone: bool = True, init: str = "seeded",
             selection: str = "frobenius", cache_dir: str | os.PathLike | None | bool = None) -> ShamResult:
    """Fit SHAM on the training labels of ``dataset`` and return the kept ``W`` with its objective trace.

    ``train_labels``: (n, C) multi-hot training labels (only labels: no view is needed). ``available_num`` real
    label rows (DCHN_100: 100, DCHN_0: 0) are drawn with ``seed`` and stacked under the C class rows.
    ``init`` / ``selection``: see the module docstring (ours: ``"seeded"`` / ``"frobenius"``; the authors' code:
    ``"fixed"`` / ``"l1"``). ``cache_dir``: folder for the on-disk cache (``None`` = :func:`default_cache_dir`,
    ``False`` = no cache).
    """
    if not dataset or not isinstance(dataset, str):
        raise ValueError(f"dataset must be the dataset's name (part of the SHAM cache key), got {dataset!r}")
    _check_switches(init, selection)
    Y = sham_label_matrix(train_labels, available_num, seed)
    label_sha256 = sha256_array(Y)
    settings = {"dataset": dataset, "available_num": int(available_num), "label_sha256": label_sha256}
    path = None
    if cache_dir is not False:
        folder = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
        path = folder / "sham" / sham_cache_key(dataset=dataset, bits=bits, gamma=gamma, available_num=available_num,
                                                seed=seed, iterations=iterations, monotone=monotone,
                                                label_sha256=label_sha256, init=init, selection=selection)
        if path.is_file():
            cached = _read_cache(path, label_sha256)
            if cached is not None and cached.W.shape == (Y.shape[1], bits):
                cached.settings = {"bits": int(bits), "gamma": float(gamma), "iterations": int(iterations),
                                   "seed": int(seed), "monotone": bool(monotone), "init": init,
                                   "selection": selection, "label_rows": int(Y.shape[0]),
                                   "num_classes": int(Y.shape[1]), **settings}
                return cached
    result = solve_sham(Y, bits, gamma=gamma, iterations=iterations, seed=seed, monotone=monotone, init=init,
                        selection=selection)
    result.settings.update(settings)
    if path is not None:
        atomic_write_npz(path, W=result.W, B=result.B, objective=np.asarray(result.objective),
                         b_step=np.asarray(result.b_step),
                         best_iteration=np.asarray(result.best_iteration),
                         selection_loss=np.asarray(result.selection_loss), label_sha256=np.asarray(label_sha256))
        result.cache_path = str(path)
    return result
