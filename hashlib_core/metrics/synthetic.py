"""Fixed-seed synthetic labels and codes for demonstrations and benchmarks of the metrics (never for results).

``label_derived_codes`` imitates a trained hashing model: the sign of a random projection of each item's labels
plus Gaussian noise, so items that share labels tend to get close codes (``noise`` sets how good the code is;
``noise=inf`` would be random codes). Generate the codes of query and retrieval items in one call and split
afterwards, so that both use the same projection and independent noise.
"""

from __future__ import annotations

import numpy as np


def synthetic_multilabel(n: int, classes: int, *, seed: int = 0, most: float = 0.35, least: float = 0.02
                         ) -> np.ndarray:
    """``(n, classes)`` uint8 multi-hot labels; label ``c`` is on with a probability between ``least`` and
    ``most`` (geometric spacing, shuffled); a row that drew no label gets one at random."""
    rng = np.random.default_rng(seed)
    rates = rng.permutation(np.geomspace(most, least, classes))
    labels = (rng.random((n, classes)) < rates).astype(np.uint8)
    empty = np.flatnonzero(labels.sum(axis=1) == 0)
    labels[empty, rng.integers(0, classes, empty.size)] = 1
    return labels


def random_codes(n: int, bits: int, *, seed: int = 0) -> np.ndarray:
    """``(n, bits)`` int8 codes with independent fair +-1 bits."""
    return np.where(np.random.default_rng(seed).random((n, bits)) < 0.5, 1, -1).astype(np.int8)


def label_derived_codes(labels: np.ndarray, bits: int, *, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """``(n, bits)`` int8 +-1 codes ``sign(labels @ P / sqrt(#labels) + noise * N(0, 1))`` with a Gaussian
    ``(classes, bits)`` projection ``P``. ``labels``: ``(n, C)`` multi-hot or ``(n,)`` class ids."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = np.eye(int(labels.max()) + 1, dtype=np.float64)[labels]
    labels = labels.astype(np.float64)
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((labels.shape[1], bits))
    signal = labels @ projection / np.sqrt(np.maximum(labels.sum(axis=1, keepdims=True), 1.0))
    return np.where(signal + noise * rng.standard_normal((labels.shape[0], bits)) > 0, 1, -1).astype(np.int8)
