"""What a chapter template needs to read its runs: the runs of one method that a book shows, picked the same way
in every chapter, the "profile, device, date" stamps that go beside every number, and how a cell shows what the
chapter modules return (:func:`show`, :func:`note`, :class:`Captioned`).

A book built for profile P shows the fresh runs of P (``runs/P/...``, just made or found up to date) and every
committed record (``records/<profile>/...``, made elsewhere, e.g. the ``paper`` profile on a GPU). Where a
chapter draws one run per setting, fresh runs come first, then committed records, newest first within each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records.io import read_json
from ..records.runs import load_runs, repo_root


def resolve_root(path: str | os.PathLike) -> Path:
    """``path`` as given when absolute, else relative to the repository root (chapter parameters are relative)."""
    path = Path(path)
    return path if path.is_absolute() else repo_root() / path


class ChapterRuns:
    """The runs of ``method`` that a book built for ``profile`` shows.

    ``runs``: every row of :func:`load_runs` for the fresh runs of ``profile`` and all committed records;
    ``ok``: the finished ones; ``failed``: the failed ones.
    """

    def __init__(self, method: str, profile: str, runs_root: str | os.PathLike = "runs",
                 records_root: str | os.PathLike = "records"):
        runs = load_runs(method=method, roots={"fresh": resolve_root(runs_root),
                                              "committed": resolve_root(records_root)})
        if len(runs):
            runs = runs[((runs["source"] == "fresh") & (runs["profile"] == profile)) | (runs["source"] == "committed")]
        self.method, self.profile, self.runs = method, profile, runs
        self.ok = runs[runs["status"] == "ok"] if len(runs) else runs
        self.failed = runs[runs["status"] == "failed"] if len(runs) else runs

    def dirs(self, notebook: str | None = None, **where) -> list[str]:
        """Finished run folders of ``notebook`` (default: the method's own) whose record columns equal ``where``
        (``None`` matches a missing value, e.g. ``label=None`` for unlabelled runs): fresh runs first, then
        committed records, newest first within each."""
        if not len(self.ok):
            return []
        keep = self.ok["notebook"] == (notebook or self.method)
        for column, value in where.items():
            keep &= self.ok[column].isna() if value is None else self.ok[column] == value
        frame = self.ok[keep].drop_duplicates("run_dir").assign(committed=lambda f: f["source"] != "fresh")
        return list(frame.sort_values(["committed", "date"], ascending=[True, False])["run_dir"])

    def source_of(self, run_dir: str) -> str:
        """``"fresh"`` or ``"committed"``."""
        return self.ok.loc[self.ok["run_dir"] == run_dir, "source"].iloc[0]

    def record(self, run_dir: str | os.PathLike) -> dict:
        """The ``metrics.json`` record of a run folder."""
        return read_json(Path(run_dir) / "metrics.json")

    def one_source(self, run_dirs: Mapping) -> tuple[dict, str]:
        """Keep the entries of ``{key: run folder}`` from one source only (fresh when any is fresh, else
        committed), so one figure never mixes a fresh run with a record made elsewhere; return them and the source."""
        source = "fresh" if any(self.source_of(d) == "fresh" for d in run_dirs.values()) else "committed"
        return {k: d for k, d in run_dirs.items() if self.source_of(d) == source}, source


def stamp(record: Mapping) -> str:
    """``"profile P, device D, YYYY-MM-DD"`` of one ``metrics.json`` record."""
    return f"profile {record['profile']}, device {record['device']}, {record['date'][:10]}"


def stamps(records: Iterable[Mapping]) -> str:
    """The profile(s), device(s) and date (range) of several records, each value once."""
    records = list(records)
    days = sorted({r["date"][:10] for r in records})
    return (f"profile {', '.join(sorted({r['profile'] for r in records}))}, device "
            f"{', '.join(sorted({r['device'] for r in records}))}, "
            + (days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"))


def joined_values(column: Iterable, fmt=str) -> str:
    """The distinct non-missing values of a column, sorted and joined: ``"16, 32, 64"``."""
    return ", ".join(str(fmt(v)) for v in sorted({v for v in column if v is not None and v == v}))


def date_range(column: Iterable) -> str:
    """The day, or ``"first to last"`` day, of the ISO dates in ``column`` (non-strings ignored)."""
    found = sorted({str(d)[:10] for d in column if isinstance(d, str)})
    return "" if not found else found[0] if len(found) == 1 else f"{found[0]} to {found[-1]}"


# ---------------------------------------------------------------------------------------------- showing results

def note(text: str):
    """A Markdown paragraph for a cell to display (an ``IPython.display.Markdown``)."""
    from IPython.display import Markdown

    return Markdown(text)


def show(*items) -> None:
    """Display each item in order (a list or tuple is shown item by item; ``None`` is skipped): what a chapter
    cell does with the tables, figures and notes a report function returns."""
    from IPython.display import display

    for item in items:
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            show(*item)
        elif isinstance(item, Captioned):
            show(item.figure)
        else:
            display(item)


@dataclass
class Captioned:
    """A figure shown by a later cell whose ``figure`` metadata holds a caption with ``{glue:text}`name```.

    ``figure``: the matplotlib Figure (already closed, so the kernel does not show it a second time at the end of
    the cell that made it); ``about``: the text the caption glues in (which runs are drawn, their stamps)."""

    figure: Any
    about: str

    @classmethod
    def of(cls, figure, about: str) -> "Captioned":
        import matplotlib.pyplot as plt

        plt.close(figure)
        return cls(figure, about)


def glue_caption(name: str | None, item) -> None:
    """For a :class:`Captioned` item: glue its ``about`` text under ``name`` (``None``: glued already, by an earlier
    figure with the same caption text); the figure itself is shown by the captioned cell, with
    :func:`show_captioned`. Anything else (a note saying there is nothing to draw) is shown now."""
    if not isinstance(item, Captioned):
        show(item)
    elif name is not None:
        from myst_nb import glue

        glue(name, item.about, display=False)


def show_captioned(item) -> None:
    """Display the figure of a :class:`Captioned` item (nothing for a note, which :func:`glue_caption` showed)."""
    if isinstance(item, Captioned):
        show(item.figure)


__all__ = ["ChapterRuns", "resolve_root", "stamp", "stamps", "joined_values", "date_range", "note", "show",
           "Captioned", "glue_caption", "show_captioned"]
