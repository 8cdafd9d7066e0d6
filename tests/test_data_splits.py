"""Split protocols: documented sizes, the relations between query / train / retrieval, and seeding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hashlib_core.data import DatasetError, load_dataset, splits
from hashlib_core.data import fashion_mnist as fashion_module
from hashlib_core.records.io import sha256_array

from fixtures_data import make_dcmh, make_fashion_mnist, make_mfeat_uci, multi_hot, one_hot

CIFAR_LABELS = one_hot(np.repeat(np.arange(10), 6000), 10)          # pooled CIFAR-10: 6,000 per class


def _disjoint(a, b) -> bool:
    return np.intersect1d(a, b).size == 0


def _draw(rule, seed):
    return rule(np.arange(CIFAR_LABELS.shape[0]), np.random.default_rng(seed))


@pytest.mark.parametrize("protocol,sizes", [
    ("cifar10", (1000, 5000, 54000)), ("cifar10-1", (1000, 5000, 59000)), ("cifar10-2", (10000, 50000, 50000))])
def test_deephash_cifar_protocols(protocol, sizes):
    from hashlib_core.data.cifar import PROTOCOLS

    q, t, database = PROTOCOLS[protocol]
    rule = lambda pool, rng: splits.per_class(pool, CIFAR_LABELS, rng, query_per_class=q,  # noqa: E731
                                              train_per_class=t, database=database)
    split = _draw(rule, 0)
    assert (split["query"].size, split["train"].size, split["retrieval"].size) == sizes
    assert CIFAR_LABELS[split["query"]].sum(0).tolist() == [q] * 10
    assert CIFAR_LABELS[split["train"]].sum(0).tolist() == [t] * 10
    assert _disjoint(split["query"], split["train"]) and _disjoint(split["query"], split["retrieval"])
    if protocol == "cifar10":
        assert _disjoint(split["train"], split["retrieval"])
        assert np.union1d(np.union1d(split["query"], split["train"]), split["retrieval"]).size == 60000
    elif protocol == "cifar10-1":
        assert np.array_equal(split["retrieval"], np.setdiff1d(np.arange(60000), split["query"]))
    else:
        assert np.array_equal(split["retrieval"], split["train"])
    again, other = _draw(rule, 0), _draw(rule, 1)
    assert all(np.array_equal(split[k], again[k]) for k in split)
    assert not np.array_equal(split["query"], other["query"])


def test_dchn_contiguous_ranges_ignore_the_seed():
    pool = np.arange(20015)
    split = splits.contiguous(pool, query=2000, train=10000)
    assert np.array_equal(split["query"], np.arange(2000))
    assert np.array_equal(split["train"], np.arange(2000, 12000))
    assert np.array_equal(split["retrieval"], np.arange(2000, 20015))
    with pytest.raises(DatasetError, match="needs 2000 query"):
        splits.contiguous(np.arange(5000), query=2000, train=10000)


def test_djsrh_per_label_sampling_sizes_and_relations():
    rng = np.random.default_rng(0)
    labels = multi_hot(rng, 20015, 24, p=0.15)
    draw = lambda seed: splits.per_label(np.arange(20015), labels, np.random.default_rng(seed),  # noqa: E731
                                         first=(160, 400), later=(80, 200), query_total=2000, train_total=5000)
    split = draw(0)
    assert (split["query"].size, split["train"].size, split["retrieval"].size) == (2000, 5000, 18015)
    assert _disjoint(split["query"], split["train"])
    assert np.array_equal(split["retrieval"], np.setdiff1d(np.arange(20015), split["query"]))
    assert labels[split["query"], 0].sum() >= 160 and labels[split["train"], 0].sum() >= 400
    assert all(np.array_equal(split[k], draw(0)[k]) for k in split)
    assert not np.array_equal(split["query"], draw(1)["query"])


def test_djsrh_tops_up_when_labels_run_out():
    labels = np.zeros((3000, 3), np.uint8)
    labels[:50, 0] = 1                 # label 0 has only 50 rows: far fewer than 160 + 400
    labels[50:, 1] = 1
    split = splits.per_label(np.arange(3000), labels, np.random.default_rng(0), first=(160, 400), later=(80, 200),
                             query_total=500, train_total=1000)
    assert split["query"].size == 500 and split["train"].size == 1000
    assert _disjoint(split["query"], split["train"])


def test_stratified_fraction_is_twenty_percent_per_class():
    labels = one_hot(np.repeat(np.arange(5), [10, 20, 30, 41, 3]), 5)
    split = splits.stratified_fraction(np.arange(labels.shape[0]), labels, np.random.default_rng(0))
    assert labels[split["query"]].sum(0).tolist() == [2, 4, 6, 8, 1]
    assert np.array_equal(split["train"], split["retrieval"])
    assert _disjoint(split["query"], split["retrieval"])
    assert split["query"].size + split["retrieval"].size == labels.shape[0]


def test_stratified_subset_is_proportional_and_seeded():
    labels = one_hot(np.repeat(np.arange(4), [100, 200, 300, 400]), 4)
    pool = np.arange(1000)
    subset = splits.stratified_subset(pool, labels, 100, np.random.default_rng(0))
    assert subset.size == 100 and np.all(np.diff(subset) > 0)
    assert labels[subset].sum(0).tolist() == [10, 20, 30, 40]
    assert np.array_equal(subset, splits.stratified_subset(pool, labels, 100, np.random.default_rng(0)))
    assert not np.array_equal(subset, splits.stratified_subset(pool, labels, 100, np.random.default_rng(1)))
    for bad in (0, 1001, 2.5, True):
        with pytest.raises(DatasetError, match="subset"):
            splits.stratified_subset(pool, labels, bad, np.random.default_rng(0))


def test_from_sets_intersects_the_pool():
    split = splits.from_sets(np.array([1, 2, 5, 8]), query=np.arange(0, 3), train=np.arange(3, 10),
                             retrieval=np.arange(3, 10))
    assert split["query"].tolist() == [1, 2] and split["train"].tolist() == [5, 8]


def test_random_split_sizes_and_seed():
    a = splits.random_split(np.arange(100), np.random.default_rng(0), query=10, train=30)
    b = splits.random_split(np.arange(100), np.random.default_rng(1), query=10, train=30)
    assert (a["query"].size, a["train"].size, a["retrieval"].size) == (10, 30, 90)
    assert _disjoint(a["query"], a["retrieval"]) and not np.array_equal(a["query"], b["query"])


# ------------------------------------------------------------------------------- through load_dataset
def test_mfeat_multiview_protocol_seed_and_split_record(tmp_path):
    make_mfeat_uci(tmp_path)
    ds = load_dataset("mfeat", root=tmp_path, seed=0)
    record = ds.split_record()
    assert record["sizes"] == {"query": 400, "train": 1600, "retrieval": 1600}
    assert ds.labels[ds.splits["query"]].sum(0).tolist() == [40] * 10
    assert record["sha256"]["query"] == sha256_array(ds.splits["query"])
    assert record["protocol"] == "multiview" and record["seed"] == 0 and record["subset"] is None
    json.dumps(record)                                     # plain JSON types only
    same, other = load_dataset("mfeat", root=tmp_path, seed=0), load_dataset("mfeat", root=tmp_path, seed=1)
    assert same.split_record() == record
    assert other.split_record()["sha256"]["query"] != record["sha256"]["query"]
    small = load_dataset("mfeat", root=tmp_path, seed=0, subset=500)
    assert small.split_record()["sizes"] == {"query": 100, "train": 400, "retrieval": 400}
    assert small.split_record()["subset"] == 500 and small.n == 2000


def test_dchn_and_djsrh_on_dcmh_fixture_with_subset(tmp_path):
    make_dcmh(tmp_path, n=20015, d_text=8, d_image=4)
    dchn = load_dataset("mirflickr25k", root=tmp_path)
    assert dchn.split_record()["sizes"] == {"query": 2000, "train": 10000, "retrieval": 18015}
    assert np.array_equal(dchn.splits["query"], load_dataset("mirflickr25k", root=tmp_path, seed=5).splits["query"])
    djsrh = load_dataset("mirflickr25k", root=tmp_path, protocol="djsrh", seed=2)
    assert djsrh.split_record()["sizes"] == {"query": 2000, "train": 5000, "retrieval": 18015}
    small = load_dataset("mirflickr25k", root=tmp_path, subset=2001)
    sizes = small.split_record()["sizes"]
    assert sizes == {"query": 200, "train": 1000, "retrieval": 1801}
    pool = np.union1d(small.splits["query"], small.splits["retrieval"])
    assert pool.size == 2001 and np.array_equal(small.splits["query"], pool[:200])   # DCHN ranges on the pool


def test_fashion_mnist_deephash_draws_query_from_test_and_train_from_train(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_module, "SYSTEM_DIRS", [])
    make_fashion_mnist(tmp_path / "fashion_mnist", n_train=5500, n_test=1200, gz=False)
    ds = load_dataset("fashion_mnist", root=tmp_path, seed=4)
    assert ds.split_record()["sizes"] == {"query": 1000, "train": 5000, "retrieval": 5700}
    assert ds.splits["query"].min() >= 5500 and ds.splits["train"].max() < 5500
    assert ds.labels[ds.splits["query"]].sum(0).tolist() == [100] * 10
    assert np.array_equal(ds.splits["retrieval"], np.setdiff1d(np.arange(6700), ds.splits["query"]))


# ------------------------------------------------------------------------------------- validation folds
def test_validation_fold_uses_the_training_rows_only(tmp_path):
    from fixtures_data import make_wikipedia_canonical

    make_wikipedia_canonical(tmp_path, n_train=40, n_test=12)
    full = load_dataset("wikipedia", root=tmp_path, protocol="djsrh")
    fold = load_dataset("wikipedia", root=tmp_path, protocol="djsrh", validation={"queries": 10, "fold": 3})
    train = full.splits["train"]
    assert (fold.splits["query"].size, fold.splits["train"].size) == (10, 30)
    assert _disjoint(fold.splits["query"], fold.splits["train"])
    assert np.array_equal(np.union1d(fold.splits["query"], fold.splits["train"]), train)
    assert np.array_equal(fold.splits["retrieval"], fold.splits["train"])
    assert _disjoint(fold.splits["query"], full.splits["query"])        # the test queries are never used
    # the fold is the documented draw: default_rng(fold).permutation over the training rows
    expected = np.sort(train[np.random.default_rng(3).permutation(train.size)[:10]])
    assert np.array_equal(fold.splits["query"], expected)
    record = fold.split_record()
    assert record["protocol"] == "djsrh/validation" and record["validation"] == {"queries": 10, "fold": 3}
    assert "validation" not in full.split_record()
    other = load_dataset("wikipedia", root=tmp_path, protocol="djsrh", validation={"queries": 10, "fold": 4})
    assert not np.array_equal(other.splits["query"], fold.splits["query"])
    again = load_dataset("wikipedia", root=tmp_path, protocol="djsrh", validation={"queries": 10, "fold": 3})
    assert all(np.array_equal(again.splits[k], fold.splits[k]) for k in fold.splits)


@pytest.mark.parametrize("option, match", [
    (5, "mapping with the keys"), ({"queries": 10}, "mapping with the keys"),
    ({"queries": 0, "fold": 0}, "'queries' must be an integer >= 1"),
    ({"queries": 10, "fold": -1}, "'fold' must be an integer >= 0"),
    ({"queries": 2.5, "fold": 0}, "'queries'"), ({"queries": 40, "fold": 0}, "fewer than the 40 training rows")])
def test_validation_fold_errors_name_the_problem(tmp_path, option, match):
    from fixtures_data import make_wikipedia_canonical

    make_wikipedia_canonical(tmp_path, n_train=40, n_test=12)
    with pytest.raises(DatasetError, match=match):
        load_dataset("wikipedia", root=tmp_path, protocol="djsrh", validation=option)
