"""hashlib_core/grid/runner.py: papermill grid runner: records, skip logic, failure isolation, atomicity, processes, Ray."""

import json
import os
from pathlib import Path

import nbformat
import pytest

from hashlib_core.grid import GridError, commit_records, normalise_spec, run_grid, spec_hash
from hashlib_core.grid import runner as grid
from hashlib_core.records.io import read_json
from hashlib_core.records.runs import load_runs

# A run template in the shape of notebooks/<method>.ipynb: a `parameters` cell, then a cell that writes a
# schema-valid metrics.json (hand-made numbers: this tests the runner, not a method).
PARAMETERS = """dataset = "wikipedia"
bits = 16
seed = 0
epochs = None
out_dir = None
profile = "smoke"
mode = "ok"
"""
BODY = """import os, json
from hashlib_core.records.io import atomic_write_json
if mode == "raise":
    raise RuntimeError(f"planned failure for {dataset} {bits}")
if mode != "no-record":
    atomic_write_json(os.path.join(out_dir, "curves.json"), {})
    atomic_write_json(os.path.join(out_dir, "metrics.json"), {
        "method": "toy", "dataset": dataset, "bits": bits, "seed": seed, "profile": profile,
        "protocol": "deephash", "topk": None, "ties": "index", "map": {"image->image": 0.25 + seed / 100},
        "epochs": epochs, "train_seconds": 0.0, "device": "cpu", "git_commit": None, "data_sha256": {},
        "date": "2026-01-01T00:00:00+00:00", "split": {"seed": seed},
        "settings": {"mode": mode, "env": os.environ.get("HASHBOOK_TEST_ENV")}})
if mode == "raise-after-record":
    raise ValueError("failed after writing its record")
print("done", dataset, bits, seed)
"""


def _template(folder: Path, name: str = "toy", body: str = BODY) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name} run"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _spec(**kw):
    spec = {"method": "toy", "dataset": "wikipedia", "bits": 16, "seed": 0, "params": {"mode": "ok"}}
    spec.update(kw)
    return spec


@pytest.fixture(autouse=True)
def _data_present(monkeypatch):
    """These tests run hand-made templates that read no data: the grid's missing-data check (tested in
    test_grid_missing_data.py) must not stop them on a machine without the datasets their specs name."""
    from hashlib_core.grid import runner

    monkeypatch.setattr(runner, "missing_data", lambda task, data_root=None: [])


@pytest.fixture
def workspace(tmp_path):
    _template(tmp_path / "notebooks")
    return tmp_path


def _run(workspace, specs, **kw):
    return run_grid("smoke", specs, runs_root=workspace / "runs", notebooks_dir=workspace / "notebooks",
                    cwd=workspace, **kw)


