"""report/protocols.py and report/datasets.py on small synthetic label sets and an empty data root."""

import numpy as np
import pytest

from hashlib_core.metrics import mean_average_precision
from hashlib_core.report import datasets, protocols


def _sets(tmp_path):
    return {"multi": protocols.label_set("mirflickr25k", 24, (20, 60), limit=(None, None), root=tmp_path / "no"),
            "single": protocols.label_set("wikipedia", 10, (15, 40), limit=(10, 30), root=tmp_path / "no")}


def test_label_set_falls_back_to_synthetic_labels_of_the_same_shape(tmp_path):
    sets = _sets(tmp_path)
    query, retrieval, source = sets["multi"]
    assert query.shape == (20, 24) and retrieval.shape == (60, 24) and source.startswith(
        "synthetic labels shaped like mirflickr25k (DatasetError")
    query, retrieval, _ = sets["single"]
    assert query.shape == (10, 10) and retrieval.shape == (30, 10) and (query.sum(axis=1) == 1).all()
    assert protocols.describe(sets).splitlines()[1].startswith("single: 10 queries x 30 items, synthetic labels")


def test_protocol_grid_matches_the_metric_and_the_tables_agree(tmp_path):
    sets = _sets(tmp_path)
    table, codes = protocols.protocol_grid(sets, bits=16, topks=(5, None))
    assert set(table["topk"]) == {5, "all"} and set(table["ties"]) == {"index", "expected"}
    q, r, ql, rl = codes["multi", "label-derived"]
    row = table[(table["labels"] == "multi") & (table["codes"] == "label-derived") & (table["protocol"] == "dchn")
                & (table["topk"] == "all") & (table["ties"] == "index")]["map"].iloc[0]
    assert row == pytest.approx(mean_average_precision(q, r, ql, rl, protocol="dchn", ties="index"))
    gaps_note, gaps = protocols.tie_gaps(table)
    frame = gaps.data
    largest = frame["index - expected"].abs().max()
    assert f"**{largest:.2e}**" in gaps_note.data
    assert (frame["index - expected"] == frame["index"] - frame["expected"]).all()
    with pytest.raises(KeyError):  # the wide table is for the chapter's cutoffs (50, 1000, all)
        protocols.wide_table(table)
    wide = protocols.wide_table(protocols.protocol_grid(sets, bits=16)[0]).data
    assert list(wide.columns) == ["mAP@50", "mAP@1000", "mAP@all"]
    fig = protocols.ties_figure(table, bits=16)
    assert [ax.get_title() for ax in fig.axes] == ["label-derived 16-bit codes, multi",
                                                   "label-derived 16-bit codes, single"]


def test_zero_one_codes_score_the_same(tmp_path):
    sets = _sets(tmp_path)
    _, codes = protocols.protocol_grid({"multi": sets["multi"]}, bits=8, topks=(None,))
    checks = protocols.zero_one_check(*codes["multi", "random"], topk=10)
    assert checks["identical"].all() and list(checks.columns)[2:4] == ["mAP@10, +-1 codes", "mAP@10, 0/1 codes"]
    assert len(checks) == 6  # three protocols x two tie rules


def test_dataset_tables_on_an_empty_data_root(tmp_path):
    root = datasets.data_root(tmp_path)
    assert root == tmp_path
    assert datasets.built_on(root, "smoke").data.startswith(f"Data root used for this build: `{tmp_path}` "
                                                            "(profile `smoke`")
    cache = {}
    overview = datasets.overview_table(root, cache=cache).data
    assert list(overview.columns) == datasets.OVERVIEW_COLUMNS
    wiki = overview.set_index("dataset").loc["wikipedia"]
    assert wiki["status"] == "missing" and wiki["N"] == "" and wiki["relevance rate"] == ""
    present = overview[overview["status"] == "present"]
    assert all(n == "" or "," in n or len(n) <= 3 for n in present["N"])  # thousands separators
    table = datasets.protocols_table(root, cache=cache).data
    assert set(table["default"]) <= {"yes", ""} and (table["default"] == "yes").any()
    sources = datasets.sources_table(root).data
    assert list(sources.columns[:2]) == ["dataset", "here"] and set(sources["here"]) <= {"present", "partial",
                                                                                         "missing"}
    assert datasets.label_statistics_figure(root).data.startswith("No multi-label set and no CIFAR-10")


def test_label_statistics_sorts_label_shares(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import hashlib_core.data

    labels = np.zeros((4, 3), dtype=np.uint8)
    labels[:, 1] = 1
    labels[:2, 2] = 1
    fake = SimpleNamespace(labels=labels, class_names=["a", "b", "c"])
    monkeypatch.setattr(hashlib_core.data, "dataset_status",
                        lambda name, root=None: {"status": "present" if name == "mscoco_labels" else "missing"})
    monkeypatch.setattr(hashlib_core.data, "load_dataset", lambda name, root=None, **options: fake)
    fig = datasets.label_statistics_figure(tmp_path)
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == [1.0, 0.5, 0.0] and ax.get_title() == "mscoco_labels: 3 labels"
    assert ax.texts[0].get_text() == "b"
