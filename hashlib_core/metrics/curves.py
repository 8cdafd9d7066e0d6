"""Precision/recall curves from the same ranking machinery as mAP.

Conventions (stated once, used by every function here):

* **Within Hamming radius r** (``r = 0..bits``; no tie rule needed, the set within ``r`` does not depend on the
  order): ``precision(r)`` is the mean over *all* queries of ``relevant within r / items within r``, a query that
  retrieves nothing within ``r`` counting as precision 0; ``recall(r)`` is the mean over the queries with at
  least one relevant item (``R > 0``) of ``relevant within r / R``.
* **precision@N**: mean over all queries of ``relevant in the top N / N`` (``1 <= N <= retrieval size``), ranked
  with the given tie rule (``"index"``: ascending retrieval index within equal distances; ``"expected"``: the
  exact expectation over orders within equal distances, ``E[relevant in the top N] / N``).
* **Precision-recall curve**: at each rank cutoff ``N`` of a grid running to the whole retrieval set,
  ``(recall@N, precision@N)`` averaged over the queries with ``R > 0`` (queries without relevant items have no
  recall), with the given tie rule. Recall reaches 1 at the last point.

Every function returns plain numpy arrays in a dict (the keys of ``curves.json``); a mean over no query is NaN.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .average_precision import check_ties
from .engine import RankStats, one_torch_thread, prepare_problem, scan
from .expected import expected_relevant_in_top

_PRECISION_MARKS = (1, 5, 10, 20, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 2500,
                    3000, 3500, 4000, 4500, 5000)


def default_precision_grid(n_items: int) -> list[int]:
    """The precision@N grid used when none is given: 1, 5, 10, 20, 50, 100, 200, ..., 1000, 1500, ..., 5000,
    cut at ``min(n_items, 5000)`` (which is always the last point)."""
    cap = min(int(n_items), 5000)
    return sorted({n for n in _PRECISION_MARKS if n <= cap} | {cap})


def default_pr_grid(n_items: int, points: int = 40) -> list[int]:
    """Rank cutoffs for the precision-recall curve: ``points`` log-spaced plus ``points // 2`` evenly spaced
    values from 1 to ``n_items`` (deduplicated, ascending, ending at ``n_items``)."""
    n_items = int(n_items)
    logs = np.geomspace(1, n_items, points)
    lins = np.linspace(n_items / (points // 2), n_items, points // 2)
    values = {int(round(v)) for v in np.concatenate([logs, lins])} | {n_items}
    return sorted(v for v in values if v >= 1)


def check_grid(ns, n_items: int, name: str = "ns") -> tuple[int, ...]:
    """Validate a list of rank cutoffs: integers in ``1..n_items``; returned sorted and deduplicated."""
    values = np.asarray(list(ns) if not isinstance(ns, np.ndarray) else ns)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty list of integers, got {ns!r}")
    if not np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
        raise ValueError(f"{name} must hold integers, got dtype {values.dtype}")
    if values.min() < 1 or values.max() > n_items:
        raise ValueError(f"{name} must lie in 1..{n_items} (the retrieval set size), got "
                         f"{values.min()}..{values.max()}")
    return tuple(int(v) for v in np.unique(values))


def _nanmean_rows(matrix: torch.Tensor, keep: torch.Tensor) -> np.ndarray:
    kept = matrix[keep]
    if kept.shape[0] == 0:
        return np.full(matrix.shape[1], np.nan)
    return kept.mean(dim=0).cpu().numpy()


def radius_from_stats(stats: RankStats) -> dict:
    """``{"r", "precision", "recall"}`` within Hamming radius ``r = 0..bits`` (conventions: module docstring)."""
    within = stats.hist.cumsum(dim=1).double()
    relevant = stats.rel_hist.cumsum(dim=1).double()
    precision = torch.where(within > 0, relevant / within.clamp(min=1), 0.0)
    R = stats.n_relevant
    recall = relevant / R.clamp(min=1).double()[:, None]
    return {"r": np.arange(stats.bits + 1), "precision": precision.mean(dim=0).cpu().numpy(),
            "recall": _nanmean_rows(recall, R > 0)}


def relevant_in_top_from_stats(stats: RankStats, ns: Sequence[int], ties: str) -> torch.Tensor:
    """``(nq, len(ns))`` float64: relevant items in the top ``N`` (index ties: exact counts from the scan's grid;
    expected ties: their expectation from the histograms)."""
    if ties == "expected":
        if stats.backend == "numba":
            from .cpu_kernel import expected_relevant_in_top as compiled
            return compiled(stats.hist, stats.rel_hist, ns)
        return expected_relevant_in_top(stats.hist, stats.rel_hist, ns)
    columns = [stats.grid.index(int(n)) for n in ns]
    return stats.grid_counts[:, columns].double()


def precision_at_n_from_stats(stats: RankStats, ns: Sequence[int], ties: str) -> dict:
    counts = relevant_in_top_from_stats(stats, ns, ties)
    n = torch.tensor(list(ns), dtype=torch.float64, device=counts.device)
    return {"n": np.asarray(ns, dtype=np.int64), "precision": (counts / n).mean(dim=0).cpu().numpy()}


def pr_curve_from_stats(stats: RankStats, ns: Sequence[int], ties: str) -> dict:
    counts = relevant_in_top_from_stats(stats, ns, ties)
    n = torch.tensor(list(ns), dtype=torch.float64, device=counts.device)
    R = stats.n_relevant
    keep = R > 0
    return {"n": np.asarray(ns, dtype=np.int64),
            "recall": _nanmean_rows(counts / R.clamp(min=1).double()[:, None], keep),
            "precision": _nanmean_rows(counts / n, keep)}


@one_torch_thread
def precision_recall_within_radius(query_codes, retrieval_codes, query_labels, retrieval_labels, *,
                                   device=None) -> dict:
    """Precision and recall of the items within Hamming radius ``r``, for ``r = 0..bits``.

    Returns ``{"r": (bits+1,) int, "precision": (bits+1,), "recall": (bits+1,)}``. A query with nothing within
    ``r`` counts as precision 0; recall averages over queries with ``R > 0``. Tie rule: not needed.
    """
    problem = prepare_problem(query_codes, retrieval_codes, query_labels, retrieval_labels, device)
    return radius_from_stats(scan(problem, histogram=True))


@one_torch_thread
def precision_at_n(query_codes, retrieval_codes, query_labels, retrieval_labels, ns=None, *,
                   ties: str = "index", device=None) -> dict:
    """Mean precision of the top ``N`` for each ``N`` in ``ns`` (default :func:`default_precision_grid`).

    Returns ``{"n": (G,) int, "precision": (G,)}`` (``n`` sorted, deduplicated), averaged over all queries: the
    top ``N`` always holds ``N`` items, and a query without relevant items counts as precision 0.
    ``ties="index"`` (default) ranks equal distances by ascending retrieval index; ``"expected"`` uses the exact
    expectation over tie orders.
    """
    check_ties(ties)
    problem = prepare_problem(query_codes, retrieval_codes, query_labels, retrieval_labels, device)
    grid = check_grid(default_precision_grid(problem.n_items) if ns is None else ns, problem.n_items)
    stats = scan(problem, histogram=ties == "expected", grid=grid if ties == "index" else ())
    return precision_at_n_from_stats(stats, grid, ties)


@one_torch_thread
def precision_recall_curve(query_codes, retrieval_codes, query_labels, retrieval_labels, ns=None, *,
                           ties: str = "index", device=None) -> dict:
    """Precision-recall curve over rank cutoffs ``ns`` (default :func:`default_pr_grid`, up to the whole set).

    Returns ``{"n": (G,) int, "recall": (G,), "precision": (G,)}``, both averaged over the queries with ``R > 0``
    (a query without relevant items has no recall and is left out; NaN if no query has one). Tie rule as in
    :func:`precision_at_n`.
    """
    check_ties(ties)
    problem = prepare_problem(query_codes, retrieval_codes, query_labels, retrieval_labels, device)
    grid = check_grid(default_pr_grid(problem.n_items) if ns is None else ns, problem.n_items)
    stats = scan(problem, histogram=True, grid=grid if ties == "index" else ())
    return pr_curve_from_stats(stats, grid, ties)
