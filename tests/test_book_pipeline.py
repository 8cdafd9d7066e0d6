"""hashlib_core/book/build.py on a small book made in a temporary folder: the real intro, overview and re-running
pages plus a toy method (its run template writes a schema-valid record with hand-made numbers: this tests the
pipeline).

The real book (all chapters, the smoke profile of every method) is built by tests/test_book_full.py.
"""

import html as html_lib
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from hashlib_core.book import BookError, build_book, toc_files
from hashlib_core.grid import run_grid


@pytest.fixture(autouse=True)
def _data_present(monkeypatch):
    """These tests run hand-made templates that read no data: the grid's missing-data check (tested in
    test_grid_missing_data.py) must not stop them on a machine without the datasets their specs name."""
    from hashlib_core.grid import runner

    monkeypatch.setattr(runner, "missing_data", lambda task, data_root=None: [])


REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

RUN_TEMPLATE = '''import os
from hashlib_core.records.io import atomic_write_json
if mode == "raise":
    raise RuntimeError(f"planned failure for {dataset} {bits}")
curve = {"precision_at_n": {"n": [1, 10, 100], "precision": [0.9, 0.7, 0.5]},
         "radius": {"r": [0, 1, 2], "precision": [0.9, 0.8, 0.6], "recall": [0.1, 0.3, 0.6]},
         "pr": {"recall": [0.1, 0.5, 1.0], "precision": [0.9, 0.6, 0.3]}}
atomic_write_json(os.path.join(out_dir, "curves.json"), {"image->text": curve, "text->image": curve})
atomic_write_json(os.path.join(out_dir, "metrics.json"), {
    "method": "djsrh", "dataset": dataset, "bits": bits, "seed": seed, "profile": profile,
    "protocol": "deephash", "topk": 50, "ties": "index",
    "map": {"image->text": 0.25 + seed / 100, "text->image": 0.2},
    "epochs": epochs, "train_seconds": 0.0, "device": "cpu", "git_commit": None, "data_sha256": {},
    "date": "2026-01-01T00:00:00+00:00", "split": {"seed": seed}, "settings": {"mode": mode}})
'''
CHAPTER = '''from hashlib_core.records.references import load_references
from hashlib_core.records.runs import load_curves, load_runs
from hashlib_core.report import figures
from hashlib_core.report.tables import comparison_table, style_table


runs = load_runs(profile, roots={"fresh": runs_root, "committed": records_root})
style_table(comparison_table(load_references("djsrh"), runs, paper_method="DJSRH", our_method="djsrh",
                             datasets=["wikipedia"]))'''
FIGURE = '''ok = runs[runs["status"] == "ok"]
fig = figures.plot_precision_at_n(load_curves(ok["run_dir"].iloc[0]), title="precision@N")'''


