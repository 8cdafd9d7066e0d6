"""report/dchn.py on fabricated DCHN records (hand-made numbers, no training): every value is checked."""

import math

import pandas as pd
import pytest

from hashlib_core.methods.dchn import PROFILES, RIDGE_LABEL
from hashlib_core.records.references import load_references
from hashlib_core.records.runs import load_runs
from hashlib_core.report import chapter as chapter_module
from hashlib_core.report import dchn
from test_report_chapter import fabricate, fail

WIKI = ("image->text", "text->image")


def _sham(bits, objective=(10.0, 8.0, 8.5), best=1, b_step=("relaxed",)):
    return {"objective": list(objective), "best_iteration": best, "bits": bits, "gamma": 1.0, "available_num": 100,
            "seed": 0, "iterations": len(objective), "monotone": True, "label_sha256": "ab", "b_step": list(b_step)}


def _dchn(root, *, dataset="wikipedia", bits=16, seed=0, dchn_map=None, ridge_map=None, label=None,
          variant="DCHN_100", views=("image", "text"), **kw):
    dchn_map = dchn_map or {"image->text": 0.5, "text->image": 0.7}
    ridge_map = ridge_map or {d: 0.4 for d in dchn_map}
    also = [{"label": RIDGE_LABEL, "protocol": "dchn", "topk": None, "ties": "index", "map": ridge_map}]
    settings = {"variant": variant, "hidden": 256, "views": list(views), "sham": _sham(bits)}
    history = [{"epoch": e, **{f"{v} {t}": 1.0 / e for v in views for t in ("loss", "L_H", "L_R")}} for e in (1, 2)]
    return fabricate(root, dataset=dataset, bits=bits, seed=seed, map=dchn_map, also=also, label=label,
                     settings=settings, history=history, **kw)


def _chapter(tmp_path):
    return chapter_module.ChapterRuns("dchn", "smoke", tmp_path / "runs", tmp_path / "records")


def test_results_table_means_over_seeds_and_ridge_difference(tmp_path):
    _dchn(tmp_path / "runs", seed=0, dchn_map={"image->text": 0.5, "text->image": 0.7})
    _dchn(tmp_path / "runs", seed=1, dchn_map={"image->text": 0.7, "text->image": 0.3})
    _dchn(tmp_path / "runs", seed=0, bits=32, variant="DCHN_0", label="dchn0")
    runs = load_runs(roots={"fresh": tmp_path / "runs"})
    table = dchn.results_table(runs, dataset="wikipedia")
    assert list(zip(table["variant"], table["bits"])) == [("DCHN_0", 32), ("DCHN_100", 16)]
    row = table.set_index("variant").loc["DCHN_100"]
    assert row["image->text DCHN"] == pytest.approx(0.6) and row["image->text ridge"] == pytest.approx(0.4)
    assert row["image->text DCHN - ridge"] == pytest.approx(0.2)
    assert row["text->image DCHN - ridge"] == pytest.approx(0.1) and row["seeds"] == "0, 1"
    assert dchn.results_table(runs, dataset="mfeat").empty


def test_results_table_over_all_directions_counts_where_dchn_is_ahead(tmp_path):
    views = ("a", "b", "c")
    directions = [f"{q}->{r}" for q in views for r in views if q != r]
    values = dict(zip(directions, (0.9, 0.1, 0.8, 0.2, 0.7, 0.6)))
    _dchn(tmp_path / "runs", dataset="mfeat", views=views, dchn_map=values,
          ridge_map={d: 0.5 for d in directions})
    table = dchn.results_table(load_runs(roots={"fresh": tmp_path / "runs"}), dataset="mfeat", by_direction=False)
    row = table.iloc[0]
    assert row["directions"] == 6 and row["DCHN ahead in"] == 4
    assert row["DCHN mean mAP"] == pytest.approx(sum(values.values()) / 6) and row["ridge mean mAP"] == 0.5
    shown = dchn.multiview_table(load_runs(roots={"fresh": tmp_path / "runs"}), datasets=["mfeat"])
    wide = shown.data
    assert wide.loc[("mfeat", "DCHN_100", "smoke", "fresh"), ("DCHN > ridge", "cells")] == "4 of 6"
    assert wide.loc[("mfeat", "DCHN_100", "smoke", "fresh"), ("16 bits", "ridge")] == 0.5
    assert "Multi-view sets" in shown.caption
    assert dchn.multiview_table(load_runs(roots={"fresh": tmp_path / "runs"}), datasets=["pie_face"]).data.startswith(
        "No multi-view run")


