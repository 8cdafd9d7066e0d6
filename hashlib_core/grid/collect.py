"""Commit finished runs: copy their small JSON records into ``records/<profile>/<notebook>/<run id>/``.

``python -m hashlib_core.grid collect RUN_DIR... --into records/`` (see :mod:`hashlib_core.grid.__main__`) calls
:func:`commit_records`. Only JSON records and the manifest are copied, never codes, splits or data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..records.io import atomic_write_text, read_json, staged_dir
from ..records.manifest import MAX_RECORD_BYTES, build_manifest, record_files
from ..records.run import validate_record
from .runner import GridError, run_id


def commit_records(run_dirs: Iterable[str | os.PathLike], into: str | os.PathLike = "records", *,
                   notebook: str | None = None, label: str | None = None, overwrite: bool = False) -> list[Path]:
    """Copy the small JSON records of finished runs into ``into/<profile>/<notebook>/<run id>/``.

    Copies the run's JSON records (``metrics.json, curves.json, history.json, split.json``, any other top-level
    ``*.json`` its method wrote, e.g. ``baselines.json``) and ``manifest.json``; never codes, splits or data.
    A run without a manifest (made with the CLI) gets one built from its ``metrics.json`` here
    (``made_by="collect"``, ``environment="from metrics.json"``); prefer writing it on the machine that ran it
    (``python -m hashlib_core.records.manifest RUN_DIR``). ``notebook`` / ``label`` apply to runs without a
    manifest. An existing, different record at the destination is an error unless ``overwrite``.
    Returns the destination folders.
    """
    into = Path(into)
    written = []
    for run_dir in map(Path, run_dirs):
        metrics_path = run_dir / "metrics.json"
        if not metrics_path.is_file():
            raise GridError(f"{run_dir}: no metrics.json (only finished runs can be committed)")
        record = read_json(metrics_path)
        validate_record(record, source=str(metrics_path))
        if (run_dir / "manifest.json").is_file():
            manifest = read_json(run_dir / "manifest.json")
        else:
            manifest = build_manifest(run_dir, made_by="collect", this_machine=False, notebook=notebook, label=label)
        spec = manifest.get("spec") or {}
        dest = into / record["profile"] / (spec.get("notebook") or record["method"]) / run_id(
            {"dataset": record["dataset"], "bits": record["bits"], "seed": record["seed"],
             "label": spec.get("label")})
        too_big = [n for n in record_files(run_dir) if (run_dir / n).stat().st_size > MAX_RECORD_BYTES]
        if too_big:
            raise GridError(f"{run_dir}: {too_big} are larger than {MAX_RECORD_BYTES >> 20} MiB; records/ holds "
                            f"small JSON records only")
        files = {name: (run_dir / name).read_text(encoding="utf-8") for name in record_files(run_dir)}
        files["manifest.json"] = json.dumps(manifest, indent=2) + "\n"
        if dest.exists() and not overwrite:
            existing = dest / "metrics.json"
            if not existing.is_file() or existing.read_text(encoding="utf-8") != files["metrics.json"]:
                raise GridError(f"{dest}: a different record is already committed there (pass overwrite=True / "
                                f"--overwrite to replace it)")
        with staged_dir(dest) as staging:  # the committed folder appears complete, replacing the old one whole
            for name, text in files.items():
                atomic_write_text(staging / name, text)
        written.append(dest)
    return written
