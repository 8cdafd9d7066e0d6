"""Shared pytest configuration: quiet progress bars, and CUDA-marked tests skip without a GPU.

The markers themselves (``slow``, ``cuda``) are registered in ``pyproject.toml``.
"""

import os

import pytest

# Progress bars off in test logs (and in the notebook kernels the tests start, which inherit the environment).
os.environ.setdefault("HASHLIB_PROGRESS", "0")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch intra-op thread in every test: the tiny models and tables here run several times faster than
    with a thread pool competing for two shared cores (and results do not depend on it)."""
    from hashlib_core.train import torch_threads

    with torch_threads(1):
        yield


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    cuda_tests = [item for item in items if item.get_closest_marker("cuda") is not None]
    if cuda_tests and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
        for item in cuda_tests:
            item.add_marker(skip)


def write_run_record(root, *, method="dchn", dataset="wikipedia", bits=16, seed=0, profile="smoke",
                     map=None, also=(), label=None, device="cpu", date="2026-01-02T03:04:05+00:00",
                     notebook=None, protocol="dchn", topk=None, ties="index", manifest=True, settings=None):
    """Write a schema-valid finished run folder ``root/<profile>/<notebook>/<run id>/`` (hand-made numbers, for
    tests of the record readers and tables only) and return its path."""
    from pathlib import Path

    from hashlib_core.records.io import atomic_write_json

    notebook = notebook or method
    run_id = f"{dataset}-{bits}b-s{seed}" + (f"-{label}" if label else "")
    run_dir = Path(root) / profile / notebook / run_id
    record = {"method": method, "dataset": dataset, "bits": bits, "seed": seed, "profile": profile,
              "protocol": protocol, "topk": topk, "ties": ties,
              "map": map if map is not None else {"image->text": 0.5, "text->image": 0.4},
              "epochs": 1, "train_seconds": 0.1, "device": device, "git_commit": "abc", "data_sha256": {"f": "0"},
              "date": date, "split": {"protocol": "test", "seed": seed}, "settings": settings if settings is not None else {"alpha": 0.1},
              "also": list(also), "versions": {"python": "3.11"}}
    atomic_write_json(run_dir / "curves.json", {d: {"precision_at_n": {"n": [1, 2], "precision": [1.0, 0.5]},
                                                    "radius": {"r": [0, 1], "precision": [1.0, 0.5],
                                                               "recall": [0.1, 0.2]},
                                                    "pr": {"recall": [0.1, 1.0], "precision": [1.0, 0.5]}}
                                                for d in record["map"]})
    atomic_write_json(run_dir / "history.json", [{"epoch": 1, "loss": 1.0}])
    atomic_write_json(run_dir / "metrics.json", record)
    if manifest:
        atomic_write_json(run_dir / "manifest.json", {
            "spec": {"method": method, "notebook": notebook, "dataset": dataset, "bits": bits, "seed": seed,
                     "epochs": None, "label": label, "params": {}}, "spec_hash": "x", "wall_seconds": 1.0})
    return run_dir


@pytest.fixture
def run_record():
    """The :func:`write_run_record` helper, as a fixture."""
    return write_run_record
