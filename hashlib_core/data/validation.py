"""Validation splits carved out of the training rows, for choosing settings without the test queries.

``load_dataset(..., validation={"queries": 500, "fold": 0})`` (or :func:`validation_split` on a loaded
:class:`~hashlib_core.data.Dataset`) replaces the split by one drawn from the *training* rows alone:

- ``query``: ``queries`` training rows, drawn with ``numpy.random.default_rng(fold)`` (a fold is one such draw);
- ``train`` and ``retrieval``: the other training rows.

The protocol's query and retrieval rows are never used, so a setting chosen on such folds has not seen the test
queries. Retrieval = train mirrors protocols whose database is the training set (Wikipedia); for protocols with a
larger database it is the stricter choice, since every retrieval item stays a training item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .dataset import Dataset, DatasetError

OPTION_KEYS = ("queries", "fold")


def _check_int(dataset: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DatasetError(f"{dataset}: validation {key!r} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def parse_validation_option(dataset: str, option: Any) -> tuple[int, int]:
    """``(queries, fold)`` from the ``validation=`` option (a mapping with exactly those keys), checked."""
    if not isinstance(option, Mapping) or set(option) != set(OPTION_KEYS):
        raise DatasetError(f"{dataset}: validation= must be a mapping with the keys {list(OPTION_KEYS)}, "
                           f"e.g. {{'queries': 500, 'fold': 0}}; got {option!r}")
    return _check_int(dataset, "queries", option["queries"], 1), _check_int(dataset, "fold", option["fold"], 0)


def validation_split(ds: Dataset, queries: int, fold: int) -> Dataset:
    """A copy of ``ds`` whose split is a validation fold of its training rows (see the module docstring).

    The returned dataset's ``protocol`` is ``"<protocol>/validation"`` and its ``options["validation"]`` records
    ``{"queries", "fold"}``, so a run record traces back to the fold.
    """
    queries = _check_int(ds.name, "queries", queries, 1)
    fold = _check_int(ds.name, "fold", fold, 0)
    train = ds.splits["train"]
    if queries >= train.size:
        raise DatasetError(f"{ds.name}: validation queries={queries} must be fewer than the {train.size} training "
                           f"rows of protocol {ds.protocol!r} (at least one row has to stay for training)")
    order = np.random.default_rng(fold).permutation(train.size)
    held_out = np.sort(train[order[:queries]])
    rest = np.sort(train[order[queries:]])
    return dataclasses.replace(
        ds, protocol=f"{ds.protocol}/validation", splits={"query": held_out, "train": rest, "retrieval": rest.copy()},
        options={**ds.options, "validation": {"queries": queries, "fold": fold}})
