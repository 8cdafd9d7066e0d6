"""Faults of the grid (issue 17): a killed grid resumes without re-running finished runs, Ctrl-C cleans up and says
how to resume, one grid per runs folder, debris of dead grids is removed; and the fault-injection script's fast
subset (benchmarks/fault_injection.py) survives every fault it injects."""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashlib_core.grid import GridBusy, GridError, run_grid
from hashlib_core.grid.lock import grid_lock, lock_path, read_holder
from hashlib_core.records.run import is_finished

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("fault_injection", REPO / "benchmarks" / "fault_injection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_fault_script_fast_subset_survives_everything(capsys):
    assert _script().main(["--fast"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "6 faults injected, 6 survived, 0 finished runs lost", lines


@pytest.mark.slow
def test_sigkilled_grid_resumes_without_rerunning_finished_runs(tmp_path):
    lost, note = _script().fault_grid_killed(tmp_path)
    assert lost == 0, note


@pytest.mark.slow
def test_sigint_stops_the_kernel_cleans_up_and_says_how_to_resume(tmp_path):
    lost, note = _script().fault_grid_interrupted(tmp_path)
    assert lost == 0, note


def test_lock_names_its_holder_is_reentrant_and_refuses_a_second_holder(tmp_path):
    runs = tmp_path / "runs"
    with grid_lock(runs) as path:
        holder = read_holder(path)
        assert holder["pid"] == os.getpid() and path == lock_path(runs).resolve()
        with grid_lock(runs):  # the same process may take it again (a book build calling the grid)
            pass
        probe = subprocess.run([sys.executable, "-c", (
            "import sys\nfrom hashlib_core.grid.lock import grid_lock\n"
            "try:\n    grid_lock(sys.argv[1], timeout=0).__enter__()\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n"), str(runs)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert probe.stdout.startswith("GridBusy") and f"pid {os.getpid()}" in probe.stdout, probe.stderr
    assert read_holder(path) == {}  # released: empty
    assert issubclass(GridBusy, GridError) and issubclass(GridBusy, ValueError)


def test_stale_lock_of_a_dead_grid_is_taken_over(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    lock_path(runs).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename}))
    assert run_grid("smoke", [], runs_root=runs, lock_timeout=0) == []


def test_grid_start_removes_debris_of_dead_grids_and_puts_set_aside_runs_back(tmp_path):
    script = _script()
    folder = tmp_path / "runs" / "smoke" / "toy"
    script.tiny_run(folder / "tiny-4b-s0")
    pid = _dead_pid()
    os.rename(folder / "tiny-4b-s0", folder / f".tiny-4b-s0.replaced-{pid}-0000")   # died mid-run: put back
    script.tiny_run(folder / "tiny-4b-s1")
    (folder / f".tiny-4b-s1.replaced-{pid}-1111").mkdir()                             # died after: dropped
    (folder / f".tiny-4b-s2.staging-{pid}-2222").mkdir()                              # died while publishing
    (folder / f".tiny-4b-s2.tmp-{pid}-3333.ipynb").write_text("{}")                    # its notebook
    (folder / f".tiny-4b-s3.tmp-{os.getpid()}-4444.ipynb").write_text("{}")            # a live process's: kept
    with contextlib.redirect_stderr(io.StringIO()):
        run_grid("smoke", [], runs_root=tmp_path / "runs", lock_timeout=0)
    assert is_finished(folder / "tiny-4b-s0") and is_finished(folder / "tiny-4b-s1")
    assert sorted(p.name for p in folder.iterdir()) == [f".tiny-4b-s3.tmp-{os.getpid()}-4444.ipynb",
                                                        "tiny-4b-s0", "tiny-4b-s1"]


def test_grid_command_line_refuses_a_busy_runs_folder(tmp_path, capsys):
    from hashlib_core.grid.cli import main

    runs = tmp_path / "runs"
    holder = subprocess.Popen([sys.executable, "-c", _script()._LOCK_HOLDER, str(runs), "30"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", "--profile", "smoke", "--runs-root", str(runs), "--lock-timeout", "0"]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"pid {holder.pid}" in err and str(runs) in err
    assert not list(runs.rglob("metrics.json"))
