"""A deliberately slow, obvious reference for the metrics (tests only; never imported by the library).

Per query: Hamming distances by comparing bits, a ranking by (distance, tie key) where the tie key is the
retrieval index (``ties="index"``, a stable sort) or a random permutation (one random tie order), then the
textbook formula of each protocol in a plain Python loop. The ``"expected"`` tie rule is checked against the
average over random tie orders and against the average over *all* tie orders (exhaustive, tiny cases only).
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def as_pm1(codes) -> np.ndarray:
    codes = np.asarray(codes.cpu() if hasattr(codes, "cpu") else codes)
    return np.where(codes > 0, 1, -1)


def hamming_matrix(query_codes, retrieval_codes) -> np.ndarray:
    q, r = as_pm1(query_codes), as_pm1(retrieval_codes)
    return np.array([[int(np.sum(qi != rj)) for rj in r] for qi in q])


def relevance_matrix(query_labels, retrieval_labels) -> np.ndarray:
    ql, rl = np.asarray(query_labels), np.asarray(retrieval_labels)
    if ql.ndim == 1:
        return ql[:, None] == rl[None, :]
    return np.array([[bool(np.any((a > 0) & (b > 0))) for b in rl] for a in ql])


def ranking(distances: np.ndarray, tie_keys: np.ndarray) -> np.ndarray:
    """Item indices sorted by distance, then by tie key."""
    return np.array(sorted(range(len(distances)), key=lambda j: (distances[j], tie_keys[j])))


def average_precision(rel_sorted, protocol: str, topk: int | None) -> float:
    """Textbook AP of one ranked relevance list (see DESIGN.md for the three protocols)."""
    n = len(rel_sorted)
    k = n if topk is None else min(topk, n)
    total_relevant = int(sum(bool(x) for x in rel_sorted))
    hits = 0
    precision_in_top = []     # precision at each relevant item ranked within the top k
    precision_at_relevant = []  # precision at each relevant item, whole list
    for position, relevant in enumerate(rel_sorted, start=1):
        if relevant:
            hits += 1
            precision_at_relevant.append(hits / position)
            if position <= k:
                precision_in_top.append(hits / position)
    if protocol == "deephash":
        return sum(precision_in_top) / len(precision_in_top) if precision_in_top else 0.0
    if protocol == "dcmh":
        m = min(k, total_relevant)
        return sum(precision_at_relevant[:m]) / m if m else 0.0
    if protocol == "dchn":
        return sum(precision_in_top) / total_relevant if total_relevant else math.nan
    raise ValueError(protocol)


def ranked_relevance(query_codes, retrieval_codes, query_labels, retrieval_labels, rng=None) -> list[np.ndarray]:
    """Per query the relevance of the ranked list; ``rng=None``: index ties, else one random tie order."""
    dist = hamming_matrix(query_codes, retrieval_codes)
    rel = relevance_matrix(query_labels, retrieval_labels)
    out = []
    for i in range(dist.shape[0]):
        keys = np.arange(dist.shape[1]) if rng is None else rng.permutation(dist.shape[1])
        out.append(rel[i][ranking(dist[i], keys)])
    return out


def ap_per_query(query_codes, retrieval_codes, query_labels, retrieval_labels, *, protocol="deephash", topk=None,
                 rng=None) -> np.ndarray:
    return np.array([average_precision(r, protocol, topk)
                     for r in ranked_relevance(query_codes, retrieval_codes, query_labels, retrieval_labels, rng)])


def nanmean(values) -> float:
    values = np.asarray(values, dtype=float)
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def all_tie_orders(distances: np.ndarray):
    """Every ranking consistent with sorting by distance: the product of the permutations of each bucket."""
    buckets = [np.flatnonzero(distances == d) for d in np.unique(distances)]
    for parts in itertools.product(*(itertools.permutations(b) for b in buckets)):
        yield np.concatenate([np.asarray(p, dtype=int) for p in parts])


def ap_exhaustive_expectation(query_codes, retrieval_codes, query_labels, retrieval_labels, *, protocol, topk
                              ) -> np.ndarray:
    """Per query: the plain average of AP over all tie orders (NaN where the protocol leaves the query out)."""
    dist = hamming_matrix(query_codes, retrieval_codes)
    rel = relevance_matrix(query_labels, retrieval_labels)
    out = []
    for i in range(dist.shape[0]):
        values = [average_precision(rel[i][order], protocol, topk) for order in all_tie_orders(dist[i])]
        out.append(math.nan if any(math.isnan(v) for v in values) else sum(values) / len(values))
    return np.array(out)


def precision_recall_at(rel_sorted_lists, ns):
    """Per query and N: (precision@N, recall@N or NaN when R = 0)."""
    precision = np.array([[r[:n].sum() / n for n in ns] for r in rel_sorted_lists])
    recall = np.array([[r[:n].sum() / r.sum() if r.sum() else math.nan for n in ns] for r in rel_sorted_lists])
    return precision, recall


def radius_curves(query_codes, retrieval_codes, query_labels, retrieval_labels):
    """precision(r) (0 when nothing within r, mean over all queries), recall(r) (mean over R > 0)."""
    dist = hamming_matrix(query_codes, retrieval_codes)
    rel = relevance_matrix(query_labels, retrieval_labels)
    bits = as_pm1(query_codes).shape[1]
    precision, recall = [], []
    for radius in range(bits + 1):
        p, rc = [], []
        for i in range(dist.shape[0]):
            within = dist[i] <= radius
            found = rel[i][within].sum()
            p.append(found / within.sum() if within.sum() else 0.0)
            if rel[i].sum():
                rc.append(found / rel[i].sum())
        precision.append(np.mean(p))
        recall.append(np.mean(rc) if rc else math.nan)
    return np.array(precision), np.array(recall)


def ap_pattern_expectation(query_codes, retrieval_codes, query_labels, retrieval_labels, *, protocol, topk
                           ) -> np.ndarray:
    """Like :func:`ap_exhaustive_expectation` but enumerating, per distance bucket, every placement of its
    relevant items (each placement is produced by the same number of orders, r! (n - r)!, so the plain average
    over placements is the average over all orders). Reaches buckets of a dozen items."""
    dist = hamming_matrix(query_codes, retrieval_codes)
    rel = relevance_matrix(query_labels, retrieval_labels)
    out = []
    for i in range(dist.shape[0]):
        buckets = []
        for d in np.unique(dist[i]):
            members = np.flatnonzero(dist[i] == d)
            n, r = len(members), int(rel[i][members].sum())
            buckets.append([np.isin(np.arange(n), np.asarray(c, dtype=int))
                            for c in itertools.combinations(range(n), r)])
        values = [average_precision(np.concatenate(parts), protocol, topk) for parts in itertools.product(*buckets)]
        out.append(math.nan if any(math.isnan(v) for v in values) else sum(values) / len(values))
    return np.array(out)


def tie_heavy_codes(n: int, bits: int, distinct: int, rng) -> np.ndarray:
    """``n`` codes drawn from ``distinct`` random +-1 patterns, so that equal distances abound."""
    patterns = np.where(rng.random((distinct, bits)) < 0.5, 1, -1).astype(np.int8)
    return patterns[rng.integers(0, distinct, n)]


def make_case(kind: str, rng, *, n_query=12, n_items=90, bits=16, distinct=5, classes=6):
    """A tie-heavy problem: ``kind`` is ``"multi"`` (multi-hot), ``"ids"`` (integer class ids) or ``"onehot"``.
    The last query is made to have no relevant item."""
    q = tie_heavy_codes(n_query, bits, distinct, rng)
    r = tie_heavy_codes(n_items, bits, distinct, rng)
    if kind == "multi":
        ql = (rng.random((n_query, classes)) < 0.3).astype(np.uint8)
        rl = (rng.random((n_items, classes)) < 0.3).astype(np.uint8)
        rl[:, -1] = 0
        ql[-1] = 0
        ql[-1, -1] = 1  # a label no retrieval item has
    else:
        ql = rng.integers(0, classes - 1, n_query)
        rl = rng.integers(0, classes - 1, n_items)
        ql[-1] = classes - 1  # a class no retrieval item has
        if kind == "onehot":
            ql, rl = np.eye(classes, dtype=np.uint8)[ql], np.eye(classes, dtype=np.uint8)[rl]
    return q, r, ql, rl


def ranked_relevance_samples(query_codes, retrieval_codes, query_labels, retrieval_labels, samples: int, rng):
    """``samples`` independent random tie orders: a list (one per sample) of per-query ranked relevance."""
    dist = hamming_matrix(query_codes, retrieval_codes)
    rel = relevance_matrix(query_labels, retrieval_labels)
    return [[rel[i][ranking(dist[i], rng.permutation(dist.shape[1]))] for i in range(dist.shape[0])]
            for _ in range(samples)]


# ---- engines the metric tests run (results must never depend on the engine) ------------------------------------

def numba_missing() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return True
    return False


def engine_params(engines: dict) -> list:
    """pytest params over ``engines`` (name -> ``engine_options`` keywords); ``numba*`` engines skip without numba."""
    import pytest

    return [pytest.param(name, marks=pytest.mark.skipif(numba_missing(), reason="numba is not installed"))
            if name.startswith("numba") else name for name in engines]

