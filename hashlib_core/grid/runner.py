"""The grid runner: execute each method's run notebook with papermill over its ``GRID[profile]``.

Every method module (``hashlib_core.methods.<m>``) defines ``GRID = {profile: [run spec, ...]}``, a spec being
``{"dataset", "bits", "seed", "params", "notebook" (default: the method), "label" (optional), "epochs"}``.
Each run executes ``notebooks/<notebook>.ipynb`` into ``runs/<profile>/<notebook>/<run id>/run.ipynb``
(run id ``<dataset>-<bits>b-s<seed>[-<label>]``) with the spec's ``dataset, bits, seed, epochs`` and ``params``
plus ``out_dir`` (absolute) and ``profile`` injected; the notebook's ``finish_run`` publishes the run folder with
its ``manifest.json`` (:mod:`hashlib_core.records.manifest`) inside, then the runner adds the executed notebook and
rewrites the manifest with the notebook's wall time.

- Skip: a run is up to date when its folder holds ``metrics.json`` and a ``manifest.json`` whose ``spec_hash``
  equals :func:`spec_hash` of the spec, i.e. the same method, notebook, dataset, bits, seed, epochs, label and
  params, the same profile, and the same bytes of the notebook template. Library code, data files and the
  device are *not* covered (they are recorded in the manifest); use ``force=True`` or delete the run folder to
  redo runs after changing them.
- Failure isolation: any exception (including a notebook cell that raises, or a notebook that ends without a
  valid ``metrics.json``) becomes ``failed.json`` (error type, message, traceback tail, the spec); the executed
  notebook is kept as ``failed.ipynb``; the other runs go on and the book shows the run as failed.
- Atomic, and resumable after a kill: the notebook's ``finish_run`` publishes the run folder complete, with the
  grid's ``manifest.json`` (spec and spec hash, passed to the kernel as the run context ``$HASHLIB_RUN_CONTEXT``)
  already inside, so a run is up to date the moment its folder appears (one rule for "finished":
  :func:`hashlib_core.records.run.is_finished`). papermill writes to a hidden notebook beside the run folder
  (``.<run id>.tmp-<pid>-<token>.ipynb``), moved in as ``run.ipynb`` at the end. An old folder (stale or failed)
  is set aside as a hidden sibling while its run is redone, then removed, or put back if the grid dies first; a
  failure record is published as a whole folder too, so a folder never shows an old result beside a new failure.
  A grid killed at any point (``SIGKILL``) leaves every finished run up to date and at most hidden debris, which
  the next grid removes; the run that was cut off runs again from scratch.
- Ctrl-C (``SIGINT``; ``SIGTERM`` too): the run in progress is stopped (its kernel too), its temporary files are
  removed and its old folder is put back; the grid prints how to resume and raises :class:`GridInterrupted`.
- One grid per runs folder: ``<runs_root>/.grid.lock`` (:mod:`.lock`) names the holder's pid and is held with
  ``flock`` while the grid runs (a dead holder's lock is free at once); a second grid waits for it
  (``lock_timeout=None``) or raises :class:`GridBusy` naming the holder after ``lock_timeout`` seconds.
- ``jobs > 1`` runs several notebooks at once in local processes; ``ray_address`` hands each run to Ray as a
  task (``"local"``: ``ray.init()`` here; else ``ray.init(address=...)``), with the same records and skip logic.
  Ray is the optional extra ``pip install 'hashbook[cluster]'``. On a multi-machine cluster the run folders
  are written on the worker; the small JSON records and the executed notebook are sent back and written on the
  driver too (``codes.npz`` stays on the worker unless ``runs_root`` is on a shared file system).

The command line (``python -m hashlib_core.grid run|list|collect``) is :mod:`hashlib_core.grid.__main__`;
committing finished runs into ``records/`` is :mod:`hashlib_core.grid.collect`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..records.io import (atomic_write_json, atomic_write_text, read_json, remove_stale_siblings, restore_or_drop,
                          set_aside, staged_dir, sweep_stale, temporary_sibling)
from ..records.manifest import MAX_RECORD_BYTES, record_files, write_manifest
from ..records.run import PROFILES, RUN_CONTEXT_ENV, is_finished, validate_record
from ..records.runs import repo_root

SPEC_KEYS = ("dataset", "bits", "seed", "params", "notebook", "label", "epochs")
KERNEL_NAME = "python3"
#: arguments for every notebook kernel: its own log at CRITICAL level, so kernel starts and stops print nothing
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL",)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: files removed before a run starts (``metrics.json`` first: it marks a finished run)
_STALE = ("metrics.json", "manifest.json", "failed.json", "missing.json", "run.ipynb", "failed.ipynb")
#: files a Ray task sends back to the driver besides the JSON records (see :func:`records.manifest.record_files`)
_RETURNED = ("manifest.json", "failed.json", "run.ipynb", "failed.ipynb")


class GridError(ValueError):
    """A grid, a run spec, or the grid runner's environment (e.g. Ray missing) is not usable."""


