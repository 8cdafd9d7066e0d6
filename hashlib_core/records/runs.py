"""Read run folders (fresh ``runs/`` and committed ``records/``) into one pandas table.

A run folder holds ``metrics.json`` when the run finished (written last by :func:`finish_run`), or
``failed.json`` when the grid runner caught an error (see :mod:`hashlib_core.records.grid`). Folders are found
anywhere below a root; the usual layout is ``<root>/<profile>/<notebook>/<run id>/``.

:func:`load_runs` returns one row per (run, evaluation, direction): the main evaluation of ``metrics.json``
(``evaluation == "main"``) and each secondary one in its ``also`` list (``evaluation`` = its label), with the
protocol, ``topk`` (``None`` = the whole retrieval set) and tie rule that produced the number. A failed run is one
row with ``status == "failed"``, ``map`` NaN and the error message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .io import read_json
from .run import validate_record

SOURCES = ("fresh", "committed")
COLUMNS = ("method", "notebook", "run_id", "label", "dataset", "bits", "seed", "profile", "device", "date",
           "protocol", "topk", "ties", "direction", "evaluation", "map", "source", "status", "error", "run_dir",
           "settings", "epochs", "train_seconds", "wall_seconds", "git_commit")
_RUN_ID = re.compile(r"^(?P<dataset>.+?)-(?P<bits>\d+)b-s(?P<seed>\d+)(?:-(?P<label>.+))?$")


def repo_root() -> Path:
    """The checkout this package lives in (the folder holding ``pyproject.toml``), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_roots() -> dict[str, list[Path]]:
    """``{"fresh": [<repo>/runs], "committed": [<repo>/records]}``."""
    root = repo_root()
    return {"fresh": [root / "runs"], "committed": [root / "records"]}


def _normalise_roots(roots) -> list[tuple[Path, str]]:
    """``None`` -> the defaults; a mapping ``{source: path | [paths]}``; or path(s), where a folder named
    ``records`` is committed and any other folder fresh."""
    if roots is None:
        roots = default_roots()
    if isinstance(roots, Mapping):
        pairs = []
        for source, paths in roots.items():
            if source not in SOURCES:
                raise ValueError(f"roots: source must be one of {SOURCES}, got {source!r}")
            if isinstance(paths, (str, os.PathLike)):
                paths = [paths]
            pairs += [(Path(p), source) for p in paths]
        return pairs
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    return [(Path(p), "committed" if Path(p).name == "records" else "fresh") for p in roots]


def _find_run_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = {p.parent for p in root.rglob("metrics.json")} | {p.parent for p in root.rglob("failed.json")}
    return sorted(d for d in found if not any(part.startswith(".") for part in d.relative_to(root).parts))


def _label_from_run_id(run_id: str, dataset, bits, seed) -> str | None:
    match = _RUN_ID.match(run_id)
    if match and match["dataset"] == str(dataset) and int(match["bits"]) == int(bits) \
            and int(match["seed"]) == int(seed):
        return match["label"]
    return None


def _notebook_for(run_dir: Path, spec: Mapping | None, profile, method) -> str | None:
    if spec and spec.get("notebook"):
        return spec["notebook"]
    if run_dir.parent.parent.name == str(profile):
        return run_dir.parent.name
    return method


def _read_manifest(run_dir: Path) -> dict:
    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    try:
        manifest = read_json(path)
    except ValueError:
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _rows_for_ok(run_dir: Path, record: dict, manifest: dict, source: str) -> list[dict]:
    spec = manifest.get("spec") or {}
    label = spec.get("label") if spec else _label_from_run_id(run_dir.name, record["dataset"], record["bits"],
                                                               record["seed"])
    base = {
        "method": record["method"], "notebook": _notebook_for(run_dir, spec, record["profile"], record["method"]),
        "run_id": run_dir.name, "label": label, "dataset": record["dataset"], "bits": int(record["bits"]),
        "seed": int(record["seed"]), "profile": record["profile"], "device": record["device"],
        "date": record.get("date"), "source": source, "status": "ok", "error": None, "run_dir": str(run_dir),
        "settings": dict(record.get("settings") or {}), "epochs": record.get("epochs"),
        "train_seconds": record.get("train_seconds"), "wall_seconds": manifest.get("wall_seconds"),
        "git_commit": record.get("git_commit"),
    }
    rows = []
    evaluations = [("main", record)] + [(also.get("label"), also) for also in record.get("also") or []]
    for name, evaluation in evaluations:
        for direction, value in (evaluation.get("map") or {}).items():
            rows.append({**base, "evaluation": name, "protocol": evaluation.get("protocol"),
                         "topk": evaluation.get("topk"), "ties": evaluation.get("ties"),
                         "direction": direction,
                         "map": float(value) if isinstance(value, (int, float)) else float("nan")})
    return rows


