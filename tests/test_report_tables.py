"""report/tables.py: comparison and paper-layout tables computed from hand-made references and records."""

import numpy as np
import pandas as pd
import pytest

from hashlib_core.records.io import atomic_write_json
from hashlib_core.records.references import load_references
from hashlib_core.records.runs import load_runs
from hashlib_core.report.tables import (NO_RUN_NOTE, comparison_table, format_mean_std, paper_layout_table,
                                        style_table)


def _refs():
    rows = [("P", "1", "Other", "wikipedia", "image->text", 16, "mAP@all", 0.30),
            ("P", "1", "Other", "wikipedia", "text->image", 16, "mAP@all", 0.31),
            ("P", "1", "Ours-paper", "wikipedia", "image->text", 16, "mAP@all", 0.40),
            ("P", "1", "Ours-paper", "wikipedia", "text->image", 16, "mAP@all", 0.41),
            ("P", "1", "Ours-paper", "wikipedia", "image->text", 32, "mAP@all", 0.50),
            ("P", "1", "Ours-paper", "wikipedia", "text->image", 32, "mAP@all", 0.51),
            ("P", "1", "Other", "wikipedia", "image->text", 32, "mAP@all", 0.35),
            ("P", "1", "Other", "wikipedia", "text->image", 32, "mAP@all", 0.36)]
    return pd.DataFrame(rows, columns=["source", "table", "method", "dataset", "direction", "bits", "metric",
                                       "value"])


@pytest.fixture
def runs(tmp_path, run_record):
    for seed, (i2t, t2i) in enumerate([(0.42, 0.40), (0.44, 0.43), (0.46, 0.37)]):
        run_record(tmp_path / "runs", bits=16, seed=seed, map={"image->text": i2t, "text->image": t2i})
    run_record(tmp_path / "runs", bits=64, seed=0, map={"image->text": 0.6, "text->image": 0.61})
    run_record(tmp_path / "runs", bits=16, seed=9, label="ablation", map={"image->text": 0.01, "text->image": 0.01})
    run_record(tmp_path / "records", bits=16, seed=0, profile="paper", device="cuda (H100)",
               date="2026-02-01T00:00:00+00:00", map={"image->text": 0.45, "text->image": 0.44})
    atomic_write_json(tmp_path / "runs" / "smoke" / "dchn" / "wikipedia-32b-s0" / "failed.json", {
        "error_type": "MemoryError", "message": "out of memory", "profile": "smoke",
        "spec": {"method": "dchn", "dataset": "wikipedia", "bits": 32, "seed": 0, "label": None}})
    return load_runs(roots={"fresh": tmp_path / "runs", "committed": tmp_path / "records"})


def test_mean_std_over_seeds_and_difference(runs):
    table = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn")
    smoke = table[(table["profile"] == "smoke") & (table["bits"] == 16)].set_index("direction")
    i2t = smoke.loc["image->text"]
    assert i2t["n"] == 3
    assert i2t["ours_mean"] == pytest.approx(0.44)
    assert i2t["ours_std"] == pytest.approx(np.std([0.42, 0.44, 0.46], ddof=1))  # sample std: 0.02
    assert i2t["diff"] == pytest.approx(0.44 - 0.40)
    assert i2t["ours"] == "0.440 ± 0.020 (n=3)"
    assert i2t["device"] == "cpu" and i2t["date"] == "2026-01-02" and i2t["source"] == "fresh"
    assert smoke.loc["text->image", "ours_mean"] == pytest.approx((0.40 + 0.43 + 0.37) / 3)


def test_profiles_are_separate_rows_and_missing_cells_say_why(runs):
    table = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn")
    paper_rows = table[(table["profile"] == "paper")]
    assert len(paper_rows) == 2 and set(paper_rows["n"]) == {1}
    assert paper_rows.set_index("direction").loc["image->text", "ours"] == "0.450 (n=1)"
    assert paper_rows["device"].tolist() == ["cuda (H100)"] * 2
    thirty_two = table[table["bits"] == 32]
    assert len(thirty_two) == 2 and thirty_two["ours"].eq("").all() and thirty_two["n"].eq(0).all()
    assert thirty_two["note"].str.contains("1 failed run").all()
    assert thirty_two["note"].str.contains("MemoryError: out of memory").all()
    assert thirty_two["diff"].isna().all() and thirty_two["paper"].tolist() == [0.50, 0.51]
    extra = table[table["bits"] == 64]
    assert extra["paper"].isna().all() and extra["note"].str.contains("not in the paper").all()
    # the labelled (ablation) run is not averaged into the main row, and can be asked for
    assert table["ours_mean"].max() < 0.7
    ablation = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn", label="ablation",
                                bits=16)
    assert ablation["ours_mean"].dropna().tolist() == [0.01, 0.01]


