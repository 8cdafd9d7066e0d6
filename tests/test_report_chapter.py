"""report/chapter.py: which runs a chapter shows and in which order, the profile/device/date stamps, and how cells
show what the report functions return. Also :func:`fabricate`, the run folders the other report tests read."""

from pathlib import Path

import pytest

from conftest import write_run_record
from hashlib_core.records.io import atomic_write_json, read_json
from hashlib_core.report import chapter as chapter_module
from hashlib_core.report.chapter import (Captioned, ChapterRuns, date_range, glue_caption, joined_values, note,
                                         resolve_root, show, show_captioned, stamp, stamps)


def fabricate(root, *, settings=None, history=None, curves=None, record=None, **fields) -> Path:
    """A finished run folder with hand-made numbers (:func:`conftest.write_run_record`), its ``metrics.json``
    settings replaced by ``settings``, other record keys updated from ``record``, and ``history.json`` /
    ``curves.json`` replaced when given. Returns the folder."""
    run_dir = write_run_record(root, **fields)
    metrics = read_json(run_dir / "metrics.json")
    if settings is not None:
        metrics["settings"] = settings
    metrics.update(record or {})
    atomic_write_json(run_dir / "metrics.json", metrics)
    if history is not None:
        atomic_write_json(run_dir / "history.json", history)
    if curves is not None:
        atomic_write_json(run_dir / "curves.json", curves)
    return run_dir


def fail(root, *, method="dchn", dataset="wikipedia", bits=16, seed=0, profile="smoke", notebook=None,
         message="boom") -> Path:
    """A failed run folder (``failed.json`` as the grid runner writes it)."""
    notebook = notebook or method
    run_dir = Path(root) / profile / notebook / f"{dataset}-{bits}b-s{seed}"
    atomic_write_json(run_dir / "failed.json", {
        "error_type": "ValueError", "message": message, "traceback_tail": "", "profile": profile,
        "date": "2026-01-03T00:00:00+00:00",
        "spec": {"method": method, "notebook": notebook, "dataset": dataset, "bits": bits, "seed": seed,
                 "epochs": None, "label": None, "params": {}}})
    return run_dir


def _book(tmp_path, run_record):
    fresh, committed = tmp_path / "runs", tmp_path / "records"
    run_record(fresh, profile="smoke", bits=16, date="2026-01-01T00:00:00+00:00")
    run_record(fresh, profile="default", bits=16)  # another profile's fresh run: not shown in a smoke book
    run_record(committed, profile="paper", bits=16, device="cuda (H100)", date="2026-01-05T00:00:00+00:00")
    run_record(committed, profile="paper", bits=32, device="cuda (H100)", date="2026-01-06T00:00:00+00:00")
    run_record(committed, profile="paper", bits=32, label="dchn0", device="cuda (H100)")
    run_record(committed, profile="paper", bits=32, method="djsrh")  # another method
    return fresh, committed


def test_shows_fresh_runs_of_the_profile_and_every_committed_record(tmp_path, run_record):
    fresh, committed = _book(tmp_path, run_record)
    chapter = ChapterRuns("dchn", "smoke", fresh, committed)
    shown = chapter.ok.drop_duplicates("run_dir")
    assert sorted(zip(shown["source"], shown["profile"], shown["bits"])) == [
        ("committed", "paper", 16), ("committed", "paper", 32), ("committed", "paper", 32), ("fresh", "smoke", 16)]
    assert not len(chapter.failed)


def test_dirs_put_fresh_first_filter_by_columns_and_match_missing_labels(tmp_path, run_record):
    fresh, committed = _book(tmp_path, run_record)
    chapter = ChapterRuns("dchn", "smoke", fresh, committed)
    sixteen = chapter.dirs(bits=16)
    assert [chapter.source_of(d) for d in sixteen] == ["fresh", "committed"]
    assert [Path(d).name for d in chapter.dirs(bits=32, label=None)] == ["wikipedia-32b-s0"]
    assert [Path(d).name for d in chapter.dirs(label="dchn0")] == ["wikipedia-32b-s0-dchn0"]
    assert chapter.dirs(notebook="dchn_new_view") == []


