"""records/chapter.py: which runs a chapter shows and in which order, and the profile/device/date stamps."""

from pathlib import Path

from hashlib_core.records.chapter import ChapterRuns, date_range, joined_values, resolve_root, stamp, stamps


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