def _notebook(path: Path, cells, parameters: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [cells[0], params, *cells[1:]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _chapter_params():
    return 'profile = "default"\nruns_root = None\nrecords_root = None'


def make_source(root: Path, toc: str) -> Path:
    """A book source tree in ``root``: the repository's config, pages and overview, a toy djsrh chapter."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    shutil.copytree(REPO / "book" / "_static", root / "book" / "_static")
    for page in ("intro.md", "rerunning.md", "chapters/overview.ipynb"):
        (root / "book" / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "book" / page, root / "book" / page)
    figure = nbformat.v4.new_code_cell(FIGURE)
    figure.metadata["mystnb"] = {"figure": {"caption": "Precision@N of one toy run.", "name": "fig-toy"}}
    _notebook(root / "book" / "chapters" / "djsrh.ipynb",
              [nbformat.v4.new_markdown_cell("# DJSRH (toy)"), nbformat.v4.new_code_cell(CHAPTER), figure],
              _chapter_params())
    _notebook(root / "notebooks" / "djsrh.ipynb",
              [nbformat.v4.new_markdown_cell("# djsrh run"), nbformat.v4.new_code_cell(RUN_TEMPLATE)],
              'dataset = "wikipedia"\nbits = 16\nseed = 0\nepochs = None\nout_dir = None\nprofile = "smoke"\n'
              'mode = "ok"')
    (root / "_toc.yml").write_text(toc, encoding="utf-8")
    return root


TOY_TOC = """format: jb-book
root: book/intro
chapters:
  - file: book/chapters/djsrh
    sections:
      - file: book/runs/djsrh
  - file: book/chapters/overview
  - file: book/rerunning
"""


@pytest.fixture(scope="module")
def toy_book(tmp_path_factory):
    root = make_source(tmp_path_factory.mktemp("src"), TOY_TOC)
    specs = [{"method": "djsrh", "dataset": "wikipedia", "bits": bits, "seed": seed, "params": {"mode": "ok"}}
             for bits in (16, 32) for seed in (0, 1)]
    specs.append({"method": "djsrh", "dataset": "wikipedia", "bits": 64, "seed": 0, "params": {"mode": "raise"}})
    with pytest.MonkeyPatch.context() as patch:  # the toy template reads no data (see _data_present)
        from hashlib_core.grid import runner

        patch.setattr(runner, "missing_data", lambda task, data_root=None: [])
        outcomes = run_grid("smoke", specs, runs_root=root / "runs", notebooks_dir=root / "notebooks", cwd=root)
    assert [o.status for o in outcomes] == ["ok"] * 4 + ["failed"]
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    out = root.parent / "out"
    assert build_book("smoke", out, source_root=root, runs_root=root / "runs", records_root=root / "records",
                      run_notebooks=False) == 0
    after = sorted(p.relative_to(root) for p in root.rglob("*"))
    return {"root": root, "out": out, "html": out / "html", "tree_unchanged": before == after}


def _page(path: Path) -> str:
    return html_lib.unescape(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_toy_book_has_tables_figures_and_executed_run(toy_book):
    html = toy_book["html"]
    chapter = _page(html / "book" / "chapters" / "djsrh.html")
    assert "<table" in chapter and "0.255 ± 0.007 (n=2)" in chapter  # mean ± std over the two seeds
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', chapter)
    assert images and all((html / "book" / "chapters" / src).resolve().is_file() for src in images)
    assert "Precision@N of one toy run." in chapter
    run_page = _page(html / "book" / "runs" / "djsrh.html")
    assert "wikipedia-16b-s0" in run_page and "injected" in run_page.lower()
    overview = _page(html / "book" / "chapters" / "overview.html")
    assert overview.count("<table") >= 3 and "planned failure for wikipedia 64" in overview
    assert re.search(r'<img[^>]+src="[^"]+\.png"', overview)
    assert "runs_root =" not in overview  # chapter parameter cells are not shown
    assert (html / "index.html").is_file() and (html / "_static" / "hashbook.css").is_file()


@pytest.mark.slow
def test_toy_book_build_is_clean_and_outside_the_source_tree(toy_book):
    log = (toy_book["out"] / "jupyter-book.log").read_text(encoding="utf-8")
    assert "WARNING" not in log and "build succeeded" in log
    assert toy_book["tree_unchanged"], "the build wrote into the source tree"
    info = (toy_book["out"] / "build-info.json").read_text(encoding="utf-8")
    assert '"jupyter_book_seconds"' in info


@pytest.mark.slow
def test_failing_chapter_fails_the_build_naming_it(tmp_path):
    root = make_source(tmp_path / "src", "format: jb-book\nroot: book/intro\nchapters:\n"
                                         "  - file: book/chapters/broken\n")
    _notebook(root / "book" / "chapters" / "broken.ipynb",
              [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("1 / 0")], _chapter_params())
    with pytest.raises(BookError, match=r"chapter template book/chapters/broken\.ipynb failed to execute"
                                        r"(.|\n)*ZeroDivisionError"):
        build_book("smoke", tmp_path / "out", source_root=root, runs_root=root / "runs", run_notebooks=False)
    assert (tmp_path / "out" / "failed" / "broken.ipynb").is_file()
    assert not (tmp_path / "out" / "html").exists()


def test_toc_entry_without_source_is_named(tmp_path):
    root = make_source(tmp_path / "src", "format: jb-book\nroot: book/intro\nchapters:\n"
                                         "  - file: book/chapters/not_written_yet\n")
    with pytest.raises(BookError, match="lists 'book/chapters/not_written_yet' but neither"):
        build_book("smoke", tmp_path / "out", source_root=root, run_notebooks=False)


@pytest.mark.slow
def test_a_sphinx_warning_fails_the_build(tmp_path):
    root = make_source(tmp_path / "src", "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/bad\n")
    (root / "book" / "bad.md").write_text("# Bad\n\nSee {ref}`a-label-that-does-not-exist`.\n", encoding="utf-8")
    with pytest.raises(BookError, match="warnings are errors(.|\n)*a-label-that-does-not-exist"):
        build_book("smoke", tmp_path / "out", source_root=root, run_notebooks=False)


def test_toc_files_walks_parts_chapters_and_sections():
    toc = {"root": "intro", "parts": [{"caption": "A", "chapters": [
        {"file": "a.md", "sections": [{"file": "a1"}, {"url": "https://example.org"}]}, {"file": "b.ipynb"}]}]}
    assert toc_files(toc) == ["intro", "a", "a1", "b"]


# ---------------------------------------------------------------------------------------------- browser check

def screenshot(html_file: Path, png: Path, tmp_path: Path) -> Path:
    """Screenshot ``html_file`` with headless Chromium (following a meta-refresh redirect such as index.html)."""
    text = html_file.read_text(encoding="utf-8")
    redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', text, flags=re.IGNORECASE)
    if redirect:
        html_file = (html_file.parent / redirect.group(1)).resolve()
    profile = tmp_path / f"chromium-{png.stem}"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               f"--screenshot={png}", "--window-size=1280,2000", html_file.as_uri()]
    subprocess.run(command, capture_output=True, timeout=180)
    assert png.is_file(), f"Chromium wrote no screenshot of {html_file}"
    return png


def assert_not_blank(png: Path) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 500
    assert pixels.std() > 10.0, f"{png} looks blank (pixel std {pixels.std():.2f})"
    colours = len(np.unique(pixels.reshape(-1, 3).astype(np.uint8), axis=0))
    assert colours > 50, f"{png} has only {colours} distinct colours"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_browser_screenshots_are_not_blank(toy_book, tmp_path):
    html = toy_book["html"]
    for page, name in ((html / "index.html", "index"), (html / "book" / "chapters" / "djsrh.html", "method")):
        assert_not_blank(screenshot(page, tmp_path / f"{name}.png", tmp_path))


def test_blank_detector_rejects_a_blank_page(tmp_path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((600, 600, 3), 255, np.uint8)).save(tmp_path / "white.png")
    with pytest.raises(AssertionError, match="blank"):
        assert_not_blank(tmp_path / "white.png")
