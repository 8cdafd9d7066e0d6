"""Average precision under the three protocols (``"deephash"``, ``"dcmh"``, ``"dchn"``) and two tie rules.

Notation, per query: the retrieval set ranked by Hamming distance; ``pos`` = an item's rank (1-based), ``hits`` =
relevant items ranked at or before it, ``P(pos) = hits / pos``; ``R`` = relevant items in the whole retrieval set;
``K`` = ``topk`` (``None`` = the whole retrieval set; larger than the retrieval set = the whole set).

* ``"deephash"`` (DeepHash-pytorch; HybridHash with K = 1000/5000/all; DJSRH with K = 50):
  ``AP@K = sum_{relevant, pos <= K} P(pos) / #{relevant, pos <= K}``; a query with no relevant item in the top
  ``K`` has AP 0 and stays in the mean.
* ``"dcmh"`` (DCMH-style ports): ``AP = (1/m) sum_{j=1..m} j / pos_j`` over the first ``m = min(K, R)`` relevant
  items of the full ranking (their positions may lie beyond ``K``); ``R = 0`` gives 0 and stays in the mean.
* ``"dchn"`` (DCHN, UCCH): ``AP = sum_{relevant, pos <= K} P(pos) / R`` (with ``K = None`` the usual AP over the
  whole list); queries with ``R = 0`` are left out of the mean (NaN per query).

Tie rules: ``"index"`` ranks equal distances by ascending retrieval index (what a stable sort, e.g.
``np.argsort(kind="stable")``, gives); ``"expected"`` is the exact expectation over all orders within equal
distances (closed form, see :mod:`hashlib_core.metrics.expected`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .engine import RankStats, one_torch_thread, prepare_problem, scan, validate_topk
from .expected import expected_average_precision

PROTOCOLS = ("deephash", "dcmh", "dchn")
TIES = ("index", "expected")


def check_protocol(protocol) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return protocol


def check_ties(ties) -> str:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    return ties


def ap_from_stats(stats: RankStats, protocol: str, ties: str, topk: int) -> torch.Tensor:
    """Per-query AP (float64 ``(nq,)``, NaN where ``"dchn"`` leaves a query out) from one scan's statistics.

    ``topk`` is the effective cutoff (``1..n_items``); for ``ties="index"`` it must be one of ``stats.cutoffs``,
    for ``"expected"`` the scan must hold the histograms.
    """
    if ties == "expected":
        if stats.backend == "numba":
            from .cpu_kernel import expected_average_precision as compiled
            return compiled(protocol, stats.hist, stats.rel_hist, topk)
        return expected_average_precision(protocol, stats.hist, stats.rel_hist, topk)
    column = stats.cutoffs.index(topk)
    R = stats.n_relevant
    if protocol == "deephash":
        count = stats.count_topk[:, column]
        return torch.where(count > 0, stats.sum_topk[:, column] / count.clamp(min=1).double(), 0.0)
    if protocol == "dcmh":
        if stats.sum_first is None:
            raise RuntimeError("the scan skipped the dcmh terms (first=False)")
        first = torch.clamp(R, max=topk)
        return torch.where(first > 0, stats.sum_first[:, column] / first.clamp(min=1).double(), 0.0)
    return torch.where(R > 0, stats.sum_topk[:, column] / R.clamp(min=1).double(), float("nan"))


@one_torch_thread
def average_precision_per_query(query_codes, retrieval_codes, query_labels, retrieval_labels, *, topk=None,
                                protocol: str = "deephash", ties: str = "index", device=None) -> np.ndarray:
    """AP of every query, ``(n_query,)`` float64 in [0, 1]; NaN for the queries ``"dchn"`` leaves out (``R = 0``).

    Codes: ``(n, bits)`` numpy arrays or torch tensors in ``{-1, +1}`` or ``{0, 1}``. Labels: ``(n, C)``
    multi-hot or ``(n,)`` integer class ids; relevant = sharing at least one label. ``device=None`` computes on
    CUDA when an input tensor lives there, else on the CPU. Protocols and tie rules: see the module docstring.
    """
    check_protocol(protocol)
    check_ties(ties)
    problem = prepare_problem(query_codes, retrieval_codes, query_labels, retrieval_labels, device)
    cutoff = validate_topk(topk, problem.n_items)
    stats = scan(problem, histogram=ties == "expected", cutoffs=(cutoff,) if ties == "index" else (),
                 first=protocol == "dcmh")
    return ap_from_stats(stats, protocol, ties, cutoff).cpu().numpy()


def _mean(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def mean_average_precision(query_codes, retrieval_codes, query_labels, retrieval_labels, *, topk=None,
                           protocol: str = "deephash", ties: str = "index", device=None) -> float:
    """mAP: the mean of :func:`average_precision_per_query` over the queries the protocol keeps (DESIGN.md).

    Returns NaN only for ``"dchn"`` when no query has a relevant item. ``ValueError`` for mismatched bits, rows
    or label widths, an unknown ``protocol``/``ties`` or a ``topk`` that is not a positive integer.
    """
    return _mean(average_precision_per_query(query_codes, retrieval_codes, query_labels, retrieval_labels,
                                             topk=topk, protocol=protocol, ties=ties, device=device))


@one_torch_thread
def mean_average_precision_grid(query_codes, retrieval_codes, query_labels, retrieval_labels, *,
                                protocols: Sequence[str] = PROTOCOLS, ties: Sequence[str] = TIES,
                                topks: Sequence[int | None] = (None,), device=None) -> list[dict]:
    """mAP of the same codes under every ``protocol x ties x topk`` combination, from one scan.

    Returns a list of ``{"protocol", "ties", "topk", "map"}`` rows (``topk`` as given, ``None`` = all).
    """
    protocols = [check_protocol(p) for p in protocols]
    ties = [check_ties(t) for t in ties]
    problem = prepare_problem(query_codes, retrieval_codes, query_labels, retrieval_labels, device)
    cutoffs = {topk: validate_topk(topk, problem.n_items) for topk in topks}
    stats = scan(problem, histogram="expected" in ties,
                 cutoffs=sorted(set(cutoffs.values())) if "index" in ties else (), first="dcmh" in protocols)
    rows = []
    for protocol in protocols:
        for tie in ties:
            for topk in topks:
                values = ap_from_stats(stats, protocol, tie, cutoffs[topk]).cpu().numpy()
                rows.append({"protocol": protocol, "ties": tie, "topk": topk, "map": _mean(values)})
    return rows