def test_no_run_note_and_metric_mismatch_note(runs):
    table = comparison_table(_refs(), runs.iloc[0:0], paper_method="Ours-paper", our_method="dchn")
    assert table["note"].eq(NO_RUN_NOTE).all() and len(table) == 4
    refs = _refs().assign(metric="mAP@50")
    table = comparison_table(refs, runs, paper_method="Ours-paper", our_method="dchn", bits=16)
    assert table["note"].str.contains("ours is mAP@all, the paper's mAP@50").all()


def test_filters_and_errors(runs):
    table = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn", bits=[16],
                             metric_protocol="dchn")
    assert set(table["bits"]) == {16}
    assert comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn",
                            metric_protocol="deephash", bits=16)["n"].eq(0).all()
    with pytest.raises(ValueError, match="paper_method: 'Nope'"):
        comparison_table(_refs(), runs, paper_method="Nope", our_method="dchn")
    with pytest.raises(ValueError, match="not a load_runs"):
        comparison_table(_refs(), pd.DataFrame({"x": [1]}), paper_method="Ours-paper", our_method="dchn")


def test_real_references_duplicate_across_tables_are_merged():
    refs = load_references("djsrh")  # DJSRH at 64/128 bits on NUS-WIDE is in Table 1 and Table 2
    empty = load_runs(roots={"fresh": "/nonexistent"})
    table = comparison_table(refs, empty, paper_method="DJSRH", our_method="djsrh")
    assert len(table) == 3 * 2 * 4
    assert not table.duplicated(["dataset", "direction", "bits"]).any()


def test_paper_layout_table(runs):
    layout = paper_layout_table(_refs(), runs, table=1, our_method="dchn")
    assert layout.index[:2].tolist() == ["Other", "Ours-paper"]
    assert sorted(layout.index[2:]) == ["ours (hashbook recipe, paper)", "ours (hashbook recipe, smoke)"]
    assert layout.columns.tolist() == [("wikipedia", "image->text", 16), ("wikipedia", "text->image", 16),
                                       ("wikipedia", "image->text", 32), ("wikipedia", "text->image", 32)]
    assert layout.loc["Other", ("wikipedia", "text->image", 32)] == 0.36
    assert layout.loc["ours (hashbook recipe, smoke)", ("wikipedia", "image->text", 16)] == pytest.approx(0.44)
    assert np.isnan(layout.loc["ours (hashbook recipe, smoke)", ("wikipedia", "image->text", 32)])  # failed: blank
    assert layout.loc["ours (hashbook recipe, paper)", ("wikipedia", "text->image", 16)] == pytest.approx(0.44)
    info = {row["row"]: row for row in layout.attrs["ours"]}
    assert info["ours (hashbook recipe, paper)"]["device"] == "cuda (H100)" and info["ours (hashbook recipe, smoke)"]["runs"] == 3
    html = style_table(layout).to_html()
    assert "<table" in html and "0.440" in html and "nan" not in html.lower()
    with pytest.raises(ValueError, match="known tables"):
        paper_layout_table(_refs(), runs, table=7, our_method="dchn")


def test_format_mean_std():
    assert format_mean_std(0.5, float("nan"), 1) == "0.500 (n=1)"
    assert format_mean_std(0.5, 0.01, 2) == "0.500 ± 0.010 (n=2)"
    assert format_mean_std(float("nan"), float("nan"), 0) == ""


