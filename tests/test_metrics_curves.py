"""Curves (radius, precision@N, precision-recall) against the reference, and ``evaluate_retrieval``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import metrics_reference as ref
from hashlib_core.metrics import (default_pr_grid, default_precision_grid, evaluate_retrieval,
                                  mean_average_precision, precision_at_n, precision_recall_curve,
                                  precision_recall_within_radius)
from hashlib_core.metrics.engine import engine_options

ENGINES = {"numba": {"backend": "numba"}, "numba-tiles": {"backend": "numba", "query_block": 3, "item_tile": 9},
           "numpy": {"backend": "numpy"},
           "numpy-multichunk": {"backend": "numpy", "item_chunk": 16, "max_elements": 80},
           "torch-multichunk": {"backend": "torch", "item_chunk": 23, "max_elements": 100}}


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(99)
    q, r, ql, rl = ref.make_case("multi", rng, n_query=10, n_items=70, bits=12, distinct=5, classes=5)
    return q, r, ql, rl, ref.ranked_relevance(q, r, ql, rl)


@pytest.mark.parametrize("engine", ref.engine_params(ENGINES))
def test_radius_curves_match_reference(case, engine):
    q, r, ql, rl, _ = case
    precision, recall = ref.radius_curves(q, r, ql, rl)
    with engine_options(**ENGINES[engine]):
        got = precision_recall_within_radius(q, r, ql, rl)
    np.testing.assert_array_equal(got["r"], np.arange(13))
    np.testing.assert_allclose(got["precision"], precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["recall"], recall, rtol=0, atol=1e-12)
    assert got["recall"][-1] == pytest.approx(1.0)


@pytest.mark.parametrize("engine", ref.engine_params(ENGINES))
def test_precision_at_n_and_pr_curve_match_reference_index_ties(case, engine):
    q, r, ql, rl, ranked = case
    ns = [1, 2, 5, 10, 33, 70]
    precision, recall = ref.precision_recall_at(ranked, ns)
    with engine_options(**ENGINES[engine]):
        at_n = precision_at_n(q, r, ql, rl, ns)
        pr = precision_recall_curve(q, r, ql, rl, ns)
    np.testing.assert_array_equal(at_n["n"], ns)
    np.testing.assert_allclose(at_n["precision"], precision.mean(axis=0), rtol=0, atol=1e-12)
    keep = ~np.isnan(recall[:, 0])  # the PR curve averages over queries with R > 0
    assert not keep.all()
    np.testing.assert_allclose(pr["recall"], recall[keep].mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(pr["precision"], precision[keep].mean(axis=0), rtol=0, atol=1e-12)
    assert pr["recall"][-1] == pytest.approx(1.0)


@pytest.mark.parametrize("engine", ref.engine_params(ENGINES))
def test_expected_ties_curves_equal_the_average_over_all_tie_orders(engine):
    rng = np.random.default_rng(4)
    q = ref.tie_heavy_codes(4, 3, 2, rng)
    r = ref.tie_heavy_codes(6, 3, 2, rng)
    ql, rl = rng.integers(0, 2, 4), rng.integers(0, 2, 6)
    ns = [1, 2, 3, 4, 6]
    dist, rel = ref.hamming_matrix(q, r), ref.relevance_matrix(ql, rl)
    precision = np.array([np.mean([[rel[i][o][:n].sum() / n for n in ns] for o in ref.all_tie_orders(dist[i])],
                                  axis=0) for i in range(len(q))])
    with engine_options(**ENGINES[engine]):
        got = precision_at_n(q, r, ql, rl, ns, ties="expected")
        pr = precision_recall_curve(q, r, ql, rl, ns, ties="expected")
    np.testing.assert_allclose(got["precision"], precision.mean(axis=0), rtol=0, atol=1e-12)
    total = rel.sum(axis=1)
    keep = total > 0
    recall = np.array([[np.mean([rel[i][o][:n].sum() for o in ref.all_tie_orders(dist[i])]) / total[i]
                        for n in ns] for i in np.flatnonzero(keep)])
    np.testing.assert_allclose(pr["recall"], recall.mean(axis=0), rtol=0, atol=1e-12)


def test_default_grids():
    assert default_precision_grid(18015)[-1] == 5000
    assert {50, 100, 500, 1000} <= set(default_precision_grid(18015))
    assert default_precision_grid(700)[-1] == 700 and 1000 not in default_precision_grid(700)
    assert default_precision_grid(30) == [1, 5, 10, 20, 30]
    assert default_precision_grid(1) == [1]
    for n in (1, 2, 37, 18015):
        grid = default_pr_grid(n)
        assert grid[0] >= 1 and grid[-1] == n and grid == sorted(set(grid))


@pytest.mark.parametrize("ns, message", [([0, 5], "1..70"), ([5, 71], "1..70"), ([1.5], "integers"), ([], "non-empty")])
def test_bad_grid_raises(case, ns, message):
    q, r, ql, rl, _ = case
    with pytest.raises(ValueError, match=message):
        precision_at_n(q, r, ql, rl, ns)


def test_curves_reject_unknown_ties(case):
    q, r, ql, rl, _ = case
    with pytest.raises(ValueError, match="ties must be one of"):
        precision_at_n(q, r, ql, rl, [1], ties="mean")


# ---- evaluate_retrieval ---------------------------------------------------------------------------------------

def test_evaluate_retrieval_structure_and_values(case):
    q, r, ql, rl, _ = case
    result = evaluate_retrieval({"image": q, "text": torch.from_numpy(q)}, {"image": r, "text": (r > 0)}, ql, rl,
                                protocol="dcmh", topk=20, precision_at=[1, 10, 50])
    assert set(result["map"]) == {"image->text", "text->image"}
    json.dumps(result, allow_nan=False)  # plain, JSON-ready values
    for direction, value in result["map"].items():
        assert isinstance(value, float)
        assert value == pytest.approx(mean_average_precision(q, r, ql, rl, protocol="dcmh", topk=20), abs=1e-12)
        curves = result["curves"][direction]
        assert set(curves) == {"precision_at_n", "radius", "pr"}
        assert curves["precision_at_n"]["n"] == [1, 10, 50]
        assert curves["precision_at_n"]["precision"] == pytest.approx(
            precision_at_n(q, r, ql, rl, [1, 10, 50])["precision"].tolist(), abs=1e-12)
        radius = precision_recall_within_radius(q, r, ql, rl)
        assert curves["radius"]["r"] == list(range(13))
        assert curves["radius"]["precision"] == pytest.approx(radius["precision"].tolist(), abs=1e-12)
        assert curves["radius"]["recall"] == pytest.approx(radius["recall"].tolist(), abs=1e-12)
        pr = precision_recall_curve(q, r, ql, rl)
        assert set(curves["pr"]) == {"recall", "precision"}
        assert curves["pr"]["recall"] == pytest.approx(pr["recall"].tolist(), abs=1e-12)
        assert curves["pr"]["precision"] == pytest.approx(pr["precision"].tolist(), abs=1e-12)


def test_evaluate_retrieval_pairs(case):
    q, r, ql, rl, _ = case
    one = evaluate_retrieval({"image": q}, {"image": r}, ql, rl, curves=False)
    assert list(one["map"]) == ["image->image"] and one["curves"] == {}
    three = evaluate_retrieval({"a": q, "b": q, "c": q}, {"a": r, "b": r, "c": r}, ql, rl, curves=False)
    assert sorted(three["map"]) == ["a->b", "a->c", "b->a", "b->c", "c->a", "c->b"]
    chosen = evaluate_retrieval({"image": q, "text": q}, {"image": r, "text": r}, ql, rl,
                                pairs=[("image", "image")], ties="expected")
    assert list(chosen["map"]) == ["image->image"]
    assert chosen["map"]["image->image"] == pytest.approx(
        mean_average_precision(q, r, ql, rl, ties="expected"), abs=1e-12)
    expected_curve = precision_at_n(q, r, ql, rl, default_precision_grid(len(r)), ties="expected")
    assert chosen["curves"]["image->image"]["precision_at_n"]["precision"] == pytest.approx(
        expected_curve["precision"].tolist(), abs=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"pairs": [("image", "audio")]}, "retrieval view 'audio'"),
    ({"pairs": [("audio", "image")]}, "query view 'audio'"),
    ({"pairs": ["image"]}, "pair"),
    ({"protocol": "x"}, "protocol"),
    ({"topk": 0}, "topk"),
    ({"precision_at": [0]}, "precision_at"),
])
def test_evaluate_retrieval_errors(case, kwargs, message):
    q, r, ql, rl, _ = case
    with pytest.raises(ValueError, match=message):
        evaluate_retrieval({"image": q}, {"image": r}, ql, rl, **kwargs)


def test_evaluate_retrieval_bad_mappings(case):
    q, r, ql, rl, _ = case
    with pytest.raises(ValueError, match="no view in common"):
        evaluate_retrieval({"image": q}, {"text": r}, ql, rl)
    with pytest.raises(ValueError, match="non-empty mapping"):
        evaluate_retrieval(q, {"text": r}, ql, rl)
    with pytest.raises(ValueError, match="image->image: .*bits"):
        evaluate_retrieval({"image": q}, {"image": r[:, :5]}, ql, rl)


def test_evaluate_retrieval_curves_feed_the_figures(case):
    from hashlib_core.report.figures import plot_run_curves

    q, r, ql, rl, _ = case
    result = evaluate_retrieval({"image": q}, {"image": r}, ql, rl)
    figure = plot_run_curves(result["curves"])
    assert len(figure.axes) == 3
