"""The whole book, as `make book PROFILE=smoke` builds it, into a temporary folder: every method's grid runs, every
chapter executes, Jupyter Book renders with warnings as errors; then each method page must show its comparison
table and a precision figure, and headless Chromium must see non-blank pages."""

import html as html_lib
import json
import os
import re
import time
from pathlib import Path

import pytest

from hashlib_core.book import build_book
from hashlib_core.records.runs import load_runs

from test_book_pipeline import CHROMIUM, assert_not_blank, screenshot

REPO = Path(__file__).resolve().parents[1]
METHODS = ("dchn", "djsrh", "hybridhash")
DATA = os.environ.get("HASHLIB_DATA")


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    if not DATA or not Path(DATA).is_dir():
        pytest.skip("HASHLIB_DATA is not set to a data folder: the smoke grid needs wikipedia and cifar10")
    tmp = tmp_path_factory.mktemp("smoke-book")
    start = time.perf_counter()
    build_book("smoke", tmp / "out", runs_root=tmp / "runs", records_root=REPO / "records")
    return {"out": tmp / "out", "runs": tmp / "runs", "seconds": time.perf_counter() - start}


def _page(path: Path) -> str:
    return html_lib.unescape(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_smoke_run_finished(smoke_book):
    runs = load_runs(roots={"fresh": smoke_book["runs"]})
    failed = runs[runs["status"] == "failed"].drop_duplicates("run_dir")
    assert failed.empty, "failed smoke runs:\n" + "\n".join(f"{r.run_dir}: {r.error}" for r in failed.itertuples())
    from hashlib_core.methods import METHODS as ALL_METHODS  # the deep methods and the training-free baselines

    assert set(runs["method"]) == set(ALL_METHODS)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_method_page_has_comparison_table_and_precision_figure(smoke_book, method):
    html = smoke_book["out"] / "html"
    page = _page(html / "book" / "chapters" / f"{method}.html")
    assert "<table" in page, f"{method}: no HTML table on its chapter page"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert images, f"{method}: no PNG figure on its chapter page"
    assert all((html / "book" / "chapters" / src).resolve().is_file() for src in images)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, flags=re.DOTALL)
    assert any("precision" in caption.lower() for caption in captions), \
        f"{method}: no figure captioned with 'precision' (cell metadata mystnb: figure: caption)"
    assert "smoke" in page  # the profile that produced the numbers is named
    assert (html / "book" / "runs" / f"{method}.html").is_file()


@pytest.mark.slow
def test_build_had_no_warnings_and_reports_timings(smoke_book):
    log = (smoke_book["out"] / "jupyter-book.log").read_text(encoding="utf-8")
    assert "WARNING" not in log and "build succeeded" in log
    info = json.loads((smoke_book["out"] / "build-info.json").read_text(encoding="utf-8"))
    print(f"smoke book: {smoke_book['seconds']:.0f} s in all; grid {info['grid_seconds']} s, chapters "
          f"{info['chapters_seconds']} s, jupyter-book {info['jupyter_book_seconds']} s")
    assert info["runs"]["failed"] == 0


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_index_and_a_method_page_render_in_chromium(smoke_book, tmp_path):
    html = smoke_book["out"] / "html"
    for page, name in ((html / "index.html", "index"), (html / "book" / "chapters" / "dchn.html", "dchn")):
        assert_not_blank(screenshot(page, tmp_path / f"{name}.png", tmp_path))