class GridBusy(GridError):
    """Another grid holds the runs folder's lock (the message names its pid) and ``lock_timeout`` ran out."""


class GridInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM stopped the grid after cleaning up the run in progress; ``run_dir`` is that run."""

    def __init__(self, message: str = "", run_dir: str | None = None):
        super().__init__(message)
        self.run_dir = run_dir


# ---------------------------------------------------------------------------------------------- specs and plans

def normalise_spec(method: str, spec: Mapping[str, Any], *, where: str = "spec") -> dict:
    """Check a run spec and fill its defaults: ``{"method", "notebook", "dataset", "bits", "seed", "epochs",
    "label", "params"}``. ``GridError`` naming ``where`` (e.g. ``dchn.GRID['smoke'][2]``) on a bad spec."""
    if not isinstance(spec, Mapping):
        raise GridError(f"{where}: a run spec must be a dict, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise GridError(f"{where}: unknown key(s) {unknown}; a run spec has {list(SPEC_KEYS)}")
    if not isinstance(spec.get("dataset"), str) or not spec["dataset"]:
        raise GridError(f"{where}: 'dataset' must be a non-empty string, got {spec.get('dataset')!r}")
    bits = spec.get("bits")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0:
        raise GridError(f"{where}: 'bits' must be a positive integer, got {bits!r}")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GridError(f"{where}: 'seed' must be a non-negative integer, got {seed!r}")
    epochs = spec.get("epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0):
        raise GridError(f"{where}: 'epochs' must be None or a positive integer, got {epochs!r}")
    label = spec.get("label")
    if label is not None and (not isinstance(label, str) or not _LABEL.match(label)):
        raise GridError(f"{where}: 'label' must be a short name of letters, digits and _.+=- "
                        f"(it becomes part of a folder name), got {label!r}")
    params = spec.get("params") or {}
    if not isinstance(params, Mapping):
        raise GridError(f"{where}: 'params' must be a dict, got {type(params).__name__}")
    reserved = sorted(set(params) & {"dataset", "bits", "seed", "epochs", "out_dir", "profile"})
    if reserved:
        raise GridError(f"{where}: params {reserved} are set by the spec/runner, not by 'params'")
    notebook = spec.get("notebook") or method
    if not isinstance(notebook, str) or not _LABEL.match(notebook):
        raise GridError(f"{where}: 'notebook' must be a notebook name without '.ipynb', got {notebook!r}")
    try:
        json.dumps(dict(params), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise GridError(f"{where}: params must be JSON values ({exc})") from None
    return {"method": method, "notebook": notebook, "dataset": spec["dataset"], "bits": bits, "seed": seed,
            "epochs": epochs, "label": label, "params": dict(params)}


def _normalised(spec: Mapping[str, Any]) -> dict:
    """A spec that already went through :func:`normalise_spec`, or a raw spec with a ``"method"`` key."""
    if "method" not in spec:
        raise GridError(f"spec {dict(spec)!r}: give 'method' (or use grid_specs to read the methods' GRIDs)")
    raw = {k: v for k, v in spec.items() if k != "method"}
    return normalise_spec(spec["method"], raw, where=f"spec {dict(spec)!r}")


def run_id(spec: Mapping[str, Any]) -> str:
    """``<dataset>-<bits>b-s<seed>[-<label>]`` of a normalised spec."""
    rid = f"{spec['dataset']}-{spec['bits']}b-s{spec['seed']}"
    return f"{rid}-{spec['label']}" if spec.get("label") else rid


def spec_hash(spec: Mapping[str, Any], profile: str, template: str | os.PathLike) -> str:
    """SHA-256 over the normalised spec (method, notebook, dataset, bits, seed, epochs, label, params), the
    profile and the bytes of the notebook template: what decides whether a finished run can be reused."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"spec": dict(spec), "profile": profile}, sort_keys=True).encode("utf-8"))
    digest.update(Path(template).read_bytes())
    return digest.hexdigest()


