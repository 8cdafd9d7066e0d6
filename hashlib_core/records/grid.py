"""The grid runner: execute each method's run notebook with papermill over its ``GRID[profile]``.

Every method module (``hashlib_core.methods.<m>``) defines ``GRID = {profile: [run spec, ...]}``, a spec being
``{"dataset", "bits", "seed", "params", "notebook" (default: the method), "label" (optional), "epochs"}``.
Each run executes ``notebooks/<notebook>.ipynb`` into ``runs/<profile>/<notebook>/<run id>/run.ipynb``
(run id ``<dataset>-<bits>b-s<seed>[-<label>]``) with the spec's ``dataset, bits, seed, epochs`` and ``params``
plus ``out_dir`` (absolute) and ``profile`` injected; the notebook's ``finish_run`` writes ``metrics.json`` and
friends there, then the runner adds ``manifest.json`` (:mod:`.manifest`).

- Skip: a run is up to date when its folder holds ``metrics.json`` and a ``manifest.json`` whose ``spec_hash``
  equals :func:`spec_hash` of the spec, i.e. the same method, notebook, dataset, bits, seed, epochs, label and
  params, the same profile, and the same bytes of the notebook template. Library code, data files and the
  device are *not* covered (they are recorded in the manifest); use ``force=True`` or delete the run folder to
  redo runs after changing them.
- Failure isolation: any exception (including a notebook cell that raises, or a notebook that ends without a
  valid ``metrics.json``) becomes ``failed.json`` (error type, message, traceback tail, the spec); the executed
  notebook is kept as ``failed.ipynb``; the other runs go on and the book shows the run as failed.
- Atomic: records are written with :mod:`.io`; papermill writes to a hidden temporary notebook renamed to
  ``run.ipynb`` at the end; stale records are removed (``metrics.json`` first) before a run starts, so a folder
  never shows an old result beside a new failure.
- ``jobs > 1`` runs several notebooks at once in local processes; ``ray_address`` hands each run to Ray as a
  task (``"local"``: ``ray.init()`` here; else ``ray.init(address=...)``), with the same records and skip logic.
  Ray is the optional extra ``pip install 'hashbook[cluster]'``. On a multi-machine cluster the run folders
  are written on the worker; the small JSON records and the executed notebook are sent back and written on the
  driver too (``codes.npz`` stays on the worker unless ``runs_root`` is on a shared file system).

Command line::

    python -m hashlib_core.records.grid run --profile smoke [--method dchn] [--jobs 2] [--ray local|auto|ADDRESS]
        [--ray-gpus 1] [--force] [--device cuda]
    python -m hashlib_core.records.grid list --profile smoke
    python -m hashlib_core.records.grid collect RUN_DIR... --into records/ [--label L] [--notebook N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .io import atomic_write_json, atomic_write_text, read_json
from .manifest import MAX_RECORD_BYTES, build_manifest, record_files, write_manifest
from .run import PROFILES, validate_record
from .runs import repo_root

SPEC_KEYS = ("dataset", "bits", "seed", "params", "notebook", "label", "epochs")
KERNEL_NAME = "python3"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: files removed before a run starts (``metrics.json`` first: it marks a finished run)
_STALE = ("metrics.json", "manifest.json", "failed.json", "run.ipynb", "failed.ipynb")
#: files a Ray task sends back to the driver besides the JSON records (see :func:`manifest.record_files`)
_RETURNED = ("manifest.json", "failed.json", "run.ipynb", "failed.ipynb")


class GridError(ValueError):
    """A grid, a run spec, or the grid runner's environment (e.g. Ray missing) is not usable."""


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
    """What happened to one run: ``status`` is ``"ok"``, ``"skipped"`` (up to date) or ``"failed"``."""

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
    if task.spec_hash is None or not (run_dir / "metrics.json").is_file():
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


def _returned_files(run_dir: Path) -> dict:
    names = [*record_files(run_dir), *(n for n in _RETURNED if (run_dir / n).is_file())]
    return {name: (run_dir / name).read_text(encoding="utf-8") for name in names
            if (run_dir / name).stat().st_size <= MAX_RECORD_BYTES}


