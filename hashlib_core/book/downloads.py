"""Downloads: each method chapter links a zip of the run records behind it, built by the book build.

The zip of method ``m`` for profile ``P`` holds every finished run of ``m`` the chapter can show for ``P``: the
fresh runs (``runs/P/<notebook>/<run id>/``) and the committed records of that profile (``records/P/...``), in
the same layout, with each run's JSON records (``metrics.json``, ``manifest.json``, ``curves.json``,
``history.json``, ``split.json``, ...) and, where the run kept them, ``codes.npz`` and ``splits.npz``. The codes
are what lets anyone recompute a table under another protocol without retraining: unzip into a folder ``D`` and
``python -m hashlib_core matrix --profile P --root D --out matrix.csv`` (see ``records/README.md``).

Zips are deterministic (sorted members, fixed timestamps) and written atomically.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: the files of a run folder that go into the zip (besides every ``*.json``)
ARRAY_FILES = ("codes.npz", "splits.npz")
#: staged folder (relative to the staged source) of the zips; ``generated`` folders are never pages
DOWNLOADS_DIR = "book/generated/downloads"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class RecordsZip:
    """One written zip: its ``path``, ``size`` in bytes, how many ``runs`` and how many of them have codes."""

    method: str
    profile: str
    path: Path
    size: int
    runs: int
    with_codes: int


def human_size(size: int) -> str:
    """``2_345_678`` -> ``"2.3 MB"`` (decimal units, as browsers show downloads)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def run_folders(method: str, profile: str, runs_root: str | os.PathLike,
                records_root: str | os.PathLike) -> list[tuple[Path, str]]:
    """``(run folder, name inside the zip)`` of every finished run of ``method`` for ``profile``: fresh runs as
    ``runs/<path below runs_root>``, committed records as ``records/<path below records_root>``."""
    from ..records.runs import load_runs

    roots = {"fresh": Path(runs_root), "committed": Path(records_root)}
    runs = load_runs(profile=profile, method=method, roots=roots)
    if runs.empty:
        return []
    runs = runs[runs["status"] == "ok"].drop_duplicates("run_dir")
    found = []
    for run_dir, source in zip(runs["run_dir"], runs["source"]):
        run_dir = Path(run_dir)
        top = "runs" if source == "fresh" else "records"
        found.append((run_dir, f"{top}/{run_dir.relative_to(roots[source]).as_posix()}"))
    return sorted(found, key=lambda item: item[1])


def _members(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and (p.suffix == ".json" or p.name in ARRAY_FILES))


def write_records_zip(method: str, profile: str, runs_root: str | os.PathLike, records_root: str | os.PathLike,
                      dest: str | os.PathLike) -> RecordsZip:
    """Write the zip of ``method``'s runs for ``profile`` (see the module docstring) to ``dest``, atomically."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    folders = run_folders(method, profile, runs_root, records_root)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    with_codes = 0
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for run_dir, name in folders:
                members = _members(run_dir)
                with_codes += any(p.name == "codes.npz" for p in members)
                for path in members:
                    info = zipfile.ZipInfo(f"{name}/{path.name}", date_time=_FIXED_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, path.read_bytes())
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return RecordsZip(method, profile, dest, dest.stat().st_size, len(folders), with_codes)


def download_note(archive: RecordsZip, link_target: str) -> str:
    """The Markdown paragraph a method chapter shows under its title: the link, the size, what is inside and the
    one command that recomputes its numbers."""
    if archive.runs == 0:
        return (f"**Downloads.** No finished run of `{archive.method}` in the `{archive.profile}` profile, so there "
                f"are no records to download.")
    codes = (f"{archive.with_codes} of them with their codes (`codes.npz`)" if archive.with_codes
             else "none with codes (committed records keep only JSON)")
    return (f"**Downloads.** {{download}}`{archive.path.name} <{link_target}>` ({human_size(archive.size)}): the "
            f"records of the {archive.runs} finished `{archive.method}` run(s) of the `{archive.profile}` profile "
            f"this chapter draws on, {codes}, each with `metrics.json`, `curves.json`, `split.json` and "
            f"`manifest.json`. To recompute every number under every protocol without retraining, unzip it into a "
            f"folder `D` and run `python -m hashlib_core matrix --profile {archive.profile} --root D --out "
            f"matrix.csv` (see `records/README.md`).")


def add_record_downloads(stage: str | os.PathLike, chapters, profile: str, runs_root: str | os.PathLike,
                         records_root: str | os.PathLike) -> list[RecordsZip]:
    """For every executed method chapter ``book/chapters/<method>`` among ``chapters`` (toc entries) in the staged
    source ``stage``: write ``<stage>/book/generated/downloads/<method>-<profile>-runs.zip`` and insert
    :func:`download_note` under the chapter's title. Returns the zips written."""
    import nbformat

    from ..methods import METHODS
    from ..records.io import atomic_write_text

    stage = Path(stage)
    written = []
    for entry in chapters:
        folder, _, method = str(entry).rpartition("/")
        if folder != "book/chapters" or method not in METHODS:
            continue
        notebook_path = stage / f"{entry}.ipynb"
        archive = write_records_zip(method, profile, runs_root, records_root,
                                    stage / DOWNLOADS_DIR / f"{method}-{profile}-runs.zip")
        link = os.path.relpath(archive.path, notebook_path.parent).replace(os.sep, "/")
        notebook = nbformat.read(notebook_path, as_version=4)
        first = notebook.cells[0] if notebook.cells else None
        at = 1 if first is not None and first.cell_type == "markdown" and first.source.lstrip().startswith("# ") \
            else 0
        notebook.cells.insert(at, nbformat.v4.new_markdown_cell(download_note(archive, link)))
        atomic_write_text(notebook_path, nbformat.writes(notebook))
        written.append(archive)
    return written


__all__ = ["RecordsZip", "human_size", "run_folders", "write_records_zip", "download_note", "add_record_downloads"]
