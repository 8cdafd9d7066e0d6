"""report/embedded.py on fabricated records: the embedded-data runs of a chapter, with their split protocol."""

from hashlib_core.report import ChapterRuns, embedded


def test_embedded_runs_are_listed_with_their_split_and_drawn(tmp_path, run_record):
    run_record(tmp_path / "runs", method="djsrh", dataset="mfeat_twoview", bits=32, protocol="deephash", topk=50)
    run_record(tmp_path / "runs", method="djsrh", dataset="wikipedia", bits=32)
    chapter = ChapterRuns("djsrh", "smoke", tmp_path / "runs", tmp_path / "records")
    table = embedded.embedded_table(chapter)
    assert set(table["dataset"]) == {"mfeat_twoview"}  # wikipedia does not ship with the install
    assert set(table["direction"]) == {"image->text", "text->image"}
    assert table["split"].iloc[0] == "test" and table["evaluation"].iloc[0] == "deephash@50, index ties"
    shown = embedded.section(chapter)
    assert "1 embedded-data run(s), 1 of them fresh" in shown[0].data
    assert shown[-1] is not None and shown[-1].axes[0].get_lines()


def test_no_embedded_run_is_said(tmp_path, run_record):
    run_record(tmp_path / "runs", method="dchn", dataset="wikipedia")
    chapter = ChapterRuns("dchn", "smoke", tmp_path / "runs", tmp_path / "records")
    assert "No run of dchn on embedded data" in embedded.section(chapter)[0].data
    assert embedded.is_embedded("mfeat") and not embedded.is_embedded("no_such_set")
