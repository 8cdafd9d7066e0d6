"""HybridHash end to end on real CIFAR-10 (JPEG q75 copy): the smoke profile through the notebook (papermill) reaches
mAP >= 0.15 (random codes give about 0.10), and the CLI writes the same record with the best-over-epochs value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hashlib_core.methods import hybridhash
from hashlib_core.records.io import read_json

REPO = Path(__file__).resolve().parents[1]


def _cifar_root() -> Path:
    root = Path(os.environ.get("HASHLIB_DATA", "data"))
    if not (root / "cifar10" / "cifar10_jpeg_q75.zip").is_file():
        pytest.skip(f"CIFAR-10 zip not found under {root}/cifar10 (set HASHLIB_DATA to ../shared/data)")
    return root


def _one_thread_env(tmp_path) -> dict:
    # one intra-op thread: on a shared 2-core machine, 2 OpenMP threads are many times slower than one
    return {**os.environ, "OMP_NUM_THREADS": "1", "HASHLIB_PROGRESS": "0", "HASHLIB_CACHE": str(tmp_path / "cache")}


@pytest.mark.slow
def test_smoke_notebook_on_cifar10_beats_random_codes(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    root = _cifar_root()
    for key, value in _one_thread_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    out_dir = tmp_path / "run"
    papermill.execute_notebook(str(REPO / "notebooks" / "hybridhash.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters={"profile": "smoke", "out_dir": str(out_dir), "data_root": str(root),
                                           "device": "cpu"},
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    record = read_json(out_dir / "metrics.json")
    print(f"smoke HybridHash on CIFAR-10 (JPEG q75 copy), 64 bits: mAP {record['map']['image->image']:.4f}, "
          f"train {record['settings']['train_images_per_s']} images/s, "
          f"encode {record['settings']['encode_images_per_s']} images/s")
    assert (record["method"], record["dataset"], record["profile"]) == ("hybridhash", "cifar10", "smoke")
    assert (record["protocol"], record["topk"], record["ties"]) == ("deephash", None, "index")
    assert record["map"]["image->image"] >= 0.15
    assert record["epochs"] == hybridhash.PROFILES["smoke"]["epochs"]
    settings = record["settings"]
    assert settings["model_size"] == "tiny" and settings["parameters"] > 0
    assert settings["train_images_per_s"] > 0 and settings["encode_images_per_s"] > 0
    history = read_json(out_dir / "history.json")
    assert [h["epoch"] for h in history] == list(range(1, record["epochs"] + 1))
    assert history[-1]["test_map"] == pytest.approx(record["map"]["image->image"], abs=1e-12)
    codes = np.load(out_dir / "codes.npz")
    sizes = record["split"]["sizes"]
    assert codes["image_query"].shape == (sizes["query"], 64)
    assert codes["image_retrieval"].shape == (sizes["retrieval"], 64)
    assert set(np.unique(codes["image_query"])) <= {-1, 1}


@pytest.mark.slow
def test_cli_run_records_last_epoch_and_best_over_epochs(tmp_path):
    root = _cifar_root()
    out_dir = tmp_path / "cli"
    command = [sys.executable, "-m", "hashlib_core", "run", "hybridhash", "--dataset", "cifar10", "--bits", "16",
               "--profile", "smoke", "--epochs", "2", "--device", "cpu", "--data-root", str(root),
               "--out-dir", str(out_dir), "--param", "subset=1200", "--param", "eval_every=1"]
    done = subprocess.run(command, cwd=REPO, env=_one_thread_env(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    record = read_json(out_dir / "metrics.json")
    history = read_json(out_dir / "history.json")
    assert [("test_map" in h) for h in history] == [True, True]
    assert record["map"]["image->image"] == pytest.approx(history[-1]["test_map"], abs=1e-12)
    (best,) = record["also"]
    assert best["label"] == hybridhash.BEST_LABEL and best["evaluated_epochs"] == [1, 2]
    best_epoch = max(history, key=lambda h: h["test_map"])
    assert best["map"]["image->image"] == pytest.approx(best_epoch["test_map"]) and best["epoch"] == best_epoch["epoch"]
    assert record["settings"]["subset"] == 1200 and record["split"]["subset"] == 1200
    assert json.loads(json.dumps(record)) == record
