"""report/overview.py and report/performance.py on fabricated records and result files."""

import pytest

from hashlib_core.records.io import atomic_write_json
from hashlib_core.records.references import load_references
from hashlib_core.report import overview, performance
from test_report_chapter import fabricate, fail


def _book(tmp_path):
    references = load_references("dchn")
    cell = references[references["method"] == "DCHN_100"].iloc[0]
    fabricate(tmp_path / "runs", dataset=cell["dataset"], bits=int(cell["bits"]), map={cell["direction"]: 0.5})
    fabricate(tmp_path / "runs", dataset="mfeat", bits=16, map={"fou->fac": 0.4})  # not in the paper's row
    fabricate(tmp_path / "runs", profile="default", bits=64)  # another profile's fresh run: not shown
    fabricate(tmp_path / "records", profile="paper", dataset=cell["dataset"], bits=int(cell["bits"]),
              map={cell["direction"]: 0.6}, device="cuda")
    fail(tmp_path / "runs", dataset="mscoco", message="missing file")
    return cell


def test_shown_runs_are_this_profiles_fresh_runs_and_every_committed_record(tmp_path):
    _book(tmp_path)
    shown = overview.shown_runs("smoke", tmp_path / "runs", tmp_path / "records")
    per_run = shown.drop_duplicates("run_dir")
    assert sorted(zip(per_run["source"], per_run["profile"])) == [("committed", "paper"), ("fresh", "smoke"),
                                                                   ("fresh", "smoke"), ("fresh", "smoke")]
    assert overview.built_for(shown, "smoke").data == ("This book was built with the **smoke** profile: 3 fresh run "
                                                       "folders and 1 committed records.")
    assert overview.shown_runs("paper", tmp_path / "none", tmp_path / "none2").empty


def test_paper_vs_ours_keeps_cells_with_a_run_and_notes_the_others(tmp_path):
    cell = _book(tmp_path)
    shown = overview.shown_runs("smoke", tmp_path / "runs", tmp_path / "records")
    ours = overview.paper_vs_ours(shown, paper_rows={"dchn": ("dchn", "DCHN_100")})
    both = ours[ours["paper"].notna()]
    assert sorted(both["ours_mean"]) == pytest.approx([0.5, 0.6]) and set(both["paper"]) == {cell["value"]}
    assert both["diff"].tolist() == pytest.approx([m - cell["value"] for m in both["ours_mean"]])
    note, table = overview.comparison_section(ours)
    assert note.data.startswith("1 further cells of ours") and "dchn on mfeat" in note.data
    assert list(table.data.columns) == overview.COLUMNS and len(table.data) == 2
    fig = overview.paper_vs_ours_figure(ours, "smoke")
    assert len(fig.axes[0].collections) + len(fig.axes[0].containers) >= 1
    assert overview.paper_vs_ours_figure(ours[ours["paper"].isna()], "smoke") is None
    (none,) = overview.comparison_section(overview.paper_vs_ours(shown.iloc[0:0]))
    assert none.data == "No run of ours falls on a cell the papers report."


def test_what_ran_and_failed_sections(tmp_path):
    _book(tmp_path)
    shown = overview.shown_runs("smoke", tmp_path / "runs", tmp_path / "records")
    status = overview.what_ran(shown).data.set_index(["profile", "source"])
    assert status.loc[("smoke", "fresh"), "finished"] == 2 and status.loc[("smoke", "fresh"), "failed"] == 1
    failed = overview.failed_section(shown).data
    assert failed["error"].tolist() == ["ValueError: missing file"] and "run_dir" not in failed
    assert overview.failed_section(shown[shown["status"] == "ok"]).data == "No run failed."
    assert overview.what_ran(shown.iloc[0:0]).data == "No run records were found."


def _result():
    row = {"scale": "mirflickr", "queries": 2000, "items": 18015, "method": "ours", "device": "cpu",
           "queries_timed": 2000, "seconds": 1.23456, "extrapolated": False, "queries_per_second": 1620.0,
           "pairs_per_second": 2.9e7, "peak_memory_mb": 12.34, "speedup_vs_quicksort_loop": 50.0,
           "speedup_vs_stable_loop": 60.0, "map": 0.5, "max_abs_diff_vs_stable_loop": 1e-12}
    machine = {"cpu_model": "X", "usable_cores": 2, "memory_gib": 8, "numpy": "2.0", "torch": "2.14",
               "thread_env": {"OMP_NUM_THREADS": "1"}}
    return {"date": "2026-01-01", "command": "python benchmarks/eval_speed.py", "machine": machine, "repeat": 3,
            "rows": [row, {**row, "method": "numpy loop", "seconds": 70.0, "extrapolated": True}]}


def test_benchmark_results_render_each_result_file(tmp_path):
    atomic_write_json(tmp_path / "eval_speed_cpu.json", _result())
    about, table = performance.benchmark_results(tmp_path)
    assert about.data.startswith("### eval_speed_cpu") and "threads: OMP_NUM_THREADS=1; ours: best of 3" in about.data
    assert "GPU" not in about.data
    frame = table.data
    assert frame["time, all queries (s)"].tolist() == ["1.235", "70.000*"]
    html = table.to_html()
    assert "18,015" in html and "1,620" in html and "1.0e-12" in html
    (missing,) = performance.benchmark_results(tmp_path / "none")
    assert missing.data.startswith("No benchmark results in")