def _row_for_failed(run_dir: Path, failed: dict, source: str, error: str | None = None) -> dict:
    spec = failed.get("spec") or {}
    return {
        "method": spec.get("method"), "notebook": _notebook_for(run_dir, spec, failed.get("profile"),
                                                                 spec.get("method")),
        "run_id": run_dir.name, "label": spec.get("label"), "dataset": spec.get("dataset"),
        "bits": spec.get("bits"), "seed": spec.get("seed"), "profile": failed.get("profile"),
        "device": failed.get("device"), "date": failed.get("date"), "protocol": None, "topk": None, "ties": None,
        "direction": None, "evaluation": "main", "map": float("nan"), "source": source, "status": "failed",
        "error": error or f"{failed.get('error_type', 'Error')}: {failed.get('message', '')}".strip(),
        "run_dir": str(run_dir), "settings": dict(spec.get("params") or {}), "epochs": spec.get("epochs"),
        "train_seconds": None, "wall_seconds": failed.get("wall_seconds"), "git_commit": failed.get("git_commit"),
    }


def read_run(run_dir: str | os.PathLike, source: str = "fresh") -> list[dict]:
    """The table rows of one run folder (see :func:`load_runs`); a malformed record becomes a failed row."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        manifest = _read_manifest(run_dir)
        try:
            record = read_json(metrics)
            validate_record(record, source=str(metrics))
        except ValueError as exc:
            return [_row_for_failed(run_dir, {"spec": manifest.get("spec") or {},
                                              "profile": manifest.get("profile")}, source,
                                    error=f"unreadable record: {exc}")]
        return _rows_for_ok(run_dir, record, manifest, source)
    failed_path = run_dir / "failed.json"
    try:
        failed = read_json(failed_path)
    except ValueError as exc:
        failed, error = {}, f"unreadable failure record: {exc}"
    else:
        error = None
    return [_row_for_failed(run_dir, failed if isinstance(failed, dict) else {}, source, error=error)]


def load_runs(profile: str | None = None, method: str | Iterable[str] | None = None, roots=None) -> pd.DataFrame:
    """Every run below ``roots``, one row per (run, evaluation, direction); see the module docstring.

    ``roots``: ``None`` = fresh ``<repo>/runs`` and committed ``<repo>/records``; or a mapping
    ``{"fresh": path(s), "committed": path(s)}``; or path(s) (a folder named ``records`` counts as committed).
    Roots that do not exist contribute no rows. ``profile`` / ``method`` keep only those runs (``method`` may be a
    list). Columns: :data:`COLUMNS` (``map`` in [0, 1], NaN for failed runs; ``topk`` None = mAP@all).
    """
    rows: list[dict] = []
    for root, source in _normalise_roots(roots):
        for run_dir in _find_run_dirs(root):
            rows += read_run(run_dir, source)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    if profile is not None:
        frame = frame[frame["profile"] == profile]
    if method is not None:
        methods = [method] if isinstance(method, str) else list(method)
        frame = frame[frame["method"].isin(methods)]
    if frame.empty:
        return frame.reset_index(drop=True)
    order = ["source", "profile", "method", "notebook", "dataset", "bits", "seed", "run_id", "evaluation",
             "direction"]
    return frame.sort_values(order, key=_sort_key, kind="stable").reset_index(drop=True)


def _sort_key(column: pd.Series) -> pd.Series:
    """Numbers in numeric order, everything else as text; missing values last."""
    def key(value):
        if value is None or (isinstance(value, float) and value != value):
            return "~"
        if isinstance(value, (int, float)):
            return f"{float(value):020.6f}"
        return str(value)
    return column.map(key)


def load_curves(run_dir: str | os.PathLike) -> dict:
    """``curves.json`` of a run: direction -> {"precision_at_n", "radius", "pr"} (see :mod:`.figures`)."""
    path = Path(run_dir) / "curves.json"
    if not path.is_file():
        raise ValueError(f"{path}: no curves.json in this run folder (the run failed or was not finished)")
    return read_json(path)


def load_history(run_dir: str | os.PathLike) -> list[dict]:
    """``history.json`` of a run: one dict per epoch/iteration (empty when the method records none)."""
    path = Path(run_dir) / "history.json"
    if not path.is_file():
        raise ValueError(f"{path}: no history.json in this run folder (the run failed or was not finished)")
    return read_json(path)