def grid_specs(profile: str, methods: Iterable[str] | None = None) -> list[dict]:
    """The normalised run specs of ``methods`` (default: all of :data:`hashlib_core.methods.METHODS`) for
    ``profile``, in method order then grid order. A method without a ``GRID`` entry for ``profile`` adds none."""
    from ..methods import METHODS, get_method

    if profile not in PROFILES:
        raise GridError(f"profile must be one of {PROFILES}, got {profile!r}")
    specs = []
    for name in (METHODS if methods is None else methods):
        module = get_method(name)
        grid = getattr(module, "GRID", None)
        if not isinstance(grid, Mapping):
            raise GridError(f"hashlib_core.methods.{name}: no GRID dict (profile -> list of run specs)")
        known = set(getattr(module, "PARAMETERS", {}))
        for index, raw in enumerate(grid.get(profile) or []):
            where = f"{name}.GRID[{profile!r}][{index}]"
            spec = normalise_spec(name, raw, where=where)
            unknown = sorted(set(spec["params"]) - known)
            if spec["notebook"] == name and unknown:
                raise GridError(f"{where}: {name} has no parameter(s) {unknown}; known: {sorted(known)}")
            specs.append(spec)
    return specs


@dataclass
class RunTask:
    """One planned run: where it runs, from which template, with which parameters (all JSON-friendly)."""

    spec: dict
    profile: str
    run_dir: str
    template: str
    spec_hash: str | None
    parameters: dict
    cwd: str
    plan_error: str | None = None
    env: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return Path(self.run_dir).name


@dataclass
class RunOutcome:
    """What happened to one run: ``status`` is ``"ok"``, ``"skipped"`` (up to date), ``"failed"`` or
    ``"missing"`` (not run: its data files are absent; ``error`` lists them)."""

    run_dir: str
    status: str
    spec: dict
    seconds: float = 0.0
    error: str | None = None
    files: dict = field(default_factory=dict, repr=False)


def plan_runs(profile: str, specs: Sequence[Mapping[str, Any]], *, runs_root: str | os.PathLike | None = None,
              notebooks_dir: str | os.PathLike | None = None, cwd: str | os.PathLike | None = None,
              device: str | None = None, data_root: str | os.PathLike | None = None,
              kernel_env: Mapping[str, str] | None = None) -> list[RunTask]:
    """Turn normalised specs into :class:`RunTask` s (run folder, template, injected parameters, spec hash).

    ``device`` / ``data_root`` are injected only when given (otherwise the notebook defaults: ``"auto"`` and
    ``$HASHLIB_DATA``). ``kernel_env``: environment variables set for the notebook kernels (e.g.
    ``{"HASHLIB_PROGRESS": "0"}``). A missing template is not raised here: the task carries ``plan_error`` and
    fails alone.
    """
    root = repo_root()
    runs_root = Path(runs_root) if runs_root is not None else root / "runs"
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else root / "notebooks"
    cwd = Path(cwd) if cwd is not None else root
    tasks, seen = [], {}
    for spec in specs:
        run_dir = (runs_root / profile / spec["notebook"] / run_id(spec)).resolve()
        if run_dir in seen:
            raise GridError(f"two run specs map to the same run folder {run_dir}: {seen[run_dir]} and {spec}; "
                            f"give them different seeds or labels")
        seen[run_dir] = spec
        template = (notebooks_dir / f"{spec['notebook']}.ipynb").resolve()
        parameters = {"dataset": spec["dataset"], "bits": spec["bits"], "seed": spec["seed"],
                      "epochs": spec["epochs"], **spec["params"], "out_dir": str(run_dir), "profile": profile}
        if device is not None:
            parameters["device"] = device
        if data_root is not None:
            parameters["data_root"] = str(Path(data_root).resolve())
        plan_error, digest = None, None
        if template.is_file():
            digest = spec_hash(spec, profile, template)
        else:
            plan_error = f"notebook template {template} does not exist"
        tasks.append(RunTask(spec=dict(spec), profile=profile, run_dir=str(run_dir), template=str(template),
                             spec_hash=digest, parameters=parameters, cwd=str(cwd), plan_error=plan_error,
                             env=dict(kernel_env or {})))
    return tasks


