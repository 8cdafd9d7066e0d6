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
``label, protocol, topk, ties, map``), ``versions``, ``codes`` (``{"file": "codes.npz", "sha256", "arrays": name
-> shape}``: what a fresh folder must hold) and, for a run that claimed its folder, ``request`` (the settings it
was asked for, :func:`run_identity`: what "the same settings" means when a folder is reused).

When a run is finished (the one rule; the grid and the loaders use :func:`is_finished`): a folder is finished when
it holds ``metrics.json``. ``finish_run`` never writes into ``out_dir`` itself: it assembles the whole folder (and
its ``manifest.json`` when a grid passed a run context, :data:`RUN_CONTEXT_ENV`) in a hidden sibling
``.<name>.staging-<pid>-<token>`` and renames it into place in one step (:func:`.io.publish_dir`), so a visible
``metrics.json`` always comes with everything beside it, and a kill or a full disk leaves the folder as it was.
Hidden ``.``-prefixed folders are never read and are removed by the next run of that folder.

No silent overwrite: each method's ``run()`` first calls :func:`claim_out_dir`, before any training. A folder that
holds a finished run with other settings is refused (the error names the folder and each differing setting) unless
``force=True``; the same settings again replace the run, and the replacement is reported.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .io import (atomic_write_json, atomic_write_npz, git_commit, publish_dir, read_json, remove_stale_siblings,
                 sha256_file, staged_dir)

REQUIRED_KEYS = ("method", "dataset", "bits", "seed", "profile", "protocol", "topk", "ties", "map", "epochs",
                 "train_seconds", "device", "git_commit", "data_sha256")
PROFILES = ("smoke", "default", "paper")


#: the standard files of a run folder (``finish_run``'s ``files`` may add other ``*.json`` records)
RUN_FILES = ("metrics.json", "codes.npz", "splits.npz", "split.json", "curves.json", "history.json",
             "manifest.json")
#: environment variable a grid sets for the process that runs one spec: JSON ``{"out_dir", "made_by", "spec",
#: "spec_hash", "started" (Unix time), "force"}``; ``finish_run`` then writes ``manifest.json`` inside the staged
#: folder (so the finished folder is up to date for the grid the moment it appears) and ``claim_out_dir`` lets
#: the grid replace a stale run (``force``). Ignored unless its ``out_dir`` is the run's.
RUN_CONTEXT_ENV = "HASHLIB_RUN_CONTEXT"
_RUN_FOLDER_SUFFIXES = (".json", ".npz", ".ipynb")
_CLAIMS: dict[str, dict] = {}


class RunFolderError(ValueError):
    """An ``out_dir`` that cannot take this run: another finished run is there, it is not a run folder, it cannot
    be written, or the disk filled while writing. The message names the folder."""


def validate_record(record: Mapping[str, Any], *, source: str = "metrics.json") -> None:
    """Check a metrics record against the DESIGN.md schema; ``ValueError`` naming ``source`` and the problem."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{source}: a record is a JSON object, got {type(record).__name__}")
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
    #: ``None``, or why a finished run that was in ``out_dir`` was replaced (e.g. ``"same settings"``)
    replaced: str | None = None

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


# ---------------------------------------------------------------------------------------------- the run folder

def is_finished(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` holds a finished run: a visible (not ``.``-prefixed) folder holding ``metrics.json``
    (see the module docstring: it only ever appears together with the rest of the folder)."""
    run_dir = Path(run_dir)
    return not run_dir.name.startswith(".") and (run_dir / "metrics.json").is_file()


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (tuples -> lists, paths/other objects -> str), so settings compare by value."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v),
                                 sort_keys=True))


def run_identity(method: str, *, dataset: str, bits: int, seed: int, epochs: int | None, profile: str,
                 params: Mapping[str, Any]) -> dict:
    """The settings a run is asked for (``params`` = every method parameter, defaults included; ``epochs`` as
    given, ``None`` = the profile's). Two runs with equal identities compute the same thing; ``device`` and
    ``data_root`` are not part of it (the record names the device and the data hashes)."""
    return _plain({"method": method, "dataset": dataset, "bits": bits, "seed": seed, "epochs": epochs,
                   "profile": profile, "params": dict(params)})


