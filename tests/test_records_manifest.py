"""records/manifest.py: what a manifest records, for grid runs and for runs made with the command line."""

import json

import pytest

from hashlib_core import grid
from hashlib_core.records import manifest
from hashlib_core.records.io import read_json, sha256_file


def test_manifest_from_a_cli_run(tmp_path, run_record):
    run_dir = run_record(tmp_path / "elsewhere", profile="paper", bits=64, seed=3, manifest=False,
                         device="cuda (NVIDIA H100 80GB HBM3)")
    assert manifest.main([str(run_dir), "--label", "x1", "--wall-seconds", "12.5"]) == 0
    written = read_json(run_dir / "manifest.json")
    assert written["made_by"] == "cli" and written["environment"] == "this machine"
    assert written["device"] == "cuda (NVIDIA H100 80GB HBM3)" and written["profile"] == "paper"
    assert written["spec"] == {"method": "dchn", "notebook": "dchn", "dataset": "wikipedia", "bits": 64, "seed": 3,
                               "epochs": 1, "label": "x1", "params": {"alpha": 0.1}}
    assert written["split_seed"] == 3 and written["data_sha256"] == {"f": "0"} and written["wall_seconds"] == 12.5
    assert written["files"]["metrics.json"] == sha256_file(run_dir / "metrics.json")
    assert {"torch", "numpy", "pandas"} <= set(written["versions"]) and written["platform"]
    assert written["git_commit"] == "abc"  # the commit recorded by the run, not the one writing the manifest


def test_manifest_built_elsewhere_says_so(tmp_path, run_record):
    run_dir = run_record(tmp_path / "r", manifest=False)
    built = manifest.build_manifest(run_dir, made_by="collect", this_machine=False)
    assert built["environment"] == "from metrics.json" and built["platform"] is None
    assert built["versions"] == {"python": "3.11"}  # only what the record itself says


def test_manifest_needs_a_finished_valid_run(tmp_path, run_record):
    with pytest.raises(ValueError, match="metrics.json: missing"):
        manifest.build_manifest(tmp_path)
    run_dir = run_record(tmp_path / "r", manifest=False)
    record = read_json(run_dir / "metrics.json")
    (run_dir / "metrics.json").write_text(json.dumps({**record, "profile": "huge"}))
    with pytest.raises(ValueError, match="profile must be one of"):
        manifest.build_manifest(run_dir)
    with pytest.raises(ValueError, match="made_by"):
        manifest.build_manifest(run_dir, made_by="me")


def test_collect_command_line(tmp_path, run_record, capsys):
    run_dir = run_record(tmp_path / "elsewhere", profile="paper", manifest=False)
    assert grid.main(["collect", str(run_dir), "--into", str(tmp_path / "records"), "--label", "L"]) == 0
    dest = tmp_path / "records" / "paper" / "dchn" / "wikipedia-16b-s0-L"
    assert "committed record" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == ["curves.json", "history.json", "manifest.json",
                                                      "metrics.json"]
