"""The book as readers get it (hashlib_core/book/assets.py, downloads.py, sphinx_links.py): MathJax served from the
book, launch buttons and source links only with a repository URL, a zip of each method chapter's runs, wide tables
that scroll; a headless Chromium check, offline, that formulas render and no page loads a script from the network.

Fast tests check the pieces; the slow ones build a small book (the real intro and re-running pages, a toy method
chapter with a wide table, a run page) twice, without and with a sample repository URL.
"""

import html as html_lib
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from hashlib_core.book import BookError, build_book
from hashlib_core.book import assets, downloads, sphinx_links
from hashlib_core.records import finish_run, sha256_array

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SAMPLE_URL = "https://github.com/example-org/hashbook-sample"


# ---------------------------------------------------------------------------------------------- fabricated runs

class TinyDataset:
    """Duck-typed dataset: 8 items, 2 classes, 4 queries (what finish_run reads)."""

    name = "tiny"

    def __init__(self):
        self.labels = np.array([[1, 0], [0, 1]] * 4, dtype=np.uint8)
        self.splits = {"query": np.arange(4), "train": np.arange(4, 8), "retrieval": np.arange(4, 8)}

    def split_record(self):
        return {"protocol": "test", "seed": 0, "sizes": {k: len(v) for k, v in self.splits.items()},
                "sha256": {k: sha256_array(v) for k, v in self.splits.items()}}

    def file_hashes(self):
        return {"tiny.csv": "0" * 64}


