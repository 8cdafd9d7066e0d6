"""The last step of every loader: pick the views asked for, draw the (optionally subset) split, build a Dataset."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset, DatasetError
from .files import Source
from .splits import stratified_subset

SplitRule = Callable[[np.ndarray, np.random.Generator, float], dict[str, np.ndarray]]


def requested_views(dataset: str, available: Sequence[str], views) -> tuple[str, ...]:
    """The view names to load: ``views`` (a name or a sequence of names; None = all ``available``), checked."""
    if views is None:
        return tuple(available)
    chosen = (views,) if isinstance(views, str) else tuple(views)
    unknown = [view for view in chosen if view not in available]
    if unknown or not chosen:
        raise DatasetError(f"{dataset}: views={views!r} asks for unknown view(s) {unknown}; "
                           f"available: {list(available)}")
    return chosen


def check_rows(dataset: str, parts: Mapping[str, int]) -> int:
    """The common row count of ``parts`` (description -> rows); ``DatasetError`` listing them if they differ."""
    counts = set(parts.values())
    if len(counts) != 1:
        listing = ", ".join(f"{what}: {rows}" for what, rows in parts.items())
        raise DatasetError(f"{dataset}: row counts differ between views/files ({listing})")
    return counts.pop()


def assemble(*, name: str, protocol: str, seed: int, subset: int | None, views: dict[str, Any],
             labels: np.ndarray, class_names: list[str] | None, files: Mapping[str, Path], source: Source,
             split_rule: SplitRule, notes: Sequence[str] = (), options: Mapping[str, Any] | None = None
             ) -> Dataset:
    """Draw the split with ``numpy.random.default_rng(seed)`` (first the subset, if any, then the protocol's
    rule on that pool) and return the validated :class:`Dataset`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"{name}: seed must be a non-negative integer, got {seed!r}")
    parts = {"labels": labels.shape[0]}
    parts.update({f"view {view!r}": (data.shape[0] if isinstance(data, np.ndarray) else len(data))
                  for view, data in views.items()})
    n = check_rows(name, parts)
    rng = np.random.default_rng(int(seed))
    pool = np.arange(n, dtype=np.int64)
    if subset is not None:
        pool = stratified_subset(pool, labels, subset, rng, dataset=name)
    splits = split_rule(pool, rng, pool.size / n if n else 1.0)
    for key, index in splits.items():
        if index.size == 0:
            raise DatasetError(f"{name}: protocol {protocol!r} gives an empty {key} set"
                               + (f" on a subset of {subset}" if subset is not None else ""))
    info = {"source": source.source, "citation": source.citation, "obtain": source.obtain,
            "notes": [*source.notes, *notes]}
    return Dataset(name=name, protocol=protocol, seed=int(seed), views=dict(views), labels=labels,
                   splits=splits, class_names=class_names, files=dict(files), info=info,
                   subset=None if subset is None else int(subset), options=dict(options or {}))
