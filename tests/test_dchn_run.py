"""DCHN runs end to end: the run record, reproducibility, the new-view experiment, the CLI, the notebooks, and the
Wikipedia target (DCHN beats the ridge baseline on the same targets in both directions)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hashlib_core.methods import dchn
from hashlib_core.records.io import read_json
from hashlib_core.report import dchn as report_dchn

REPO = Path(__file__).resolve().parents[1]
MFEAT_VIEWS = ["fou", "kar", "mor"]   # three small views of the embedded dataset keep these runs to seconds


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """The SHAM cache in a temporary folder (one torch thread comes from conftest.py)."""
    monkeypatch.setenv("HASHLIB_CACHE", str(tmp_path / "cache"))


def _wikipedia_root():
    root = Path(os.environ.get("HASHLIB_DATA", "data"))
    return root if (root / "wikipedia" / "wiki_data.mat").is_file() else None


def test_smoke_run_writes_a_complete_record(tmp_path):
    result = dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "a", views=MFEAT_VIEWS)
    record = read_json(tmp_path / "a" / "metrics.json")
    assert record == json.loads(json.dumps(result.record))
    assert (record["method"], record["protocol"], record["topk"], record["ties"]) == ("dchn", "dchn", None, "index")
    expected = {f"{a}->{b}" for a in MFEAT_VIEWS for b in MFEAT_VIEWS if a != b}
    assert set(record["map"]) == expected
    assert all(0.0 <= v <= 1.0 for v in record["map"].values())
    also = {entry["label"]: entry for entry in record["also"]}
    assert also["deephash mAP@all"]["protocol"] == "deephash" and set(also["deephash mAP@all"]["map"]) == expected
    assert set(also["ridge baseline (same targets)"]["map"]) == expected
    settings = record["settings"]
    assert settings["split_protocol"] == "multiview" and settings["profile"] == "smoke"
    assert settings["variant"] == "DCHN_100" and settings["views"] == MFEAT_VIEWS
    assert set(settings["profile_changes"]) == {"hidden", "epochs"}
    assert len(settings["sham"]["objective"]) == 50 and settings["sham"]["dataset"] == "mfeat"
    history = read_json(tmp_path / "a" / "history.json")
    assert len(history) == 3 and {"fou loss", "kar L_H", "mor L_R"} <= set(history[0])
    with np.load(tmp_path / "a" / "codes.npz") as codes:
        assert codes["fou_query"].shape == (400, 16) and codes["fou_query"].dtype == np.int8
        assert codes["mor_retrieval"].shape == (1600, 16)


def test_seeded_runs_are_reproducible(tmp_path):
    first = dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "a", views=MFEAT_VIEWS[:2])
    second = dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "b", views=MFEAT_VIEWS[:2])
    other = dchn.run(dataset="mfeat", bits=16, seed=1, profile="smoke", out_dir=tmp_path / "c",
                     views=MFEAT_VIEWS[:2])
    for key, codes in first.codes.items():
        assert np.array_equal(codes, second.codes[key]), key
    assert first.record["map"] == second.record["map"]
    assert any(not np.array_equal(codes, other.codes[key]) for key, codes in first.codes.items())


def test_new_view_leaves_old_networks_and_codes_untouched(tmp_path):
    result = dchn.add_view_experiment(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "nv",
                                      views=MFEAT_VIEWS, new_view="kar")
    summary = read_json(tmp_path / "nv" / "new_view.json")
    assert summary == result.record["settings"]["new_view"]
    assert summary["old_views"] == ["fou", "mor"] and summary["new_view"] == "kar"
    assert summary["old_networks_identical"] and summary["old_codes_identical"]
    assert summary["hashes_before"] == summary["hashes_after"]
    assert all(summary["retrained_identical"].values())
    assert {"train_old_views", "add_new_view", "retrain_all"} <= set(summary["seconds"])
    kinds = report_dchn.new_view_table(result).groupby("kind")["direction"].count().to_dict()
    assert kinds == {"new->old": 2, "old->new": 2, "old->old": 2}
    # the experiment's networks are the ones an ordinary run trains (same seed, same view)
    plain = dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "plain", views=MFEAT_VIEWS)
    for key, codes in plain.codes.items():
        assert np.array_equal(codes, result.codes[key]), key


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "x", views=["fou"])
    with pytest.raises(ValueError, match="nope"):
        dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "x", views=["fou", "nope"])
    with pytest.raises(ValueError, match="available_num"):
        dchn.run(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "x", available_num=-1)
    with pytest.raises(ValueError, match="profile"):
        dchn.run(dataset="mfeat", bits=16, profile="fast", out_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="three views"):
        dchn.add_view_experiment(dataset="mfeat", bits=16, profile="smoke", out_dir=tmp_path / "x",
                                 views=["fou", "kar"])
    assert not (tmp_path / "x" / "metrics.json").exists()


def test_cli_calls_the_same_run(tmp_path, capsys):
    from hashlib_core.cli import main

    out = tmp_path / "cli"
    assert main(["run", "dchn", "--dataset", "mfeat", "--bits", "16", "--profile", "smoke", "--out-dir", str(out),
                 "--param", "available_num=0", "--param", 'views=["fou", "mor"]']) == 0
    record = read_json(out / "metrics.json")
    assert record["settings"]["variant"] == "DCHN_0" and set(record["map"]) == {"fou->mor", "mor->fou"}
    assert "wrote" in capsys.readouterr().out


def test_grid_specs_are_valid():
    from hashlib_core.grid import grid_specs

    for profile in ("smoke", "default", "paper"):
        specs = grid_specs(profile, ["dchn"])
        assert specs, profile
        assert {s["notebook"] for s in specs} <= {"dchn", "dchn_new_view"}
        for spec in specs:
            assert (REPO / "notebooks" / f"{spec['notebook']}.ipynb").is_file()
    default = grid_specs("default", ["dchn"])
    assert {(s["dataset"], s["bits"], s["label"]) for s in default if s["notebook"] == "dchn"} >= {
        ("wikipedia", 16, None), ("wikipedia", 32, None), ("wikipedia", 64, None), ("wikipedia", 128, None),
        ("wikipedia", 32, "dchn0"), ("mfeat", 32, None)}


@pytest.mark.slow
def test_notebooks_execute_with_papermill(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # the kernels inherit it: tiny MLPs, shared CPU
    for name, params in (("dchn", {"views": MFEAT_VIEWS[:2]}), ("dchn_new_view", {"views": MFEAT_VIEWS})):
        out_dir = tmp_path / name
        papermill.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                   parameters={"dataset": "mfeat", "bits": 16, "profile": "smoke",
                                               "out_dir": str(out_dir), **params},
                                   kernel_name="python3", progress_bar=False, cwd=str(REPO))
        assert (out_dir / "metrics.json").is_file()
    assert read_json(tmp_path / "dchn_new_view" / "new_view.json")["old_codes_identical"]


@pytest.mark.slow
@pytest.mark.skipif(_wikipedia_root() is None, reason="needs $HASHLIB_DATA/wikipedia/wiki_data.mat")
def test_wikipedia_dchn_beats_the_ridge_baseline_in_both_directions(tmp_path):
    result = dchn.run(dataset="wikipedia", bits=32, profile="default", device="cpu", out_dir=tmp_path / "wiki")
    table = report_dchn.ridge_comparison_table(result).set_index("direction")
    assert set(table.index) == {"image->text", "text->image"}
    for direction, row in table.iterrows():
        assert row["DCHN"] > row["ridge"], (direction, row["DCHN"], row["ridge"])
    assert result.record["settings"]["split_protocol"] == "dchn"
    assert result.record["split"]["sizes"] == {"query": 693, "train": 2173, "retrieval": 2173}