def fabricate_run(out_dir: Path, method: str = "dchn", profile: str = "smoke", bits: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = {view: np.where(rng.random((8, bits)) < 0.5, 1, -1) for view in ("fou", "kar")}
    return finish_run(out_dir=out_dir, method=method, dataset=TinyDataset(), bits=bits, seed=seed, profile=profile,
                      epochs=1, train_seconds=0.1, device="cpu",
                      query_codes={v: c[:4] for v, c in codes.items()},
                      retrieval_codes={v: c[4:] for v, c in codes.items()}, protocol="dchn", topk=None)


# ---------------------------------------------------------------------------------------------- MathJax

def test_mathjax_comes_from_the_registry_package():
    folder = assets.mathjax_source()
    assert (folder / assets.MATHJAX_ENTRY).is_file()
    assert 'VERSION="3.' in (folder / "core.js").read_text(encoding="utf-8", errors="replace")


def test_copy_mathjax_keeps_what_the_pages_load(tmp_path):
    entry = assets.copy_mathjax(tmp_path / "vendor")
    root = entry.parent
    assert entry.name == "tex-mml-chtml.js" and entry.stat().st_size > 500_000
    assert list((root / "output" / "chtml" / "fonts" / "woff-v2").glob("MathJax_Main-Regular.woff"))
    assert (root / "input" / "tex" / "extensions" / "ams.js").is_file()  # autoloaded TeX packages
    assert not (root / "tex-svg.js").exists() and not (root / "output" / "svg").exists()


def test_missing_mathjax_package_is_named(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(BookError, match="sphinx-mathjax-offline==0.0.2"):
        assets.mathjax_source()


# ---------------------------------------------------------------------------------------------- repository settings

def test_no_repository_url_means_no_links():
    assert assets.repository_settings(None) == {}


def test_github_url_gets_binder_colab_and_source_buttons():
    settings = assets.repository_settings(SAMPLE_URL + ".git/", branch="dev")
    assert settings["repository"] == {"url": SAMPLE_URL, "path_to_book": "", "branch": "dev"}
    assert settings["html"]["use_repository_button"] and settings["html"]["use_edit_page_button"]
    assert settings["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert settings["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert settings["sphinx"]["extra_extensions"] == ["hashlib_core.book.sphinx_links"]


def test_other_providers_get_what_they_support():
    gitlab = assets.repository_settings("https://gitlab.com/org/repo")
    assert "binderhub_url" in gitlab["launch_buttons"] and "colab_url" not in gitlab["launch_buttons"]
    bitbucket = assets.repository_settings("https://bitbucket.org/org/repo")
    assert not {"binderhub_url", "colab_url"} & set(bitbucket["launch_buttons"])


@pytest.mark.parametrize("url", ["http://github.com/org/repo", "https://github.com/org", "https://example.com/a/b",
                                 "github.com/org/repo", "https://github.com/org/repo/tree/main"])
def test_bad_repository_urls_are_refused(url):
    with pytest.raises(BookError, match="repository URL"):
        assets.repository_settings(url)


def test_repository_url_from_env(monkeypatch):
    monkeypatch.setenv("HASHBOOK_REPOSITORY_URL", f" {SAMPLE_URL} ")
    assert assets.repository_url_from_env() == SAMPLE_URL
    assert assets.repository_url_from_env("") is None  # an explicit empty value wins
    monkeypatch.setenv("HASHBOOK_REPOSITORY_URL", "")
    assert assets.repository_url_from_env() is None


def _staged_config(tmp_path, url):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_vendor").mkdir()
    shutil.copy(REPO / "_config.yml", tmp_path / "_config.yml")
    assets.stage_config(tmp_path / "_config.yml", repository_url=url)
    return yaml.safe_load((tmp_path / "_config.yml").read_text(encoding="utf-8"))


def test_staged_config_without_url_serves_mathjax_and_links_nowhere(tmp_path):
    config = _staged_config(tmp_path, None)
    sphinx = config["sphinx"]["config"]
    assert sphinx["mathjax_path"] == "mathjax/tex-mml-chtml.js"
    assert sphinx["html_static_path"] == ["_static", "_vendor"]
    assert "repository" not in config and not config["html"]["use_repository_button"]
    assert not {"binderhub_url", "colab_url"} & set(config["launch_buttons"])
    assert config["sphinx"]["config"]["nb_merge_streams"] is True  # the committed settings are kept


def test_staged_config_with_url_configures_the_buttons(tmp_path):
    config = _staged_config(tmp_path, SAMPLE_URL)
    assert config["repository"]["url"] == SAMPLE_URL
    assert config["html"]["use_repository_button"] is True
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert "hashlib_core.book.sphinx_links" in config["sphinx"]["extra_extensions"]
    assert config["launch_buttons"]["thebe"] is False  # thebe would load code from a CDN


def test_committed_config_has_no_repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert "repository" not in config and not config["html"]["use_repository_button"]


def test_run_pages_link_to_their_notebook():
    assert sphinx_links.run_page_source("book/runs/djsrh") == "notebooks/djsrh.ipynb"
    assert sphinx_links.run_page_source("book/chapters/djsrh") is None
    buttons = [{"type": "group", "buttons": [
        {"url": f"https://mybinder.org/v2/gh/o/r/main?urlpath=tree/book/runs/dchn.ipynb"},
        {"url": "https://colab.research.google.com/github/o/r/blob/main/book/runs/dchn.ipynb"}]},
        {"url": "https://github.com/o/r/edit/main/book/runs/dchn.ipynb"}, {"type": "javascript"}]
    context = {"header_buttons": buttons}
    sphinx_links.rewrite_run_page_links(None, "book/runs/dchn", None, context, None)
    urls = [b["url"] for b in buttons[0]["buttons"]] + [buttons[1]["url"]]
    assert all(u.endswith("notebooks/dchn.ipynb") for u in urls)


def test_cli_help_lists_the_method_parameters():
    text = assets.cli_help("dchn")
    assert text.startswith("usage: python -m hashlib_core run dchn")
    assert "available_num" in text and "method parameters of dchn" in text


# ---------------------------------------------------------------------------------------------- downloads

def test_human_size():
    assert downloads.human_size(999) == "999 bytes" and downloads.human_size(2_345_678) == "2.3 MB"
    assert downloads.human_size(12_300) == "12.3 kB"


@pytest.fixture
def fabricated_roots(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    fabricate_run(runs / "smoke" / "dchn" / "tiny-8b-s0", seed=0)
    fabricate_run(runs / "smoke" / "dchn" / "tiny-8b-s1", seed=1)
    fabricate_run(runs / "default" / "dchn" / "tiny-8b-s0", profile="default")  # another profile: left out
    fabricate_run(runs / "smoke" / "djsrh" / "tiny-8b-s0", method="djsrh")      # another method: left out
    committed = records / "smoke" / "dchn" / "tiny-16b-s0"
    fabricate_run(committed, bits=16)
    for name in ("codes.npz", "splits.npz"):                                    # committed records: JSON only
        (committed / name).unlink()
    (runs / "smoke" / "dchn" / "tiny-8b-s0" / "run.ipynb").write_text("{}", encoding="utf-8")  # not a record
    return runs, records


def test_records_zip_holds_the_profile_runs_of_the_method(fabricated_roots, tmp_path):
    runs, records = fabricated_roots
    archive = downloads.write_records_zip("dchn", "smoke", runs, records, tmp_path / "out" / "dchn.zip")
    assert (archive.runs, archive.with_codes) == (3, 2) and archive.size == archive.path.stat().st_size
    names = zipfile.ZipFile(archive.path).namelist()
    folders = sorted({n.rsplit("/", 1)[0] for n in names})
    assert folders == ["records/smoke/dchn/tiny-16b-s0", "runs/smoke/dchn/tiny-8b-s0", "runs/smoke/dchn/tiny-8b-s1"]
    assert "runs/smoke/dchn/tiny-8b-s0/codes.npz" in names and "runs/smoke/dchn/tiny-8b-s0/metrics.json" in names
    assert not any(n.endswith("run.ipynb") for n in names)
    for name in ("metrics.json", "curves.json", "split.json", "splits.npz"):
        assert f"runs/smoke/dchn/tiny-8b-s1/{name}" in names
    first = archive.path.read_bytes()
    again = downloads.write_records_zip("dchn", "smoke", runs, records, tmp_path / "out" / "dchn.zip")
    assert again.path.read_bytes() == first  # deterministic
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_unzipped_records_rescore_with_one_command(fabricated_roots, tmp_path, capsys):
    from hashlib_core.cli import main
    from hashlib_core.report.matrix import read_matrix

    runs, records = fabricated_roots
    archive = downloads.write_records_zip("dchn", "smoke", runs, records, tmp_path / "dchn.zip")
    zipfile.ZipFile(archive.path).extractall(tmp_path / "unzipped")
    assert main(["matrix", "--profile", "smoke", "--root", str(tmp_path / "unzipped"), "--out",
                 str(tmp_path / "m.csv"), "--quiet"]) == 0
    frame = read_matrix(tmp_path / "m.csv")
    assert frame["run_dir"].nunique() == 2  # the committed record has no codes: skipped, named
    out = capsys.readouterr().out
    assert "skipped" in out and "tiny-16b-s0" in out
    own = json.loads((runs / "smoke" / "dchn" / "tiny-8b-s0" / "metrics.json").read_text())
    mine = frame[(frame["run_dir"].str.endswith("tiny-8b-s0")) & (frame["protocol"] == "dchn")
                 & frame["topk"].isna() & (frame["ties"] == "index")]
    assert dict(zip(mine["direction"], mine["map"])) == pytest.approx(own["map"])
    assert main(["matrix", "--profile", "smoke", "--root", str(tmp_path / "nowhere"), "--out", "x.csv"]) == 2


def test_download_note_is_inserted_under_the_title(fabricated_roots, tmp_path):
    runs, records = fabricated_roots
    stage = tmp_path / "stage"
    for name in ("dchn", "overview"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                                             nbformat.v4.new_code_cell("1")])
        (stage / "book" / "chapters").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, stage / "book" / "chapters" / f"{name}.ipynb")
    written = downloads.add_record_downloads(stage, ["book/intro", "book/chapters/dchn", "book/chapters/overview"],
                                             "smoke", runs, records)
    assert [w.method for w in written] == ["dchn"]
    cells = nbformat.read(stage / "book" / "chapters" / "dchn.ipynb", as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "markdown", "code"]
    note = cells[1].source
    assert "{download}`dchn-smoke-runs.zip <../generated/downloads/dchn-smoke-runs.zip>`" in note
    assert downloads.human_size(written[0].size) in note and "--profile smoke --root D" in note
    assert (stage / "book" / "generated" / "downloads" / "dchn-smoke-runs.zip").is_file()
    assert len(nbformat.read(stage / "book" / "chapters" / "overview.ipynb", as_version=4).cells) == 2


def test_no_runs_says_so(tmp_path):
    archive = downloads.write_records_zip("djsrh", "paper", tmp_path / "r", tmp_path / "c", tmp_path / "z.zip")
    assert archive.runs == 0 and "no records to download" in downloads.download_note(archive, "z.zip")


# ---------------------------------------------------------------------------------------------- a small book, built

WIDE_TABLE = '''import pandas as pd
from hashlib_core.report import style_table
columns = pd.MultiIndex.from_product([["wikipedia", "mirflickr25k"], ["image->text", "text->image"],
                                      [16, 32, 64, 128]], names=["dataset", "direction", "bits"])
frame = pd.DataFrame([[0.123456 + i / 100 + j / 1000 for j in range(16)] for i in range(4)], columns=columns,
                     index=pd.Index(["a method with a long name", "DCHN_100", "DCHN_0", "ours"], name="method"))
style_table(frame, caption="A paper-layout table: 16 value columns")'''
# An inline script (no network) that measures the layout once the page has loaded and writes what it found into
# the DOM, where Chromium's --dump-dom shows it.
LAYOUT_PROBE = '''<div id="layout-probe"></div>
<script>
window.addEventListener("load", function () {
  var table = document.querySelector(".cell_output table");
  var box = table.closest(".output");
  var label = table.querySelector("tbody tr > :first-child");
  var probe = document.getElementById("layout-probe");
  probe.setAttribute("data-page-fits", String(document.documentElement.scrollWidth <= window.innerWidth));
  probe.setAttribute("data-table-scrolls", String(box.scrollWidth > box.clientWidth));
  probe.setAttribute("data-label-sticky", getComputedStyle(label).position);
  box.scrollLeft = box.scrollWidth;
  var labelBox = label.getBoundingClientRect(), boxBox = box.getBoundingClientRect();
  probe.setAttribute("data-label-visible-after-scroll", String(labelBox.left >= boxBox.left - 1));
});
</script>'''
TOY_TOC = """format: jb-book
root: book/intro
chapters:
  - file: book/chapters/dchn
    sections:
      - file: book/runs/dchn
  - file: book/rerunning
"""


def make_source(root: Path) -> Path:
    """A book source: the repository's config, intro (formulas) and re-running pages, a toy DCHN chapter with a
    wide table and a layout probe, one fabricated DCHN run of the smoke profile (its page comes from its notebook)."""
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text(TOY_TOC, encoding="utf-8")
    shutil.copytree(REPO / "book" / "_static", root / "book" / "_static")
    for page in ("intro.md", "rerunning.md"):
        shutil.copy(REPO / "book" / page, root / "book" / page)
    params = nbformat.v4.new_code_cell('profile = "smoke"\nruns_root = "runs"\nrecords_root = "records"')
    params.metadata["tags"] = ["parameters"]
    chapter = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# DCHN (toy)\n\nThe distance $d_H(b_i, b_j) = \\tfrac{1}{2}(k - b_i^\\top b_j)$."),
        params, nbformat.v4.new_code_cell(WIDE_TABLE), nbformat.v4.new_markdown_cell(LAYOUT_PROBE)])
    chapter.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / "book" / "chapters").mkdir(parents=True)
    nbformat.write(chapter, root / "book" / "chapters" / "dchn.ipynb")
    run_dir = root / "runs" / "smoke" / "dchn" / "tiny-8b-s0"
    fabricate_run(run_dir)
    run_notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# dchn run (toy)")])
    run_notebook.metadata["kernelspec"] = chapter.metadata["kernelspec"]
    nbformat.write(run_notebook, run_dir / "run.ipynb")
    return root