def is_up_to_date(task: RunTask) -> bool:
    """True when ``task``'s folder holds a finished run made from the same spec hash (see module docstring)."""
    run_dir = Path(task.run_dir)
    if task.spec_hash is None or not is_finished(run_dir):
        return False
    try:
        manifest = read_json(run_dir / "manifest.json")
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("spec_hash") == task.spec_hash


# ---------------------------------------------------------------------------------------------- one run

@contextlib.contextmanager
def environ(values: Mapping[str, str]):
    """Set environment variables (inherited by the kernels started inside the block), then restore them."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _clear_stale(run_dir: Path) -> None:
    for name in _STALE:
        (run_dir / name).unlink(missing_ok=True)
    for leftover in run_dir.glob(".run.*.tmp.ipynb"):
        leftover.unlink(missing_ok=True)


def _error_fields(exc: BaseException) -> dict:
    """error type, message and the last lines of the traceback; a papermill cell error reports the cell's own."""
    etype = getattr(exc, "ename", None) or type(exc).__name__
    message = getattr(exc, "evalue", None) or str(exc)
    cell_traceback = getattr(exc, "traceback", None)
    if isinstance(cell_traceback, list) and cell_traceback:
        lines = "\n".join(_ANSI.sub("", line) for line in cell_traceback).splitlines()
    else:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        lines = "".join(lines).splitlines()
    exec_count = getattr(exc, "exec_count", None)
    return {"error_type": etype, "message": _ANSI.sub("", str(message)),
            "traceback_tail": "\n".join(lines[-30:]), "cell": exec_count}


_BINARY_RETURNED = ("codes.npz", "splits.npz")
_BASE64 = "base64:"


def _returned_files(run_dir: Path) -> dict:
    """What a Ray task sends back: the JSON records and notebooks as text, ``codes.npz``/``splits.npz`` (each at
    most :data:`MAX_RECORD_BYTES`) as ``"base64:..."`` text, so the driver's folder is complete (``load_runs``
    lists a fresh folder without the codes its record names as unreadable)."""
    import base64

    if not run_dir.is_dir():
        return {}
    names = [*record_files(run_dir), *(n for n in _RETURNED if (run_dir / n).is_file())]
    files = {name: (run_dir / name).read_text(encoding="utf-8") for name in names
             if (run_dir / name).stat().st_size <= MAX_RECORD_BYTES}
    for name in _BINARY_RETURNED:
        path = run_dir / name
        if path.is_file() and path.stat().st_size <= MAX_RECORD_BYTES:
            files[name] = _BASE64 + base64.b64encode(path.read_bytes()).decode("ascii")
    return files


