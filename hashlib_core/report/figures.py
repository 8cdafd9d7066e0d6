"""Figures every chapter and run notebook draws: precision@N, precision-recall, radius curves, training curves.

All functions take the ``curves.json`` / ``history.json`` structures written by :func:`finish_run` and return
the matplotlib ``Figure`` (the notebook displays it; myst-nb renders it as a PNG).

``curves`` maps a label (a direction such as ``"image->text"``, or ``"dchn 32 bits image->text"``) to::

    {"precision_at_n": {"n": [...], "precision": [...]},
     "radius": {"r": [...], "precision": [...], "recall": [...]},
     "pr": {"recall": [...], "precision": [...]}}
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import matplotlib

# Headless Agg for scripts and tests, but never inside a Jupyter kernel: there ipykernel has chosen the inline
# backend (MPLBACKEND), which is what turns a returned Figure into the PNG output the book shows.
if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402


def _new_axes(ax, title):
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=110)
    else:
        fig = ax.figure
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    return fig, ax


def plot_precision_at_n(curves: Mapping[str, Mapping], *, ax=None, title: str | None = None):
    """Precision of the top-N retrieved items against N, one line per label."""
    fig, ax = _new_axes(ax, title)
    for label, curve in curves.items():
        data = curve["precision_at_n"]
        ax.plot(data["n"], data["precision"], marker=".", label=label)
    ax.set_xlabel("N (number of retrieved items)")
    ax.set_ylabel("precision@N")
    ax.legend(fontsize=8)
    return fig


def plot_pr_curve(curves: Mapping[str, Mapping], *, ax=None, title: str | None = None):
    """Precision against recall, one line per label."""
    fig, ax = _new_axes(ax, title)
    for label, curve in curves.items():
        data = curve["pr"]
        ax.plot(data["recall"], data["precision"], marker=".", label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.legend(fontsize=8)
    return fig


def plot_radius_curves(curves: Mapping[str, Mapping], *, ax=None, title: str | None = None):
    """Precision (solid) and recall (dashed) of the items within Hamming radius r, against r."""
    fig, ax = _new_axes(ax, title)
    for label, curve in curves.items():
        data = curve["radius"]
        (line,) = ax.plot(data["r"], data["precision"], label=f"{label} precision")
        ax.plot(data["r"], data["recall"], linestyle="--", color=line.get_color(), label=f"{label} recall")
    ax.set_xlabel("Hamming radius r")
    ax.set_ylabel("precision / recall within r")
    ax.legend(fontsize=7)
    return fig


def plot_run_curves(curves: Mapping[str, Mapping], *, title: str | None = None):
    """The three curve figures of one run side by side (precision@N, PR, radius)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), dpi=100)
    plot_precision_at_n(curves, ax=axes[0], title="precision@N")
    plot_pr_curve(curves, ax=axes[1], title="precision-recall")
    plot_radius_curves(curves, ax=axes[2], title="within Hamming radius r")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[Mapping], keys: Sequence[str] | None = None, *, x: str = "epoch",
                 ax=None, title: str | None = None, logy: bool = False):
    """Training curves: each of ``keys`` (default: every numeric key but ``x``) against ``x``."""
    fig, ax = _new_axes(ax, title)
    if not history:
        ax.text(0.5, 0.5, "no training history recorded", ha="center", va="center", transform=ax.transAxes)
        return fig
    if keys is None:
        keys = [k for k, v in history[0].items() if k != x and isinstance(v, (int, float))]
    xs = [row.get(x, i) for i, row in enumerate(history)]
    for key in keys:
        ax.plot(xs, [row.get(key, float("nan")) for row in history], label=key)
    ax.set_xlabel(x)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    return fig


def plot_paper_vs_ours(table, *, by: str = "method", ax=None, title: str | None = None):
    """Our mAP (mean over seeds, bars = sample std) against the paper's, one point per comparison-table row
    that has both; the diagonal marks equality. ``table``: rows of :func:`report.tables.comparison_table`
    (optionally with a ``by`` column, e.g. the method, for the colours)."""
    fig, ax = _new_axes(ax, title)
    both = table[table["paper"].notna() & table["ours_mean"].notna()] if len(table) else table
    if len(both) == 0:
        ax.text(0.5, 0.5, "no cell has both a paper number and a run of ours", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    groups = both.groupby(by, sort=False) if by in both.columns else [("ours", both)]
    for name, group in groups:
        ax.errorbar(group["paper"], group["ours_mean"], yerr=group["ours_std"].fillna(0.0), fmt="o", ms=4,
                    capsize=2, label=str(name))
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--", label="ours = paper")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("paper mAP")
    ax.set_ylabel("our mAP (mean over seeds)")
    ax.legend(fontsize=8)
    return fig
