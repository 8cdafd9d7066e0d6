"""The book's dataset tables, computed from the loaders: what is present, its shape and statistics, and the
sizes every protocol gives on the files at hand."""

from __future__ import annotations

import os
from typing import Any

from .dataset import DatasetError
from .files import resolve_root
from .registry import dataset_status, get_entry, list_datasets, load_dataset
from .stats import dataset_summary


def _load_what_is_there(name: str, root, protocol: str | None = None, cache: dict | None = None):
    """Load ``name`` with the options its protocol needs; an image-text set whose image file is absent falls
    back to ``views=("text",)``. Returns ``(dataset or None, remark)``, memoised in ``cache`` when given."""
    protocol = get_entry(name).default_protocol if protocol is None else protocol
    if cache is not None and (name, protocol) in cache:
        return cache[(name, protocol)]
    result = _try_loads(name, root, protocol)
    if cache is not None:
        cache[(name, protocol)] = result
    return result


def _try_loads(name: str, root, protocol: str):
    attempts: list[dict[str, Any]] = [{}]
    if name == "wikipedia" and protocol == "roph":
        attempts = [{"features": "roph"}]
    elif get_entry(name).kind == "image-text":
        attempts.append({"views": ("text",)})
    error: DatasetError | None = None
    for options in attempts:
        try:
            ds = load_dataset(name, root=root, protocol=protocol, **options)
        except DatasetError as exc:
            error = exc
            continue
        return ds, ("image view missing here: text only" if "views" in options else "")
    return None, str(error).splitlines()[0]


def overview_rows(root: str | os.PathLike | None = None, names=None, cache: dict | None = None
                  ) -> list[dict[str, Any]]:
    """One row per dataset: status, views (dims), N, classes, labels/item, default-protocol sizes, random-pair
    relevance rate; missing datasets list the files expected. ``cache`` (a dict) keeps loaded datasets for a
    following :func:`protocol_rows` call."""
    root = resolve_root(root)
    rows = []
    for name in names or list_datasets():
        entry = get_entry(name)
        status = dataset_status(name, root)
        ds, remark = (None, "") if status["status"] == "missing" else _load_what_is_there(name, root)
        if ds is None:
            rows.append({"dataset": name, "status": status["status"], "protocol": entry.default_protocol,
                         "remark": "expected: " + "; ".join(status["missing"]) if status["missing"] else remark})
            continue
        summary = dataset_summary(ds)
        rows.append({"dataset": name, "status": status["status"], **{k: v for k, v in summary.items()
                                                                     if k != "dataset"}, "remark": remark})
    return rows


def protocol_rows(root: str | os.PathLike | None = None, names=None, cache: dict | None = None
                  ) -> list[dict[str, Any]]:
    """One row per (dataset, protocol): the documented rule and the sizes it gives on the files here (empty
    when the dataset is missing)."""
    root = resolve_root(root)
    rows = []
    for name in names or list_datasets():
        entry = get_entry(name)
        present = dataset_status(name, root)["status"] != "missing"
        for protocol, rule in entry.protocols.items():
            row = {"dataset": name, "protocol": protocol, "default": protocol == entry.default_protocol,
                   "rule": rule, "query": None, "train": None, "retrieval": None}
            if present:
                ds, _ = _load_what_is_there(name, root, protocol, cache=cache)
                if ds is not None:
                    row.update(ds.split_record()["sizes"])
            rows.append(row)
    return rows


def source_rows(names=None) -> list[dict[str, str]]:
    """One row per dataset: summary, source, citation, who uses it and how to obtain it."""
    rows = []
    for name in names or list_datasets():
        entry = get_entry(name)
        rows.append({"dataset": name, "what": entry.summary, "used by": entry.used_by,
                     "source": entry.source.source, "citation": entry.source.citation,
                     "how to obtain": entry.source.obtain})
    return rows