def test_experiment_notebooks_and_labels_are_never_mixed(tmp_path, run_record):
    run_record(tmp_path / "runs", seed=0, map={"image->text": 0.40, "text->image": 0.40})
    run_record(tmp_path / "runs", seed=0, notebook="dchn_new_view", map={"image->text": 0.90, "text->image": 0.9})
    run_record(tmp_path / "runs", seed=0, label="a", map={"image->text": 0.10, "text->image": 0.10})
    run_record(tmp_path / "runs", seed=0, label="b", map={"image->text": 0.20, "text->image": 0.20})
    runs = load_runs(roots={"fresh": tmp_path / "runs"})
    main = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn", bits=16)
    assert main["ours_mean"].tolist() == [0.40, 0.40] and main["n"].tolist() == [1, 1]
    new_view = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn", bits=16,
                                notebook="dchn_new_view")
    assert new_view["ours_mean"].tolist() == [0.90, 0.90]
    both = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn", bits=16, label=["a", "b"])
    assert sorted(zip(both["label"], both["ours_mean"])) == [("a", 0.1), ("a", 0.1), ("b", 0.2), ("b", 0.2)]
    layout = paper_layout_table(_refs(), runs, table="1", our_method="dchn", label=["a", "b"])
    assert layout.index[-2:].tolist() == ["ours (hashbook recipe, smoke) a", "ours (hashbook recipe, smoke) b"]


def test_book_tables_diff_finds_changed_cells_and_captions(tmp_path):
    """tests/book_tables_diff.py, the before/after proof of the re-cut, on two hand-written builds."""
    import io

    from book_tables_diff import compare_builds, main

    frame = pd.DataFrame({"bits": [16, 32], "mAP": [0.5, 0.25], "date": ["2026-01-01", "2026-01-02"]})
    before, after = tmp_path / "before", tmp_path / "after"
    for folder, values, caption, dates in ((before, [0.5, 0.25], "Table 1", ["2026-01-01", "2026-01-02"]),
                                           (after, [0.5, 0.75], "Table 1 (ours)", ["2026-02-01", "2026-01-02"])):
        page = folder / "book" / "chapters"
        page.mkdir(parents=True)
        html = style_table(frame.assign(mAP=values, date=dates), caption=caption).to_html()
        (page / "dchn.html").write_text(f"<html><body>{html}</body></html>")
        (page / "same.html").write_text(f"<html><body>{style_table(frame).to_html()}</body></html>")
    out = io.StringIO()
    assert compare_builds(before, after, {"date"}, out=out) == 1
    text = out.getvalue()
    assert "caption: 'Table 1' -> 'Table 1 (ours)'" in text and "row 2 (32), mAP: '0.250' -> '0.750'" in text
    assert "row 1 (16), date" not in text.split("difference(s)")[1]  # an ignored column is not a difference
    assert "book/chapters/same.html: 1 tables before, 1 after, 1 identical" in text
    assert main([str(before), str(before)]) == 0 and main([str(before), str(after), "--ignore-column", "date"]) == 1


def test_each_recipe_is_its_own_row_and_names_itself(tmp_path, run_record):
    for seed, value in enumerate([0.30, 0.32]):
        run_record(tmp_path / "runs", seed=seed, settings={"recipe": "authors"},
                   map={"image->text": value, "text->image": value})
    run_record(tmp_path / "runs", seed=0, label="hashbook-recipe", settings={"recipe": "hashbook"},
               map={"image->text": 0.5, "text->image": 0.5})
    runs = load_runs(roots={"fresh": tmp_path / "runs"})
    assert set(runs["recipe"]) == {"authors", "hashbook"}
    layout = paper_layout_table(_refs(), runs, table=1, our_method="dchn", label=[None, "hashbook-recipe"])
    assert "ours (authors recipe, smoke)" in layout.index
    assert layout.loc["ours (authors recipe, smoke)", ("wikipedia", "image->text", 16)] == pytest.approx(0.31)
    assert layout.loc["ours (hashbook recipe, smoke) hashbook-recipe", ("wikipedia", "image->text", 16)] == 0.5
    table = comparison_table(_refs(), runs, paper_method="Ours-paper", our_method="dchn", label=[None,
                                                                                                 "hashbook-recipe"])
    assert set(table.loc[table["n"] > 0, "recipe"]) == {"authors", "hashbook"}
