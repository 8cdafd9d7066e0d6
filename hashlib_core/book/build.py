"""Build the book: run the grid of a profile, execute the chapter templates, render HTML with Jupyter Book 1.x.

Nothing generated lands in the repository tree; everything goes under ``out`` (default ``_build``):

1. :func:`hashlib_core.grid.run_grid` runs (or skips, when up to date) every method's notebooks of the
   profile into ``runs/<profile>/...``; failed runs are recorded and shown in the book, they do not stop it.
2. ``<out>/src/`` is the staging source: ``_config.yml``, ``_toc.yml`` and ``book/`` (Markdown pages, static
   files) are copied; every notebook the toc lists under ``book/chapters/`` is executed with papermill from its
   template (parameters ``profile``, ``runs_root``, ``records_root``, absolute paths); every ``book/runs/<m>``
   entry becomes an executed run notebook of method ``<m>`` (the first finished run of the profile).
   A chapter that fails to execute fails the build with a message naming it (its executed notebook is kept
   in ``<out>/failed/``).
3. ``jupyter-book build <out>/src --path-output <out>/jb -W --keep-going`` (warnings are errors;
   ``execute_notebooks: off`` since papermill executed everything) and the HTML is moved to ``<out>/html``.

Timings of each stage are written to ``<out>/build-info.json``.
"""

from __future__ import annotations

import contextlib

import datetime as _dt
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..grid.runner import KERNEL_ARGUMENTS, KERNEL_NAME, _error_fields, environ, run_grid, summarise
from ..records.io import atomic_write_json, read_json
from ..records.run import is_finished
from ..records.runs import repo_root
from .assets import stage_assets
from .downloads import add_record_downloads

CHAPTERS_DIR = "book/chapters"
RUNS_PAGES_DIR = "book/runs"


class BookError(ValueError):
    """The book cannot be built: a toc entry without a source, a chapter that fails, a Sphinx warning."""


def toc_files(toc: Mapping) -> list[str]:
    """Every ``file`` entry of a Jupyter Book ``_toc.yml`` (root first, then depth-first in toc order)."""
    found = [toc["root"]] if toc.get("root") else []

    def walk(node):
        if isinstance(node, Mapping):
            if "file" in node:
                found.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({key: toc.get(key) for key in ("parts", "chapters", "sections")})
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in found]


def _read_toc(path: Path) -> dict:
    import yaml

    try:
        toc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BookError(f"{path}: cannot read the table of contents ({exc})") from None
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{path}: not a Jupyter Book table of contents (no 'root' entry)")
    return toc


# ---------------------------------------------------------------------------------------------- chapters

def write_book_matrix(profile: str, runs_root: Path, records_root: Path, path: Path) -> Path:
    """Re-score every finished run of ``profile`` (fresh and committed) into the matrix CSV at ``path``
    (:mod:`hashlib_core.report.matrix`, what ``python -m hashlib_core matrix`` writes); return ``path``."""
    from ..report.matrix import build_matrix, write_matrix

    matrix = build_matrix(profile, roots={"fresh": runs_root / profile, "committed": records_root / profile})
    print(f"matrix: {len(matrix.frame)} rows from {matrix.frame['run_dir'].nunique()} runs "
          f"({len(matrix.skipped)} without codes) -> {path}", file=sys.stderr)
    return write_matrix(matrix, path)


def execute_chapter(template: str, output: str, parameters: dict, cwd: str) -> str | None:
    """Execute one chapter template with papermill; ``None`` on success, else the error text (picklable). Only the
    parameters the template's ``parameters`` cell declares are injected (e.g. ``matrix_path`` goes to the chapters
    that read the matrix)."""
    import papermill

    try:
        declared = papermill.inspect_notebook(template)
        parameters = {name: value for name, value in parameters.items() if name in declared}
        papermill.execute_notebook(template, output, parameters=parameters, kernel_name=KERNEL_NAME, cwd=cwd,
                                   progress_bar=False, log_output=False, extra_arguments=list(KERNEL_ARGUMENTS))
    except Exception as exc:  # noqa: BLE001 - reported by the caller with the chapter's name
        fields = _error_fields(exc)
        return f"{fields['error_type']}: {fields['message']}\n{fields['traceback_tail']}"
    return None


