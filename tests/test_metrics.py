"""mAP engine against the slow reference (index ties), hand-computed cases, input forms and every ValueError."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import metrics_reference as ref
from hashlib_core.metrics import (PROTOCOLS, average_precision_per_query, hamming_distance, mean_average_precision,
                                  mean_average_precision_grid, pack_codes)
from hashlib_core.metrics.engine import engine_options, prepare_problem

TOPKS = (None, 1, 5, 50, 1000)  # 1000 > retrieval size
ENGINES = {
    "numba": {"backend": "numba"},
    "numba-tiles": {"backend": "numba", "query_block": 3, "item_tile": 7, "threads": 2},  # odd block edges
    "numpy": {"backend": "numpy"},
    "numpy-multichunk": {"backend": "numpy", "item_chunk": 16, "max_elements": 80},  # 6 retrieval, 2 query chunks
    "torch": {"backend": "torch"},
    "torch-multichunk": {"backend": "torch", "item_chunk": 23, "max_elements": 100},
    "torch-float16": {"backend": "torch", "matmul_dtype": torch.float16},
}
CASES = {  # kind, bits, distinct codes, classes
    "multi-16b": ("multi", 16, 4, 5),
    "ids-32b": ("ids", 32, 6, 4),
    "onehot-64b": ("onehot", 64, 5, 6),
    "multi-wide-48b": ("multi", 48, 3, 70),  # 70 labels: three 32-bit label words
}


def _allclose_nan(a, b, atol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=atol)


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(20240611)
    out = {}
    for name, (kind, bits, distinct, classes) in CASES.items():
        q, r, ql, rl = ref.make_case(kind, rng, bits=bits, distinct=distinct, classes=classes)
        ranked = ref.ranked_relevance(q, r, ql, rl)
        expected = {(p, k): np.array([ref.average_precision(x, p, k) for x in ranked])
                    for p in PROTOCOLS for k in TOPKS}
        out[name] = (q, r, ql, rl, expected)
    return out


@pytest.mark.parametrize("engine", ref.engine_params(ENGINES))
@pytest.mark.parametrize("case", list(CASES))
def test_index_ties_match_reference(cases, case, engine):
    q, r, ql, rl, expected = cases[case]
    with engine_options(**ENGINES[engine]):
        for protocol in PROTOCOLS:
            for topk in TOPKS:
                got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol)
                _allclose_nan(got, expected[protocol, topk])
            assert mean_average_precision(q, r, ql, rl, protocol=protocol) == pytest.approx(
                ref.nanmean(expected[protocol, None]), abs=1e-12)


def test_the_case_has_ties_and_an_empty_query(cases):
    q, r, ql, rl, expected = cases["multi-16b"]
    dist = ref.hamming_matrix(q, r)
    assert all(len(np.unique(row)) < len(row) // 5 for row in dist)  # many items share each distance
    assert not ref.relevance_matrix(ql, rl)[-1].any()
    assert expected["deephash", None][-1] == 0.0 and expected["dcmh", None][-1] == 0.0
    assert math.isnan(expected["dchn", None][-1])


def test_input_forms_give_identical_numbers(cases):
    q, r, ql, rl, _ = cases["onehot-64b"]
    base = average_precision_per_query(q, r, ql, rl, topk=5, protocol="dcmh")
    forms = [
        ((q > 0).astype(np.uint8), (r > 0).astype(np.uint8), ql, rl),             # {0, 1} codes
        (torch.from_numpy(q).float(), torch.from_numpy(r).float(), ql, rl),        # torch +-1 float
        (torch.from_numpy(q > 0), torch.from_numpy(r > 0), ql, rl),                # torch bool
        (q.astype(np.float64), r, ql.argmax(1), rl.argmax(1)),                      # integer class ids
        (q, r, torch.from_numpy(ql), torch.from_numpy(rl.astype(np.float32))),     # torch labels
        (q, r, ql.astype(bool), rl.astype(bool)),                                   # bool multi-hot
    ]
    for form in forms:
        np.testing.assert_array_equal(average_precision_per_query(*form, topk=5, protocol="dcmh"), base)


def test_grid_equals_single_calls(cases):
    q, r, ql, rl, _ = cases["multi-16b"]
    rows = mean_average_precision_grid(q, r, ql, rl, topks=(None, 5, 50))
    assert len(rows) == 3 * 2 * 3
    for row in rows:
        single = mean_average_precision(q, r, ql, rl, topk=row["topk"], protocol=row["protocol"], ties=row["ties"])
        assert row["map"] == pytest.approx(single, abs=1e-12)


# ---- hand-computed cases -------------------------------------------------------------------------------------
# One query q = (+1,+1,+1,+1) and five items; class ids: the query is class 0.
#   item:      r0          r1           r2            r3           r4
#   code:   (+,+,+,+)  (-,+,+,+)   (-,-,+,+)    (+,-,+,+)   (-,-,-,-)
#   distance:  0           1            2             1            4
#   class:     1           0            0             1            0      -> relevant: r1, r2, r4 (R = 3)
# Index ties rank r0, r1, r3, r2, r4 (r1 before r3: smaller index): relevance 0 1 0 1 1, relevant at 2, 4, 5.
HAND_Q = np.array([[1, 1, 1, 1]])
HAND_R = np.array([[1, 1, 1, 1], [-1, 1, 1, 1], [-1, -1, 1, 1], [1, -1, 1, 1], [-1, -1, -1, -1]])
HAND_QL = np.array([0])
HAND_RL = np.array([1, 0, 0, 1, 0])

HAND_INDEX = {
    # deephash: mean precision at the relevant items inside the top K
    ("deephash", None): (1 / 2 + 2 / 4 + 3 / 5) / 3,   # 0.5333
    ("deephash", 3): (1 / 2) / 1,                        # top 3 = 0 1 0
    ("deephash", 1): 0.0,                                # top 1 = 0: nothing relevant, AP 0
    # dcmh: first min(K, R) relevant items of the full list, positions may lie beyond K
    ("dcmh", None): (1 / 2 + 2 / 4 + 3 / 5) / 3,
    ("dcmh", 2): (1 / 2 + 2 / 4) / 2,                    # 0.5
    ("dcmh", 1): (1 / 2) / 1,                            # the first relevant item is at 2 > K = 1
    # dchn: precision at relevant items inside the top K, divided by R = 3
    ("dchn", None): (1 / 2 + 2 / 4 + 3 / 5) / 3,
    ("dchn", 3): (1 / 2) / 3,                            # 0.1667
    ("dchn", 1): 0.0,
}
# Expected ties: only the distance-1 bucket {r1 (relevant), r3} is tied; its two orders give relevance
# 0 1 0 1 1 (as above) and 0 0 1 1 1 (relevant at 3, 4, 5), each with probability 1/2.
HAND_EXPECTED = {
    ("deephash", None): ((1 / 2 + 2 / 4 + 3 / 5) / 3 + (1 / 3 + 2 / 4 + 3 / 5) / 3) / 2,  # 0.50556
    ("deephash", 2): (1 / 2 + 0.0) / 2,                    # top 2 = 0 1 -> 1/2 ; 0 0 -> 0
    ("deephash", 3): (1 / 2 + 1 / 3) / 2,                  # top 3 = 0 1 0 -> 1/2 ; 0 0 1 -> 1/3
    ("dcmh", 1): (1 / 2 + 1 / 3) / 2,                      # first relevant at 2 or 3
    ("dcmh", 2): ((1 / 2 + 2 / 4) / 2 + (1 / 3 + 2 / 4) / 2) / 2,
    ("dchn", 3): ((1 / 2) / 3 + (1 / 3) / 3) / 2,
    ("dchn", 4): ((1 / 2 + 2 / 4) / 3 + (1 / 3 + 2 / 4) / 3) / 2,  # both orders hold two relevant in the top 4
}


@pytest.mark.parametrize("key", list(HAND_INDEX))
def test_hand_computed_index_ties(key):
    protocol, topk = key
    got = mean_average_precision(HAND_Q, HAND_R, HAND_QL, HAND_RL, topk=topk, protocol=protocol)
    assert got == pytest.approx(HAND_INDEX[key], abs=1e-15)


@pytest.mark.parametrize("key", list(HAND_EXPECTED))
def test_hand_computed_expected_ties(key):
    protocol, topk = key
    got = mean_average_precision(HAND_Q, HAND_R, HAND_QL, HAND_RL, topk=topk, protocol=protocol, ties="expected")
    assert got == pytest.approx(HAND_EXPECTED[key], abs=1e-15)


def test_hand_computed_queries_without_relevant_items():
    # Two queries on the items above: class 0 (AP as above) and class 7 (nothing relevant, R = 0).
    queries = np.array([[1, 1, 1, 1], [1, 1, 1, 1]])
    labels = np.array([0, 7])
    full = (1 / 2 + 2 / 4 + 3 / 5) / 3
    per_query = average_precision_per_query(queries, HAND_R, labels, HAND_RL, protocol="dchn")
    assert per_query[0] == pytest.approx(full) and math.isnan(per_query[1])
    # dchn leaves the R = 0 query out of the mean; deephash and dcmh count it as 0
    assert mean_average_precision(queries, HAND_R, labels, HAND_RL, protocol="dchn") == pytest.approx(full)
    assert mean_average_precision(queries, HAND_R, labels, HAND_RL, protocol="deephash") == pytest.approx(full / 2)
    assert mean_average_precision(queries, HAND_R, labels, HAND_RL, protocol="dcmh") == pytest.approx(full / 2)
    # deephash@1: neither query has a relevant item in its top 1 -> both 0, mean 0 (not NaN)
    assert mean_average_precision(queries, HAND_R, labels, HAND_RL, topk=1) == 0.0
    # dchn with no query having a relevant item: the mean is over no query -> NaN
    assert math.isnan(mean_average_precision(queries, HAND_R, np.array([7, 7]), HAND_RL, protocol="dchn"))


def test_multi_hot_relevance_is_sharing_one_label():
    # q has labels {0, 2}; items: {2} shares, {1} does not, {0, 1} shares, {} does not.
    q = np.array([[1, 1]])
    r = np.array([[1, 1], [1, 1], [1, -1], [-1, -1]])  # distances 0, 0, 1, 2
    ql = np.array([[1, 0, 1]])
    rl = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    # ranking r0 r1 r2 r3 -> relevance 1 0 1 0 ; AP = (1/1 + 2/3) / 2
    assert mean_average_precision(q, r, ql, rl) == pytest.approx((1 + 2 / 3) / 2)


def test_pack_codes_and_hamming_distance():
    rng = np.random.default_rng(3)
    for bits in (1, 7, 64, 65, 130):
        a = np.where(rng.random((5, bits)) < 0.5, 1, -1)
        b = np.where(rng.random((9, bits)) < 0.5, 1, -1)
        expected = ref.hamming_matrix(a, b)
        np.testing.assert_array_equal(hamming_distance(a, b), expected)
        np.testing.assert_array_equal(hamming_distance(torch.from_numpy(a), (b > 0).astype(np.uint8)).numpy(),
                                      expected)
        packed = pack_codes(a)
        assert packed.dtype == np.uint64 and packed.shape == (5, -(-bits // 64))
        assert np.unpackbits(packed.view(np.uint8), axis=1, bitorder="little")[:, :bits].tolist() == \
            (a > 0).astype(np.uint8).tolist()


def test_popcount_without_numpy_bitwise_count(monkeypatch):
    # numpy < 2 has no bitwise_count: the byte-table fallback must give the same distances.
    from hashlib_core.metrics import codes

    rng = np.random.default_rng(5)
    a = np.where(rng.random((4, 100)) < 0.5, 1, -1)
    b = np.where(rng.random((7, 100)) < 0.5, 1, -1)
    monkeypatch.setattr(codes, "_HAS_BITWISE_COUNT", False)
    np.testing.assert_array_equal(hamming_distance(a, b), ref.hamming_matrix(a, b))


@pytest.mark.parametrize("bits, dtype", [(1024, torch.float16), (64, torch.float16), (1500, torch.float32)])
def test_matmul_distances_are_exact(bits, dtype):
    # The CUDA path's single product [-q/2, bits/2] . [r, 1] = d, checked on the extremes and on random codes.
    from hashlib_core.metrics.codes import distance_operands, matmul_distances

    rng = np.random.default_rng(bits)
    a = np.where(rng.random((6, bits)) < 0.5, 1, -1).astype(np.int8)
    b = np.concatenate([a[:1], -a[:1], np.where(rng.random((5, bits)) < 0.5, 1, -1).astype(np.int8)])
    q = distance_operands(torch.from_numpy(a), bits, "query", dtype)
    r = distance_operands(torch.from_numpy(b), bits, "retrieval", dtype)
    assert q.shape[1] % 8 == 0
    got = matmul_distances(q, r, torch.int32).numpy()
    np.testing.assert_array_equal(got, ref.hamming_matrix(a, b))
    assert got[0, 0] == 0 and got[0, 1] == bits


def test_default_device_is_cpu_for_numpy_inputs(cases):
    q, r, ql, rl, _ = cases["ids-32b"]
    problem = prepare_problem(q, r, ql, rl)
    assert problem.device.type == "cpu" and problem.backend == ("numpy" if ref.numba_missing() else "numba")


# ---- errors ----------------------------------------------------------------------------------------------------

def _good():
    q = np.array([[1, -1, 1], [1, 1, 1]])
    r = np.array([[1, -1, -1], [-1, 1, 1], [1, 1, 1]])
    return q, r, np.array([0, 1]), np.array([0, 1, 1])


@pytest.mark.parametrize("change, message", [
    (lambda q, r, ql, rl: (q, r[:, :2], ql, rl), "bits"),
    (lambda q, r, ql, rl: (q, r, ql[:1], rl), "query_labels have 1 rows"),
    (lambda q, r, ql, rl: (q, r, ql, rl[:2]), "retrieval_labels have 2 rows"),
    (lambda q, r, ql, rl: (q, r, np.eye(3)[ql], np.eye(4)[rl]), "label columns"),
    (lambda q, r, ql, rl: (q, r, np.eye(2)[ql], rl), "1-D"),
    (lambda q, r, ql, rl: (q, r, ql.astype(float), rl.astype(float)), "integer class ids"),
    (lambda q, r, ql, rl: (q, r, 2 * np.eye(2)[ql], np.eye(2)[rl]), "only 0 and 1"),
    (lambda q, r, ql, rl: (q * 2, r, ql, rl), "entries must be in"),
    (lambda q, r, ql, rl: (np.array([[1, 0, -1], [1, 1, 1]]), r, ql, rl), "mixes"),
    (lambda q, r, ql, rl: (q[None], r, ql, rl), "2-D"),
    (lambda q, r, ql, rl: (q[:0], r, ql[:0], rl), "no query codes"),
    (lambda q, r, ql, rl: (q, r[:0], ql, rl[:0]), "no retrieval codes"),
    (lambda q, r, ql, rl: (q, r, np.array([["a"], ["b"]]), rl), "numeric"),
])
def test_bad_inputs_raise_value_error(change, message):
    with pytest.raises(ValueError, match=message):
        mean_average_precision(*change(*_good()))


@pytest.mark.parametrize("kwargs, message", [
    ({"protocol": "map"}, "protocol must be one of"),
    ({"ties": "random"}, "ties must be one of"),
    ({"topk": 0}, "topk"),
    ({"topk": -3}, "topk"),
    ({"topk": 2.5}, "topk"),
    ({"topk": True}, "topk"),
    ({"device": "tpu"}, "device"),
])
def test_bad_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mean_average_precision(*_good(), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_value_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        mean_average_precision(*_good(), device="cuda")