def test_wikipedia_table_says_where_dchn_is_ahead(tmp_path):
    _dchn(tmp_path / "runs", dchn_map={"image->text": 0.3, "text->image": 0.7})
    table, summary = dchn.wikipedia_table(load_runs(roots={"fresh": tmp_path / "runs"}))
    assert table.data["text->image DCHN - ridge"].iloc[0] == pytest.approx(0.3)
    assert "DCHN ahead of ridge in 1 of 2 (code length, direction) cells, by -0.100 to +0.300" in summary.data
    (empty,) = dchn.wikipedia_table(load_runs(roots={"fresh": tmp_path / "none"}))
    assert empty.data == "No Wikipedia run of DCHN was found for this profile."


def test_paper_tables_append_both_variants_and_name_missing_data(tmp_path):
    references = load_references("dchn")
    cell = references[(references["table"].astype(str) == "1") & (references["method"] == "DCHN_100")].iloc[0]
    value = {cell["direction"]: 0.123}
    _dchn(tmp_path / "runs", dataset=cell["dataset"], bits=int(cell["bits"]), dchn_map=value, ridge_map=value)
    _dchn(tmp_path / "runs", dataset=cell["dataset"], bits=int(cell["bits"]), dchn_map={cell["direction"]: 0.2},
          ridge_map=value, label="dchn0", variant="DCHN_0")
    runs = load_runs(roots={"fresh": tmp_path / "runs"})
    status = {"status": "missing", "missing": ["features.mat"], "obtain": "the authors' link"}
    shown = dchn.paper_tables(runs, references, tables=(1,), status_of=lambda name: status)
    table, missing = shown
    frame = table.data
    ours = [name for name in frame.index if name.startswith("ours")]
    assert len(ours) == 2 and ours[1].endswith("dchn0")
    assert frame.loc[ours[0], (cell["dataset"], cell["direction"], int(cell["bits"]))] == pytest.approx(0.123)
    assert frame.loc[ours[1], (cell["dataset"], cell["direction"], int(cell["bits"]))] == pytest.approx(0.2)
    assert frame.loc["DCHN_100", (cell["dataset"], cell["direction"], int(cell["bits"]))] == cell["value"]
    assert table.caption.startswith("Table 1 (mAP@all") and "1 run(s), cpu, 2026-01-02" in table.caption
    assert "features.mat" in missing.data and "the authors' link" in missing.data
    present = dchn.paper_tables(runs, references, tables=(1,), status_of=lambda name: {"status": "present"})
    assert len(present) == 1


def test_what_ran_counts_runs_and_lists_failures(tmp_path):
    _dchn(tmp_path / "runs", seed=0, record={"train_seconds": 2.0})
    _dchn(tmp_path / "runs", seed=1, record={"train_seconds": 4.0})
    fail(tmp_path / "runs", bits=64, message="no data")
    shown = dchn.what_ran(_chapter(tmp_path))
    table = shown[0].data
    assert table.iloc[0][["runs", "seeds", "hidden", "views"]].tolist() == [2, "0, 1", "256", "image, text"]
    assert table.iloc[0]["train s per run"] == 3.0
    assert shown[1].data.startswith("**Failed runs**") and list(shown[2].data["error"]) == ["ValueError: no data"]
    assert dchn.what_ran(chapter_module.ChapterRuns("dchn", "smoke", tmp_path / "x", tmp_path / "y"))[0].data \
        .startswith("No finished DCHN run")


def test_precision_figure_draws_every_code_length_of_one_source(tmp_path):
    for bits in (16, 32):
        _dchn(tmp_path / "runs", bits=bits)
    _dchn(tmp_path / "records", bits=64, profile="paper")  # committed: not mixed with the fresh runs
    captioned = dchn.precision_figure(_chapter(tmp_path))
    assert isinstance(captioned, chapter_module.Captioned)
    assert captioned.about == "Wikipedia, DCHN_100, 16, 32 bits, seed 0; profile smoke, device cpu, 2026-01-02 " \
                              "(fresh runs)"
    axes = captioned.figure.axes
    assert len(axes) == 4 and [line.get_label() for line in axes[0].lines] == ["16 bits", "32 bits"]
    assert dchn.precision_figure(chapter_module.ChapterRuns("dchn", "smoke", tmp_path / "x", tmp_path / "y")) \
        .data.startswith("No finished DCHN run")


def test_precision_figure_without_wikipedia_picks_best_median_worst(tmp_path):
    views = ("a", "b", "c")
    directions = [f"{q}->{r}" for q in views for r in views if q != r]
    _dchn(tmp_path / "runs", dataset="mfeat", views=views, dchn_map=dict(zip(directions, (0.9, 0.1, 0.8, 0.2, 0.7,
                                                                                           0.6))))
    captioned = dchn.precision_figure(_chapter(tmp_path))
    labels = [line.get_label() for line in captioned.figure.axes[0].lines]
    assert labels == ["a->b (mAP 0.900)", "c->b (mAP 0.600)", "a->c (mAP 0.100)"]
    assert "its best, median and worst of 6 directions by mAP" in captioned.about
    assert dchn.representative({"map": {"x": 0.1, "y": 0.2}}) == ["y", "x"]


