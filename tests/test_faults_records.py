"""Faults at the run folder (issue 17): one rule for "finished", no silent overwrite, unwritable output and a full
disk leave no partial folder, a killed writer leaves nothing that is read as a result, and corrupt or foreign
records are listed as unreadable (file and problem named) while the other numbers stay as they were."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from hashlib_core.records import io as rio
from hashlib_core.records.io import atomic_write_json, npz_shapes, read_json, remove_stale_siblings, sha256_array
from hashlib_core.records.run import (RUN_CONTEXT_ENV, RunFolderError, claim_out_dir, finish_run, is_finished,
                                      run_identity)
from hashlib_core.records.runs import load_runs

REPO = Path(__file__).resolve().parents[1]


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


def finish(out_dir, *, bits=4, seed=0, codes=CODES, **overrides):
    kwargs = dict(out_dir=out_dir, method="dchn", dataset=Tiny(), bits=bits, seed=seed, profile="smoke", epochs=1,
                  train_seconds=0.1, device="cpu", query_codes={"image": codes, "text": -codes},
                  retrieval_codes={"image": codes, "text": -codes}, protocol="dchn", topk=None,
                  settings={"alpha": 0.02}, history=[{"epoch": 1, "loss": 1.0}])
    kwargs.update(overrides)
    return finish_run(**kwargs)


def identity(**changes):
    base = dict(dataset="tiny", bits=4, seed=0, epochs=None, profile="smoke", params={"alpha": 0.02})
    return run_identity("dchn", **(base | changes))


def claimed_finish(out_dir, *, force=False, ident=None, **kwargs):
    claim_out_dir(out_dir, ident or identity(), force=force)
    return finish(out_dir, **kwargs)


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def hidden_siblings(out_dir):
    return [p.name for p in Path(out_dir).parent.iterdir() if p.name.startswith(f".{Path(out_dir).name}.")]


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------------------------------------- one rule

def test_folder_is_assembled_beside_and_appears_complete(tmp_path):
    out = tmp_path / "run"
    result = claimed_finish(out)
    assert is_finished(out) and not hidden_siblings(out)
    assert {p.name for p in out.iterdir()} == {"metrics.json", "codes.npz", "splits.npz", "split.json",
                                               "curves.json", "history.json"}
    record = read_json(out / "metrics.json")
    assert record["request"] == identity() and result.replaced is None
    assert record["codes"]["arrays"]["image_query"] == [3, 4]
    assert record["codes"]["sha256"] == rio.sha256_file(out / "codes.npz")
    assert npz_shapes(out / "codes.npz") == {name: tuple(shape) for name, shape in record["codes"]["arrays"].items()}
    assert not is_finished(tmp_path / ".run.staging-1-x") and not is_finished(tmp_path / "absent")


def test_extra_json_records_travel_with_the_folder(tmp_path):
    finish(tmp_path / "run", files={"baselines.json": {"cca": 1}})
    assert read_json(tmp_path / "run" / "baselines.json") == {"cca": 1}
    with pytest.raises(ValueError, match="files: 'codes.npz'"):
        finish(tmp_path / "other", files={"codes.npz": {}})
    with pytest.raises(ValueError, match="files: '../x.json'"):
        finish(tmp_path / "other", files={"../x.json": {}})
    assert not (tmp_path / "other").exists()


def test_run_context_puts_the_grid_manifest_inside_before_the_folder_appears(tmp_path, monkeypatch):
    out = tmp_path / "run"
    spec = {"method": "dchn", "notebook": "dchn", "dataset": "tiny", "bits": 4, "seed": 0, "epochs": None,
            "label": None, "params": {}}
    monkeypatch.setenv(RUN_CONTEXT_ENV, json.dumps({"out_dir": str(out), "made_by": "grid", "spec": spec,
                                                    "spec_hash": "abc123", "started": time.time() - 2.0}))
    finish(out)
    manifest = read_json(out / "manifest.json")
    assert manifest["spec_hash"] == "abc123" and manifest["run_id"] == "run" and manifest["made_by"] == "grid"
    assert manifest["wall_seconds"] >= 2.0 and "metrics.json" in manifest["files"]
    finish(tmp_path / "elsewhere")  # a context meant for another folder is ignored
    assert not (tmp_path / "elsewhere" / "manifest.json").exists()


# ---------------------------------------------------------------------------------------------- no silent overwrite

def test_other_settings_are_refused_naming_folder_and_settings(tmp_path):
    out = tmp_path / "run"
    claimed_finish(out)
    before = folder_bytes(out)
    with pytest.raises(RunFolderError) as info:
        claim_out_dir(out, identity(dataset="wikipedia", params={"alpha": 0.1}))
    message = str(info.value)
    assert str(out) in message and "--force" in message
    assert "dataset: 'tiny' there, 'wikipedia' here" in message and "alpha: 0.02 there, 0.1 here" in message
    assert "bits" not in message
    assert folder_bytes(out) == before


def test_same_settings_replace_and_say_so(tmp_path, capsys):
    out = tmp_path / "run"
    claimed_finish(out, files={"old.json": {"stale": True}})
    capsys.readouterr()
    result = claimed_finish(out, codes=-CODES)
    assert result.replaced == "same settings"
    assert f"replaced the finished run in {out} (same settings)" in capsys.readouterr().err
    assert not (out / "old.json").exists(), "the new folder replaces the old one as a whole"
    assert (np.load(out / "codes.npz")["image_query"] == -CODES).all() and not hidden_siblings(out)


def test_force_replaces_other_settings_atomically(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    claimed_finish(out)
    result = claimed_finish(out, force=True, ident=identity(bits=8), bits=8, codes=np.tile(CODES, 2))
    assert "force=True; it had other settings: bits: 4 there, 8 here" in result.replaced
    assert read_json(out / "metrics.json")["bits"] == 8 and "replaced the finished run" in capsys.readouterr().err
    # without renameat2 the replace takes two renames; the result is the same
    monkeypatch.setattr(rio, "_exchange", lambda a, b: False)
    claimed_finish(out, force=True)
    assert read_json(out / "metrics.json")["bits"] == 4 and not hidden_siblings(out)


def test_unclaimed_finish_run_does_not_overwrite_another_run_either(tmp_path):
    out = tmp_path / "run"
    finish(out)
    with pytest.raises(RunFolderError, match="seed: 0 there, 1 here"):
        finish(out, seed=1)
    assert read_json(out / "metrics.json")["seed"] == 0 and not hidden_siblings(out)


def test_record_that_cannot_be_read_needs_force(tmp_path):
    out = tmp_path / "run"
    finish(out)
    (out / "metrics.json").write_text("{ not json")
    with pytest.raises(RunFolderError, match="cannot be read"):
        claim_out_dir(out, identity())
    claimed_finish(out, force=True)
    assert read_json(out / "metrics.json")["dataset"] == "tiny"


def test_failed_or_empty_folders_are_taken_but_foreign_ones_never(tmp_path):
    failed = tmp_path / "failed"
    atomic_write_json(failed / "failed.json", {"error_type": "RuntimeError"})
    claimed_finish(failed)
    assert is_finished(failed) and not (failed / "failed.json").exists()
    (tmp_path / "empty").mkdir()
    claimed_finish(tmp_path / "empty")
    foreign = tmp_path / "mine"
    (foreign / "src").mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(RunFolderError, match="is not a run folder .*notes.txt, src"):
            claim_out_dir(foreign, identity(), force=force)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is not a folder"):
        claim_out_dir(tmp_path / "file", identity())
    with pytest.raises(RunFolderError, match="out_dir: give the folder"):
        claim_out_dir(None, identity())
    assert (foreign / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------- unwritable output

def test_unwritable_out_dir_is_refused_before_training(tmp_path):
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(RunFolderError, match=r"plain-file/run: cannot be written \(.*plain-file is a file"):
        claim_out_dir(tmp_path / "plain-file" / "run", identity())
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(RunFolderError, match="locked/run: cannot be written"):
            claim_out_dir(locked / "run", identity())
    elif Path("/sys").is_dir():  # root writes through permission bits; sysfs refuses new folders even to root
        with pytest.raises(RunFolderError, match="/sys/hashbook-fault-test/run: cannot be written"):
            claim_out_dir("/sys/hashbook-fault-test/run", identity())


class DiskFull:
    """Patch for ``io._write_and_sync``: the ``after``-th file write and every later one fail with ENOSPC."""

    def __init__(self, after):
        self.after, self.calls = after, 0

    def __call__(self, handle, data):
        self.calls += 1
        if self.calls >= self.after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        handle.write(data)


@pytest.mark.parametrize("after", [1, 3, 6])
def test_disk_full_leaves_no_partial_folder(tmp_path, monkeypatch, after):
    out = tmp_path / "run"
    monkeypatch.setattr(rio, "_write_and_sync", DiskFull(after))
    with pytest.raises(RunFolderError) as info:
        claimed_finish(out)
    assert str(out) in str(info.value) and "No space left on device" in str(info.value)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert not out.exists() and os.listdir(tmp_path) == []


def test_disk_full_while_replacing_keeps_the_old_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    claimed_finish(out)
    before = folder_bytes(out)
    monkeypatch.setattr(rio, "_write_and_sync", DiskFull(4))
    with pytest.raises(RunFolderError, match="nothing was written"):
        claimed_finish(out, codes=-CODES)
    assert folder_bytes(out) == before and not hidden_siblings(out)


# ---------------------------------------------------------------------------------------------- killed writers

def test_debris_of_dead_writers_is_removed_and_a_set_aside_run_put_back(tmp_path):
    out = tmp_path / "run"
    pid = dead_pid()
    finish(tmp_path / "old")
    os.rename(tmp_path / "old", tmp_path / f".run.replaced-{pid}-abcd")   # died between the two renames
    (tmp_path / f".run.staging-{pid}-ef01").mkdir()                         # died while assembling
    (tmp_path / f".run.staging-{pid}-ef01" / "codes.npz").write_bytes(b"half")
    (tmp_path / f".run.staging-{os.getpid()}-live").mkdir()                 # a live writer's: kept
    assert load_runs(roots={"fresh": tmp_path}).empty                      # hidden folders are never read
    remove_stale_siblings(out)
    assert is_finished(out) and read_json(out / "metrics.json")["dataset"] == "tiny"
    assert hidden_siblings(out) == [f".run.staging-{os.getpid()}-live"]


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from hashlib_core.records import io as rio
    import test_faults_records as t

    def slow(handle, data):
        handle.write(data)
        print("writing", flush=True)
        time.sleep(30)

    rio._write_and_sync = slow
    t.claimed_finish(t.Path({out!r}), codes=-t.CODES)
""")


