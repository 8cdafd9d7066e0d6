"""records/run.py + io.py: finish_run writes a complete, valid run folder atomically; the CLI parses params."""

import json
import os

import numpy as np
import pytest

from hashlib_core.cli import _parse_param
from hashlib_core.records import (atomic_write_json, finish_run, read_json, sha256_array, validate_record)
from hashlib_core.records.run import REQUIRED_KEYS


class TinyDataset:
    """Duck-typed stand-in for hashlib_core.data.Dataset with 6 items, 2 classes, 3 queries."""

    name = "tiny"

    def __init__(self):
        self.labels = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.uint8)
        self.splits = {"query": np.array([0, 1, 2]), "train": np.array([3, 4, 5]), "retrieval": np.array([3, 4, 5])}

    def split_record(self):
        return {"protocol": "test", "seed": 0, "sizes": {k: len(v) for k, v in self.splits.items()},
                "sha256": {k: sha256_array(v) for k, v in self.splits.items()}}

    def file_hashes(self):
        return {"tiny.mat": "0" * 64}


def _finish(tmp_path, **overrides):
    ds = TinyDataset()
    # query 0,2 (class 0) and 1 (class 1); retrieval 3 (class 0), 4, 5 (class 1)
    image_q = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [1, 1, 1, -1]])
    text_r = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [-1, -1, 1, -1]])
    kwargs = dict(out_dir=tmp_path / "run", method="dchn", dataset=ds, bits=4, seed=0, profile="smoke",
                  epochs=1, train_seconds=0.5, device="cpu",
                  query_codes={"image": image_q, "text": text_r[[0, 1, 2]]},
                  retrieval_codes={"image": image_q, "text": text_r},
                  protocol="dchn", topk=None, ties="index",
                  also=[{"label": "deephash", "protocol": "deephash", "topk": None, "ties": "index"},
                        {"label": "computed elsewhere", "protocol": "deephash", "topk": None, "ties": "index",
                         "map": {"image->text": 0.5}}],
                  settings={"alpha": 0.02}, history=[{"epoch": 1, "loss": 1.0}])
    kwargs.update(overrides)
    return finish_run(**kwargs)


def test_finish_run_writes_every_file_and_a_valid_record(tmp_path):
    result = _finish(tmp_path)
    out = tmp_path / "run"
    for name in ("metrics.json", "codes.npz", "curves.json", "history.json", "split.json", "splits.npz"):
        assert (out / name).is_file(), name
    record = read_json(out / "metrics.json")
    validate_record(record)
    assert set(REQUIRED_KEYS) <= set(record)
    assert set(record["map"]) == {"image->text", "text->image"}
    # image query [1,1,1,1] (class 0) vs text retrieval: item 3 (class 0) at distance 0 -> AP 1 for query 0
    assert record["map"] == result.record["map"]
    assert [a["label"] for a in record["also"]] == ["deephash", "computed elsewhere"]
    assert record["also"][1]["map"] == {"image->text": 0.5}
    codes = np.load(out / "codes.npz")
    assert codes["image_query"].dtype == np.int8 and set(np.unique(codes["text_retrieval"])) <= {-1, 1}
    assert codes["query_labels"].shape == (3, 2) and codes["retrieval_labels"].dtype == np.uint8
    assert record["split"]["sizes"] == {"query": 3, "train": 3, "retrieval": 3}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    table = result.map_table()
    assert len(table) == 2 + 2 * 2 - 1  # main (2 directions) + deephash (2) + elsewhere (1)


def test_finish_run_rejects_wrong_bits_and_profile(tmp_path):
    with pytest.raises(ValueError, match="bits"):
        _finish(tmp_path, bits=8)
    with pytest.raises(ValueError, match="profile"):
        _finish(tmp_path, profile="quick")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_validate_record_names_the_problem():
    with pytest.raises(ValueError, match="missing keys"):
        validate_record({"method": "dchn"}, source="x/metrics.json")
    good = {k: None for k in REQUIRED_KEYS} | {"profile": "default", "map": {"image->text": 0.3}}
    validate_record(good)
    with pytest.raises(ValueError, match="not of the form"):
        validate_record(good | {"map": {"image": 0.3}})
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        validate_record(good | {"map": {"image->text": 1.3}})


def test_atomic_json_leaves_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_cli_param_parsing():
    assert _parse_param("alpha=0.02") == ("alpha", 0.02)
    assert _parse_param("views=[\"fou\", \"kar\"]") == ("views", ["fou", "kar"])
    assert _parse_param("alpha_schedule=sqrt") == ("alpha_schedule", "sqrt")
    with pytest.raises(Exception, match="NAME=VALUE"):
        _parse_param("alpha")