def execute_run(task: RunTask | Mapping[str, Any], *, force: bool = False, return_files: bool = False) -> RunOutcome:
    """Run one task (skip when up to date unless ``force``) and return its :class:`RunOutcome`; never raises for
    a failing notebook (that becomes ``failed.json``). Picklable: process pools and Ray call it as is."""
    if not isinstance(task, RunTask):
        task = RunTask(**task)
    run_dir = Path(task.run_dir)
    if not force and is_up_to_date(task):
        return RunOutcome(str(run_dir), "skipped", task.spec)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(run_dir)   # what a grid killed earlier left beside this folder
    aside = set_aside(run_dir)       # the old (stale or failed) folder: dropped when this run ends, else put back
    tmp = temporary_sibling(run_dir, ".ipynb")
    start = time.perf_counter()
    context = {"out_dir": str(run_dir), "made_by": "grid", "spec": task.spec, "spec_hash": task.spec_hash,
               "started": time.time()}
    try:
        try:
            if task.plan_error:
                raise GridError(task.plan_error)
            in_process = runs_in_process(task)
            with environ({**task.env, RUN_CONTEXT_ENV: json.dumps(context)}):
                if in_process:
                    _run_in_process(task)
                else:
                    import papermill

                    papermill.execute_notebook(task.template, str(tmp), parameters=task.parameters,
                                               kernel_name=KERNEL_NAME, cwd=task.cwd, progress_bar=False,
                                               log_output=False, extra_arguments=list(KERNEL_ARGUMENTS))
            metrics = run_dir / "metrics.json"
            if not is_finished(run_dir):
                raise GridError(f"{task.template}: the notebook finished without writing {metrics} "
                                f"(does it call finish_run with out_dir?)")
            validate_record(read_json(metrics), source=str(metrics))
            if not in_process:
                os.replace(tmp, run_dir / "run.ipynb")
            seconds = time.perf_counter() - start
            write_manifest(run_dir, spec=task.spec, spec_hash=task.spec_hash, wall_seconds=seconds, made_by="grid")
            outcome = RunOutcome(str(run_dir), "ok", task.spec, seconds=seconds)
        except Exception as exc:  # noqa: BLE001 - failure isolation: every error is recorded, the grid goes on
            if getattr(exc, "ename", None) == "KeyboardInterrupt":  # Ctrl-C reached the kernel first
                raise KeyboardInterrupt from exc
            seconds = time.perf_counter() - start
            fields = _error_fields(exc)
            _publish_failure(task, fields, notebook=tmp, seconds=seconds)  # replaces what the run left there
            outcome = RunOutcome(str(run_dir), "failed", task.spec, seconds=seconds,
                                 error=f"{fields['error_type']}: {fields['message']}")
        restore_or_drop(aside, run_dir)
    except KeyboardInterrupt:
        _clean_up_interrupted(task, aside, tmp)
        raise GridInterrupted(f"interrupted while running {run_dir}", run_dir=str(run_dir)) from None
    finally:
        tmp.unlink(missing_ok=True)
    if return_files:
        outcome.files = _returned_files(run_dir)
    return outcome


def runs_in_process(task: RunTask) -> bool:
    """True when the task's method declares ``IN_PROCESS = True`` (the training-free baselines: a fit of a second
    or less, where starting a notebook kernel would cost ten times the run): the grid then calls the method's
    ``run()`` in its own process with the parameters the notebook would get, and writes the same run folder and
    manifest (no executed notebook). ``HASHBOOK_GRID_NOTEBOOKS=1`` runs every task through its notebook."""
    if os.environ.get("HASHBOOK_GRID_NOTEBOOKS", "").strip() in {"1", "true", "yes"}:
        return False
    from ..methods import METHODS, get_method

    method = task.spec.get("method")
    return method in METHODS and bool(getattr(get_method(method), "IN_PROCESS", False))


def _run_in_process(task: RunTask) -> None:
    """Call the task's method ``run()`` here with the notebook's parameters (a ``method`` parameter of a shared
    notebook, e.g. ``notebooks/baseline.ipynb``, names the method and is not passed on)."""
    from ..methods import get_method

    method = get_method(task.spec["method"])
    parameters = {k: v for k, v in task.parameters.items() if k != "method"}
    method.run(**parameters)


def _failure_record(task: RunTask, fields: Mapping[str, Any], seconds: float | None) -> dict:
    return {**fields, "spec": task.spec, "spec_hash": task.spec_hash, "profile": task.profile,
            "template": task.template, "parameters": task.parameters,
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "wall_seconds": None if seconds is None else round(seconds, 3)}


def _publish_failure(task: RunTask, fields: Mapping[str, Any], *, notebook: Path | None = None,
                     seconds: float | None = None) -> None:
    """Replace the run folder, as a whole, by one holding ``failed.json`` (and the executed notebook as
    ``failed.ipynb``): whatever the failed run left there (a record written before a later cell raised) goes."""
    run_dir = Path(task.run_dir)
    try:
        with staged_dir(run_dir) as staging:
            atomic_write_json(staging / "failed.json", _failure_record(task, fields, seconds))
            if notebook is not None and notebook.is_file():
                os.replace(notebook, staging / "failed.ipynb")
    except OSError as exc:  # e.g. a full disk: the outcome still says why the run failed
        print(f"could not write the failure record of {run_dir}: {exc}", file=sys.stderr)