def test_records_skip_and_failure_isolation(workspace):
    specs = [_spec(seed=0), _spec(seed=1, params={"mode": "raise"}), _spec(seed=2)]
    outcomes = _run(workspace, specs, kernel_env={"HASHBOOK_TEST_ENV": "kernel-only"})
    assert [o.status for o in outcomes] == ["ok", "failed", "ok"]
    assert "HASHBOOK_TEST_ENV" not in os.environ  # set for the kernels only
    ok_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s0"
    assert {p.name for p in ok_dir.iterdir()} == {"metrics.json", "curves.json", "run.ipynb", "manifest.json"}
    manifest = read_json(ok_dir / "manifest.json")
    assert manifest["spec"]["seed"] == 0 and manifest["made_by"] == "grid" and manifest["wall_seconds"] > 0
    assert manifest["spec_hash"] == spec_hash(normalise_spec("toy", {k: v for k, v in specs[0].items()
                                                                    if k != "method"}),
                                              "smoke", workspace / "notebooks" / "toy.ipynb")
    assert set(manifest["files"]) == {"metrics.json", "curves.json"}
    assert read_json(ok_dir / "metrics.json")["settings"]["env"] == "kernel-only"
    executed = nbformat.read(ok_dir / "run.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and f"out_dir = \"{ok_dir}\"" in injected[0].source and 'profile = "smoke"' in injected[0].source

    failed_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s1"
    failed = read_json(failed_dir / "failed.json")
    assert failed["error_type"] == "RuntimeError" and failed["message"] == "planned failure for wikipedia 16"
    assert "planned failure" in failed["traceback_tail"] and failed["spec"]["seed"] == 1
    assert (failed_dir / "failed.ipynb").is_file() and not (failed_dir / "metrics.json").exists()
    assert outcomes[1].error == "RuntimeError: planned failure for wikipedia 16"

    frame = load_runs(roots={"fresh": workspace / "runs"})
    assert sorted(zip(frame["seed"], frame["status"])) == [(0, "ok"), (1, "failed"), (2, "ok")]
    assert not list((workspace / "runs").rglob("*.tmp*"))  # no temporary file left behind

    # a second pass starts no kernel for the finished runs and retries the failed one
    before = (ok_dir / "metrics.json").stat().st_mtime_ns
    again = _run(workspace, specs)
    assert [o.status for o in again] == ["skipped", "failed", "skipped"]
    assert (ok_dir / "metrics.json").stat().st_mtime_ns == before


def test_spec_hash_covers_params_profile_and_template(workspace):
    assert [o.status for o in _run(workspace, [_spec()])] == ["ok"]
    assert [o.status for o in _run(workspace, [_spec()])] == ["skipped"]
    assert [o.status for o in _run(workspace, [_spec(params={"mode": "ok", "extra": 1})])] == ["ok"]
    assert [o.status for o in _run(workspace, [_spec(params={"mode": "ok", "extra": 1})])] == ["skipped"]
    assert [o.status for o in _run(workspace, [_spec(params={"mode": "ok", "extra": 1})], force=True)] == ["ok"]
    _template(workspace / "notebooks", body=BODY + "\n# the template changed\n")
    assert [o.status for o in _run(workspace, [_spec(params={"mode": "ok", "extra": 1})])] == ["ok"]
    spec = normalise_spec("toy", {"dataset": "d", "bits": 8, "params": {"a": 1}})
    template = workspace / "notebooks" / "toy.ipynb"
    assert spec_hash(spec, "smoke", template) != spec_hash(spec, "default", template)
    assert spec_hash(spec, "smoke", template) == spec_hash(dict(spec), "smoke", template)
    # a record whose manifest does not match is re-run
    run_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s0"
    manifest = read_json(run_dir / "manifest.json")
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "spec_hash": "0" * 64}))
    assert [o.status for o in _run(workspace, [_spec(params={"mode": "ok", "extra": 1})])] == ["ok"]


def test_no_stale_result_beside_a_new_failure(workspace):
    assert [o.status for o in _run(workspace, [_spec()])] == ["ok"]
    run_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s0"
    outcomes = _run(workspace, [_spec(params={"mode": "raise-after-record"})])
    assert outcomes[0].status == "failed" and "failed after writing its record" in outcomes[0].error
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "manifest.json").exists()
    assert not (run_dir / "run.ipynb").exists() and (run_dir / "failed.json").is_file()
    # and a later success removes the failure record
    assert [o.status for o in _run(workspace, [_spec()])] == ["ok"]
    assert not (run_dir / "failed.json").exists() and not (run_dir / "failed.ipynb").exists()


def test_missing_record_and_missing_template_fail_alone(workspace):
    outcomes = _run(workspace, [_spec(params={"mode": "no-record"}), _spec(seed=1, notebook="absent"),
                                _spec(seed=2)])
    assert [o.status for o in outcomes] == ["failed", "failed", "ok"]
    assert "without writing" in outcomes[0].error and "metrics.json" in outcomes[0].error
    assert "absent.ipynb does not exist" in outcomes[1].error


def test_manifest_failure_leaves_no_half_record(workspace, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(grid, "write_manifest", broken)
    outcomes = _run(workspace, [_spec()])
    run_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s0"
    assert outcomes[0].status == "failed" and "disk full" in outcomes[0].error
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "manifest.json").exists()
    assert not list(run_dir.glob(".*"))


def test_jobs_run_in_processes(workspace):
    specs = [_spec(seed=s) for s in range(3)] + [_spec(seed=3, params={"mode": "raise"})]
    outcomes = _run(workspace, specs, jobs=2)
    assert [o.status for o in outcomes] == ["ok", "ok", "ok", "failed"]
    frame = load_runs(roots={"fresh": workspace / "runs"})
    assert sorted(frame.loc[frame["status"] == "ok", "map"]) == [0.25, 0.26, 0.27]


def test_bad_specs_are_value_errors(workspace):
    with pytest.raises(GridError, match="'bits' must be a positive integer"):
        normalise_spec("toy", {"dataset": "d", "bits": 0})
    with pytest.raises(GridError, match=r"unknown key\(s\) \['bit'\]"):
        normalise_spec("toy", {"dataset": "d", "bit": 16})
    with pytest.raises(GridError, match="'label'"):
        normalise_spec("toy", {"dataset": "d", "bits": 16, "label": "a/b"})
    with pytest.raises(GridError, match="set by the spec/runner"):
        normalise_spec("toy", {"dataset": "d", "bits": 16, "params": {"out_dir": "x"}})
    with pytest.raises(GridError, match="same run folder"):
        _run(workspace, [_spec(), _spec()])
    with pytest.raises(ValueError, match="jobs"):
        _run(workspace, [_spec()], jobs=0)
    assert issubclass(GridError, ValueError)


