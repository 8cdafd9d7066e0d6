"""Fault injection (issue 17): inject every fault a user of a long grid meets and check that nothing finished is lost.

Prints one line per fault and then ``N faults injected, N survived, 0 finished runs lost``. Faults (each on fresh
folders under a temporary work folder):

- overwrite: a run into a folder holding a finished run with other settings is refused before any work, naming
  the folder and each differing setting; the same settings replace it (and say so); ``force`` replaces atomically.
- foreign / unwritable out_dir: a folder that is not a run folder is never replaced; a path that cannot be
  written is refused before training, naming it.
- disk full: ``OSError(ENOSPC)`` at every file write of a run folder in turn: a clear error naming the folder, no
  partial folder, an older run in the folder untouched.
- SIGKILL while a run folder is written: the older run is untouched and nothing half-written is read.
- corrupt or foreign records (invalid JSON, not an object, missing keys, wrong kinds, missing / truncated
  ``codes.npz``, codes shaped unlike the record, a broken ``curves.json``): listed as unreadable with file and
  problem, the other runs' numbers unchanged.
- grid killed (SIGKILL of its process group) right after a run was published, and in the middle of a run: on
  resume the finished runs are up to date and not re-run, the cut-off run runs again, no half folder is read.
- grid interrupted (SIGINT to the grid process only): the run in progress is stopped (its kernel too), its
  temporary files removed, the old folder put back, and the grid says how to resume.
- lock: a second grid on the same runs folder refuses (naming the holder's pid) or waits; a dead holder's lock is
  taken over.
- diverging training: a huge learning rate on the smoke profile stops the run naming method, epoch and loss term,
  writes no run folder, and leaves a finished run it was to replace untouched.
- ``--full`` adds the real thing: ``make book PROFILE=smoke`` in a copy of the checkout, SIGKILLed mid-grid (its
  whole process group), a corrupt record added, built again: the runs finished before the kill are up to date,
  the book builds.

Usage::

    python benchmarks/fault_injection.py [--fast] [--full] [--keep DIR]

``--fast`` leaves out the faults that start notebook kernels (what ``tests/test_faults_grid.py`` runs besides its
own grid checks); the default runs everything but the real book build; ``--full`` adds it (minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hashlib_core.records import io as rio  # noqa: E402
from hashlib_core.records.io import read_json, sha256_array  # noqa: E402
from hashlib_core.records.run import (RunFolderError, claim_out_dir, finish_run, is_finished,  # noqa: E402
                                      run_identity)
from hashlib_core.records.runs import load_runs  # noqa: E402


# ---------------------------------------------------------------------------------------------- helpers

class Tiny:
    """A duck-typed dataset: 6 items, 2 classes, 3 queries, 3 retrieval items."""

    name = "tiny"
    labels = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.uint8)
    splits = {"query": np.array([0, 1, 2]), "train": np.array([3, 4, 5]), "retrieval": np.array([3, 4, 5])}

    def split_record(self):
        return {"protocol": "test", "seed": 0, "sizes": {k: len(v) for k, v in self.splits.items()},
                "sha256": {k: sha256_array(v) for k, v in self.splits.items()}}

    def file_hashes(self):
        return {"tiny.mat": "0" * 64}


CODES = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [1, 1, -1, -1]])


def tiny_run(out_dir, *, seed=0, bits=4, sign=1, claim=True, force=False, params=None):
    """A finished toy run written the way every method writes one (claim, then finish_run)."""
    if claim:
        claim_out_dir(out_dir, run_identity("toy", dataset="tiny", bits=bits, seed=seed, epochs=None,
                                            profile="smoke", params=params or {"alpha": 0.02}), force=force)
    codes = np.tile(CODES, (1, bits // 4)) * sign
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        return finish_run(out_dir=out_dir, method="toy", dataset=Tiny(), bits=bits, seed=seed, profile="smoke",
                          epochs=1, train_seconds=0.1, device="cpu", query_codes={"image": codes, "text": -codes},
                          retrieval_codes={"image": codes, "text": -codes}, protocol="dchn", topk=None,
                          settings={"alpha": 0.02}, history=[{"epoch": 1, "loss": 1.0}])


def snapshot(folder) -> dict:
    """name -> bytes of every file of a folder (what "untouched" is checked against)."""
    folder = Path(folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def lost(before: dict[str, dict]) -> int:
    """How many of the finished runs ``{folder: snapshot}`` are no longer there byte for byte."""
    return sum(1 for folder, files in before.items() if snapshot(folder) != files)


def debris(root) -> list[str]:
    """Hidden leftovers of writers below ``root`` (staging folders, set-aside folders, temporary notebooks)."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob(".*")
                  if any(k in p.name for k in (".staging-", ".replaced-", ".tmp-")))


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def wait_for(path: Path, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {path}")


# ---------------------------------------------------------------------------------------------- run-folder faults

def fault_overwrite(work: Path):
    out = work / "run"
    tiny_run(out)
    before = {out: snapshot(out)}
    try:
        tiny_run(out, seed=1, params={"alpha": 0.1})
    except RunFolderError as exc:
        message = str(exc)
    else:
        raise AssertionError("a run with other settings replaced a finished run")
    expect(str(out) in message and "seed: 0 there, 1 here" in message and "alpha: 0.02 there, 0.1 here" in message,
           f"refusal does not name folder and settings: {message}")
    lost_runs = lost(before)
    result = tiny_run(out, sign=-1)
    expect(result.replaced == "same settings", "same settings did not say it replaced the run")
    forced = tiny_run(out, seed=3, force=True)
    expect(forced.replaced.startswith("force=True") and read_json(out / "metrics.json")["seed"] == 3,
           "force did not replace")
    expect(not debris(work), f"debris left: {debris(work)}")
    return lost_runs, "refused naming folder + settings; same settings replaced (said so); force replaced"


def fault_foreign_and_unwritable(work: Path):
    mine = work / "mine"
    (mine / "src").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    for force in (False, True):
        try:
            tiny_run(mine, force=force)
        except RunFolderError as exc:
            expect("is not a run folder" in str(exc), str(exc))
        else:
            raise AssertionError("a folder that is not a run folder was replaced")
    expect((mine / "notes.txt").read_text() == "keep me", "foreign folder changed")
    (work / "a-file").write_text("x")
    places = [work / "a-file" / "run"] + ([Path("/sys/hashbook-fault/run")] if Path("/sys").is_dir() else [])
    for place in places:
        try:
            tiny_run(place)
        except RunFolderError as exc:
            expect(str(place) in str(exc) and "cannot be written" in str(exc), str(exc))
        else:
            raise AssertionError(f"{place} was written")
    return 0, f"foreign folder kept; {len(places)} unwritable places refused before any work"


def fault_disk_full(work: Path):
    out = work / "run"
    tiny_run(out)
    before = {out: snapshot(out)}
    real = rio._write_and_sync
    failures = 0
    for after in range(1, 7):  # a run folder is 6 files (7 with a grid's manifest): ENOSPC at each in turn
        calls = {"n": 0}

        def full(handle, data, after=after):
            calls["n"] += 1
            if calls["n"] >= after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            handle.write(data)

        rio._write_and_sync = full
        try:
            tiny_run(out, sign=-1)
        except RunFolderError as exc:
            expect(str(out) in str(exc) and "No space left" in str(exc), str(exc))
            failures += 1
        finally:
            rio._write_and_sync = real
        expect(not debris(work), f"partial folder left: {debris(work)}")
        fresh = work / f"fresh-{after}"
        rio._write_and_sync = full
        calls["n"] = 0
        try:
            tiny_run(fresh)
        except RunFolderError:
            expect(not fresh.exists(), f"partial run folder {fresh}")
        finally:
            rio._write_and_sync = real
    expect(failures == 6, f"only {failures} of 6 full disks were reported")
    return lost(before), f"ENOSPC at each of the 6 writes: {failures} clear errors, no partial folder"


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
    from hashlib_core.records import io as rio
    import fault_injection as f

    def slow(handle, data):
        handle.write(data)
        print("writing", flush=True)
        time.sleep(60)

    rio._write_and_sync = slow
    f.tiny_run(f.Path({out!r}), sign=-1)
""")


def fault_sigkill_writer(work: Path):
    out = work / "run"
    tiny_run(out)
    before = {out: snapshot(out)}
    script = _KILLED_WRITER.format(repo=str(REPO), bench=str(REPO / "benchmarks"), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        expect(proc.stdout.readline().strip() == "writing", "the writer did not start")
    finally:
        proc.kill()
        proc.wait()
    frame = load_runs(roots={"fresh": work})
    expect(set(frame["status"]) == {"ok"} and set(frame["run_dir"]) == {str(out)}, "a half folder was read")
    lost_runs = lost(before)
    tiny_run(out, sign=-1)
    expect(not debris(work), f"debris not removed by the next run: {debris(work)}")
    return lost_runs, "older run untouched, half folder hidden and removed by the next run"


CORRUPTIONS = ("invalid json", "not an object", "missing keys", "wrong kind", "codes missing", "codes truncated",
               "codes bits", "codes rows", "codes view", "curves json")


def _corrupt(run_dir: Path, how: str) -> str:
    metrics = run_dir / "metrics.json"
    record = read_json(metrics)
    codes = run_dir / "codes.npz"
    if how == "invalid json":
        metrics.write_text(metrics.read_text()[:40])
        return "not valid JSON"
    if how == "not an object":
        metrics.write_text("[]")
        return "a record is a JSON object"
    if how == "missing keys":
        metrics.write_text(json.dumps({k: v for k, v in record.items() if k != "map"}))
        return "missing keys ['map']"
    if how == "wrong kind":
        metrics.write_text(json.dumps({**record, "seed": -1}))
        return "'seed' must be an integer"
    if how == "codes missing":
        codes.unlink()
        return "codes.npz: missing"
    if how == "codes truncated":
        codes.write_bytes(codes.read_bytes()[:100])
        return "not a readable .npz file"
    if how == "codes bits":
        metrics.write_text(json.dumps({**record, "bits": 16, "codes": {}}))
        return "the record has 16 bits"
    if how == "codes rows":
        np.savez(codes, **{**dict(np.load(codes)), "image_query": np.ones((5, 4), np.int8)})
        return "'image_query' has shape (5, 4)"
    if how == "codes view":
        np.savez(codes, **{k: v for k, v in np.load(codes).items() if k != "text_retrieval"})
        return "array 'text_retrieval' missing"
    (run_dir / "curves.json").write_text("{")
    return "curves.json: not valid JSON"


def fault_corrupt_records(work: Path):
    root = work / "runs"
    good = [root / "smoke" / "toy" / f"tiny-4b-s{s}" for s in (0, 1)]
    for seed, folder in enumerate(good):
        tiny_run(folder, seed=seed)
    before = {folder: snapshot(folder) for folder in good}
    reference = load_runs(roots={"fresh": root})
    for index, how in enumerate(CORRUPTIONS):
        bad = root / "smoke" / "toy" / f"tiny-4b-s{10 + index}"
        tiny_run(bad, seed=10 + index)
        _corrupt(bad, how)
    frame = load_runs(roots={"fresh": root})
    keys = ["run_id", "evaluation", "direction", "map", "status"]
    ok = frame[frame["run_dir"].isin([str(g) for g in good])]
    expect(ok[keys].values.tolist() == reference[keys].values.tolist(), "good runs' numbers changed")
    for index, how in enumerate(CORRUPTIONS):
        bad = root / "smoke" / "toy" / f"tiny-4b-s{10 + index}"
        rows = frame[frame["run_dir"] == str(bad)]
        expected = {"invalid json": "not valid JSON", "not an object": "a record is a JSON object",
                    "missing keys": "missing keys ['map']", "wrong kind": "'seed' must be an integer",
                    "codes missing": "codes.npz: missing", "codes truncated": "not a readable .npz file",
                    "codes bits": "the record has 16 bits", "codes rows": "'image_query' has shape (5, 4)",
                    "codes view": "array 'text_retrieval' missing", "curves json": "curves.json: not valid JSON"}[how]
        expect(len(rows) == 1 and rows["status"].iloc[0] == "failed", f"{how}: not listed as one failed row")
        error = rows["error"].iloc[0]
        expect(error.startswith("unreadable record:") and str(bad) in error and expected in error,
               f"{how}: error does not name file and problem: {error}")
    return lost(before), f"{len(CORRUPTIONS)} kinds listed unreadable (file + problem), other numbers unchanged"


def fault_diverging(work: Path):
    from hashlib_core.methods import dchn
    from hashlib_core.train import TrainingDiverged

    views = ["fou", "kar"]
    fresh = work / "diverged"
    try:
        dchn.run(dataset="mfeat", bits=16, profile="smoke", views=views, out_dir=fresh, lr=1e30)
    except TrainingDiverged as exc:
        message = str(exc)
    else:
        raise AssertionError("a huge learning rate did not stop the run")
    expect("dchn" in message and "epoch" in message and "term" in message, message)
    expect(not fresh.exists() and not debris(work), "a diverged run left a folder")
    out = work / "finished"
    tiny_run(out)
    before = {out: snapshot(out)}
    try:
        dchn.run(dataset="mfeat", bits=16, profile="smoke", views=views, out_dir=out, lr=1e30, force=True)
    except TrainingDiverged:
        pass
    return lost(before), f"stopped: {message.split(';')[0]}"


# ---------------------------------------------------------------------------------------------- grid faults

TOY_PARAMETERS = """dataset = "tiny"
bits = 4
seed = 0
epochs = None
out_dir = None
profile = "smoke"
"""
TOY_BODY = """import os, sys, time, pathlib
sys.path.insert(0, os.environ["FAULT_BENCH"])
import fault_injection as f
marks = pathlib.Path(os.environ["FAULT_MARKS"])
(marks / f"{seed}-started").write_text(str(os.getpid()))
if os.environ.get("FAULT_SLEEP") == f"{seed}-before":
    (marks / f"{seed}-sleeping").write_text(str(os.getpid()))
    time.sleep(300)
f.tiny_run(out_dir, seed=seed, params={})
if os.environ.get("FAULT_SLEEP") == f"{seed}-after":
    (marks / f"{seed}-sleeping").write_text(str(os.getpid()))
    time.sleep(300)
"""
_GRID_DRIVER = textwrap.dedent("""
    import json, sys
    from hashlib_core.grid import GridInterrupted, run_grid, summarise
    work, seeds = sys.argv[1], json.loads(sys.argv[2])
    specs = [{"method": "toy", "dataset": "tiny", "bits": 4, "seed": s} for s in seeds]
    try:
        outcomes = run_grid("smoke", specs, runs_root=work + "/runs", notebooks_dir=work + "/notebooks", cwd=work,
                            kernel_env={"HASHLIB_PROGRESS": "0"})
    except GridInterrupted:
        sys.exit(130)
    print(summarise(outcomes), flush=True)
""")


def _toy_workspace(work: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(TOY_PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# toy run"), params, nbformat.v4.new_code_cell(TOY_BODY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (work / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, work / "notebooks" / "toy.ipynb")
    (work / "marks").mkdir(exist_ok=True)
    return work


def _grid(work: Path, seeds, sleep: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "FAULT_BENCH": str(REPO / "benchmarks"), "FAULT_MARKS": str(work / "marks"),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "HASHLIB_PROGRESS": "0"}
    env.pop("FAULT_SLEEP", None)
    if sleep:
        env["FAULT_SLEEP"] = sleep
    return subprocess.Popen([sys.executable, "-c", _GRID_DRIVER, str(work), json.dumps(list(seeds))], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _run_dir(work: Path, seed: int) -> Path:
    return work / "runs" / "smoke" / "toy" / f"tiny-4b-s{seed}"


def _finished(work: Path, seeds) -> dict:
    return {_run_dir(work, s): snapshot(_run_dir(work, s)) for s in seeds if is_finished(_run_dir(work, s))}


def _summary(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def fault_grid_killed(work: Path):
    _toy_workspace(work)
    # 1. killed after run 1 was published, before its notebook ended
    proc = _grid(work, [0, 1], sleep="1-after")
    wait_for(work / "marks" / "1-sleeping")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    expect(is_finished(_run_dir(work, 0)) and is_finished(_run_dir(work, 1)), "published runs are not finished")
    before = _finished(work, [0, 1])
    # 2. killed in the middle of run 2 (before it wrote anything)
    proc = _grid(work, [0, 1, 2], sleep="2-before")
    wait_for(work / "marks" / "2-sleeping")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    expect(not _run_dir(work, 2).exists(), "the cut-off run left a visible folder")
    expect(len(load_runs(roots={"fresh": work / "runs"})) == 4, "loaders read something besides the 2 runs")
    # 3. resume
    for mark in (work / "marks").iterdir():
        mark.unlink()
    code, out, err = _summary(_grid(work, [0, 1, 2]))
    expect(code == 0 and "3 runs: 1 ran, 2 up to date, 0 failed" in out, f"resume: {out} {err[-2000:]}")
    started = sorted(m.name for m in (work / "marks").iterdir())
    expect(started == ["2-started"] and is_finished(_run_dir(work, 2)), f"resume ran {started}")
    expect(not debris(work / "runs"), f"debris after resume: {debris(work / 'runs')}")
    return lost(before), "killed after a publish and mid-run: resume = 1 ran, 2 up to date"


def fault_grid_interrupted(work: Path, *, group: bool = False):
    import psutil

    _toy_workspace(work)
    old = _run_dir(work, 0)
    rio.atomic_write_json(old / "failed.json", {"error_type": "RuntimeError", "message": "an earlier failure"})
    code, out, err = _summary(_grid(work, [1]))
    before = _finished(work, [1])
    proc = _grid(work, [0, 1], sleep="0-before")
    kernel_pid = int(wait_for(work / "marks" / "0-sleeping"))
    if group:  # Ctrl-C in a terminal: the grid and its kernel both get SIGINT
        os.killpg(proc.pid, signal.SIGINT)
    else:  # the grid process only: it must stop the kernel itself
        os.kill(proc.pid, signal.SIGINT)
    code, out, err = _summary(proc, timeout=120)
    expect(code == 130, f"exit code {code}: {err[-2000:]}")
    expect("To resume, run the same command again" in err and "interrupted" in err, f"no resume hint: {err}")
    expect(not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == psutil.STATUS_ZOMBIE,
           "the run's kernel is still running")
    expect(not debris(work / "runs"), f"temporary files left: {debris(work / 'runs')}")
    expect(read_json(old / "failed.json")["message"] == "an earlier failure", "the old folder was not put back")
    code, out, err = _summary(_grid(work, [0, 1]))
    expect(code == 0 and "2 runs: 1 ran, 1 up to date" in out, f"resume after Ctrl-C: {out} {err[-2000:]}")
    return lost(before), (f"SIGINT to the {'process group' if group else 'grid process'}: kernel stopped, temp "
                          f"files removed, old folder back, resume hint printed")


def fault_grid_ctrl_c(work: Path):
    return fault_grid_interrupted(work, group=True)


_LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    from hashlib_core.grid.lock import grid_lock
    with grid_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def fault_second_grid(work: Path):
    from hashlib_core.grid import GridBusy, run_grid
    from hashlib_core.grid.lock import lock_path

    runs = work / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    holder = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, str(runs), "4"], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        expect(holder.stdout.readline().strip() == "held", "the first grid did not take the lock")
        try:
            run_grid("smoke", [], runs_root=runs, lock_timeout=0)
        except GridBusy as exc:
            expect(f"pid {holder.pid}" in str(exc) and str(runs) in str(exc), f"refusal does not name holder: {exc}")
        else:
            raise AssertionError("a second grid ran beside the first")
        start = time.monotonic()
        with contextlib.redirect_stderr(open(os.devnull, "w")):
            run_grid("smoke", [], runs_root=runs)  # waits for the first
        waited = time.monotonic() - start
        expect(waited > 2.0, f"did not wait for the first grid (waited {waited:.1f} s of its 4 s)")
    finally:
        holder.kill()
        holder.wait()
    lock_path(runs).write_text(json.dumps({"pid": dead_pid(), "host": os.uname().nodename}))
    run_grid("smoke", [], runs_root=runs, lock_timeout=0)  # a dead grid's lock is taken over
    return 0, f"second grid refused naming pid, waited {waited:.1f} s when asked to, stale lock taken over"


# ---------------------------------------------------------------------------------------------- the real book

def fault_real_book(work: Path):
    """``make book PROFILE=smoke`` in a copy of the checkout, SIGKILLed mid-grid, a corrupt record added, rebuilt."""
    copy = work / "checkout"
    shutil.copytree(REPO, copy, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", "runs", "_build", ".git", ".cache", "__pycache__", ".pytest_cache", "*.egg-info"))
    venv = REPO / ".venv"
    data = os.environ.get("HASHLIB_DATA") or str(REPO.parent / "shared" / "data")
    env = {**os.environ, "PYTHONPATH": str(copy), "HASHLIB_PROGRESS": "0", "HASHLIB_DATA": data}
    # the shared environment is used as it is (-o: never reinstall it from the copy's requirements)
    command = ["make", "book", "PROFILE=smoke", f"VENV={venv}", f"BOOK_OUT={copy / '_build'}",
               "-o", str(venv / ".hashbook-installed")]
    runs = copy / "runs" / "smoke"
    log = work / "first-build.log"
    with open(log, "w") as stderr:  # a file, not a pipe: a full pipe would stall the build
        proc = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)
    deadline = time.monotonic() + 1800
    in_progress: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):  # files come and go while the grid runs
            done = [m.parent for m in runs.rglob("manifest.json") if is_finished(m.parent)] if runs.is_dir() else []
            in_progress = debris(runs) if runs.is_dir() else []
            if len(done) >= 2 and in_progress:  # two finished and one in progress: kill the whole process group
                os.killpg(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.2)
    proc.wait()
    expect(in_progress, f"make book ended before it could be killed mid-grid: {log.read_text()[-3000:]}")
    finished = sorted(p.parent for p in runs.rglob("metrics.json") if is_finished(p.parent))
    before = {folder: snapshot(folder) for folder in finished}
    cut = debris(runs)
    # a corrupt record beside them: the book must still build and list it as unreadable
    corrupt = finished[0].parent / (finished[0].name + "-corrupt")
    shutil.copytree(finished[0], corrupt)
    (corrupt / "metrics.json").write_text("{ truncated")
    started = time.monotonic()
    rebuilt = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - started
    summary = [line for line in rebuilt.stderr.splitlines() if " runs: " in line]
    expect(rebuilt.returncode == 0, f"the book did not build: {rebuilt.stderr[-4000:]}")
    expect((copy / "_build" / "html" / "index.html").is_file(), "no HTML")
    expect(summary and f"{len(finished)} up to date" in summary[-1], f"finished runs re-ran: {summary}")
    expect(not debris(runs), f"debris after the rebuild: {debris(runs)}")
    frame = load_runs(roots={"fresh": copy / "runs"})
    expect((frame[frame["run_dir"] == str(corrupt)]["status"] == "failed").all(), "corrupt record not unreadable")
    ran = summary[-1].split(": ", 1)[1].split(" ran")[0]
    expect(int(ran) >= 1, f"the cut-off run did not run again: {summary[-1]}")
    return lost(before), (f"killed with {len(finished)} finished and {len(cut)} in progress ({', '.join(cut)}); "
                          f"rebuilt in {seconds:.0f} s: {summary[-1].strip()}, the book built")


FAST = [fault_overwrite, fault_foreign_and_unwritable, fault_disk_full, fault_sigkill_writer, fault_corrupt_records,
        fault_second_grid]
KERNELS = [fault_grid_killed, fault_grid_interrupted, fault_grid_ctrl_c, fault_diverging]
FULL = [fault_real_book]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="leave out the faults that start notebook kernels")
    parser.add_argument("--full", action="store_true", help="add the real `make book PROFILE=smoke` kill/resume")
    parser.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    faults = FAST + ([] if args.fast else KERNELS) + (FULL if args.full else [])
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hashbook-faults-"))
    injected = survived = lost_total = 0
    try:
        for fault in faults:
            work = base / fault.__name__
            work.mkdir(parents=True, exist_ok=True)
            injected += 1
            started = time.monotonic()
            try:
                lost_runs, note = fault(work)
            except Exception as exc:  # noqa: BLE001 - a fault that was not survived is reported, the rest go on
                lost_runs, note = 0, f"NOT SURVIVED: {type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
            else:
                survived += lost_runs == 0
            lost_total += lost_runs
            print(f"{fault.__name__[6:]:<24} {time.monotonic() - started:6.1f} s  {note}"
                  + (f"  ({lost_runs} finished runs lost)" if lost_runs else ""), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"{injected} faults injected, {survived} survived, {lost_total} finished runs lost", flush=True)
    return 0 if survived == injected and lost_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
