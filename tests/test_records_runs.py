"""records/runs.py: run folders (finished, failed, committed, with secondary evaluations) become table rows."""

import json

import numpy as np
import pytest

from hashlib_core.records.io import atomic_write_json
from hashlib_core.records.runs import COLUMNS, load_curves, load_history, load_runs


def test_ok_runs_one_row_per_direction_and_evaluation(tmp_path, run_record):
    runs_root = tmp_path / "runs"
    run_record(runs_root, map={"image->text": 0.5, "text->image": 0.25},
               also=[{"label": "mAP@50", "protocol": "deephash", "topk": 50, "ties": "index",
                      "map": {"image->text": 0.7, "text->image": 0.6}}])
    frame = load_runs(roots={"fresh": runs_root})
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 4
    main = frame[frame["evaluation"] == "main"].set_index("direction")
    assert main.loc["image->text", "map"] == 0.5 and main.loc["text->image", "map"] == 0.25
    assert main["protocol"].tolist() == ["dchn", "dchn"] and main["topk"].isna().all()
    also = frame[frame["evaluation"] == "mAP@50"].set_index("direction")
    assert also.loc["image->text", "map"] == 0.7 and set(also["topk"]) == {50}
    assert set(frame["status"]) == {"ok"} and set(frame["source"]) == {"fresh"}
    row = frame.iloc[0]
    assert (row["method"], row["notebook"], row["run_id"], row["profile"], row["device"]) == (
        "dchn", "dchn", "wikipedia-16b-s0", "smoke", "cpu")
    assert row["settings"] == {"alpha": 0.1} and row["date"].startswith("2026-01-02")


def test_failed_run_is_one_failed_row_with_its_error(tmp_path, run_record):
    runs_root = tmp_path / "runs"
    run_record(runs_root, seed=0)
    failed_dir = runs_root / "smoke" / "dchn" / "wikipedia-16b-s1"
    atomic_write_json(failed_dir / "failed.json", {
        "error_type": "RuntimeError", "message": "boom", "traceback_tail": "...", "profile": "smoke",
        "spec": {"method": "dchn", "notebook": "dchn", "dataset": "wikipedia", "bits": 16, "seed": 1,
                 "epochs": None, "label": None, "params": {}}, "date": "2026-01-03T00:00:00+00:00"})
    frame = load_runs(roots={"fresh": runs_root})
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == 1
    row = failed.iloc[0]
    assert row["error"] == "RuntimeError: boom" and np.isnan(row["map"])
    assert (row["method"], row["dataset"], row["bits"], row["seed"]) == ("dchn", "wikipedia", 16, 1)
    assert len(frame[frame["status"] == "ok"]) == 2


def test_fresh_and_committed_sources_and_filters(tmp_path, run_record):
    run_record(tmp_path / "runs", profile="smoke", method="dchn")
    run_record(tmp_path / "runs", profile="smoke", method="djsrh", notebook="djsrh")
    run_record(tmp_path / "records", profile="paper", method="dchn", device="cuda (NVIDIA H100)")
    everything = load_runs(roots=[tmp_path / "runs", tmp_path / "records"])  # a folder named records = committed
    assert set(zip(everything["source"], everything["profile"])) == {("fresh", "smoke"), ("committed", "paper")}
    assert set(load_runs(profile="paper", roots=[tmp_path / "runs", tmp_path / "records"])["device"]) == {
        "cuda (NVIDIA H100)"}
    only = load_runs(method="djsrh", roots={"fresh": tmp_path / "runs"})
    assert set(only["method"]) == {"djsrh"} and len(only) == 2
    assert load_runs(roots={"fresh": tmp_path / "nothing-here"}).empty


def test_label_comes_from_manifest_or_run_id(tmp_path, run_record):
    run_record(tmp_path / "runs", label="S_I", manifest=True)
    run_record(tmp_path / "runs", label="S_T", manifest=False, seed=2)  # a CLI run: no manifest
    frame = load_runs(roots={"fresh": tmp_path / "runs"})
    assert set(frame["label"]) == {"S_I", "S_T"}


def test_malformed_record_becomes_a_failed_row_not_a_crash(tmp_path, run_record):
    run_dir = run_record(tmp_path / "runs")
    record = json.loads((run_dir / "metrics.json").read_text())
    record["map"] = {"image->text": 1.5}
    (run_dir / "metrics.json").write_text(json.dumps(record))
    frame = load_runs(roots={"fresh": tmp_path / "runs"})
    assert frame["status"].tolist() == ["failed"] and "not a number in [0, 1]" in frame["error"].iloc[0]


def test_unfinished_and_hidden_folders_are_ignored(tmp_path, run_record):
    run_record(tmp_path / "runs")
    (tmp_path / "runs" / "smoke" / "dchn" / "half-done").mkdir()
    (tmp_path / "runs" / "smoke" / "dchn" / "half-done" / "codes.npz").write_bytes(b"")
    hidden = run_record(tmp_path / "runs" / ".trash")
    assert hidden.is_dir()
    assert len(load_runs(roots={"fresh": tmp_path / "runs"})) == 2


def test_curves_and_history_readers(tmp_path, run_record):
    run_dir = run_record(tmp_path / "runs")
    assert set(load_curves(run_dir)) == {"image->text", "text->image"}
    assert load_history(run_dir) == [{"epoch": 1, "loss": 1.0}]
    with pytest.raises(ValueError, match="no curves.json"):
        load_curves(tmp_path)


def test_bad_roots_argument(tmp_path):
    with pytest.raises(ValueError, match="source must be one of"):
        load_runs(roots={"mine": tmp_path})