def test_sham_figure_draws_each_distinct_solution_once(tmp_path):
    _dchn(tmp_path / "runs", bits=16)
    _dchn(tmp_path / "runs", bits=16, seed=1)  # same SHAM input (its seed is the SHAM seed in the settings): once
    run_dir = _dchn(tmp_path / "runs", bits=32)
    record = chapter_module.ChapterRuns("dchn", "smoke", tmp_path / "runs", tmp_path / "x").record(run_dir)
    record["settings"]["sham"]["b_step"] = ["relaxed", "coordinate"]
    from hashlib_core.records.io import atomic_write_json

    atomic_write_json(run_dir / "metrics.json", record)
    text, fig = dchn.sham_figure(_chapter(tmp_path))
    assert text.data.startswith("2 distinct SHAM solutions") and "needed in 1 of them: wikipedia 32b DCHN_100" \
        in text.data
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines if not line.get_label().startswith("_")] == \
        ["16 bits DCHN_100", "32 bits DCHN_100"]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([1.0, 0.8, 0.85])  # divided by the first value
    assert dchn.sham_figure(chapter_module.ChapterRuns("dchn", "smoke", tmp_path / "x", tmp_path / "y"))[0].data \
        == "No run to show."


def test_training_curves_one_panel_per_term(tmp_path):
    _dchn(tmp_path / "runs", bits=32)
    fig = dchn.training_curves(_chapter(tmp_path), dataset="wikipedia", bits=32)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "L_H (pairwise likelihood)", "L_R (label reconstruction)"]
    assert [line.get_label() for line in fig.axes[1].lines] == ["image L_H", "text L_H"]
    assert dchn.training_curves(_chapter(tmp_path), bits=64).data == "No Wikipedia 32-bit run for this profile."


def _new_view_record():
    hashes = {"network": "a" * 64, "query_codes": "b" * 64, "retrieval_codes": "c" * 64}
    return {"dataset": "mfeat", "bits": 16, "profile": "smoke", "device": "cpu", "date": "2026-01-02T03:04:05",
            "map": {"a->b": 0.5, "b->a": 0.7, "a->new": 0.2, "new->a": 0.4, "new->b": 0.6},
            "settings": {"new_view": {
                "new_view": "new", "old_views": ["a", "b"], "old_networks_identical": True,
                "old_codes_identical": False, "retrained_identical": {"a": True, "b": True},
                "seconds": {"train_old_views": 3.0, "add_new_view": 1.0, "retrain_all": 4.5},
                "hashes_before": {"a": hashes, "b": hashes},
                "hashes_after": {"a": hashes, "b": {**hashes, "query_codes": "d" * 64}}}}}


def test_new_view_tables():
    record = _new_view_record()
    kinds = dchn.new_view_table(record)
    assert list(zip(kinds["kind"], kinds["direction"])) == [
        ("new->old", "new->a"), ("new->old", "new->b"), ("old->new", "a->new"), ("old->old", "a->b"),
        ("old->old", "b->a")]
    summary = dchn.new_view_summary_table(record).iloc[0]
    assert summary["mAP old->old"] == pytest.approx(0.6) and summary["mAP new->old"] == pytest.approx(0.5)
    assert summary["mAP old->new"] == pytest.approx(0.2) and bool(summary["retrained = incremental"])
    assert summary["old views"] == "a, b" and summary["date"] == "2026-01-02"
    hashes = dchn.new_view_hash_table(record["settings"]["new_view"])
    assert len(hashes) == 6 and hashes["identical"].tolist() == [True, True, True, True, False, True]
    assert hashes["before"].str.len().eq(16).all()


def test_new_view_runs_from_the_experiment_notebook(tmp_path):
    record = _new_view_record()
    fabricate(tmp_path / "runs", dataset="mfeat", notebook="dchn_new_view", map=record["map"],
              settings=record["settings"])
    shown = dchn.new_view_runs(_chapter(tmp_path))
    assert shown.data["new view"].tolist() == ["new"] and shown.caption.startswith("New-view experiment")
    assert dchn.new_view_runs(chapter_module.ChapterRuns("dchn", "smoke", tmp_path / "x", tmp_path / "y")).data \
        == "No new-view run for this profile."


def test_ridge_comparison_table():
    record = {"map": {"image->text": 0.5, "text->image": 0.6},
              "also": [{"label": RIDGE_LABEL, "map": {"image->text": 0.45}}]}
    table = dchn.ridge_comparison_table(record).set_index("direction")
    assert table.loc["image->text", "DCHN - ridge"] == pytest.approx(0.05)
    assert table.loc["text->image", "ridge"] is None or math.isnan(table.loc["text->image", "ridge"])


def test_profiles_table_has_one_column_per_profile():
    table = dchn.profiles_table()
    assert list(table.columns) == list(PROFILES) and "hidden" in table.index
    assert isinstance(table, pd.DataFrame) and "profile_changes" not in table.index