def test_sigkill_while_writing_loses_nothing(tmp_path):
    out = tmp_path / "run"
    claimed_finish(out)
    before = folder_bytes(out)
    script = _KILLED_WRITER.format(tests=str(REPO / "tests"), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert folder_bytes(out) == before and len(hidden_siblings(out)) == 1   # the dead writer's staging folder
    frame = load_runs(roots={"fresh": tmp_path})
    assert set(frame["status"]) == {"ok"} and set(frame["run_dir"]) == {str(out)}
    claimed_finish(out, codes=-CODES)                                       # the next run tidies up
    assert not hidden_siblings(out) and (np.load(out / "codes.npz")["image_query"] == -CODES).all()


# ---------------------------------------------------------------------------------------------- corrupt records

def _damage(run_dir, how):
    metrics = run_dir / "metrics.json"
    record = read_json(metrics)
    if how == "invalid json":
        metrics.write_text(metrics.read_text()[:40])
    elif how == "not an object":
        metrics.write_text("[1, 2]")
    elif how == "missing keys":
        metrics.write_text(json.dumps({k: v for k, v in record.items() if k not in ("bits", "map")}))
    elif how == "wrong kind":
        metrics.write_text(json.dumps({**record, "bits": "four"}))
    elif how == "codes missing":
        (run_dir / "codes.npz").unlink()
    elif how == "codes truncated":
        data = (run_dir / "codes.npz").read_bytes()
        (run_dir / "codes.npz").write_bytes(data[: len(data) // 2])
    elif how == "codes bits":
        metrics.write_text(json.dumps({**record, "bits": 8, "codes": {}}))
    elif how == "codes rows":
        np.savez(run_dir / "codes.npz", **{**dict(np.load(run_dir / "codes.npz")),
                                           "text_retrieval": np.ones((2, 4), np.int8)})
    elif how == "codes view":
        np.savez(run_dir / "codes.npz", **{k: v for k, v in np.load(run_dir / "codes.npz").items()
                                           if k != "text_query"})
    elif how == "curves json":
        (run_dir / "curves.json").write_text("{")


DAMAGE = {"invalid json": "not valid JSON", "not an object": "a record is a JSON object",
          "missing keys": "missing keys ['bits', 'map']", "wrong kind": "'bits' must be an integer",
          "codes missing": "codes.npz: missing", "codes truncated": "not a readable .npz file",
          "codes bits": "has shape (3, 4), the record has 8 bits",
          "codes rows": "'text_retrieval' has shape (2, 4), the record says (3, 4)",
          "codes view": "array 'text_query' missing", "curves json": "curves.json: not valid JSON"}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_corrupt_record_is_listed_unreadable_and_the_rest_unaffected(tmp_path, how):
    root = tmp_path / "runs"
    good = root / "smoke" / "dchn" / "tiny-4b-s0"
    bad = root / "smoke" / "dchn" / "tiny-4b-s1"
    finish(good)
    alone = load_runs(roots={"fresh": root})
    finish(bad, seed=1)
    _damage(bad, how)
    frame = load_runs(roots={"fresh": root})
    failed = frame[frame["run_dir"] == str(bad)]
    assert len(failed) == 1 and failed["status"].iloc[0] == "failed" and np.isnan(failed["map"].iloc[0])
    error = failed["error"].iloc[0]
    assert error.startswith("unreadable record: ") and str(bad) in error and DAMAGE[how] in error, error
    keys = ["run_id", "evaluation", "direction", "map", "status", "protocol", "dataset", "bits", "seed"]
    ok = frame[frame["run_dir"] == str(good)]
    assert ok[keys].values.tolist() == alone[keys].values.tolist() and len(ok) == 2
    if how.startswith("codes") and how != "codes bits":
        assert (failed["dataset"].iloc[0], failed["seed"].iloc[0]) == ("tiny", 1)  # named from its own record


def test_committed_records_need_no_codes(tmp_path):
    run_dir = tmp_path / "records" / "smoke" / "dchn" / "tiny-4b-s0"
    finish(run_dir)
    (run_dir / "codes.npz").unlink()
    (run_dir / "splits.npz").unlink()
    frame = load_runs(roots={"committed": tmp_path / "records"})
    assert set(frame["status"]) == {"ok"} and len(frame) == 2


def test_committed_records_of_this_checkout_are_all_readable():
    frame = load_runs(roots={"committed": REPO / "records"})
    bad = frame[frame["status"] != "ok"]
    assert bad.empty, bad[["run_dir", "error"]].to_string()