def test_method_grids_are_well_formed():
    """Every method's GRID (where the method module exists already) normalises for every profile."""
    from hashlib_core.methods import METHODS

    present = [m for m in METHODS if (Path(grid.__file__).parents[1] / "methods" / f"{m}.py").is_file()]
    if not present:
        pytest.skip("no method module written yet")
    for profile in ("smoke", "default", "paper"):
        specs = grid.grid_specs(profile, present)
        tasks = grid.plan_runs(profile, specs)
        assert len({t.run_dir for t in tasks}) == len(tasks)
    assert grid.grid_specs("smoke", present), "the smoke profile must run something for the book"


def test_commit_records_copies_only_json(workspace, tmp_path, run_record):
    assert [o.status for o in _run(workspace, [_spec()])] == ["ok"]
    run_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s0"
    (run_dir / "codes.npz").write_bytes(b"not copied")
    cli_dir = run_record(tmp_path / "elsewhere", profile="paper", method="dchn", manifest=False, bits=64)
    (cli_dir / "baselines.json").write_text('{"ridge": 0.5}')  # a method's extra record travels too
    (cli_dir / "splits.npz").write_bytes(b"not copied")
    written = commit_records([run_dir, cli_dir], tmp_path / "records", label=None)
    assert written == [tmp_path / "records" / "smoke" / "toy" / "wikipedia-16b-s0",
                       tmp_path / "records" / "paper" / "dchn" / "wikipedia-64b-s0"]
    assert {p.name for p in written[0].iterdir()} == {"metrics.json", "curves.json", "manifest.json"}
    assert sorted(p.name for p in written[1].iterdir()) == ["baselines.json", "curves.json", "history.json",
                                                            "manifest.json", "metrics.json"]
    built = read_json(written[1] / "manifest.json")
    assert set(built["files"]) == {"baselines.json", "curves.json", "history.json", "metrics.json"}
    assert built["made_by"] == "collect" and built["environment"] == "from metrics.json"
    assert built["spec"]["dataset"] == "wikipedia" and built["device"] == "cpu"
    frame = load_runs(roots={"committed": tmp_path / "records"})
    assert set(frame["source"]) == {"committed"} and len(frame) == 3
    assert commit_records([run_dir], tmp_path / "records") == written[:1]  # same record again: fine
    record = read_json(run_dir / "metrics.json")
    (run_dir / "metrics.json").write_text(json.dumps({**record, "map": {"image->image": 0.9}}))
    with pytest.raises(GridError, match="a different record is already committed"):
        commit_records([run_dir], tmp_path / "records")
    commit_records([run_dir], tmp_path / "records", overwrite=True)
    assert read_json(written[0] / "metrics.json")["map"] == {"image->image": 0.9}
    with pytest.raises(GridError, match="no metrics.json"):
        commit_records([tmp_path], tmp_path / "records")
    with open(cli_dir / "huge.json", "wb") as handle:
        handle.truncate(grid.MAX_RECORD_BYTES + 1)
    with pytest.raises(GridError, match=r"\['huge.json'\] are larger than"):
        commit_records([cli_dir], tmp_path / "other")


def test_missing_ray_is_a_clear_error(workspace, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(GridError, match=r"Ray is not installed: pip install 'hashbook\[cluster\]'"):
        _run(workspace, [_spec()], ray_address="local")


@pytest.mark.slow
def test_local_ray_same_records_and_skip_logic(workspace):
    pytest.importorskip("ray", reason="Ray is the optional extra hashbook[cluster]; not installed here")
    specs = [_spec(seed=0), _spec(seed=1, params={"mode": "raise"})]
    outcomes = _run(workspace, specs, ray_address="local")
    assert [o.status for o in outcomes] == ["ok", "failed"]
    ok_dir = workspace / "runs" / "smoke" / "toy" / "wikipedia-16b-s0"
    assert {p.name for p in ok_dir.iterdir()} == {"metrics.json", "curves.json", "run.ipynb", "manifest.json"}
    assert read_json(ok_dir.parent / "wikipedia-16b-s1" / "failed.json")["error_type"] == "RuntimeError"
    again = _run(workspace, specs, ray_address="local")
    assert [o.status for o in again] == ["skipped", "failed"]
