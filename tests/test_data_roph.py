"""``wikipedia_roph``: canonical split and labels, RoPH's ``X1`` image view, LDA (or RoPH's ``X2``) text view.

Fixtures are small files in the published layouts (``wiki_data.mat`` MATLAB v5, the SVCL release, RoPH's struct
``data`` file); one test reads the real files in ``$HASHLIB_DATA`` and skips without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fixtures_data import (make_wikipedia_canonical, make_wikipedia_roph_aligned, make_wikipedia_svcl, one_hot,
                           snapshot, wikipedia_arrays)
from hashlib_core.data import DatasetError, load_dataset, missing_files, protocols_for


@pytest.fixture
def pair(tmp_path):
    canonical = make_wikipedia_canonical(tmp_path)           # 30 train + 12 test rows
    roph = make_wikipedia_roph_aligned(tmp_path, canonical)
    return tmp_path, canonical, roph


def test_views_labels_and_official_split(pair):
    root, canonical, roph = pair
    before = snapshot(root)
    ds = load_dataset("wikipedia_roph", root=root)
    assert snapshot(root) == before                           # loading writes nothing into the data root
    assert ds.protocol == "official" and ds.view_dims() == {"image": 128, "text": 10}
    assert np.array_equal(ds.views["image"], roph["X1"].astype(np.float32))
    assert np.array_equal(ds.views["text"], np.concatenate([canonical["T_tr"], canonical["T_te"]]).astype(np.float32))
    assert np.array_equal(ds.labels, np.concatenate([canonical["L_train"], canonical["L_test"]]))
    assert ds.splits["query"].tolist() == list(range(30, 42))
    assert ds.splits["train"].tolist() == list(range(30)) == ds.splits["retrieval"].tolist()
    assert set(ds.files) == {"wiki_data.mat", "wiki_roph.mat"}
    assert len(ds.class_names) == 10
    assert any("X1" in note and "R^2 0.23" in note for note in ds.info["notes"])
    assert any("LDA" in note for note in ds.info["notes"])


def test_text_option_picks_roph_x2(pair):
    root, _, roph = pair
    ds = load_dataset("wikipedia_roph", root=root, text="roph_x2")
    assert ds.view_dims() == {"image": 128, "text": 100}
    assert np.array_equal(ds.views["text"], roph["X2"].astype(np.float32))
    assert any("X2" in note for note in ds.info["notes"])
    only = load_dataset("wikipedia_roph", root=root, views=("image",))
    assert list(only.views) == ["image"]


def test_protocols_as_wikipedia_and_roph_split(pair):
    root, _, roph = pair
    assert protocols_for("wikipedia_roph") == protocols_for("wikipedia") == ("official", "djsrh", "dchn", "roph")
    official = load_dataset("wikipedia_roph", root=root)
    for protocol in ("djsrh", "dchn"):
        other = load_dataset("wikipedia_roph", root=root, protocol=protocol)
        assert all(np.array_equal(other.splits[k], official.splits[k]) for k in official.splits)
    ds = load_dataset("wikipedia_roph", root=root, protocol="roph")
    assert ds.splits["query"].tolist() == (roph["split"]["ind_test"][0].astype(int) - 1).tolist()
    assert ds.splits["train"].tolist() == (roph["split"]["ind_train"][0].astype(int) - 1).tolist()
    assert np.array_equal(ds.splits["retrieval"], ds.splits["train"])


def test_same_split_as_wikipedia_and_subset(pair):
    root, _, _ = pair
    ours, canonical = load_dataset("wikipedia_roph", root=root), load_dataset("wikipedia", root=root)
    assert np.array_equal(ours.labels, canonical.labels)
    assert ours.split_record()["sha256"] == canonical.split_record()["sha256"]
    small = load_dataset("wikipedia_roph", root=root, subset=21, seed=3)
    assert small.subset == 21 and small.splits["query"].size + small.splits["train"].size == 21


def test_canonical_from_the_svcl_release(tmp_path):
    made = make_wikipedia_svcl(tmp_path)                      # raw_features.mat + the two .list files
    ids = {part: np.array([int(line.split("\t")[2]) - 1 for line in made["lists"][part]])
           for part in ("trainset", "testset")}
    canonical = {"L_train": one_hot(ids["trainset"], 10), "L_test": one_hot(ids["testset"], 10)}
    roph = make_wikipedia_roph_aligned(tmp_path, canonical)
    ds = load_dataset("wikipedia_roph", root=tmp_path)
    assert np.array_equal(ds.views["image"], roph["X1"].astype(np.float32))
    assert np.array_equal(ds.views["text"], np.concatenate([made["features"]["T_tr"], made["features"]["T_te"]])
                          .astype(np.float32))
    assert "raw_features.mat" in ds.files and "wiki_roph.mat" in ds.files


def test_row_count_mismatch_is_a_clear_error(tmp_path):
    canonical = make_wikipedia_canonical(tmp_path)
    make_wikipedia_roph_aligned(tmp_path, canonical, n_items=40)
    with pytest.raises(DatasetError, match=r"wiki_roph\.mat has 40 items .* wiki_data\.mat has 42 canonical"):
        load_dataset("wikipedia_roph", root=tmp_path)


def test_reordered_rows_are_detected(tmp_path):
    canonical = make_wikipedia_canonical(tmp_path)
    ids = np.concatenate([canonical["L_train"], canonical["L_test"]]).argmax(1)
    a, b = 0, int(np.flatnonzero(ids != ids[0])[0])             # two rows of different classes
    make_wikipedia_roph_aligned(tmp_path, canonical, swap=(a, b))
    with pytest.raises(DatasetError, match=rf"disagree on the class of 2 of 42 rows \(first: row {a}\)"):
        load_dataset("wikipedia_roph", root=tmp_path)


def test_missing_files_and_bad_options(tmp_path):
    make_wikipedia_canonical(tmp_path)
    with pytest.raises(DatasetError, match=r"wiki_roph\.mat(.|\n)*Where to get them"):
        load_dataset("wikipedia_roph", root=tmp_path)
    assert [m["file"].split(" ")[0] for m in missing_files("wikipedia_roph", tmp_path)] == ["wiki_roph.mat"]
    other = tmp_path / "only_roph"
    make_wikipedia_roph_aligned(other, wikipedia_arrays())
    with pytest.raises(DatasetError, match=r"wiki_data\.mat"):
        load_dataset("wikipedia_roph", root=other)
    assert [m["file"].split(":")[0] for m in missing_files("wikipedia_roph", other)] == ["wiki_data.mat"]
    with pytest.raises(DatasetError, match=r"text='sift' is not one of \['lda', 'roph_x2'\]"):
        load_dataset("wikipedia_roph", root=tmp_path, text="sift")
    with pytest.raises(DatasetError, match="unknown option"):
        load_dataset("wikipedia_roph", root=tmp_path, features="roph")


ROOT = Path(os.environ["HASHLIB_DATA"]) if os.environ.get("HASHLIB_DATA") else None


def test_real_files_in_canonical_order():
    if ROOT is None or not all((ROOT / "wikipedia" / f).is_file() for f in ("wiki_data.mat", "wiki_roph.mat")):
        pytest.skip("needs $HASHLIB_DATA/wikipedia/wiki_data.mat and wiki_roph.mat")
    ds = load_dataset("wikipedia_roph", root=ROOT)
    canonical = load_dataset("wikipedia", root=ROOT)
    roph_file = load_dataset("wikipedia", root=ROOT, features="roph")
    assert ds.view_dims() == {"image": 128, "text": 10} and ds.n == 2866
    assert np.array_equal(ds.labels, canonical.labels)
    assert np.array_equal(ds.views["text"], canonical.views["text"])
    assert np.array_equal(ds.views["image"], roph_file.views["image"])
    assert ds.split_record()["sha256"] == canonical.split_record()["sha256"]
    assert ds.file_hashes() == {
        "wiki_data.mat": "618dda68117816abb1264ca8dcf4350a547467d856ff6581d3d874bbf757dfc0",
        "wiki_roph.mat": "e417067eb501fbb41375b4461469089c9f0332ff9cdaf3b5f6570bbf0078d97c"}
    assert np.abs(ds.views["image"].mean(0)).max() < 1e-3      # README: X1 is centred
    x2 = load_dataset("wikipedia_roph", root=ROOT, text="roph_x2")
    assert x2.view_dims() == {"image": 128, "text": 100}
    roph = load_dataset("wikipedia_roph", root=ROOT, protocol="roph")
    assert np.intersect1d(roph.splits["train"], np.arange(2173)).size == 1637    # README: RoPH's random split
    assert missing_files("wikipedia_roph", ROOT) == [] and missing_files("wikipedia_roph", ROOT, text="roph_x2") == []
