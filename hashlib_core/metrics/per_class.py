"""Per-class mAP: the mean AP of the queries of each class, built on :func:`average_precision_per_query`.

Why the tie rule matters here more than for the overall mean: ``ties="index"`` ranks equal Hamming distances by
ascending retrieval index, so when the retrieval set is stored (nearly) sorted by class, as CIFAR-10's is, items of
the low-numbered classes win every tie and those of the high-numbered classes lose them. The shifts largely cancel
in the mean over all queries but not within one class (or an unbalanced subset of the queries), so per-class
numbers should use ``ties="expected"`` (the exact expectation over all orders within equal distances), the default
here. ``studies/tie_order_per_class.py`` measures the size of the effect.
"""

from __future__ import annotations

import numpy as np

from .average_precision import average_precision_per_query


def _label_array(labels) -> np.ndarray:
    """Labels as a numpy array (torch tensors are moved to the CPU first)."""
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    return np.asarray(labels)


def class_membership(query_labels, retrieval_labels=None) -> np.ndarray:
    """``(n_query, C)`` bool: query ``i`` carries class ``c``.

    ``(n, C)`` multi-hot labels give ``C`` columns; ``(n,)`` class ids give ``C = 1 + the largest id`` in the query
    and (when given) the retrieval labels, so a class present only in the retrieval set still has its column.
    ``ValueError`` naming the argument for negative class ids or labels that are neither 1-D nor 2-D.
    """
    query = _label_array(query_labels)
    if query.ndim == 2:
        return query.astype(bool)
    if query.ndim != 1:
        raise ValueError(f"query_labels: labels must be (n,) class ids or (n, C) multi-hot, got shape {query.shape}")
    ids = [("query_labels", query)]
    if retrieval_labels is not None:
        ids.append(("retrieval_labels", _label_array(retrieval_labels).reshape(-1)))
    for name, values in ids:
        if values.size and values.min() < 0:
            raise ValueError(f"{name}: class ids must be >= 0, got {int(values.min())}")
    classes = 1 + max((int(values.max()) for _, values in ids if values.size), default=-1)
    return np.arange(max(classes, 0))[None, :] == query.astype(np.int64)[:, None]


def per_class_average_precision(query_codes, retrieval_codes, query_labels, retrieval_labels, *,
                                protocol: str = "deephash", topk=None, ties: str = "expected", device=None,
                                return_counts: bool = False):
    """Per-class mAP, ``(C,)`` float64: entry ``c`` = mean AP of the queries of class ``c``.

    Each query's AP is :func:`average_precision_per_query` with the same arguments (relevant = sharing at least one
    label with the query; codes ``(n, bits)`` in ``{-1, +1}`` or ``{0, 1}``; labels ``(n, C)`` multi-hot or ``(n,)``
    class ids). Single-label sets put every query in exactly one class. Multi-label sets: a query counts in the
    mean of *every* class it carries, with its ordinary AP (relevance is still "shares any label", not "has class
    ``c``"), so the per-class values are not a partition of the overall mean; a query without labels counts in no
    class. Entry ``c`` is NaN when class ``c`` has no query, or (``"dchn"``) only queries the protocol leaves out.

    ``ties`` defaults to ``"expected"``: with ``"index"``, a retrieval set stored sorted by class shifts the AP of
    individual classes (see the module docstring). ``return_counts=True`` also returns ``(C,)`` int64, the number of
    queries averaged per class. ``ValueError`` as :func:`average_precision_per_query`, and for negative class ids.
    """
    ap = average_precision_per_query(query_codes, retrieval_codes, query_labels, retrieval_labels, topk=topk,
                                     protocol=protocol, ties=ties, device=device)
    member = class_membership(query_labels, retrieval_labels)
    kept = member & ~np.isnan(ap)[:, None]
    counts = kept.sum(axis=0).astype(np.int64)
    sums = np.where(kept, np.nan_to_num(ap)[:, None], 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return (means, counts) if return_counts else means


__all__ = ["per_class_average_precision", "class_membership"]