@contextlib.contextmanager
def _signal_handled(signum: int, handler):
    """Handle ``signum`` with ``handler`` for the block, then restore the old handler (main thread only; a no-op
    elsewhere, where Python cannot set handlers)."""
    try:
        old = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, old)


def _sigint_ignored():
    """No second Ctrl-C while a stopped run is being cleaned up."""
    return _signal_handled(signal.SIGINT, signal.SIG_IGN)


def _stop_kernels() -> None:
    """Stop the notebook kernels this process started (papermill may be interrupted before it shuts them down)."""
    try:
        import psutil
    except ImportError:
        return
    kernels = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if any("ipykernel" in part for part in child.cmdline()):
                kernels.append(child)
    for kernel in kernels:
        with contextlib.suppress(psutil.Error):
            kernel.terminate()
    _, alive = psutil.wait_procs(kernels, timeout=5)
    for kernel in alive:
        with contextlib.suppress(psutil.Error):
            kernel.kill()
    psutil.wait_procs(alive, timeout=5)


def _clean_up_interrupted(task: RunTask, aside: Path | None, notebook: Path) -> None:
    """After Ctrl-C: stop the kernel, remove the run's temporary files and what it half wrote, put the old folder
    back. A run that finished before the interrupt (up to date) is kept."""
    run_dir = Path(task.run_dir)
    with _sigint_ignored():
        _stop_kernels()
        notebook.unlink(missing_ok=True)
        if run_dir.exists() and not is_up_to_date(task):  # made by this run (the old one is aside), unfinished
            shutil.rmtree(run_dir, ignore_errors=True) if run_dir.is_dir() else run_dir.unlink()
        restore_or_drop(aside, run_dir)
        remove_stale_siblings(run_dir)  # the stopped kernel's half-assembled folder


# ---------------------------------------------------------------------------------------------- many runs

def _import_ray():
    try:
        import ray
    except ImportError:
        raise GridError("ray_address was given but Ray is not installed: pip install 'hashbook[cluster]' "
                        "(or pip install ray) to hand runs to Ray, or leave ray_address unset") from None
    return ray


def _write_back(outcome: RunOutcome) -> None:
    """On the driver: write the records a (remote) Ray task sent back, where this file system lacks them."""
    run_dir = Path(outcome.run_dir)
    if outcome.status == "skipped" or not outcome.files:
        return
    marker = "metrics.json" if outcome.status == "ok" else "failed.json"
    if (run_dir / marker).is_file() and (run_dir / marker).read_text(encoding="utf-8") == outcome.files.get(marker):
        return  # same file system (local Ray): already there
    import base64

    from ..records.io import _atomic_write_bytes

    with staged_dir(run_dir) as staging:  # the folder appears complete, replacing what was there
        for name, text in outcome.files.items():
            if text.startswith(_BASE64) and name in _BINARY_RETURNED:
                _atomic_write_bytes(staging / name, base64.b64decode(text[len(_BASE64):]))
            else:
                atomic_write_text(staging / name, text)


def _run_with_ray(tasks, ray_address, force, bar, ray_options):
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        env = {k: os.environ[k] for k in ("HASHLIB_DATA", "HASHLIB_PROGRESS") if k in os.environ}
        init_kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "include_dashboard": False}
        if ray_address == "local":
            ray.init(**init_kwargs)
        else:
            ray.init(address=ray_address, **init_kwargs)
    try:
        remote = ray.remote(**({"num_cpus": 1} | dict(ray_options or {})))(_ray_task)
        pending = {remote.remote(asdict(task), force): task for task in tasks}
        outcomes = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    outcome = RunOutcome(**ray.get(ref))
                    _write_back(outcome)
                except Exception as exc:  # noqa: BLE001 - a task lost by Ray is a failed run, not a crash
                    outcome = _record_lost(task, exc)
                outcomes.append(outcome)
                _tick(bar, outcome)
        return outcomes
    finally:
        if started_here:
            ray.shutdown()


def _ray_task(task: dict, force: bool) -> dict:
    return asdict(execute_run(task, force=force, return_files=True))


