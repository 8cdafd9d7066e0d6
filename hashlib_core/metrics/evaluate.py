"""``evaluate_retrieval``: mAP and curves for every evaluated direction of a run, as JSON-ready Python values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Sequence

import numpy as np

from .average_precision import _mean, ap_from_stats, check_protocol, check_ties
from .curves import (check_grid, default_pr_grid, default_precision_grid, pr_curve_from_stats,
                     precision_at_n_from_stats, radius_from_stats)
from .engine import one_torch_thread, prepare_problem, scan, validate_topk


def resolve_pairs(query_codes: Mapping, retrieval_codes: Mapping, pairs) -> list[tuple[str, str]]:
    """The (query view, retrieval view) directions to evaluate.

    ``pairs=None``: every ordered pair of distinct views present in both mappings, or ``(v, v)`` when exactly
    one view is present in both. Given pairs must name a query view of ``query_codes`` and a retrieval view of
    ``retrieval_codes``.
    """
    for name, mapping in (("query_codes", query_codes), ("retrieval_codes", retrieval_codes)):
        if not isinstance(mapping, Mapping) or not mapping:
            raise ValueError(f"{name} must be a non-empty mapping view name -> (n, bits) codes")
    if pairs is None:
        views = [view for view in query_codes if view in retrieval_codes]
        if not views:
            raise ValueError(f"query_codes views {list(query_codes)} and retrieval_codes views "
                             f"{list(retrieval_codes)} have no view in common; pass pairs=[(query, retrieval)]")
        if len(views) == 1:
            return [(views[0], views[0])]
        return [(a, b) for a in views for b in views if a != b]
    resolved = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"pairs: each entry must be a (query view, retrieval view) pair, got {pair!r}")
        query_view, retrieval_view = pair
        if query_view not in query_codes:
            raise ValueError(f"pairs: query view {query_view!r} is not in query_codes {list(query_codes)}")
        if retrieval_view not in retrieval_codes:
            raise ValueError(f"pairs: retrieval view {retrieval_view!r} is not in retrieval_codes "
                             f"{list(retrieval_codes)}")
        resolved.append((query_view, retrieval_view))
    if not resolved:
        raise ValueError("pairs: no direction to evaluate")
    return resolved


def _plain(values) -> list:
    """numpy array -> list of Python floats/ints, NaN -> None (valid JSON)."""
    out = []
    for value in np.asarray(values).tolist():
        out.append(None if isinstance(value, float) and math.isnan(value) else value)
    return out


@one_torch_thread
def evaluate_retrieval(query_codes: Mapping[str, object], retrieval_codes: Mapping[str, object], query_labels,
                       retrieval_labels, *, pairs: Sequence[tuple[str, str]] | None = None,
                       protocol: str = "deephash", topk: int | None = None, ties: str = "index",
                       curves: bool = True, precision_at: Sequence[int] | None = None, device=None) -> dict:
    """Evaluate every direction ``"<query view>-><retrieval view>"`` (see :func:`resolve_pairs`).

    ``query_codes``/``retrieval_codes`` map view name -> ``(n, bits)`` codes (``{-1, +1}`` or ``{0, 1}``, numpy or
    torch); the labels are shared by all views (``(n, C)`` multi-hot or ``(n,)`` class ids). mAP follows
    ``protocol``/``topk``/``ties`` exactly as :func:`mean_average_precision`. With ``curves=True`` each direction
    also gets precision@N over ``precision_at`` (default :func:`default_precision_grid`: up to
    ``min(retrieval size, 5000)``, including 50/100/500/1000 where they fit), precision/recall within Hamming
    radius ``r = 0..bits`` and the rank-based precision-recall curve, with the same tie rule (conventions in
    :mod:`hashlib_core.metrics.curves`). One scan per direction computes all of it.

    Returns ``{"map": {direction: float}, "curves": {direction: {"precision_at_n": {"n", "precision"},
    "radius": {"r", "precision", "recall"}, "pr": {"recall", "precision"}}}}`` (``"curves": {}`` when
    ``curves=False``), plain Python floats/ints/lists; an undefined mean (e.g. recall when no query has a
    relevant item) is ``None``.
    """
    check_protocol(protocol)
    check_ties(ties)
    directions = resolve_pairs(query_codes, retrieval_codes, pairs)
    result = {"map": {}, "curves": {}}
    for query_view, retrieval_view in directions:
        direction = f"{query_view}->{retrieval_view}"
        try:
            problem = prepare_problem(query_codes[query_view], retrieval_codes[retrieval_view], query_labels,
                                      retrieval_labels, device)
        except ValueError as exc:
            raise ValueError(f"{direction}: {exc}") from None
        cutoff = validate_topk(topk, problem.n_items)
        precision_grid = pr_grid = ()
        if curves:
            precision_grid = check_grid(default_precision_grid(problem.n_items) if precision_at is None
                                        else precision_at, problem.n_items, "precision_at")
            pr_grid = tuple(default_pr_grid(problem.n_items))
        grid = tuple(sorted(set(precision_grid) | set(pr_grid))) if ties == "index" else ()
        stats = scan(problem, histogram=curves or ties == "expected",
                     cutoffs=(cutoff,) if ties == "index" else (), first=protocol == "dcmh", grid=grid)
        result["map"][direction] = _mean(ap_from_stats(stats, protocol, ties, cutoff).cpu().numpy())
        if curves:
            at_n = precision_at_n_from_stats(stats, precision_grid, ties)
            radius = radius_from_stats(stats)
            pr = pr_curve_from_stats(stats, pr_grid, ties)
            result["curves"][direction] = {
                "precision_at_n": {"n": _plain(at_n["n"]), "precision": _plain(at_n["precision"])},
                "radius": {"r": _plain(radius["r"]), "precision": _plain(radius["precision"]),
                           "recall": _plain(radius["recall"])},
                "pr": {"recall": _plain(pr["recall"]), "precision": _plain(pr["precision"])},
            }
    return result
