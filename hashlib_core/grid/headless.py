"""Run a profile's grid without a Jupyter stack: each spec is one ``python -m hashlib_core run`` process.

For machines that have PyTorch but no papermill/ipykernel (e.g. a lent GPU machine). It executes the same
``methods.<m>.run()`` the run notebooks call, into the same run folders as the grid runner
(``<runs_root>/<profile>/<notebook>/<run id>/``), ``jobs`` processes at once (small models leave a GPU mostly
idle, so several runs share it well), and adds ``manifest.json`` (``made_by="cli"``) on the machine that ran
them. Specs whose notebook is not a method's own run notebook (e.g. ``dchn_new_view``) need papermill and are
listed as skipped. A run that fails or exceeds ``timeout`` seconds gets ``failed.json`` and the others go on.

    python -m hashlib_core.grid.headless --profile paper --method dchn --method djsrh --jobs 6 \\
        --runs-root /tmp/runs --deadline 540
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..records.io import atomic_write_json, sweep_stale
from ..records.manifest import write_manifest
from ..records.run import RUN_CONTEXT_ENV, is_finished
from ..records.runs import repo_root
from .lock import grid_lock
from .runner import grid_specs, run_id, spec_hash


def cli_command(spec: dict, profile: str, out_dir: Path, device: str = "auto") -> list[str]:
    """The ``python -m hashlib_core run ...`` command line of a normalised spec."""
    command = [sys.executable, "-m", "hashlib_core", "run", spec["method"], "--dataset", spec["dataset"],
               "--bits", str(spec["bits"]), "--seed", str(spec["seed"]), "--profile", profile,
               "--out-dir", str(out_dir), "--device", device]
    if spec.get("epochs") is not None:
        command += ["--epochs", str(spec["epochs"])]
    for name, value in sorted(spec["params"].items()):
        command += ["--param", f"{name}={json.dumps(value)}"]
    return command


def _run_one(spec: dict, profile: str, runs_root: Path, device: str, timeout: float) -> str:
    out_dir = runs_root / profile / spec["notebook"] / run_id(spec)
    if is_finished(out_dir):
        return f"kept     {out_dir}"
    (out_dir / "failed.json").unlink(missing_ok=True)
    started = time.perf_counter()
    template = repo_root() / "notebooks" / f"{spec['notebook']}.ipynb"
    # the run's finish_run puts the manifest (with the spec hash) inside the folder before it appears
    context = {"out_dir": os.path.abspath(out_dir), "made_by": "cli", "spec": spec,
               "spec_hash": spec_hash(spec, profile, template) if template.is_file() else None,
               "started": time.time()}
    try:
        proc = subprocess.run(cli_command(spec, profile, out_dir, device), capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "HASHLIB_PROGRESS": "0",
                                                    RUN_CONTEXT_ENV: json.dumps(context)})
        error = None if proc.returncode == 0 else f"exit code {proc.returncode}"
        tail = (proc.stdout + proc.stderr)[-4000:]
    except subprocess.TimeoutExpired as exc:
        error, tail = f"timed out after {timeout:.0f} s", str(exc.stderr or "")[-4000:]
    wall = time.perf_counter() - started
    if error is None and is_finished(out_dir):
        write_manifest(out_dir, made_by="cli", spec=spec, spec_hash=spec_hash(spec, profile, template),
                       wall_seconds=round(wall, 2), notebook=spec["notebook"], label=spec.get("label"))
        return f"ok {wall:6.1f}s {out_dir}"
    atomic_write_json(out_dir / "failed.json", {"error_type": "HeadlessRunError", "message": error or "no metrics",
                                                "traceback_tail": tail, "spec": spec})
    return f"FAILED {wall:6.1f}s {out_dir}: {error}\n{tail[-800:]}"


def run_headless(profile: str, *, methods=None, runs_root: str | os.PathLike, jobs: int = 1,
                 device: str = "auto", timeout: float = 3600.0) -> list[str]:
    """Run the method-notebook specs of ``profile`` via the CLI, ``jobs`` at once; return one line per spec."""
    runs_root = Path(runs_root)
    specs = grid_specs(profile, methods)
    runnable = [s for s in specs if s["notebook"] == s["method"]]
    lines = [f"skipped  {s['notebook']}/{run_id(s)} (needs papermill)" for s in specs if s not in runnable]
    with grid_lock(runs_root), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # one grid per runs folder
        sweep_stale(runs_root / profile)
        for line in pool.map(lambda s: _run_one(s, profile, runs_root, device, timeout), runnable):
            print(line, flush=True)
            lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashlib_core.grid.headless",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=["smoke", "default", "paper"])
    parser.add_argument("--method", action="append", default=None, help="only this method (repeatable)")
    parser.add_argument("--runs-root", default=str(repo_root() / "runs"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed to each run")
    args = parser.parse_args(argv)
    lines = run_headless(args.profile, methods=args.method, runs_root=args.runs_root, jobs=args.jobs,
                         device=args.device, timeout=args.timeout)
    return 0 if not any(line.startswith("FAILED") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
