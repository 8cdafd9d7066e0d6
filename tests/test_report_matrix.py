"""report/matrix.py: every finished run's codes re-scored under every evaluation, without retraining."""

import numpy as np
import pandas as pd
import pytest

from hashlib_core.metrics import mean_average_precision
from hashlib_core.records import finish_run, read_json, sha256_array
from hashlib_core.report.matrix import (COLUMNS, build_matrix, evaluations_for, read_matrix, rescore_run,
                                        write_matrix)


class RandomDataset:
    """Duck-typed Dataset: 30 queries, 120 retrieval items, 3 classes (tie-heavy 6-bit codes are made below)."""

    name = "toy"

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        classes = rng.integers(0, 3, size=150)
        self.labels = np.eye(3, dtype=np.uint8)[classes]
        self.splits = {"query": np.arange(30), "train": np.arange(30, 150), "retrieval": np.arange(30, 150)}

    def split_record(self):
        return {"protocol": "test", "seed": 0, "sizes": {k: len(v) for k, v in self.splits.items()},
                "sha256": {k: sha256_array(v) for k, v in self.splits.items()}}

    def file_hashes(self):
        return {"toy.npz": "0" * 64}


def _make_run(out_dir, *, method="dchn", protocol="dchn", topk=None, ties="index", seed=0, settings=None):
    ds = RandomDataset(seed)
    rng = np.random.default_rng(seed + 10)
    codes = {view: np.where(rng.random((150, 6)) > 0.5, 1, -1) for view in ("image", "text")}
    return finish_run(out_dir=out_dir, method=method, dataset=ds, bits=6, seed=seed, profile="smoke", epochs=1,
                      train_seconds=0.1, device="cpu",
                      query_codes={v: c[ds.splits["query"]] for v, c in codes.items()},
                      retrieval_codes={v: c[ds.splits["retrieval"]] for v, c in codes.items()},
                      protocol=protocol, topk=topk, ties=ties, settings=settings or {})


def test_evaluations_use_paper_cutoffs_only_below_the_retrieval_size():
    evals = evaluations_for(2000)
    assert ("deephash", 50, "expected") in evals and ("deephash", 1000, "index") in evals
    assert not any(topk == 5000 for _, topk, _ in evals)
    assert ("dcmh", None, "expected") in evals and ("dchn", None, "index") in evals
    assert evaluations_for(40) == [e for e in evaluations_for(40) if e[1] is None]
    assert ("deephash", 30, "index") in evaluations_for(40, ("deephash", 30, "index"))


def test_rescoring_reproduces_metrics_json_exactly(tmp_path):
    result = _make_run(tmp_path / "runs" / "smoke" / "dchn" / "toy-6b-s0", protocol="deephash", topk=50,
                       ties="expected")
    rows = rescore_run(result.out_dir)
    record = read_json(result.out_dir / "metrics.json")
    for direction, value in record["map"].items():
        again = [r["map"] for r in rows if r["direction"] == direction and r["protocol"] == "deephash"
                 and r["topk"] == 50 and r["ties"] == "expected"]
        assert again == [value]


def test_every_row_equals_the_metric_function_on_the_saved_codes(tmp_path):
    result = _make_run(tmp_path / "run")
    codes = np.load(result.out_dir / "codes.npz")
    for row in rescore_run(result.out_dir):
        query_view, retrieval_view = row["direction"].split("->")
        expected = mean_average_precision(codes[f"{query_view}_query"], codes[f"{retrieval_view}_retrieval"],
                                          codes["query_labels"], codes["retrieval_labels"], topk=row["topk"],
                                          protocol=row["protocol"], ties=row["ties"])
        assert row["map"] == pytest.approx(expected, abs=1e-15)


def test_build_matrix_writes_the_contract_columns_and_lists_runs_without_codes(tmp_path):
    fresh = tmp_path / "runs"
    _make_run(fresh / "smoke" / "dchn" / "toy-6b-s0", settings={"recipe": "authors"})
    _make_run(fresh / "smoke" / "dchn" / "toy-6b-s1", seed=1)
    _make_run(fresh / "smoke" / "lsh" / "toy-6b-s0", method="lsh")
    old = _make_run(tmp_path / "records" / "smoke" / "dchn" / "toy-6b-s2", seed=2)
    (old.out_dir / "codes.npz").unlink()  # a committed record made before codes were kept
    matrix = build_matrix("smoke", roots={"fresh": fresh, "committed": tmp_path / "records"}, progress=False)
    frame = matrix.frame
    assert tuple(frame.columns) == COLUMNS
    assert set(frame["seed"]) == {0, 1}
    assert set(frame["recipe"]) == {"authors", "hashbook", "-"}
    per_run = frame.groupby("run_dir").size()
    assert (per_run == 2 * len(evaluations_for(120))).all()  # 2 directions x every evaluation
    assert list(matrix.skipped["run_dir"]) == [str(old.out_dir)]
    assert "no codes.npz" in matrix.skipped["reason"].iloc[0]
    path = write_matrix(matrix, tmp_path / "out" / "matrix.csv")
    back = read_matrix(path)
    pd.testing.assert_series_equal(back["map"], frame["map"], check_exact=True)
    assert back["topk"].isna().sum() == frame["topk"].isna().sum()


def test_a_truncated_codes_file_is_skipped_with_its_name(tmp_path):
    result = _make_run(tmp_path / "runs" / "smoke" / "dchn" / "toy-6b-s0")
    path = result.out_dir / "codes.npz"
    path.write_bytes(path.read_bytes()[:100])
    matrix = build_matrix("smoke", roots={"fresh": tmp_path / "runs"}, progress=False)
    assert matrix.frame.empty
    reason = matrix.skipped["reason"].iloc[0]
    assert reason.startswith("unreadable") and str(path) in reason


def test_read_matrix_names_a_file_that_is_not_a_matrix(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a matrix file"):
        read_matrix(bad)


def test_variant_names_the_grid_label_but_not_the_method_name_again():
    from hashlib_core.report.matrix import variant_of

    assert variant_of("dchn", float("nan")) == variant_of("dchn", None) == variant_of("lsh", "lsh") == "base"
    assert variant_of("dchn", "dchn0") == "dchn0"
    assert variant_of("itq", "itq-pixels") == "pixels"
