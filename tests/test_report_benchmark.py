"""report/benchmark.py on a fabricated matrix (no training)."""

import numpy as np
import pandas as pd
import pytest

from hashlib_core.report import benchmark
from hashlib_core.report.matrix import COLUMNS


def _rows(method, variant, recipe, values, *, dataset="toy", direction="image->text", bits=32,
          protocol="deephash", topk=None, ties="expected"):
    return [{"method": method, "variant": variant, "recipe": recipe, "dataset": dataset, "direction": direction,
             "bits": bits, "seed": seed, "protocol": protocol, "topk": topk, "ties": ties, "map": value,
             "run_dir": f"/runs/{method}-{variant}-{bits}-{seed}"} for seed, value in enumerate(values)]


def _matrix(rows):
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["topk"] = frame["topk"].astype("Int64")
    return frame


def test_the_best_row_is_marked_only_when_its_paired_lead_exceeds_the_spread():
    # dchn leads lsh by 0.10, 0.11, 0.09 (clear); djsrh leads lsh in the other cell by +0.05, -0.04, +0.02 (not)
    rows = _rows("dchn", "base", "hashbook", [0.60, 0.61, 0.59]) + _rows("lsh", "base", "-", [0.50, 0.50, 0.50])
    rows += _rows("djsrh", "base", "authors", [0.55, 0.46, 0.52], bits=64) + _rows("lsh", "base", "-",
                                                                                   [0.50, 0.50, 0.50], bits=64)
    matrix = _matrix(rows)
    lead = benchmark.leaders(matrix).set_index("bits")
    assert lead.loc[32, "clear"] and not lead.loc[64, "clear"]
    assert lead.loc[32, "lead"] == pytest.approx(0.10)
    assert lead.loc[32, "spread"] == pytest.approx(np.std([0.10, 0.11, 0.09], ddof=1))
    table = benchmark.dataset_table(matrix, "toy")
    assert table.loc[("deep", "dchn (hashbook recipe)"), ("image->text", 32)] == "0.600 ± 0.010 (3) *"
    assert table.loc[("deep", "djsrh (authors recipe)"), ("image->text", 64)].startswith("0.510")
    assert table.loc[("training-free", "lsh"), ("image->text", 64)] == "0.500 ± 0.000 (3)"


def test_a_single_seed_is_never_a_clear_lead():
    matrix = _matrix(_rows("dchn", "base", "hashbook", [0.9]) + _rows("lsh", "base", "-", [0.1]))
    assert not benchmark.leaders(matrix)["clear"].any()


def test_other_evaluations_are_not_mixed_into_the_main_table():
    rows = _rows("dchn", "base", "hashbook", [0.6, 0.6]) + _rows("dchn", "base", "hashbook", [0.1, 0.1],
                                                                  ties="index", protocol="dchn")
    stats = benchmark.seed_table(_matrix(rows))
    assert list(stats["mean"]) == [pytest.approx(0.6)]


def test_ranking_agreement_counts_a_changed_order():
    rows = []
    for method, main, other in (("a", 0.9, 0.1), ("b", 0.5, 0.5), ("c", 0.1, 0.9)):
        rows += _rows(method, "base", "-", [main])
        rows += _rows(method, "base", "-", [other], protocol="dchn", ties="index")
        rows += _rows(method, "base", "-", [main + 0.01], protocol="deephash", topk=50)
    agreement = benchmark.ranking_agreement(_matrix(rows)).set_index("evaluation")
    assert agreement.loc["deephash@all, expected ties", "tau"] == pytest.approx(1.0)
    assert agreement.loc["dchn@all, index ties", "tau"] == pytest.approx(-1.0)
    assert agreement.loc["dchn@all, index ties", "top_changed"] == 1
    assert agreement.loc["deephash@50, expected ties", "top_changed"] == 0
    fig = benchmark.plot_ranking_agreement(agreement.reset_index())
    assert fig.axes