def run_context(out_dir: str | os.PathLike) -> dict:
    """The grid's run context (:data:`RUN_CONTEXT_ENV`) when it is meant for ``out_dir``, else ``{}``."""
    raw = os.environ.get(RUN_CONTEXT_ENV)
    if not raw:
        return {}
    try:
        context = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"${RUN_CONTEXT_ENV}: not valid JSON ({exc})") from None
    if not isinstance(context, dict) or not context.get("out_dir") \
            or os.path.abspath(context["out_dir"]) != os.path.abspath(out_dir):
        return {}
    return context


def _key(out_dir: Path) -> str:
    return os.path.abspath(out_dir)


_ABSENT = "<not set>"


def _setting_differences(identity: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    """``"<setting>: <there> there, <here> here"`` for each setting where the finished ``record`` differs from
    ``identity``. Records without ``request`` (older runs) compare what they state: method, dataset, bits, seed,
    profile, epochs and the parameters named in their ``settings``."""
    request = record.get("request") if isinstance(record.get("request"), Mapping) else None
    differences = []

    def compare(name, there, here):
        if _plain(there) != _plain(here):
            differences.append(f"{name}: {there!r} there, {here!r} here")

    for key in ("method", "dataset", "bits", "seed", "profile", "epochs"):
        if key not in identity:
            continue
        if request is not None:
            compare(key, request.get(key, _ABSENT), identity[key])
        elif key != "epochs" or identity[key] is not None:
            compare(key, record.get(key, _ABSENT), identity[key])
    params = identity.get("params")
    if params is not None:
        if request is not None:
            there_params = dict(request.get("params") or {})
            for name in sorted(set(there_params) | set(params)):
                compare(name, there_params.get(name, _ABSENT), params.get(name, _ABSENT))
        else:
            settings = record.get("settings") if isinstance(record.get("settings"), Mapping) else {}
            for name in sorted(set(settings) & set(params)):
                if params[name] is not None:
                    compare(name, settings[name], params[name])
    return differences


def _folder_problem(out_dir: Path, identity: Mapping[str, Any], force: bool) -> tuple[str | None, str | None]:
    """``(problem, replaces)``: why ``out_dir`` cannot take the run (``None``: it can), and, when it holds a
    finished run that will be replaced, why that is allowed."""
    if not out_dir.exists():
        return None, None
    if not out_dir.is_dir():
        return f"{out_dir}: exists and is not a folder; out_dir must be a (new or run) folder", None
    if is_finished(out_dir):
        metrics = out_dir / "metrics.json"
        try:
            record = read_json(metrics)
            validate_record(record, source=str(metrics))
        except (OSError, ValueError) as exc:
            if force:
                return None, f"force=True; its record could not be read: {exc}"
            return (f"{out_dir}: holds a run folder whose record cannot be read ({exc}); choose another out_dir, "
                    f"or pass force=True (CLI: --force) to replace it"), None
        differences = _setting_differences(identity, record)
        if not differences:
            return None, "same settings"
        if force:
            return None, f"force=True; it had other settings: {'; '.join(differences)}"
        return (f"{out_dir}: holds a finished run with other settings ({'; '.join(differences)}); choose another "
                f"out_dir, or pass force=True (CLI: --force) to replace it"), None
    names = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
    looks_like_run = not names or {"failed.json", "manifest.json"} & set(names) or all(
        (out_dir / n).is_file() and n.endswith(_RUN_FOLDER_SUFFIXES) for n in names)
    if not looks_like_run:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return (f"{out_dir}: is not a run folder (it holds {shown}) and would be replaced as a whole; give a new "
                f"or empty folder as out_dir"), None
    return None, None  # an unfinished or failed run: nothing in it is a result


def _probe_writable(out_dir: Path) -> None:
    """Create ``out_dir``'s parent folders and a hidden folder beside ``out_dir`` (where the run is assembled),
    then remove it: an unwritable place fails here, before any training, with the path named."""
    ancestor = out_dir.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunFolderError(f"{out_dir}: cannot be written ({ancestor} is a file, not a folder)")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        probe = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}-probe"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError as exc:
        where = exc.filename or out_dir.parent
        raise RunFolderError(f"{out_dir}: cannot be written ({exc.strerror or exc}: {where})") from None


