"""The ``"expected"`` tie rule: exact against all tie orders (tiny cases), against all placements of the relevant
items in buckets of a dozen (straddling top-K cutoffs), and against averages over random tie orders."""

from __future__ import annotations

import numpy as np
import pytest

import metrics_reference as ref
from hashlib_core.metrics import PROTOCOLS, average_precision_per_query
from hashlib_core.metrics import expected as expected_module
from hashlib_core.metrics.engine import engine_options

ENGINES = {"numba": {"backend": "numba", "query_block": 2, "item_tile": 3}, "numpy": {"backend": "numpy"},
           "torch-multichunk": {"backend": "torch", "item_chunk": 2, "max_elements": 3}}


def _tiny_cases(count=24, seed=7):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        bits, n_items, n_query = int(rng.integers(1, 5)), int(rng.integers(1, 6)), 3
        q = ref.tie_heavy_codes(n_query, bits, int(rng.integers(1, 4)), rng)
        r = ref.tie_heavy_codes(n_items, bits, int(rng.integers(1, 3)), rng)
        if rng.random() < 0.5:
            ql, rl = rng.integers(0, 3, n_query), rng.integers(0, 3, n_items)
        else:
            ql = (rng.random((n_query, 3)) < 0.4).astype(np.uint8)
            rl = (rng.random((n_items, 3)) < 0.4).astype(np.uint8)
        yield q, r, ql, rl


@pytest.mark.parametrize("engine", ref.engine_params(ENGINES))
def test_expected_ties_equal_the_average_over_all_tie_orders(engine):
    checked = 0
    for q, r, ql, rl in _tiny_cases():
        for protocol in PROTOCOLS:
            for topk in (None, 1, 2, 3, 5):
                exact = ref.ap_exhaustive_expectation(q, r, ql, rl, protocol=protocol, topk=topk)
                with engine_options(**ENGINES[engine]):
                    got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected")
                assert np.array_equal(np.isnan(got), np.isnan(exact))
                np.testing.assert_allclose(got[~np.isnan(got)], exact[~np.isnan(exact)], rtol=0, atol=1e-12)
                checked += int((~np.isnan(exact)).sum())
    assert checked > 500


def _bucket_case():
    """One query, 8 bits; buckets: distance 0 (2 items, 1 relevant), 1 (10 items, 4 relevant), 3 (4 items, 2
    relevant), 5 (3 items, 0 relevant). Cutoffs 3..11 straddle the 10-item bucket."""
    q = np.ones((1, 8), dtype=int)
    rows, labels = [], []
    for distance, size, relevant in ((0, 2, 1), (1, 10, 4), (3, 4, 2), (5, 3, 0)):
        for j in range(size):
            code = np.ones(8, dtype=int)
            code[:distance] = -1
            rows.append(code)
            labels.append(0 if j < relevant else 1)
    order = np.random.default_rng(5).permutation(len(rows))  # shuffle the item indices
    return q, np.array(rows)[order], np.array([0]), np.array(labels)[order]


@pytest.mark.parametrize("block", [2**18, 3])  # 3: the finite sums run over many blocks (carry + rescaling)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_expected_ties_straddling_a_large_bucket(protocol, block, monkeypatch):
    monkeypatch.setattr(expected_module, "_BLOCK_ELEMENTS", block)
    q, r, ql, rl = _bucket_case()
    for topk in (None, 1, 2, 3, 5, 8, 11, 12, 14, 19):
        exact = ref.ap_pattern_expectation(q, r, ql, rl, protocol=protocol, topk=topk)
        for name, engine in ENGINES.items():
            if name.startswith("numba") and ref.numba_missing():
                continue
            with engine_options(**engine):
                got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected")
            np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12, err_msg=f"{protocol} topk={topk}")


def test_expected_ties_match_the_mean_over_random_tie_orders():
    """Sampling check: per query, |E - sample mean| <= 5 * sample sd / sqrt(S) (+ rounding)."""
    rng = np.random.default_rng(11)
    q, r, ql, rl = ref.make_case("multi", rng, n_query=6, n_items=80, bits=8, distinct=3, classes=4)
    samples = 1000
    orders = ref.ranked_relevance_samples(q, r, ql, rl, samples, rng)
    for protocol in PROTOCOLS:
        for topk in (None, 1, 10, 30):
            values = np.array([[ref.average_precision(x, protocol, topk) for x in sample] for sample in orders])
            got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected")
            keep = ~np.isnan(values[0])
            assert np.array_equal(keep, ~np.isnan(got))
            mean = values[:, keep].mean(axis=0)
            tolerance = 5 * values[:, keep].std(axis=0, ddof=1) / np.sqrt(samples) + 1e-12
            assert np.all(np.abs(got[keep] - mean) <= tolerance), (protocol, topk, got[keep], mean, tolerance)


@pytest.mark.parametrize("block", [2**18, 7])
def test_expected_ties_on_one_huge_bucket(block, monkeypatch):
    """4,000 tied items (weights over e^+-1000: no overflow) against 250 random tie orders of the reference."""
    monkeypatch.setattr(expected_module, "_BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(8)
    n = 4000
    q, r = np.ones((1, 8), dtype=int), np.ones((n, 8), dtype=int)
    r[: n // 4, 0] = -1  # 1,000 items at distance 1 after 3,000 at distance 0
    ql, rl = np.array([0]), (rng.random(n) < 0.45).astype(int)
    dist = np.where(r[:, 0] < 0, 1, 0)
    samples = 250
    for protocol, topk in (("deephash", 1500), ("dcmh", 700), ("dchn", 3500), ("deephash", None)):
        values = []
        for _ in range(samples):
            order = np.lexsort((rng.permutation(n), dist))
            values.append(ref.average_precision(rl[order] == 0, protocol, topk))
        values = np.array(values)
        got = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected")[0]
        assert np.isfinite(got)
        assert abs(got - values.mean()) <= 5 * values.std(ddof=1) / np.sqrt(samples) + 1e-12, (protocol, topk)


def test_expected_and_index_ties_agree_without_ties():
    # Item j has its first j bits flipped, so every item lies at its own distance j from the all-ones queries.
    bits = 16
    r = np.ones((bits + 1, bits), dtype=int)
    for j in range(bits + 1):
        r[j, :j] = -1
    r = r[np.random.default_rng(2).permutation(bits + 1)]
    q = np.ones((3, bits), dtype=int)
    ql, rl = np.array([0, 1, 2]), np.random.default_rng(3).integers(0, 3, bits + 1)
    for protocol in PROTOCOLS:
        for topk in (None, 3, 8):
            a = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol)
            b = average_precision_per_query(q, r, ql, rl, topk=topk, protocol=protocol, ties="expected")
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
            assert not np.all(a == 0)
