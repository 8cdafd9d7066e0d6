"""Read run folders (fresh ``runs/`` and committed ``records/``) into one pandas table.

A run folder is finished when it holds ``metrics.json`` (:func:`hashlib_core.records.run.is_finished`: the file
only appears together with the rest of the folder), failed when it holds ``failed.json`` (the grid runner caught an
error); anything else, and every hidden ``.``-prefixed folder, holds no result and is not read. Folders are found
anywhere below a root; the usual layout is ``<root>/<profile>/<notebook>/<run id>/``.

A finished folder whose record cannot be used becomes one ``failed`` row whose ``error`` starts with
``unreadable record:`` and names the file and the problem, and the other runs are unaffected: ``metrics.json``
that is not valid JSON, not an object, lacks required keys or has values of the wrong kind; ``curves.json`` /
``history.json`` that are not valid JSON; and, where the record says the codes were written (``record["codes"]``,
fresh runs; committed records never hold codes), a missing, truncated or damaged ``codes.npz``, or codes whose
shapes do not match the record (bits, split sizes, label rows, the views of each direction).

:func:`load_runs` returns one row per (run, evaluation, direction): the main evaluation of ``metrics.json``
(``evaluation == "main"``) and each secondary one in its ``also`` list (``evaluation`` = its label), with the
protocol, ``topk`` (``None`` = the whole retrieval set) and tie rule that produced the number. A failed run is one
row with ``status == "failed"``, ``map`` NaN and the error message. A run the grid did not start because its data
files are absent (``missing.json``) is one row with ``status == "missing"`` and ``error`` listing the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .io import npz_shapes, read_json
from .run import is_finished, validate_record

SOURCES = ("fresh", "committed")
COLUMNS = ("method", "notebook", "run_id", "label", "recipe", "dataset", "bits", "seed", "profile", "device", "date",
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
    found = {p.parent for name in ("metrics.json", "failed.json", "missing.json") for p in root.rglob(name)}
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
        "recipe": recipe_of(record["method"], record.get("settings") or {}),
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


#: the methods that take a ``recipe`` (``"authors"`` | ``"hashbook"``); the training-free baselines have none
RECIPE_METHODS = ("dchn", "djsrh", "hybridhash")


def recipe_of(method, settings: Mapping) -> str:
    """The recipe a run used: ``settings["recipe"]``; a deep method's record from before recipes existed ran our
    conventions (``"hashbook"``); a training-free baseline has none (``"-"``)."""
    if isinstance(settings, Mapping) and settings.get("recipe"):
        return str(settings["recipe"])
    return "hashbook" if method in RECIPE_METHODS else "-"


def _row_for_failed(run_dir: Path, failed: dict, source: str, error: str | None = None) -> dict:
    spec = failed.get("spec") or {}
    return {"recipe": recipe_of(spec.get("method"), spec.get("params") or {}),
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


def _row_for_missing(run_dir: Path, source: str) -> dict:
    """The row of a run not started for missing data: ``error`` = ``"data missing: <file> (<how to get it>); ..."``."""
    try:
        missing = read_json(run_dir / "missing.json")
    except ValueError as exc:
        return _row_for_failed(run_dir, {}, source, error=f"unreadable record: {exc}")
    missing = missing if isinstance(missing, dict) else {}
    files = [entry for entry in missing.get("missing") or [] if isinstance(entry, Mapping)]
    text = "; ".join(f"{entry.get('file')} ({entry.get('how_to_get')})" if entry.get("how_to_get")
                     else str(entry.get("file")) for entry in files)
    return {**_row_for_failed(run_dir, missing, source, error=f"data missing: {text}"), "status": "missing"}


def _kind_problem(record: Mapping, source: str) -> str | None:
    """What the table needs of a schema-valid record's values (a foreign record may have the keys only)."""
    for key in ("method", "dataset", "profile"):
        if not isinstance(record[key], str) or not record[key]:
            return f"{source}: {key!r} must be a non-empty string, got {record[key]!r}"
    for key, low in (("bits", 1), ("seed", 0)):
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"{source}: {key!r} must be an integer >= {low}, got {value!r}"
    for key in ("also", "settings"):
        if record.get(key) is not None and not isinstance(record[key], (list if key == "also" else Mapping)):
            return f"{source}: {key!r} must be a {'list' if key == 'also' else 'mapping'}, got {record[key]!r}"
    return None