def _execute_chapters(chapters: list[tuple[str, Path, Path]], parameters: dict, cwd: Path, failed_dir: Path,
                      jobs: int) -> None:
    errors: dict[str, str] = {}
    work = [(name, str(template), str(output)) for name, template, output in chapters]
    if jobs > 1 and len(work) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {name: pool.submit(execute_chapter, t, o, parameters, str(cwd)) for name, t, o in work}
            results = {name: future.result() for name, future in futures.items()}
    else:
        results = {name: execute_chapter(t, o, parameters, str(cwd)) for name, t, o in work}
    for (name, _, output) in work:
        if results[name] is not None:
            errors[name] = results[name]
            if Path(output).is_file():
                failed_dir.mkdir(parents=True, exist_ok=True)
                os.replace(output, failed_dir / Path(output).name)
    if errors:
        details = "\n\n".join(f"chapter template {name}.ipynb failed to execute:\n{text}"
                              for name, text in errors.items())
        raise BookError(f"{len(errors)} chapter(s) failed to execute ({', '.join(errors)}); "
                        f"executed notebooks kept in {failed_dir}\n\n{details}")


def hide_parameter_cells(path: Path) -> None:
    """Tag a chapter's ``parameters`` and papermill's ``injected-parameters`` cells ``remove-cell``: they hold the
    build machine's folders, not content. (Run notebooks keep theirs visible: there they are the point.)"""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if {"parameters", "injected-parameters"} & set(tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(notebook, path)


# ---------------------------------------------------------------------------------------------- run pages

def _title_cell_index(notebook) -> int | None:
    """Index of the first cell if it is a Markdown cell opening with a level-1 heading (the page title)."""
    if notebook.cells and notebook.cells[0].cell_type == "markdown" \
            and re.match(r"^# \S", notebook.cells[0].source.lstrip()):
        return 0
    return None


def run_page(method: str, profile: str, runs_root: Path, output: Path) -> Path | None:
    """Write the executed run notebook of ``method`` shown in the book (its first finished run of ``profile``,
    else its first failed one, else a page saying there is none); return the run folder shown, if any.

    The notebook keeps its own title (its first cell, when that is a level-1 heading); a paragraph saying which
    run it is (run id, profile, device, date, record path) is inserted under it.
    """
    import nbformat

    folder = runs_root / profile / method
    # hidden folders are staging or debris of a writer, never a run (records.run.is_finished)
    run_dirs = sorted(p for p in folder.iterdir()
                      if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []
    finished = [d for d in run_dirs if is_finished(d) and (d / "run.ipynb").is_file()]
    failed = [d for d in run_dirs if (d / "failed.json").is_file() and (d / "failed.ipynb").is_file()]
    if finished:
        run_dir = finished[0]
        record = read_json(run_dir / "metrics.json")
        notebook = nbformat.read(run_dir / "run.ipynb", as_version=4)
        about = (f"This page is `notebooks/{method}.ipynb` as the grid runner executed it with papermill for run "
                 f"`{run_dir.name}` of the `{profile}` profile, on device `{record['device']}`, "
                 f"{record.get('date')}. The cell tagged `injected-parameters` holds the parameters papermill "
                 f"injected. The run's record is `runs/{profile}/{method}/{run_dir.name}/metrics.json`.")
    elif failed:
        run_dir = failed[0]
        failure = read_json(run_dir / "failed.json")
        notebook = nbformat.read(run_dir / "failed.ipynb", as_version=4)
        about = (f"**This run failed** ({failure.get('error_type')}: {failure.get('message')}). No run of "
                 f"`{method}` finished in the `{profile}` profile. Below is the notebook as far as it ran "
                 f"(run `{run_dir.name}`).")
    else:
        run_dir = None
        notebook = nbformat.v4.new_notebook()
        about = f"The `{profile}` profile has no run of `{method}` (nothing under `runs/{profile}/{method}/`)."
    title = _title_cell_index(notebook)
    if title is None:
        notebook.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {method}: an executed run ({profile} profile)"))
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(about))
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
    return run_dir


# ---------------------------------------------------------------------------------------------- jupyter-book

def _jupyter_book(source: Path, path_output: Path, log: Path) -> float:
    command = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
               "build", str(source), "--path-output", str(path_output), "--builder", "html", "-W", "--keep-going"]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log.write_text(completed.stdout + "\n--- stderr ---\n" + completed.stderr, encoding="utf-8")
    warnings = [line for line in (completed.stdout + completed.stderr).splitlines()
                if "WARNING" in line or "ERROR" in line]
    if completed.returncode != 0 or warnings:
        shown = "\n".join(warnings[:40]) or "\n".join((completed.stdout + completed.stderr).splitlines()[-40:])
        raise BookError(f"jupyter-book build failed (exit {completed.returncode}, {len(warnings)} warning(s); "
                        f"warnings are errors). Full log: {log}\n{shown}")
    return seconds


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``, replacing what was there with two renames (never a half-copied folder)."""
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    if old.exists():
        shutil.rmtree(old)


# ---------------------------------------------------------------------------------------------- the build

def build_book(profile: str = "default", out: str | os.PathLike = "_build", jobs: int = 1,
               ray_address: str | None = None, *, source_root: str | os.PathLike | None = None,
               runs_root: str | os.PathLike | None = None, records_root: str | os.PathLike | None = None,
               toc: str | os.PathLike | None = None, methods: Iterable[str] | None = None,
               run_notebooks: bool = True, progress_in_notebooks: bool = False,
               repository_url: str | None = None) -> int:
    """:func:`_build_book` holding the runs folder's grid lock for the whole build (grid, matrix, chapters,
    HTML) when it runs notebooks, so a second ``make book`` on the same checkout waits for the first instead of
    sharing its folders."""
    from ..grid.lock import grid_lock

    source = Path(source_root or repo_root()).resolve()
    lock = grid_lock(Path(runs_root or source / "runs").resolve()) if run_notebooks else contextlib.nullcontext()
    with lock:  # a build from the records already there (run_notebooks=False) writes no run folder
        return _build_book(profile, out, jobs, ray_address, source_root=source_root, runs_root=runs_root,
                           records_root=records_root, toc=toc, methods=methods, run_notebooks=run_notebooks,
                           progress_in_notebooks=progress_in_notebooks, repository_url=repository_url)


def _build_book(profile: str = "default", out: str | os.PathLike = "_build", jobs: int = 1,
                ray_address: str | None = None, *, source_root: str | os.PathLike | None = None,
                runs_root: str | os.PathLike | None = None, records_root: str | os.PathLike | None = None,
                toc: str | os.PathLike | None = None, methods: Iterable[str] | None = None,
                run_notebooks: bool = True, progress_in_notebooks: bool = False,
                repository_url: str | None = None) -> int:
    """Run the grid of ``profile`` and build the book into ``<out>/html``; return 0 (errors raise).

    ``source_root``: the checkout (``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``; default: this
    package's). ``runs_root`` (default ``<source_root>/runs``) and ``records_root`` (``<source_root>/records``):
    fresh and committed records. ``toc``: another table of contents (tests). ``methods``: the methods whose
    grids run (default all). ``run_notebooks=False`` builds from the records already there. ``jobs`` and
    ``ray_address`` go to :func:`run_grid` (``jobs`` also executes chapters in parallel). Progress bars inside
    notebooks are off unless ``progress_in_notebooks`` (the runner shows its own bar over runs).
    ``repository_url`` (default ``$HASHBOOK_REPOSITORY_URL``): adds launch buttons and source links
    (:mod:`.assets`); without it nothing links outside the book. Method chapters get a zip of their runs'
    records (:mod:`.downloads`); MathJax is served from the book itself.
    Raises :class:`BookError` when a chapter fails to execute or Sphinx reports a warning.
    """
    source_root = Path(source_root or repo_root()).resolve()
    runs_root = Path(runs_root or source_root / "runs").resolve()
    records_root = Path(records_root or source_root / "records").resolve()
    out = Path(out).resolve()
    toc_path = Path(toc).resolve() if toc else source_root / "_toc.yml"
    timings: dict[str, float] = {}
    env = {} if progress_in_notebooks else {"HASHLIB_PROGRESS": "0"}

    # check the configuration and resolve the toc first: a missing chapter fails before any notebook runs
    config = source_root / "_config.yml"
    if not config.is_file():
        raise BookError(f"{config}: missing (the Jupyter Book configuration)")
    chapters, run_pages = [], []
    for entry in toc_files(_read_toc(toc_path)):
        if (source_root / f"{entry}.md").is_file():
            continue  # copied with book/
        if entry.startswith(f"{RUNS_PAGES_DIR}/"):
            run_pages.append(entry)
        elif (source_root / f"{entry}.ipynb").is_file():
            chapters.append((entry, source_root / f"{entry}.ipynb", out / "src" / f"{entry}.ipynb"))
        else:
            raise BookError(f"{toc_path.name} lists {entry!r} but neither {entry}.md nor {entry}.ipynb exists "
                            f"in {source_root} (a chapter not written yet, or a typo in the toc)")

    start = time.perf_counter()
    outcomes = []
    if run_notebooks:
        outcomes = run_grid(profile, methods=methods, runs_root=runs_root, notebooks_dir=source_root / "notebooks",
                            cwd=source_root, jobs=jobs, ray_address=ray_address, kernel_env=env)
        print(summarise(outcomes), file=sys.stderr)
    timings["grid_seconds"] = time.perf_counter() - start

    stage = out / "src"
    for stale in (stage, out / "jb", out / "failed"):  # every build starts from clean staging folders
        if stale.exists():
            shutil.rmtree(stale)
    stage.mkdir(parents=True)
    shutil.copy2(config, stage / "_config.yml")
    shutil.copy2(toc_path, stage / "_toc.yml")
    book_dir = source_root / "book"
    if book_dir.is_dir():
        shutil.copytree(book_dir, stage / "book", ignore=shutil.ignore_patterns(
            "*.ipynb", ".ipynb_checkpoints", "generated", "__pycache__", "_static"))
    if (book_dir / "_static").is_dir():  # Jupyter Book picks up CSS from <book root>/_static
        shutil.copytree(book_dir / "_static", stage / "_static")
    for _, _, output in chapters:
        output.parent.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    matrix_path = write_book_matrix(profile, runs_root, records_root, out / f"matrix-{profile}.csv")
    timings["matrix_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    for entry in run_pages:
        run_page(entry.split("/")[-1], profile, runs_root, stage / f"{entry}.ipynb")
    parameters = {"profile": profile, "runs_root": str(runs_root), "records_root": str(records_root),
                  "matrix_path": str(matrix_path)}
    with environ(env):
        _execute_chapters(chapters, parameters, source_root, out / "failed", jobs)
    for _, _, output in chapters:
        hide_parameter_cells(output)
    timings["chapters_seconds"] = time.perf_counter() - start
    downloads = add_record_downloads(stage, [c[0] for c in chapters], profile, runs_root, records_root)
    assets = stage_assets(stage, repository_url=repository_url)

    build_dir = out / "jb"
    timings["jupyter_book_seconds"] = _jupyter_book(stage, build_dir, out / "jupyter-book.log")
    _replace_dir(build_dir / "_build" / "html", out / "html")
    info = {"profile": profile, "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "runs": {status: sum(o.status == status for o in outcomes)
                     for status in ("ok", "skipped", "failed", "missing")},
            "chapters": [c[0] for c in chapters], "run_pages": run_pages, "assets": assets,
            "downloads": {d.method: {"file": d.path.name, "bytes": d.size, "runs": d.runs} for d in downloads},
            **{k: round(v, 2) for k, v in timings.items()}}
    atomic_write_json(out / "build-info.json", info)
    print(f"book: {out / 'html' / 'index.html'} (grid {timings['grid_seconds']:.1f} s, chapters "
          f"{timings['chapters_seconds']:.1f} s, jupyter-book {timings['jupyter_book_seconds']:.1f} s)",
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hashlib_core.book", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", default="_build")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--ray", default=None)
    parser.add_argument("--no-runs", action="store_true", help="build from the records already there")
    parser.add_argument("--repository-url", default=None,
                        help="launch buttons and source links for this repository (default: $HASHBOOK_REPOSITORY_URL)")
    args = parser.parse_args(argv)
    return build_book(args.profile, args.out, args.jobs, args.ray, run_notebooks=not args.no_runs,
                      repository_url=args.repository_url)


if __name__ == "__main__":
    sys.exit(main())
