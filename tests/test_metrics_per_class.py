"""per_class_average_precision against a brute-force reference on tie-heavy data (both tie rules, every protocol),
hand-computed sorted-storage cases, multi-label membership, counts/NaN and errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hashlib_core.metrics import PROTOCOLS, class_membership, per_class_average_precision


def ap_of_sequence(rel: np.ndarray, protocol: str, topk) -> float:
    """AP of one ranked relevance sequence (bool, rank order), straight from the DESIGN.md definitions."""
    n = len(rel)
    k = n if topk is None else min(topk, n)
    positions = np.flatnonzero(rel) + 1  # 1-based ranks of the relevant items
    R = len(positions)
    precisions = np.arange(1, R + 1) / positions  # P(pos) at each relevant item
    if protocol == "deephash":
        head = precisions[positions <= k]
        return float(head.mean()) if len(head) else 0.0
    if protocol == "dcmh":
        m = min(k, R)
        return float(precisions[:m].mean()) if m else 0.0
    return float(precisions[positions <= k].sum() / R) if R else math.nan


def slow_ap(query_code, retrieval_codes, relevant, protocol, topk, ties) -> float:
    """One query's AP; ``"expected"`` averages over every placement of the relevant items inside each distance
    bucket (all placements equally likely = the expectation over all orders within equal distances)."""
    distance = (query_code[None, :] != retrieval_codes).sum(axis=1)
    if ties == "index":
        return ap_of_sequence(relevant[np.argsort(distance, kind="stable")], protocol, topk)
    buckets = [(int((distance == d).sum()), int(relevant[distance == d].sum())) for d in np.unique(distance)]
    choices = [list(itertools.combinations(range(size), r)) for size, r in buckets]
    values = []
    for placement in itertools.product(*choices):
        rel = []
        for (size, _), chosen in zip(buckets, placement):
            block = np.zeros(size, dtype=bool)
            block[list(chosen)] = True
            rel.extend(block)
        values.append(ap_of_sequence(np.array(rel), protocol, topk))
    return float(np.mean(values))


def slow_per_class(qc, rc, q_multi_hot, r_multi_hot, protocol, topk, ties) -> np.ndarray:
    out = []
    for c in range(q_multi_hot.shape[1]):
        aps = [slow_ap(qc[i], rc, (r_multi_hot & q_multi_hot[i]).any(axis=1), protocol, topk, ties)
               for i in np.flatnonzero(q_multi_hot[:, c])]
        aps = [a for a in aps if not math.isnan(a)]
        out.append(np.mean(aps) if aps else math.nan)
    return np.array(out)


def tie_heavy(seed: int, n_query=14, n_items=8, bits=3, classes=3, multi=False):
    """Few bits and few items: every distance bucket holds ties; retrieval items stored sorted by class."""
    rng = np.random.default_rng(seed)
    qc = rng.choice([-1, 1], size=(n_query, bits)).astype(np.int8)
    rc = rng.choice([-1, 1], size=(n_items, bits)).astype(np.int8)
    if multi:
        q = (rng.random((n_query, classes)) < 0.4).astype(np.uint8)
        r = (rng.random((n_items, classes)) < 0.4).astype(np.uint8)
        q[0] = 0  # a query without labels
        r[0] = 0  # an item without labels
        return qc, rc, q, r
    q_ids, r_ids = rng.integers(0, classes, n_query), np.sort(rng.integers(0, classes, n_items))
    return qc, rc, q_ids, r_ids


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("ties", ["index", "expected"])
@pytest.mark.parametrize("topk", [None, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_single_label_matches_slow_reference(protocol, ties, topk, seed):
    qc, rc, q_ids, r_ids = tie_heavy(seed)
    eye = np.eye(3, dtype=bool)
    expected = slow_per_class(qc, rc, eye[q_ids], eye[r_ids], protocol, topk, ties)
    got = per_class_average_precision(qc, rc, q_ids, r_ids, protocol=protocol, topk=topk, ties=ties)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, equal_nan=True)
    # one-hot labels and {0, 1} codes give the same numbers
    again = per_class_average_precision((qc > 0).astype(np.uint8), (rc > 0).astype(np.uint8), eye[q_ids].astype(
        np.uint8), eye[r_ids].astype(np.uint8), protocol=protocol, topk=topk, ties=ties)
    np.testing.assert_allclose(again, got, rtol=0, atol=1e-15, equal_nan=True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("ties", ["index", "expected"])
def test_multi_label_counts_a_query_in_every_class_it_carries(protocol, ties):
    qc, rc, q, r = tie_heavy(3, multi=True, classes=4)
    expected = slow_per_class(qc, rc, q.astype(bool), r.astype(bool), protocol, None, ties)
    got, counts = per_class_average_precision(qc, rc, q, r, protocol=protocol, ties=ties, return_counts=True)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, equal_nan=True)
    if protocol != "dchn":  # dchn leaves out queries without relevant items
        np.testing.assert_array_equal(counts, q.sum(axis=0))


def test_sorted_storage_hand_computed():
    """All codes equal: the ranking is pure tie order. Retrieval stored sorted by class (0,0,0,1,1,1)."""
    qc = np.ones((2, 4), dtype=np.int8)
    rc = np.ones((6, 4), dtype=np.int8)
    q_ids, r_ids = np.array([0, 1]), np.array([0, 0, 0, 1, 1, 1])
    index = per_class_average_precision(qc, rc, q_ids, r_ids, ties="index")
    # class 0 finds its items at ranks 1-3 (AP 1); class 1 at ranks 4-6: (1/4 + 2/5 + 3/6) / 3
    np.testing.assert_allclose(index, [1.0, (1 / 4 + 2 / 5 + 3 / 6) / 3], rtol=0, atol=1e-15)
    expected = per_class_average_precision(qc, rc, q_ids, r_ids, ties="expected")
    # under the expectation both classes are alike (3 relevant among 6 tied), and equal to the brute force
    assert expected[0] == pytest.approx(expected[1], abs=1e-15)
    assert expected[0] == pytest.approx(slow_ap(qc[0], rc, r_ids == 0, "deephash", None, "expected"), abs=1e-15)
    # reversing the storage order swaps the index-tie values and leaves the expected ones
    flipped = per_class_average_precision(qc, rc[::-1], q_ids, r_ids[::-1], ties="index")
    np.testing.assert_allclose(flipped, index[::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(per_class_average_precision(qc, rc[::-1], q_ids, r_ids[::-1]), expected, atol=1e-15)


def test_empty_class_is_nan_and_counts():
    qc, rc, _, r_ids = tie_heavy(4)
    q_ids = np.array([0, 0, 2, 2, 2])  # class 1 has no query; class 3 exists only in the retrieval set
    r_ids = r_ids.copy()
    r_ids[-1] = 3
    means, counts = per_class_average_precision(qc[:5], rc, q_ids, r_ids, return_counts=True)
    assert means.shape == (4,) and counts.tolist() == [2, 0, 3, 0]
    assert np.isnan(means[1]) and np.isnan(means[3]) and not np.isnan(means[[0, 2]]).any()


def test_dchn_leaves_out_queries_without_relevant_items():
    qc, rc = np.ones((3, 2), np.int8), np.ones((4, 2), np.int8)
    q_ids, r_ids = np.array([0, 0, 2]), np.array([0, 1, 1, 1])  # class 2 has no relevant item
    means, counts = per_class_average_precision(qc, rc, q_ids, r_ids, protocol="dchn", return_counts=True)
    assert counts.tolist() == [2, 0, 0] and np.isnan(means[2]) and np.isnan(means[1])
    assert per_class_average_precision(qc, rc, q_ids, r_ids, protocol="deephash")[2] == 0.0


def test_torch_inputs():
    qc, rc, q_ids, r_ids = tie_heavy(5)
    a = per_class_average_precision(qc, rc, q_ids, r_ids)
    b = per_class_average_precision(torch.from_numpy(qc), torch.from_numpy(rc), torch.from_numpy(q_ids),
                                    torch.from_numpy(r_ids))
    np.testing.assert_array_equal(a, b)


def test_errors_name_the_argument():
    qc, rc, q_ids, r_ids = tie_heavy(6)
    with pytest.raises(ValueError, match="query_labels"):
        class_membership(np.array([0, -1]))
    with pytest.raises(ValueError, match="retrieval_labels"):
        class_membership(np.array([0, 1]), np.array([-2, 0]))
    with pytest.raises(ValueError, match="protocol"):
        per_class_average_precision(qc, rc, q_ids, r_ids, protocol="map")
    with pytest.raises(ValueError, match="ties"):
        per_class_average_precision(qc, rc, q_ids, r_ids, ties="random")