def _codes_problem(run_dir: Path, record: Mapping, source: str) -> str | None:
    """Whether ``codes.npz`` is there when the record says it was written, readable, and shaped as the record
    says (see the module docstring); ``None`` when it is fine or not expected."""
    path = run_dir / "codes.npz"
    declared = record.get("codes") if isinstance(record.get("codes"), Mapping) else {}
    if not path.is_file():
        if declared and source == "fresh":
            return f"{path}: missing (the record says the run's codes were written there)"
        return None
    try:
        shapes = npz_shapes(path)
    except (OSError, ValueError) as exc:
        return str(exc)
    for name, shape in (declared.get("arrays") or {}).items():
        if name not in shapes:
            return f"{path}: array {name!r} missing (the record lists it with shape {tuple(shape)})"
        if list(shapes[name]) != list(shape):
            return f"{path}: array {name!r} has shape {shapes[name]}, the record says {tuple(shape)}"
    sizes = (record.get("split") or {}).get("sizes") if isinstance(record.get("split"), Mapping) else None
    sizes = sizes if isinstance(sizes, Mapping) else {}
    bits = record["bits"]
    for name, shape in shapes.items():
        side = "query" if name.endswith("_query") else "retrieval" if name.endswith("_retrieval") else None
        if name.endswith("_labels"):
            side = name[:-len("_labels")]
        if side not in ("query", "retrieval"):
            continue
        if not name.endswith("_labels") and (len(shape) != 2 or shape[1] != bits):
            return f"{path}: {name!r} has shape {shape}, the record has {bits} bits"
        if sizes.get(side) is not None and shape[0] != sizes[side]:
            return f"{path}: {name!r} has {shape[0]} rows, the record's {side} split has {sizes[side]}"
        if f"{side}_labels" in shapes and shape[0] != shapes[f"{side}_labels"][0]:
            return (f"{path}: {name!r} has {shape[0]} rows, {side}_labels has "
                    f"{shapes[f'{side}_labels'][0]}")
    for direction in record["map"]:
        query_view, _, retrieval_view = direction.partition("->")
        for name in (f"{query_view}_query", f"{retrieval_view}_retrieval"):
            if name not in shapes:
                return f"{path}: no {name!r} array for the direction {direction!r} of the record"
    return None


def _record_problem(run_dir: Path, record: Mapping, source: str) -> str | None:
    """Why a schema-valid record of a finished folder cannot be used (see the module docstring), else None."""
    problem = _kind_problem(record, str(run_dir / "metrics.json"))
    if problem:
        return problem
    for name in ("curves.json", "history.json"):
        if (run_dir / name).is_file():
            try:
                read_json(run_dir / name)
            except ValueError as exc:
                return str(exc)
    return _codes_problem(run_dir, record, source)


def read_run(run_dir: str | os.PathLike, source: str = "fresh") -> list[dict]:
    """The table rows of one run folder (see :func:`load_runs`); an unusable record becomes a failed row whose
    error names the file and the problem."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.json"
    if is_finished(run_dir):
        manifest = _read_manifest(run_dir)
        record = None
        try:
            record = read_json(metrics)
            validate_record(record, source=str(metrics))
            problem = _record_problem(run_dir, record, source)
        except (OSError, ValueError) as exc:
            problem = str(exc)
        if problem:
            spec = dict(manifest.get("spec") or {})
            if not spec and isinstance(record, Mapping):  # name the run from its own record where it can
                spec = {key: record.get(key) for key in ("method", "dataset", "bits", "seed")}
            profile = manifest.get("profile") or (record.get("profile") if isinstance(record, Mapping) else None)
            return [_row_for_failed(run_dir, {"spec": spec, "profile": profile}, source,
                                    error=f"unreadable record: {problem}")]
        return _rows_for_ok(run_dir, record, manifest, source)
    if (run_dir / "missing.json").is_file() and not (run_dir / "failed.json").is_file():
        return [_row_for_missing(run_dir, source)]
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
