"""``manifest.json``: what produced a run folder (code, packages, machine, data, split, time, the run spec).

The grid runner writes it after every finished notebook; for a run made with the CLI (``python -m hashlib_core
run ...``, e.g. on a GPU machine without Jupyter) write it on the same machine right after the run::

    python -m hashlib_core.records.manifest RUN_DIR [--notebook NAME] [--label LABEL] [--wall-seconds S]

Keys: ``manifest_version, created, made_by`` (``grid`` | ``cli`` | ``collect``), ``run_id, profile, method,
notebook, spec`` (dataset, bits, seed, epochs, label, params) and ``spec_hash`` (grid runs only: see
:func:`hashlib_core.grid.spec_hash`), ``git_commit`` (of the code that ran), ``versions`` (packages),
``python, platform, device, data_sha256`` (file -> sha256), ``split`` and ``split_seed``, ``train_seconds``,
``wall_seconds`` (the whole notebook; ``None`` when not measured) and ``files`` (sha256 of each JSON record
file, :func:`record_files`).
``environment`` says whether versions/platform describe the machine that ran it (``"this machine"``) or were
taken from ``metrics.json`` alone (``"from metrics.json"``, when a manifest is built elsewhere by ``collect``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from .io import atomic_write_json, git_commit, read_json, sha256_file
from .run import validate_record

MANIFEST_VERSION = 1
RECORD_FILES = ("metrics.json", "curves.json", "history.json", "split.json")
#: a JSON file larger than this is not a "small record" (committing or sending it back is refused)
MAX_RECORD_BYTES = 20 * 2**20
PACKAGES = ("hashbook", "torch", "torchvision", "numpy", "scipy", "h5py", "pandas", "matplotlib", "pillow", "tqdm",
            "papermill", "nbclient", "ipykernel", "jupyter-book", "ray")
MADE_BY = ("grid", "cli", "collect")


def package_versions(packages=PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (those not installed are left out)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def spec_from_record(record: Mapping[str, Any], *, notebook: str | None = None, label: str | None = None) -> dict:
    """A run spec (ARCHITECTURE.md format) rebuilt from a ``metrics.json`` record, for runs made without the grid.

    ``params`` are the record's ``settings`` restricted to the method's ``PARAMETERS`` when the method module
    imports, else all of ``settings``.
    """
    settings = dict(record.get("settings") or {})
    try:
        from ..methods import get_method

        known = set(get_method(record["method"]).PARAMETERS)
        params = {k: v for k, v in settings.items() if k in known}
    except Exception:  # the method module may not import here (e.g. a missing optional dependency)
        params = settings
    return {"method": record["method"], "notebook": notebook or record["method"], "dataset": record["dataset"],
            "bits": int(record["bits"]), "seed": int(record["seed"]), "epochs": record.get("epochs"),
            "label": label, "params": params}


def build_manifest(run_dir: str | os.PathLike, *, spec: Mapping[str, Any] | None = None,
                   spec_hash: str | None = None, wall_seconds: float | None = None, made_by: str = "cli",
                   this_machine: bool = True, notebook: str | None = None, label: str | None = None) -> dict:
    """The manifest of the finished run in ``run_dir`` (which must hold a valid ``metrics.json``).

    ``spec``: the grid's run spec (default: rebuilt from the record, with ``notebook``/``label`` if given).
    ``this_machine=True`` adds this interpreter's package versions and platform; use it only on the machine
    that ran the run (``made_by="collect"`` builds on another machine pass ``False``).
    """
    run_dir = Path(run_dir)
    if made_by not in MADE_BY:
        raise ValueError(f"made_by must be one of {MADE_BY}, got {made_by!r}")
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise ValueError(f"{metrics_path}: missing; a manifest describes a finished run")
    record = read_json(metrics_path)
    validate_record(record, source=str(metrics_path))
    spec = dict(spec) if spec is not None else spec_from_record(record, notebook=notebook, label=label)
    split = record.get("split") or {}
    versions = dict(record.get("versions") or {})
    if this_machine:
        versions.update(package_versions())

    return {
        "manifest_version": MANIFEST_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "made_by": made_by,
        "environment": "this machine" if this_machine else "from metrics.json",
        "run_id": run_dir.name,
        "profile": record["profile"],
        "method": record["method"],
        "notebook": spec.get("notebook") or record["method"],
        "spec": spec,
        "spec_hash": spec_hash,
        "git_commit": record.get("git_commit"),
        "git_commit_at_manifest": git_commit() if this_machine else None,
        "versions": versions,
        "python": platform.python_version() if this_machine else versions.get("python"),
        "platform": platform.platform() if this_machine else None,
        "device": record["device"],
        "data_sha256": dict(record.get("data_sha256") or {}),
        "split": split,
        "split_seed": split.get("seed", record.get("seed")),
        "train_seconds": record.get("train_seconds"),
        "wall_seconds": None if wall_seconds is None else round(float(wall_seconds), 3),
        "date": record.get("date"),
        "files": {name: sha256_file(run_dir / name) for name in record_files(run_dir)},
    }


def record_files(run_dir: str | os.PathLike) -> list[str]:
    """The JSON records of a run folder: :data:`RECORD_FILES` plus any other top-level ``*.json`` a method
    writes beside them (e.g. ``baselines.json``), without ``manifest.json`` and ``failed.json``."""
    run_dir = Path(run_dir)
    names = {p.name for p in run_dir.glob("*.json") if p.is_file()} - {"manifest.json", "failed.json"}
    return sorted(names, key=lambda n: (n not in RECORD_FILES, n))


def write_manifest(run_dir: str | os.PathLike, **kwargs) -> dict:
    """Build (see :func:`build_manifest`) and atomically write ``run_dir/manifest.json``; return it."""
    manifest = build_manifest(run_dir, **kwargs)
    atomic_write_json(Path(run_dir) / "manifest.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashlib_core.records.manifest",
                                     description="write manifest.json for finished run folder(s) made with the CLI")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--notebook", default=None, help="notebook the run stands for (default: the method)")
    parser.add_argument("--label", default=None, help="grid label of the run (e.g. an ablation row)")
    parser.add_argument("--wall-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        write_manifest(run_dir, made_by="cli", notebook=args.notebook, label=args.label,
                       wall_seconds=args.wall_seconds)
        print(f"wrote {Path(run_dir) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
