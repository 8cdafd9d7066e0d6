"""Label statistics for the datasets chapter: labels per item, class counts, and the random-pair relevance rate
(the share of item pairs that share at least one label: the precision a random ranking scores)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dataset import Dataset, is_image_source


def relevance_rate(labels: np.ndarray, *, max_patterns: int = 4000, pairs: int = 400_000, seed: int = 0
                   ) -> tuple[float, bool]:
    """(rate, exact) over ordered pairs of distinct items sharing >= 1 label.

    Exact when the labels have at most ``max_patterns`` distinct rows (counted per pattern, so 20k x 24
    MIRFLICKR labels cost milliseconds); otherwise estimated from ``pairs`` random distinct pairs drawn with
    ``numpy.random.default_rng(seed)`` (standard error below 0.001).
    """
    labels = np.asarray(labels, dtype=np.uint8)
    n = labels.shape[0]
    if n < 2:
        return float("nan"), True
    packed = np.ascontiguousarray(np.packbits(labels, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    patterns = labels[first]
    if patterns.shape[0] <= max_patterns:
        p = patterns.astype(np.float32)
        share = (p @ p.T) > 0
        w = counts.astype(np.float64)
        related = float(w @ share @ w) - float(w[share.diagonal()].sum())
        return related / (n * (n - 1.0)), True
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, pairs)
    second = (first + rng.integers(1, n, pairs)) % n
    return float(np.mean((labels[first] & labels[second]).any(axis=1))), False


def label_summary(labels: np.ndarray) -> dict[str, Any]:
    """Per-item label counts and per-class positives of an (N, C) multi-hot matrix."""
    per_item = labels.sum(axis=1)
    return {"n": int(labels.shape[0]), "classes": int(labels.shape[1]),
            "labels_per_item": float(per_item.mean()) if labels.size else 0.0,
            "max_labels": int(per_item.max()) if labels.size else 0,
            "unlabelled": int((per_item == 0).sum()),
            "class_counts": labels.sum(axis=0).astype(int).tolist()}


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    """One row of the book's datasets table: views with dims, N, classes, labels per item, split sizes, relevance."""
    rate, exact = relevance_rate(ds.labels)
    views = ", ".join(f"{view} ({'images' if is_image_source(data) else data.shape[1]})"
                      for view, data in ds.views.items()) or "none (labels only)"
    summary = label_summary(ds.labels)
    return {"dataset": ds.name, "views (dim)": views, "N": ds.n, "classes": ds.num_classes,
            "labels/item": round(summary["labels_per_item"], 3), "protocol": ds.protocol,
            "query": int(ds.splits["query"].size), "train": int(ds.splits["train"].size),
            "retrieval": int(ds.splits["retrieval"].size),
            "relevance rate": round(rate, 4), "relevance exact": exact}