def _record_lost(task: RunTask, exc: BaseException) -> RunOutcome:
    """A run whose worker died (process pool or Ray) is recorded as failed on the driver."""
    fields = _error_fields(exc)
    run_dir = Path(task.run_dir)
    _publish_failure(task, fields)
    remove_stale_siblings(run_dir)  # the dead worker's temporary notebook and set-aside folder
    return RunOutcome(str(run_dir), "failed", task.spec, error=f"{fields['error_type']}: {fields['message']}")


def _interrupt_pool(pool) -> None:
    """Cancel the runs not started yet and pass Ctrl-C on to the workers (each cleans up its own run)."""
    with _sigint_ignored():
        for future in list(getattr(pool, "_pending_work_items", {}).values()):
            future.future.cancel()
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGINT)
        with contextlib.suppress(Exception):  # a worker hit between runs dies: the pool is broken, that is fine
            pool.shutdown(wait=True, cancel_futures=True)


def _locked_and_interruptible(run):
    """Wrap :func:`run_grid`: hold the runs folder's lock (:mod:`.lock`; ``lock_timeout``), remove what killed
    grids left there, make SIGTERM act as Ctrl-C, and on either print how to resume before re-raising."""
    @functools.wraps(run)
    def wrapper(profile, specs=None, *, lock_timeout: float | None = None, **kwargs):
        from .lock import grid_lock

        runs_root = Path(kwargs.get("runs_root") or repo_root() / "runs")
        with grid_lock(runs_root, timeout=lock_timeout), _sigterm_as_interrupt():
            sweep_stale(runs_root / profile)
            try:
                return run(profile, specs, **kwargs)
            except KeyboardInterrupt as exc:
                cut = getattr(exc, "run_dir", None)
                kept = sum(1 for m in (runs_root / profile).rglob("metrics.json") if is_finished(m.parent)
                           and not any(part.startswith(".") for part in m.parent.relative_to(runs_root).parts))
                print(f"\ninterrupted: the grid of profile {profile!r} stopped"
                      + (f" after cleaning up the run in progress ({cut})" if cut else "")
                      + f"; {kept} finished run(s) under {runs_root / profile} are kept.\n"
                      f"To resume, run the same command again (e.g. `make book PROFILE={profile}` or "
                      f"`python -m hashlib_core.grid run --profile {profile}`): finished runs are up to date "
                      f"and do not run again.", file=sys.stderr, flush=True)
                if isinstance(exc, GridInterrupted):
                    raise
                raise GridInterrupted(str(exc), run_dir=cut) from None
    return wrapper


def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while the grid runs, so it cleans up like Ctrl-C."""
    return _signal_handled(signal.SIGTERM, signal.default_int_handler)


def _tick(bar, outcome: RunOutcome) -> None:
    """Advance the grid's one progress bar and print one line for the finished run above it."""
    bar.update(1)
    run = f"{Path(Path(outcome.run_dir).parent).name}/{Path(outcome.run_dir).name}"
    line = f"{outcome.status:>6}  {run}  {outcome.seconds:.1f} s"
    bar.write(line + (f"  ({outcome.error})" if outcome.error else ""))


# ---------------------------------------------------------------------------------------------- missing data

def missing_data(task: RunTask, data_root: str | os.PathLike | None = None) -> list[dict]:
    """The data files ``task`` needs that are absent under ``data_root`` (default: ``$HASHLIB_DATA``, else
    ``./data``), as :func:`hashlib_core.data.missing_files` reports them (``file``, ``how_to_get``...); ``[]``
    when all are present. Answers from the file system alone, without loading data or starting a kernel. An
    unknown dataset is not "missing": the run is attempted and fails with the data layer's own message."""
    from ..data import DatasetError, missing_files

    root = task.parameters.get("data_root", data_root)
    try:
        return missing_files(task.spec["dataset"], root=root)
    except DatasetError:
        return []


def record_missing(task: RunTask, missing: Sequence[Mapping]) -> RunOutcome:
    """Write ``missing.json`` (the spec and the absent files) into the run folder, replacing a stale failure record,
    and return the ``"missing"`` outcome. No kernel is started. A folder holding a finished run (of other settings:
    an up-to-date one never gets here) is left as it is: nothing finished is removed for want of data."""
    from ..records.run import is_finished

    run_dir = Path(task.run_dir)
    files = [dict(entry) for entry in missing]
    names = ", ".join(sorted({str(entry.get("file", "?")).split(":")[0] for entry in files}))
    outcome = RunOutcome(str(run_dir), "missing", task.spec, error=f"data missing: {names}")
    if is_finished(run_dir):
        return outcome
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale(run_dir)
    atomic_write_json(run_dir / "missing.json", {
        "spec": task.spec, "profile": task.profile, "missing": files,
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()})
    return outcome


