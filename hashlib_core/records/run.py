"""The end of every run: evaluate codes, then write the run folder atomically.

A run folder (``out_dir``) holds, per ``../shared/DESIGN.md``:

- ``metrics.json``  the record (schema below; what tables are built from),
- ``codes.npz``     what was evaluated: ``<view>_query``, ``<view>_retrieval`` (int8, +-1) and
                    ``query_labels``, ``retrieval_labels`` (uint8 multi-hot), so any number can be recomputed
                    under another protocol without retraining,
- ``curves.json``   precision@N, precision/recall within Hamming radius, PR curve per direction,
- ``history.json``  the training curve (one dict per epoch/iteration),
- ``split.json``    the split protocol, seed, sizes and SHA-256 of each index array (``splits.npz`` holds them).

``metrics.json`` keys: ``method, dataset, bits, seed, profile, protocol, topk, ties, map`` (direction ->
mAP), ``epochs, train_seconds, device, git_commit, data_sha256`` (file name -> sha256), plus ``date`` (UTC, ISO
8601), ``split``, ``settings`` (every setting the run used), ``also`` (secondary evaluations, each with its own
``label, protocol, topk, ties, map``) and ``versions``.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .io import atomic_write_json, atomic_write_npz, git_commit

REQUIRED_KEYS = ("method", "dataset", "bits", "seed", "profile", "protocol", "topk", "ties", "map", "epochs",
                 "train_seconds", "device", "git_commit", "data_sha256")
PROFILES = ("smoke", "default", "paper")


def validate_record(record: Mapping[str, Any], *, source: str = "metrics.json") -> None:
    """Check a metrics record against the DESIGN.md schema; ``ValueError`` naming ``source`` and the problem."""
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"{source}: missing keys {missing}")
    if record["profile"] not in PROFILES:
        raise ValueError(f"{source}: profile must be one of {PROFILES}, got {record['profile']!r}")
    if not isinstance(record["map"], Mapping) or not record["map"]:
        raise ValueError(f"{source}: 'map' must be a non-empty mapping 'query->retrieval' -> mAP")
    for direction, value in record["map"].items():
        if "->" not in direction:
            raise ValueError(f"{source}: map key {direction!r} is not of the form '<query view>-><retrieval view>'")
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{source}: map[{direction!r}] = {value!r} is not a number in [0, 1]")


def _as_pm1_int8(codes) -> np.ndarray:
    array = codes.detach().cpu().numpy() if hasattr(codes, "detach") else np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"codes must be 2-D (n, bits), got shape {array.shape}")
    return np.where(array > 0, 1, -1).astype(np.int8)


def _versions() -> dict[str, str]:
    import torch

    from .. import __version__

    return {"hashlib_core": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__}


@dataclass
class RunResult:
    """What ``methods.<name>.run()`` returns: the record as written plus the arrays behind it."""

    out_dir: Path
    record: dict
    codes: dict[str, np.ndarray]
    curves: dict
    history: list[dict] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)

    def map_table(self):
        """The run's mAP per direction (and its secondary evaluations) as a pandas DataFrame."""
        import pandas as pd

        rows = [{"evaluation": "main", "direction": d, "mAP": v, "protocol": self.record["protocol"],
                 "topk": self.record["topk"] if self.record["topk"] is not None else "all",
                 "ties": self.record["ties"]} for d, v in self.record["map"].items()]
        for also in self.record.get("also", []):
            rows += [{"evaluation": also["label"], "direction": d, "mAP": v, "protocol": also["protocol"],
                      "topk": also["topk"] if also["topk"] is not None else "all", "ties": also["ties"]}
                     for d, v in also["map"].items()]
        return pd.DataFrame(rows)


