"""The papers' own numbers (``hashlib_core/reference/*.csv``) as one long pandas table per paper.

Each CSV row is one published number: ``source, table, method, dataset, direction, bits, metric, value``.
:func:`load_references` checks the columns, normalises ``direction`` to the record form used by ``metrics.json``
(``i2t`` -> ``image->text``, ``t2i`` -> ``text->image``, ``i2i`` -> ``image->image``) and returns typed columns:
``table`` as text (the HybridHash numbers come from a training ``log``, not a numbered table), ``bits`` int,
``value`` float in [0, 1]. The row order is the file's order, which is the paper's printed order.
"""

from __future__ import annotations

import re
from importlib import resources

import pandas as pd

PAPERS = {
    "dchn": "dchn_tcyb2021.csv",
    "djsrh": "djsrh_iccv2019.csv",
    "hybridhash": "hybridhash_icmr2024.csv",
}
COLUMNS = ("source", "table", "method", "dataset", "direction", "bits", "metric", "value")
DIRECTIONS = {"i2t": "image->text", "t2i": "text->image", "i2i": "image->image"}
_METRIC = re.compile(r"^mAP@(all|\d+)$")


def reference_path(paper: str):
    """The packaged CSV of ``paper`` (a :class:`importlib.resources` traversable; ``str()`` gives its path)."""
    if paper not in PAPERS:
        raise ValueError(f"paper: unknown paper {paper!r}; known: {', '.join(PAPERS)}")
    return resources.files("hashlib_core") / "reference" / PAPERS[paper]


def metric_topk(metric: str) -> int | None:
    """The ranking depth a reference ``metric`` reports: ``"mAP@all"`` -> ``None``, ``"mAP@50"`` -> ``50``."""
    match = _METRIC.match(str(metric))
    if match is None:
        raise ValueError(f"metric: expected 'mAP@all' or 'mAP@<K>', got {metric!r}")
    return None if match.group(1) == "all" else int(match.group(1))


def load_references(paper: str) -> pd.DataFrame:
    """The published numbers of ``paper`` (``"dchn"``, ``"djsrh"`` or ``"hybridhash"``), one number a row.

    Columns ``source, table, method, dataset, direction, bits, metric, value`` in the file's (= the paper's)
    order; ``direction`` in record form (``image->text``), ``table`` str, ``bits`` int, ``value`` float.
    Raises ``ValueError`` naming the file when a column, a direction, a metric or a value is malformed.
    """
    path = reference_path(paper)
    name = f"hashlib_core/reference/{PAPERS[paper]}"
    with path.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"{name}: expected columns {list(COLUMNS)}, found {list(frame.columns)}")
    empty = [col for col in COLUMNS if (frame[col].str.strip() == "").any()]
    if empty:
        raise ValueError(f"{name}: empty cells in column(s) {empty}")
    unknown = sorted(set(frame["direction"]) - set(DIRECTIONS))
    if unknown:
        raise ValueError(f"{name}: unknown direction(s) {unknown}; known: {sorted(DIRECTIONS)}")
    for metric in frame["metric"].unique():
        try:
            metric_topk(metric)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    try:
        bits = frame["bits"].astype(int)
        value = frame["value"].astype(float)
    except ValueError as exc:
        raise ValueError(f"{name}: non-numeric bits or value ({exc})") from None
    if ((value < 0) | (value > 1)).any():
        raise ValueError(f"{name}: values outside [0, 1] in rows {list(frame.index[(value < 0) | (value > 1)])}")
    out = pd.DataFrame({
        "source": frame["source"].astype(object),
        "table": frame["table"].astype(object),
        "method": frame["method"].astype(object),
        "dataset": frame["dataset"].astype(object),
        "direction": frame["direction"].map(DIRECTIONS).astype(object),
        "bits": bits.astype(int),
        "metric": frame["metric"].astype(object),
        "value": value.astype(float),
    })
    duplicated = out.duplicated(["table", "method", "dataset", "direction", "bits", "metric"], keep=False)
    if duplicated.any():
        raise ValueError(f"{name}: the same number is given twice in rows {list(out.index[duplicated])}")
    return out.reset_index(drop=True)