def claim_out_dir(out_dir: str | os.PathLike | None, identity: Mapping[str, Any], force: bool = False) -> Path:
    """Check, before any training, that ``out_dir`` can take the run :func:`run_identity` describes; return it
    as a ``Path``. Raises :class:`RunFolderError` (a ``ValueError``) naming the folder when it holds a finished run
    with other settings (each difference named; ``force=True`` replaces it), is a file or a folder that is not a
    run folder, or cannot be written. Leftovers of interrupted runs beside it are removed here. The claim is
    remembered for :func:`finish_run` of the same ``out_dir`` in this process (it records ``identity`` as the
    record's ``request`` and replaces the old folder atomically)."""
    if out_dir is None or str(out_dir) == "":
        raise RunFolderError("out_dir: give the folder the run record is written to")
    out_dir = Path(out_dir).expanduser()
    force = bool(force) or bool(run_context(out_dir).get("force"))
    try:
        remove_stale_siblings(out_dir)
    except OSError as exc:
        raise RunFolderError(f"{out_dir}: cannot tidy the leftovers of an interrupted run beside it "
                             f"({exc.strerror or exc}: {exc.filename})") from None
    problem, _ = _folder_problem(out_dir, identity, force)
    if problem:
        raise RunFolderError(problem)
    _probe_writable(out_dir)
    _CLAIMS[_key(out_dir)] = {"identity": _plain(dict(identity)), "force": force}
    return out_dir


def _carry_running_notebook(out_dir: Path, staging: Path) -> None:
    """A notebook runner may be writing the executed notebook as a hidden ``*.ipynb`` inside ``out_dir``: it
    moves along into the new folder rather than being removed with the old one."""
    if out_dir.is_dir():
        for path in out_dir.glob(".*.ipynb"):
            if path.is_file():
                os.replace(path, staging / path.name)


def _write_manifest_into(staging: Path, out_dir: Path, context: Mapping[str, Any]) -> None:
    from .manifest import build_manifest

    started = context.get("started")
    wall = time.time() - float(started) if isinstance(started, (int, float)) else None
    manifest = build_manifest(staging, spec=context.get("spec"), spec_hash=context.get("spec_hash"),
                              wall_seconds=wall, made_by=context.get("made_by", "grid"))
    manifest["run_id"] = out_dir.name
    atomic_write_json(staging / "manifest.json", manifest)