def test_deep_vs_baselines_takes_the_best_baseline_of_each_cell():
    rows = (_rows("dchn", "base", "hashbook", [0.7, 0.7]) + _rows("lsh", "base", "-", [0.4, 0.4])
            + _rows("itq", "base", "-", [0.5, 0.5]))
    gaps = benchmark.deep_vs_baselines(_matrix(rows))
    assert list(gaps["best_baseline"]) == ["itq"]
    assert gaps["gap"].iloc[0] == pytest.approx(0.2)


def test_claim_check_says_holds_reversed_or_within_spread():
    rows = (_rows("dchn", "base", "hashbook", [0.7, 0.72, 0.71]) + _rows("dchn", "dchn0", "hashbook",
                                                                          [0.6, 0.61, 0.6])
            + _rows("dchn", "base", "hashbook", [0.5, 0.5, 0.5], bits=64)
            + _rows("dchn", "dchn0", "hashbook", [0.6, 0.61, 0.6], bits=64))
    claims = benchmark.claim_check(_matrix(rows), ("dchn", "base", "hashbook"), ("dchn", "dchn0", "hashbook"))
    assert list(claims["verdict"]) == ["holds", "reversed"]


def test_evaluation_names():
    assert benchmark.evaluation_name("deephash", None, "expected") == "deephash@all, expected ties"
    assert benchmark.evaluation_name("deephash", 50, "index") == "deephash@50, index ties"


def test_multi_view_sets_are_shown_as_the_mean_over_directions():
    rows = []
    for direction, value in (("a->b", 0.2), ("b->a", 0.4), ("a->c", 0.6)):
        rows += _rows("dchn", "base", "hashbook", [value, value], direction=direction)
    table = benchmark.dataset_table(_matrix(rows), "toy")
    assert list(table.columns) == [("mean over directions", 32)]
    assert table.iloc[0, 0] == "0.400 ± 0.000 (2)"


def test_sections_render_on_a_small_matrix():
    rows = (_rows("dchn", "base", "hashbook", [0.7, 0.72, 0.71]) + _rows("dchn", "dchn0", "hashbook",
                                                                          [0.6, 0.61, 0.6])
            + _rows("cca", "base", "-", [0.4, 0.41, 0.4]) + _rows("lsh", "base", "-", [0.3, 0.3, 0.3])
            + _rows("lsh", "base", "-", [0.3, 0.3, 0.3], protocol="dchn", ties="index"))
    matrix = _matrix(rows)
    assert "re-scored 12 runs from their saved codes" in benchmark.summary(matrix, "smoke").data
    html = "".join(s.to_html() for s in benchmark.dataset_sections(matrix) if hasattr(s, "to_html"))
    assert "font-weight: bold" in html and "0.710 ± 0.010 (3) *" in html
    gap = benchmark.gap_section(matrix)[0].data
    assert gap.loc[("toy", 32), "dchn (hashbook recipe)"] == pytest.approx(0.71 - 0.403333, abs=1e-5)
    claims = benchmark.claims_section(matrix)
    texts = [c.data for c in claims if hasattr(c, "data") and isinstance(c.data, str)]
    assert any("no cell of this book has both runs" in t for t in texts)
    table = [c for c in claims if hasattr(c, "to_html")][0].data
    assert list(table["verdict"]) == ["holds"]
    agreement = benchmark.agreement_section(matrix)
    assert agreement[0].data.shape[1] == 1


def test_runs_on_splits_of_different_sizes_never_share_a_cell(tmp_path):
    from hashlib_core.records.io import atomic_write_json

    rows = _rows("hybridhash", "base", "hashbook", [0.3]) + _rows("itq", "base", "-", [0.5])
    rows += _rows("dchn", "base", "hashbook", [0.6], dataset="other")
    frame = _matrix(rows)
    frame["run_dir"] = [str(tmp_path / name) for name in ("a", "b", "c")]
    for name, (q, r) in {"a": (400, 21600), "b": (300, 2700), "c": (10, 20)}.items():
        atomic_write_json(tmp_path / name / "split.json", {"sizes": {"query": q, "retrieval": r}})
    named = benchmark.name_splits(frame)
    assert list(named["dataset"]) == ["toy (400 / 21600 split)", "toy (300 / 2700 split)", "other"]
