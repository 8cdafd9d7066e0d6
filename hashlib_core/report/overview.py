"""What the results overview (``book/chapters/overview.ipynb``) shows: all methods side by side.

``shown_runs`` picks the rows of a book built for a profile (its fresh runs and every committed record); the
sections take those :func:`~hashlib_core.records.load_runs` rows and return a styled table, a closed figure or a
note (see :func:`~hashlib_core.report.chapter.show`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .chapter import note
from .figures import plot_paper_vs_ours, plt
from .tables import comparison_table, failed_runs_table, missing_data_table, run_status_table, style_table

#: our method -> (reference paper, the paper's row of that method) compared in the overview
PAPER_ROWS = {"dchn": ("dchn", "DCHN_100"), "djsrh": ("djsrh", "DJSRH"), "hybridhash": ("hybridhash", "HybridHash")}
COLUMNS = ["method", "dataset", "direction", "bits", "metric", "paper", "ours", "recipe", "diff", "profile", "source",
           "device", "date", "note"]


def shown_runs(profile: str, runs_root=None, records_root=None) -> pd.DataFrame:
    """Every :func:`load_runs` row a book built for ``profile`` shows: its fresh runs, then all committed records.
    ``runs_root`` / ``records_root``: the folders (``None``: ``<repo>/runs`` and ``<repo>/records``)."""
    from ..records.runs import default_roots, load_runs

    roots = default_roots()
    runs = load_runs(roots={"fresh": runs_root or roots["fresh"], "committed": records_root or roots["committed"]})
    if not len(runs):
        return runs
    parts = [frame for frame in (runs[(runs["source"] == "fresh") & (runs["profile"] == profile)],
                                 runs[runs["source"] == "committed"]) if len(frame)]
    return pd.concat(parts, ignore_index=True) if parts else runs.iloc[0:0]


def built_for(shown: pd.DataFrame, profile: str):
    """The opening line: the profile, the number of fresh run folders and of committed records."""
    fresh = shown[(shown["source"] == "fresh") & (shown["status"] != "missing")] if len(shown) else shown
    committed = shown[shown["source"] == "committed"] if len(shown) else shown
    return note(f"This book was built with the **{profile}** profile: "
                f"{fresh['run_dir'].nunique() if len(fresh) else 0} fresh run "
                f"folders and {committed['run_dir'].nunique() if len(committed) else 0} committed records.")


def what_ran(shown: pd.DataFrame):
    """:func:`run_status_table` (one row per method, notebook, profile and source), or a note."""
    status = run_status_table(shown)
    return style_table(status) if len(status) else note("No run records were found.")


def paper_vs_ours(shown: pd.DataFrame, paper_rows: Mapping = PAPER_ROWS, references=None) -> pd.DataFrame:
    """Each method's cells that have a run of ours, against its paper row (:func:`comparison_table`), with
    ``method`` and ``paper_row`` columns; rows without a paper number (``paper`` NaN) are kept. ``references``:
    ``{paper: load_references(paper)}`` (default: read the packaged ones)."""
    from ..records.references import load_references

    parts = []
    for method, (paper, paper_row) in paper_rows.items():
        if len(shown) == 0 or method not in set(shown["method"]):
            continue
        refs = references[paper] if references is not None else load_references(paper)
        table = comparison_table(refs, shown, paper_method=paper_row, our_method=method)
        parts.append(table[table["n"] > 0].assign(method=method, paper_row=paper_row))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS + ["ours_mean", "ours_std"])


def comparison_section(ours: pd.DataFrame) -> list:
    """A note on the cells of ours the papers' rows do not have, then the cells that have both numbers (or a
    note when none has)."""
    comparison = ours[ours["paper"].notna()]
    elsewhere = ours[ours["paper"].isna()]
    shown = []
    if len(elsewhere):
        shown.append(note(f"{len(elsewhere)} further cells of ours (dataset, direction and code length) have no "
                          f"number in the paper's row: "
                          f"{', '.join(sorted(set(elsewhere['method'] + ' on ' + elsewhere['dataset'])))}. "
                          "The method chapters show them."))
    shown.append(style_table(comparison[COLUMNS]) if len(comparison) else
                 note("No run of ours falls on a cell the papers report."))
    return shown


def paper_vs_ours_figure(ours: pd.DataFrame, profile: str):
    """Our mAP against the papers' for every cell with both numbers (a closed figure), ``None`` when there is none."""
    comparison = ours[ours["paper"].notna()]
    if not len(comparison):
        return None
    fig = plot_paper_vs_ours(comparison, title=f"our mAP vs. the papers' ({profile} profile and committed records)")
    plt.close(fig)
    return fig


def failed_section(shown: pd.DataFrame):
    """:func:`failed_runs_table` without the folder column, or a note that no run failed."""
    failed = failed_runs_table(shown)
    return style_table(failed.drop(columns=["run_dir"])) if len(failed) else note("No run failed.")


def missing_data_section(shown: pd.DataFrame):
    """:func:`missing_data_table` (runs not started for absent data files, with where to get them), or a note."""
    missing = missing_data_table(shown)
    return style_table(missing) if len(missing) else note("Every run of this profile had its data.")