def _build(root: Path, out: Path, url):
    assert build_book("smoke", out, source_root=root, runs_root=root / "runs", records_root=root / "records",
                      run_notebooks=False, repository_url=url) == 0
    return out / "html"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    root = make_source(tmp_path_factory.mktemp("src"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    plain = _build(root, root.parent / "plain", "")
    linked = _build(root, root.parent / "linked", SAMPLE_URL)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before, "the build wrote into the source tree"
    return {"plain": plain, "linked": linked}


def _page(path: Path) -> str:
    return html_lib.unescape(path.read_text(encoding="utf-8"))


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


@pytest.mark.slow
def test_every_page_loads_mathjax_from_the_book(books):
    for html in books.values():
        assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
        for page in _pages(html):
            text = page.read_text(encoding="utf-8")
            remote = re.findall(r'<script[^>]+src="((?:https?:)?//[^"]+)"', text)
            remote += re.findall(r'<link[^>]+href="((?:https?:)?//[^"]+\.(?:css|js|woff2?)[^"]*)"', text)
            assert not remote, f"{page.name} loads scripts or styles from the network: {remote}"
            assert "cdn.jsdelivr" not in text
        intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
        assert re.search(r'<script[^>]+src="(\.\./)*_static/mathjax/tex-mml-chtml\.js', intro)
        assert not [p for p in (html / "_static").glob("*.js") if "mathjax" in p.name.lower()]  # not on every page


@pytest.mark.slow
def test_without_a_url_nothing_links_outside_the_book(books):
    for page in _pages(books["plain"]):
        text = _page(page)
        assert "mybinder.org" not in text and "colab.research.google.com" not in text, page.name
        assert "example-org" not in text and 'href="https://github.com' not in text, page.name


@pytest.mark.slow
def test_with_a_url_the_buttons_are_on_the_pages(books):
    run_page = _page(books["linked"] / "book" / "runs" / "dchn.html")
    assert f"https://mybinder.org/v2/gh/example-org/hashbook-sample/main?urlpath=tree/notebooks/dchn.ipynb" in run_page
    assert ("https://colab.research.google.com/github/example-org/hashbook-sample/blob/main/notebooks/dchn.ipynb"
            in run_page)
    assert "book/runs/dchn.ipynb" not in run_page  # the generated page is not a file of the repository
    chapter = _page(books["linked"] / "book" / "chapters" / "dchn.html")
    assert "urlpath=tree/book/chapters/dchn.ipynb" in chapter
    intro = _page(books["linked"] / "book" / "intro.html")
    assert f'href="{SAMPLE_URL}"' in intro  # the repository button
    assert f"{SAMPLE_URL}/blob/main/book/intro.md" in intro  # the source button
    assert "mybinder.org" not in intro  # launch buttons only on notebook pages


@pytest.mark.slow
def test_method_chapter_links_its_runs_zip(books):
    chapter = _page(books["plain"] / "book" / "chapters" / "dchn.html")
    link = re.search(r'href="([^"]+dchn-smoke-runs\.zip)"', chapter)
    assert link, "no download link"
    target = (books["plain"] / "book" / "chapters" / link.group(1)).resolve()
    assert target.is_file()
    assert downloads.human_size(target.stat().st_size) in chapter
    names = zipfile.ZipFile(target).namelist()
    assert {"runs/smoke/dchn/tiny-8b-s0/codes.npz", "runs/smoke/dchn/tiny-8b-s0/metrics.json"} <= set(names)


@pytest.mark.slow
def test_rerunning_page_shows_a_method_help(books):
    page = _page(books["plain"] / "book" / "rerunning.html")
    assert "usage: python -m hashlib_core run dchn" in page and "available_num" in page


def page_network_requests(netlog: Path) -> set[str]:
    """http(s)/ws URLs a page asked for, from a Chromium ``--log-net-log`` file: the URL requests whose initiator
    is an origin (a ``file://`` page's is ``null``); the browser's own background requests have none."""
    text = netlog.read_text(encoding="utf-8").rstrip()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut off at exit: close the event list
        log = json.loads(text.rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    found = set()
    for event in log["events"]:
        params = event.get("params") or {}
        url = str(params.get("url", ""))
        if event["type"] == start and re.match(r"(https?|wss?):", url) and params.get("initiator") != "not an origin":
            found.add(url)
    return found


def _chromium(args, tmp_path, name, timeout=180):
    profile = tmp_path / f"chromium-{name}"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
               "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=20000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_offline_browser_renders_math_and_keeps_tables_in_view(books, tmp_path):
    html = books["plain"]
    netlog = tmp_path / "netlog.json"
    dom = _chromium(["--window-size=1280,2000", f"--log-net-log={netlog}", "--dump-dom",
                     (html / "book" / "intro.html").as_uri()], tmp_path, "intro").stdout
    assert dom.count("<mjx-container") >= 3, "no MathJax output in the DOM: formulas did not render offline"
    assert "\\(d_H" not in dom  # no formula left as raw TeX
    requested = page_network_requests(netlog)
    assert not requested, f"the page asked the network for {sorted(requested)}"
    chapter = html / "book" / "chapters" / "dchn.html"
    dom = _chromium(["--window-size=1280,2000", "--dump-dom", chapter.as_uri()], tmp_path, "chapter").stdout
    probe = re.search(r'<div id="layout-probe"([^>]*)>', dom)
    assert probe, "the layout probe did not run"
    found = dict(re.findall(r'data-([\w-]+)="([^"]*)"', probe.group(1)))
    assert found == {"page-fits": "true", "table-scrolls": "true", "label-sticky": "sticky",
                     "label-visible-after-scroll": "true"}, found
    assert "<mjx-container" in dom
    png = tmp_path / "chapter-1280.png"
    _chromium(["--window-size=1280,1000", f"--screenshot={png}", chapter.as_uri()], tmp_path, "shot")
    assert png.is_file()
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    assert pixels.shape[1] == 1280 and pixels.std() > 10.0


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_network_check_catches_a_page_that_loads_a_remote_script(tmp_path):
    page = tmp_path / "remote.html"
    page.write_text('<html><body><p>x</p><script src="https://cdn.example.invalid/lib.js"></script></body></html>',
                    encoding="utf-8")
    netlog = tmp_path / "netlog.json"
    _chromium([f"--log-net-log={netlog}", "--dump-dom", page.as_uri()], tmp_path, "remote")
    assert page_network_requests(netlog) == {"https://cdn.example.invalid/lib.js"}