def test_one_source_never_mixes_fresh_and_committed(tmp_path, run_record):
    fresh, committed = _book(tmp_path, run_record)
    chapter = ChapterRuns("dchn", "smoke", fresh, committed)
    picked = {16: chapter.dirs(bits=16)[0], 32: chapter.dirs(bits=32, label=None)[0]}
    kept, source = chapter.one_source(picked)
    assert source == "fresh" and list(kept) == [16]
    kept, source = chapter.one_source({32: picked[32]})
    assert source == "committed" and list(kept) == [32]


def test_stamps_and_joins():
    a = {"profile": "paper", "device": "cuda (H100)", "date": "2026-01-05T10:00:00+00:00"}
    b = {"profile": "paper", "device": "cpu", "date": "2026-01-07T10:00:00+00:00"}
    assert stamp(a) == "profile paper, device cuda (H100), 2026-01-05"
    assert stamps([a, b]) == "profile paper, device cpu, cuda (H100), 2026-01-05 to 2026-01-07"
    assert stamps([a]) == "profile paper, device cuda (H100), 2026-01-05"
    assert joined_values([64, 16, None, float("nan"), 16]) == "16, 64"
    assert date_range(["2026-01-02T00:00", 3, "2026-01-01T00:00"]) == "2026-01-01 to 2026-01-02"
    assert date_range([]) == ""


def test_resolve_root_is_relative_to_the_repository():
    assert resolve_root("/abs/path") == Path("/abs/path")
    assert resolve_root("records") == Path(__file__).resolve().parents[1] / "records"


def test_show_flattens_lists_skips_none_and_shows_captioned_figures(monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    fig = plt.figure()
    captioned = Captioned.of(fig, "runs a, b")
    assert not plt.fignum_exists(fig.number)  # closed: the kernel will not show it a second time
    show([note("a"), None, (note("b"), captioned)], None)
    assert [getattr(item, "data", item) for item in shown] == ["a", "b", fig]


def test_glue_caption_glues_figures_and_shows_notes(monkeypatch):
    import matplotlib.pyplot as plt
    import myst_nb

    glued, shown = [], []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.append((name, value, display)))
    monkeypatch.setattr("IPython.display.display", shown.append)
    captioned = Captioned.of(plt.figure(), "two runs")
    glue_caption("about", captioned)
    glue_caption(None, captioned)  # glued already by an earlier figure
    assert glued == [("about", "two runs", False)] and shown == []
    glue_caption("about", note("nothing to draw"))
    assert [item.data for item in shown] == ["nothing to draw"] and len(glued) == 1
    show_captioned(note("nothing"))
    show_captioned(captioned)
    assert shown[-1] is captioned.figure and len(shown) == 2


def test_record_reads_metrics_json(tmp_path):
    run_dir = fabricate(tmp_path / "runs", bits=32, record={"train_seconds": 7.5})
    chapter = ChapterRuns("dchn", "smoke", tmp_path / "runs", tmp_path / "records")
    assert chapter.record(run_dir)["train_seconds"] == 7.5 and chapter.record(run_dir)["bits"] == 32
    assert chapter_module.__all__ and "show" in chapter_module.__all__


def test_failed_runs_are_kept_apart(tmp_path):
    fabricate(tmp_path / "runs")
    fail(tmp_path / "runs", bits=32)
    chapter = ChapterRuns("dchn", "smoke", tmp_path / "runs", tmp_path / "records")
    assert list(chapter.failed["error"].unique()) == ["ValueError: boom"]
    assert set(chapter.ok["bits"]) == {16}
    with pytest.raises(IndexError):
        chapter.source_of("/no/such/run")
