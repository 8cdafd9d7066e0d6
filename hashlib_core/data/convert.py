"""Turn arrays read from published files into the library's conventions, checking them on the way.

Features become (N, d) float32 with every value finite; labels become (N, C) uint8 multi-hot (an integer class
vector becomes one-hot over its sorted distinct values). Errors name the dataset, the file and the variable.
"""

from __future__ import annotations

import numpy as np

from .dataset import DatasetError


def to_features(array, *, dataset: str, source: str) -> np.ndarray:
    """(N, d) float32 copy of ``array``; ``DatasetError`` naming ``source`` on a wrong shape or NaN/inf."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise DatasetError(f"{dataset}: {source} must be a 2-D (items, features) matrix, got shape {array.shape}")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DatasetError(f"{dataset}: {source} holds {array.dtype} values, expected numbers")
    features = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(features)
    if not finite.all():
        bad = int((~finite).sum())
        row = int(np.argwhere(~finite)[0][0])
        raise DatasetError(f"{dataset}: {source} contains {bad} NaN/inf value(s) (first in row {row}); "
                           "features must be finite")
    return features


def to_multi_hot(array, *, dataset: str, source: str, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Labels as ((N, C) uint8 multi-hot, class ids).

    A 2-D 0/1 matrix with C > 1 columns is taken as multi-hot (class ids ``0..C-1``); a vector (or an (N, 1)
    column) of integer class ids becomes one-hot over ``classes`` (default: its sorted distinct values).
    """
    if hasattr(array, "toarray"):
        array = array.toarray()
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise DatasetError(f"{dataset}: {source} must hold integer class ids")
            array = array.astype(np.int64)
        if array.dtype.kind not in "iub":
            raise DatasetError(f"{dataset}: {source} must hold integer class ids, got {array.dtype}")
        ids = np.unique(array) if classes is None else np.asarray(classes)
        position = {int(value): column for column, value in enumerate(ids)}
        unknown = sorted(set(np.unique(array).tolist()) - set(position))
        if unknown:
            raise DatasetError(f"{dataset}: {source} has class ids {unknown[:5]} outside {ids.tolist()}")
        columns = np.array([position[int(value)] for value in array], dtype=np.int64)
        labels = np.zeros((array.size, len(ids)), dtype=np.uint8)
        labels[np.arange(array.size), columns] = 1
        return labels, ids
    if array.ndim != 2:
        raise DatasetError(f"{dataset}: {source} must be an (N, C) label matrix or a class-id vector, "
                           f"got shape {array.shape}")
    values = np.unique(array)
    if not np.all(np.isin(values, (0, 1))):
        raise DatasetError(f"{dataset}: {source} must be a 0/1 label matrix, found values {values[:5].tolist()}")
    return np.ascontiguousarray(array, dtype=np.uint8), np.arange(array.shape[1])