def execute_run(task: RunTask | Mapping[str, Any], *, force: bool = False, return_files: bool = False) -> RunOutcome:
    """Run one task (skip when up to date unless ``force``) and return its :class:`RunOutcome`; never raises for
    a failing notebook (that becomes ``failed.json``). Picklable: process pools and Ray call it as is."""
    if not isinstance(task, RunTask):
        task = RunTask(**task)
    run_dir = Path(task.run_dir)
    if not force and is_up_to_date(task):
        return RunOutcome(str(run_dir), "skipped", task.spec)
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale(run_dir)
    tmp = run_dir / f".run.{os.getpid()}.tmp.ipynb"
    start = time.perf_counter()
    try:
        if task.plan_error:
            raise GridError(task.plan_error)
        import papermill

        with environ(task.env):
            papermill.execute_notebook(task.template, str(tmp), parameters=task.parameters,
                                       kernel_name=KERNEL_NAME, cwd=task.cwd, progress_bar=False, log_output=False)
        metrics = run_dir / "metrics.json"
        if not metrics.is_file():
            raise GridError(f"{task.template}: the notebook finished without writing {metrics} "
                            f"(does it call finish_run with out_dir?)")
        validate_record(read_json(metrics), source=str(metrics))
        os.replace(tmp, run_dir / "run.ipynb")
        seconds = time.perf_counter() - start
        write_manifest(run_dir, spec=task.spec, spec_hash=task.spec_hash, wall_seconds=seconds, made_by="grid")
        outcome = RunOutcome(str(run_dir), "ok", task.spec, seconds=seconds)
    except Exception as exc:  # noqa: BLE001 - failure isolation: every error is recorded, the grid goes on
        seconds = time.perf_counter() - start
        (run_dir / "metrics.json").unlink(missing_ok=True)  # a run that raised after finish_run is not "ok"
        if tmp.is_file():
            os.replace(tmp, run_dir / "failed.ipynb")
        fields = _error_fields(exc)
        atomic_write_json(run_dir / "failed.json", {
            **fields, "spec": task.spec, "spec_hash": task.spec_hash, "profile": task.profile,
            "template": task.template, "parameters": task.parameters,
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "wall_seconds": round(seconds, 3),
        })
        outcome = RunOutcome(str(run_dir), "failed", task.spec, seconds=seconds,
                             error=f"{fields['error_type']}: {fields['message']}")
    if return_files:
        outcome.files = _returned_files(run_dir)
    return outcome


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
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale(run_dir)
    for name in [n for n in outcome.files if n != "metrics.json"] + ["metrics.json"]:
        if name in outcome.files:
            atomic_write_text(run_dir / name, outcome.files[name])


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
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").unlink(missing_ok=True)
    atomic_write_json(run_dir / "failed.json", {
        **fields, "spec": task.spec, "spec_hash": task.spec_hash, "profile": task.profile,
        "template": task.template, "parameters": task.parameters,
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(), "wall_seconds": None})
    return RunOutcome(str(run_dir), "failed", task.spec, error=f"{fields['error_type']}: {fields['message']}")


def _tick(bar, outcome: RunOutcome) -> None:
    bar.update(1)
    bar.set_postfix_str(f"{Path(outcome.run_dir).name}: {outcome.status}", refresh=False)


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
    process keep theirs).
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
                for future in as_completed(futures):
                    task = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # noqa: BLE001 - a crashed worker fails its run only
                        outcome = _record_lost(task, exc)
                    outcomes[task.run_dir] = outcome
                    _tick(bar, outcome)
    finally:
        bar.close()
    return [outcomes[task.run_dir] for task in tasks]


def summarise(outcomes: Sequence[RunOutcome]) -> str:
    """One line per failed run plus counts, for the command line and ``make book``."""
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ok", "skipped", "failed")}
    lines = [f"{len(outcomes)} runs: {counts['ok']} ran, {counts['skipped']} up to date, {counts['failed']} failed"]
    lines += [f"  FAILED {o.run_dir}: {o.error}" for o in outcomes if o.status == "failed"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- committed records

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
        if dest.exists():
            (dest / "metrics.json").unlink(missing_ok=True)
            for stale in dest.iterdir():
                if stale.is_file() and stale.name not in files:
                    stale.unlink()
        for name in sorted(files, key=lambda n: n == "metrics.json"):  # metrics.json last
            atomic_write_text(dest / name, files[name])
        written.append(dest)
    return written


# ---------------------------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashlib_core.records.grid", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or skip when up to date) the grid of a profile")
    lst = sub.add_parser("list", help="list the planned runs of a profile and whether each is up to date")
    for p in (run, lst):
        p.add_argument("--profile", default="default", choices=list(PROFILES))
        p.add_argument("--method", action="append", default=None, help="only this method (repeatable)")
        p.add_argument("--runs-root", default=None, help="default: <repo>/runs")
    run.add_argument("--jobs", type=int, default=1)
    run.add_argument("--ray", default=None, metavar="ADDRESS", help="'local' or a Ray cluster address")
    run.add_argument("--ray-gpus", type=float, default=None, help="GPUs each Ray task reserves (e.g. 1)")
    run.add_argument("--force", action="store_true", help="re-run up-to-date runs too")
    run.add_argument("--device", default=None, help="inject device=... into every notebook (default: 'auto')")
    collect = sub.add_parser("collect", help="copy finished runs' JSON records into records/ (to commit them)")
    collect.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    collect.add_argument("--into", default=str(repo_root() / "records"))
    collect.add_argument("--notebook", default=None)
    collect.add_argument("--label", default=None)
    collect.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "collect":
        for dest in commit_records(args.run_dirs, args.into, notebook=args.notebook, label=args.label,
                                   overwrite=args.overwrite):
            print(f"committed record {dest}")
        return 0
    specs = grid_specs(args.profile, args.method)
    if args.command == "list":
        for task in plan_runs(args.profile, specs, runs_root=args.runs_root):
            state = "up to date" if is_up_to_date(task) else (task.plan_error or "to run")
            print(f"{task.run_dir}  [{state}]")
        return 0
    ray_options = {"num_gpus": args.ray_gpus} if args.ray_gpus else None
    outcomes = run_grid(args.profile, specs, runs_root=args.runs_root, jobs=args.jobs, ray_address=args.ray,
                        ray_options=ray_options, force=args.force, device=args.device)
    print(summarise(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