@_locked_and_interruptible
def run_grid(profile: str, specs: Sequence[Mapping[str, Any]] | None = None, *,
             methods: Iterable[str] | None = None, runs_root: str | os.PathLike | None = None,
             notebooks_dir: str | os.PathLike | None = None, cwd: str | os.PathLike | None = None,
             jobs: int = 1, ray_address: str | None = None, ray_options: Mapping[str, Any] | None = None,
             force: bool = False, device: str | None = None, data_root: str | os.PathLike | None = None,
             kernel_env: Mapping[str, str] | None = None) -> list[RunOutcome]:
    """Run the grid of ``profile`` (``specs`` if given, else :func:`grid_specs` of ``methods``); return one
    :class:`RunOutcome` per run, in grid order. Up-to-date runs are skipped (no kernel is started for them).

    ``jobs``: notebooks at once in local processes (1 = in this process). ``ray_address``: ``"local"`` or a
    cluster address (see the module docstring); ``ray_options`` go to ``ray.remote`` (e.g. ``{"num_gpus": 1}``).
    ``kernel_env``: environment variables for the notebook kernels only (the runner's own progress bar and this
    process keep theirs). ``lock_timeout``: while another grid writes the same runs folder, wait for it (``None``)
    or raise :class:`GridBusy` after that many seconds. Ctrl-C / SIGTERM raise :class:`GridInterrupted` after
    the run in progress is cleaned up (module docstring).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GridError(f"jobs must be a positive integer, got {jobs!r}")
    specs = grid_specs(profile, methods) if specs is None else [_normalised(s) for s in specs]
    tasks = plan_runs(profile, specs, runs_root=runs_root, notebooks_dir=notebooks_dir, cwd=cwd, device=device,
                      data_root=data_root, kernel_env=kernel_env)
    outcomes: dict[str, RunOutcome] = {}
    todo = []
    for task in tasks:
        if not force and is_up_to_date(task):
            outcomes[task.run_dir] = RunOutcome(task.run_dir, "skipped", task.spec)
        elif missing := missing_data(task, data_root):
            outcomes[task.run_dir] = record_missing(task, missing)
        else:
            todo.append(task)
    from ..train.progress import progress  # here, not at import: importing records stays light in a kernel

    bar = progress(total=len(todo), desc=f"runs ({profile})", leave=True)
    try:
        if ray_address is not None and todo:  # nothing to run: no cluster to start
            for outcome in _run_with_ray(todo, ray_address, force, bar, ray_options):
                outcomes[outcome.run_dir] = outcome
        elif jobs == 1 or len(todo) <= 1:
            for task in todo:
                outcome = execute_run(task, force=force)
                outcomes[task.run_dir] = outcome
                _tick(bar, outcome)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {pool.submit(execute_run, asdict(task), force=force): task for task in todo}
                try:
                    for future in as_completed(futures):
                        task = futures[future]
                        try:
                            outcome = future.result()
                        except GridInterrupted:
                            raise
                        except Exception as exc:  # noqa: BLE001 - a crashed worker fails its run only
                            outcome = _record_lost(task, exc)
                        outcomes[task.run_dir] = outcome
                        _tick(bar, outcome)
                except KeyboardInterrupt:  # stop the workers' runs (they clean up) and start no new one
                    _interrupt_pool(pool)
                    raise
    finally:
        bar.close()
    return [outcomes[task.run_dir] for task in tasks]


def summarise(outcomes: Sequence[RunOutcome]) -> str:
    """One line per failed run plus counts, for the command line and ``make book``."""
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ok", "skipped", "failed", "missing")}
    lines = [f"{len(outcomes)} runs: {counts['ok']} ran, {counts['skipped']} up to date, {counts['failed']} failed, "
             f"{counts['missing']} not run (data missing)"]
    lines += [f"  FAILED {o.run_dir}: {o.error}" for o in outcomes if o.status == "failed"]
    return "\n".join(lines)
