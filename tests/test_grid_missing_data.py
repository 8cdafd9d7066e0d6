"""The grid checks each run's data before it starts a kernel: absent data = "not run: data missing", at no cost."""

import time

import pytest

from hashlib_core.grid.runner import grid_specs, missing_data, plan_runs, run_grid, summarise
from hashlib_core.methods import METHODS
from hashlib_core.records.runs import load_runs
from hashlib_core.report.tables import missing_data_table, run_status_table

DEEP = ("dchn", "djsrh", "hybridhash")


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_an_empty_data_root_plans_runs_for_every_method_on_embedded_data(tmp_path, profile):
    empty = tmp_path / "data"
    empty.mkdir()
    tasks = plan_runs(profile, grid_specs(profile), runs_root=tmp_path / "runs", data_root=empty)
    runnable = [t for t in tasks if not missing_data(t, empty)]
    missing = [t for t in tasks if missing_data(t, empty)]
    embedded = {"mfeat", "mfeat_twoview", "mfeat_digits"}
    by_method = {t.spec["method"] for t in runnable if t.spec["dataset"] in embedded}
    assert set(DEEP) <= by_method, f"{profile}: no run on embedded data for {sorted(set(DEEP) - by_method)}"
    # what runs besides the embedded sets is data found outside the data root (Debian's Fashion-MNIST package)
    assert {t.spec["dataset"] for t in runnable} - embedded <= {"fashion_mnist"}
    assert any(t.spec["dataset"] == "wikipedia" for t in missing)
    assert set(METHODS) >= by_method


def test_a_run_without_its_data_costs_no_kernel_and_is_listed(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    specs = [{"method": "djsrh", "dataset": "wikipedia", "bits": 16, "seed": 0}]
    start = time.perf_counter()
    outcomes = run_grid("smoke", specs, runs_root=tmp_path / "runs", data_root=empty)
    assert time.perf_counter() - start < 5  # no kernel was started (a kernel start alone takes seconds)
    assert [o.status for o in outcomes] == ["missing"]
    assert "wiki_data.mat" in outcomes[0].error
    assert "0 failed, 1 not run (data missing)" in summarise(outcomes)
    run_dir = tmp_path / "runs" / "smoke" / "djsrh" / "wikipedia-16b-s0"
    assert (run_dir / "missing.json").is_file() and not (run_dir / "failed.json").exists()
    runs = load_runs(roots={"fresh": tmp_path / "runs"})
    assert list(runs["status"]) == ["missing"]
    table = missing_data_table(runs)
    assert table.loc[0, "dataset"] == "wikipedia" and "wiki_data.mat" in table.iloc[0, -1]
    status = run_status_table(runs)
    assert status.loc[0, "data missing"] == 1 and status.loc[0, "failed"] == 0


def test_a_missing_record_is_stale_once_the_run_starts(tmp_path):
    """When the data appears, the next start of the run clears missing.json with the other stale records."""
    import hashlib_core.grid.runner as runner

    empty = tmp_path / "data"
    empty.mkdir()
    specs = [{"method": "djsrh", "dataset": "wikipedia", "bits": 16, "seed": 0}]
    run_grid("smoke", specs, runs_root=tmp_path / "runs", data_root=empty)
    run_dir = tmp_path / "runs" / "smoke" / "djsrh" / "wikipedia-16b-s0"
    runner._clear_stale(run_dir)
    assert not (run_dir / "missing.json").exists()


def test_a_finished_run_is_never_removed_for_want_of_data(tmp_path, run_record):
    """A finished run of other settings (not up to date) whose data has gone stays as it is."""
    empty = tmp_path / "data"
    empty.mkdir()
    run_dir = run_record(tmp_path / "runs", method="djsrh", dataset="wikipedia", bits=16, seed=0)
    before = (run_dir / "metrics.json").read_bytes()
    specs = [{"method": "djsrh", "dataset": "wikipedia", "bits": 16, "seed": 0}]
    outcomes = run_grid("smoke", specs, runs_root=tmp_path / "runs", data_root=empty)
    assert [o.status for o in outcomes] == ["missing"]
    assert (run_dir / "metrics.json").read_bytes() == before and not (run_dir / "missing.json").exists()