def finish_run(*, out_dir: str | Path, method: str, dataset, bits: int, seed: int, profile: str,
               epochs: int | None, train_seconds: float, device: str,
               query_codes: Mapping[str, Any], retrieval_codes: Mapping[str, Any],
               protocol: str, topk: int | None, ties: str = "index",
               pairs: Sequence[tuple[str, str]] | None = None,
               also: Sequence[Mapping[str, Any]] = (), settings: Mapping[str, Any] | None = None,
               history: Sequence[Mapping[str, Any]] = (), metrics_device=None,
               artifacts: Mapping[str, Any] | None = None, files: Mapping[str, Any] | None = None,
               force: bool = False) -> RunResult:
    """Evaluate the codes and write the run folder; return a :class:`RunResult`.

    ``dataset`` is the :class:`hashlib_core.data.Dataset` the run used (its name, split record and file hashes
    go into the record). ``query_codes`` / ``retrieval_codes`` map view name -> (n, bits) codes (any sign-coded
    array; stored as int8 +-1). ``pairs`` are the (query view, retrieval view) directions to evaluate (default:
    every ordered pair of distinct views, or ``(v, v)`` when there is one view). ``also`` lists secondary
    evaluations: either ``{"label", "protocol", "topk", "ties"}`` (computed here on the same codes) or
    additionally ``"map"`` (a value computed elsewhere, e.g. best-over-epochs, written as given). ``files``: other
    JSON records of the run (``{"baselines.json": {...}}``), written into the folder with the rest.

    The folder is assembled beside ``out_dir`` and renamed into place complete (module docstring); a finished
    run already there is replaced only when the run's :func:`claim_out_dir` (or ``force``) allowed it, else
    :class:`RunFolderError`. An ``OSError`` while writing (a full disk) becomes a :class:`RunFolderError` naming
    the folder, with ``out_dir`` left as it was.
    """
    from ..metrics import evaluate_retrieval

    out_dir = Path(out_dir).expanduser()
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    extra_files = dict(files or {})
    for name in extra_files:
        if not isinstance(name, str) or "/" in name or name.startswith(".") or not name.endswith(".json") \
                or name in RUN_FILES:
            raise ValueError(f"files: {name!r} must be a plain '<name>.json' file name other than {RUN_FILES}")
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
    claim = _CLAIMS.pop(_key(out_dir), None)
    context = run_context(out_dir)
    force = bool(force) or bool(context.get("force")) or bool(claim and claim["force"])
    identity = claim["identity"] if claim else {"method": method, "dataset": dataset.name, "bits": int(bits),
                                                 "seed": int(seed), "profile": profile}
    record = {
        "method": method, "dataset": dataset.name, "bits": int(bits), "seed": int(seed), "profile": profile,
        "protocol": protocol, "topk": topk, "ties": ties, "map": main["map"],
        "epochs": epochs, "train_seconds": round(float(train_seconds), 3), "device": device,
        "git_commit": git_commit(), "data_sha256": dataset.file_hashes(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "split": split, "settings": dict(settings or {}), "also": also_records, "versions": _versions(),
    }
    if claim:
        record["request"] = identity
    validate_record(record)

    codes_npz = {f"{view}_query": codes for view, codes in query_codes.items()}
    codes_npz.update({f"{view}_retrieval": codes for view, codes in retrieval_codes.items()})
    stored = {"query_labels": query_labels, "retrieval_labels": retrieval_labels, **codes_npz}
    try:
        remove_stale_siblings(out_dir)
        with staged_dir(out_dir, publish=False) as staging:
            atomic_write_npz(staging / "codes.npz", **stored)
            record["codes"] = {"file": "codes.npz", "sha256": sha256_file(staging / "codes.npz"),
                               "arrays": {name: list(array.shape) for name, array in stored.items()}}
            atomic_write_npz(staging / "splits.npz",
                             **{name: np.asarray(idx) for name, idx in dataset.splits.items()})
            atomic_write_json(staging / "split.json", split)
            atomic_write_json(staging / "curves.json", main["curves"], compact=True)
            atomic_write_json(staging / "history.json", list(history), compact=True)
            for name, content in extra_files.items():
                atomic_write_json(staging / name, content)
            atomic_write_json(staging / "metrics.json", record)
            if context:
                _write_manifest_into(staging, out_dir, context)
            problem, replaces = _folder_problem(out_dir, identity, force)  # again: the folder may have changed
            if problem:
                raise RunFolderError(problem + " (the run's results were not written)")
            _carry_running_notebook(out_dir, staging)
            replaced = publish_dir(staging, out_dir)
    except RunFolderError:
        raise
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        raise RunFolderError(f"{out_dir}: could not write the run folder ({exc.strerror or exc}{where}); "
                             f"nothing was written, the folder is as it was") from exc
    if replaced and replaces:
        print(f"replaced the finished run in {out_dir} ({replaces})", file=sys.stderr, flush=True)
    return RunResult(out_dir=out_dir, record=record, codes=codes_npz, curves=main["curves"],
                     history=list(history), artifacts=dict(artifacts or {}),
                     replaced=replaces if replaced else None)