def finish_run(*, out_dir: str | Path, method: str, dataset, bits: int, seed: int, profile: str,
               epochs: int | None, train_seconds: float, device: str,
               query_codes: Mapping[str, Any], retrieval_codes: Mapping[str, Any],
               protocol: str, topk: int | None, ties: str = "index",
               pairs: Sequence[tuple[str, str]] | None = None,
               also: Sequence[Mapping[str, Any]] = (), settings: Mapping[str, Any] | None = None,
               history: Sequence[Mapping[str, Any]] = (), metrics_device=None,
               artifacts: Mapping[str, Any] | None = None) -> RunResult:
    """Evaluate the codes and write the run folder; return a :class:`RunResult`.

    ``dataset`` is the :class:`hashlib_core.data.Dataset` the run used (its name, split record and file hashes
    go into the record). ``query_codes`` / ``retrieval_codes`` map view name -> (n, bits) codes (any sign-coded
    array; stored as int8 +-1). ``pairs`` are the (query view, retrieval view) directions to evaluate (default:
    every ordered pair of distinct views, or ``(v, v)`` when there is one view). ``also`` lists secondary
    evaluations: either ``{"label", "protocol", "topk", "ties"}`` (computed here on the same codes) or
    additionally ``"map"`` (a value computed elsewhere, e.g. best-over-epochs, written as given).
    """
    from ..metrics import evaluate_retrieval

    out_dir = Path(out_dir)
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    query_codes = {view: _as_pm1_int8(codes) for view, codes in query_codes.items()}
    retrieval_codes = {view: _as_pm1_int8(codes) for view, codes in retrieval_codes.items()}
    for view, codes in {**query_codes, **retrieval_codes}.items():
        if codes.shape[1] != bits:
            raise ValueError(f"codes of view {view!r} have {codes.shape[1]} bits, the run asked for {bits}")
    query_labels = np.asarray(dataset.labels[dataset.splits["query"]], dtype=np.uint8)
    retrieval_labels = np.asarray(dataset.labels[dataset.splits["retrieval"]], dtype=np.uint8)

    main = evaluate_retrieval(query_codes, retrieval_codes, query_labels, retrieval_labels, pairs=pairs,
                              protocol=protocol, topk=topk, ties=ties, curves=True, device=metrics_device)
    also_records = []
    for spec in also:
        if "map" in spec:
            also_records.append(dict(spec))
            continue
        extra = evaluate_retrieval(query_codes, retrieval_codes, query_labels, retrieval_labels, pairs=pairs,
                                   protocol=spec["protocol"], topk=spec.get("topk"), ties=spec.get("ties", "index"),
                                   curves=False, device=metrics_device)
        also_records.append({"label": spec["label"], "protocol": spec["protocol"], "topk": spec.get("topk"),
                             "ties": spec.get("ties", "index"), "map": extra["map"]})

    split = dataset.split_record()
    record = {
        "method": method, "dataset": dataset.name, "bits": int(bits), "seed": int(seed), "profile": profile,
        "protocol": protocol, "topk": topk, "ties": ties, "map": main["map"],
        "epochs": epochs, "train_seconds": round(float(train_seconds), 3), "device": device,
        "git_commit": git_commit(), "data_sha256": dataset.file_hashes(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "split": split, "settings": dict(settings or {}), "also": also_records, "versions": _versions(),
    }
    validate_record(record)

    codes_npz = {f"{view}_query": codes for view, codes in query_codes.items()}
    codes_npz.update({f"{view}_retrieval": codes for view, codes in retrieval_codes.items()})
    atomic_write_npz(out_dir / "codes.npz", query_labels=query_labels, retrieval_labels=retrieval_labels,
                     **codes_npz)
    atomic_write_npz(out_dir / "splits.npz", **{name: np.asarray(idx) for name, idx in dataset.splits.items()})
    atomic_write_json(out_dir / "split.json", split)
    atomic_write_json(out_dir / "curves.json", main["curves"], compact=True)
    atomic_write_json(out_dir / "history.json", list(history), compact=True)
    atomic_write_json(out_dir / "metrics.json", record)  # last: its presence marks a finished run
    return RunResult(out_dir=out_dir, record=record, codes=codes_npz, curves=main["curves"],
                     history=list(history), artifacts=dict(artifacts or {}))
