"""Recipe x image-feature tables (DCHN and DJSRH chapters): the authors' recipe against ours on the Wikipedia items
with two image feature sets (``wikipedia``: the canonical 128-d SIFT histograms; ``wikipedia_roph``: RoPH's 128-d
features), mean ± std over seeds, beside the paper's row where it has one.

Runs are :func:`~hashlib_core.records.load_runs` rows (the chapter's ``ok`` runs); a row of ours is one
(feature set, recipe, profile, source); a column one (direction, bits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .chapter import note
from .tables import format_mean_std, style_table

FEATURES = {"wikipedia": "SIFT", "wikipedia_roph": "RoPH"}
KEYS = ["dataset", "recipe", "profile", "source"]


def select(ok: pd.DataFrame, *, method: str, profile: str, labels: Sequence, datasets=tuple(FEATURES),
           epochs: int | None = None) -> pd.DataFrame:
    """The main-evaluation rows of ``method``'s runs of ``profile`` on ``datasets`` whose grid label is one of
    ``labels`` (``None`` = unlabelled), and, when given, trained for ``epochs``."""
    if not len(ok):
        return ok
    keep = (ok["method"] == method) & (ok["notebook"] == method) & (ok["evaluation"] == "main")
    keep &= (ok["profile"] == profile) & ok["dataset"].isin(list(datasets))
    labelled = [label for label in labels if label is not None]
    keep &= ok["label"].isin(labelled) | (ok["label"].isna() if None in labels else False)
    if epochs is not None:
        keep &= ok["epochs"] == epochs
    return ok[keep]


def stats(selected: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and n over seeds per (feature set, recipe, profile, source, direction, bits)."""
    if selected.empty:
        return pd.DataFrame(columns=KEYS + ["direction", "bits", "mean", "std", "n"])
    grouped = selected.groupby(KEYS + ["direction", "bits"], dropna=False)["map"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def _row_name(dataset, recipe, profile, source) -> str:
    where = "" if source == "fresh" else ", committed"
    return f"ours: {FEATURES.get(dataset, dataset)} image features, {recipe} recipe ({profile}{where})"


def recipe_feature_table(selected: pd.DataFrame, references: pd.DataFrame | None = None, *,
                         paper_method: str | None = None, paper_label: str = "paper") -> pd.DataFrame:
    """Rows: the paper's Wikipedia row (when ``paper_method`` names one in ``references``), then ours per feature
    set and recipe; columns (direction, bits); cells ``mean ± std (n=k)`` (paper: its number)."""
    table = {}
    if references is not None and paper_method is not None:
        refs = references[(references["method"] == paper_method) & (references["dataset"] == "wikipedia")]
        if len(refs):
            table[f"{paper_label} ({', '.join(sorted(set(refs['metric'])))})"] = {
                (r.direction, int(r.bits)): f"{r.value:.3f}" for r in refs.itertuples()}
    for key, part in stats(selected).groupby(KEYS, dropna=False, sort=True):
        table[_row_name(*key)] = {(r.direction, int(r.bits)): format_mean_std(r.mean, r.std, int(r.n))
                                  for r in part.itertuples()}
    if not table:
        return pd.DataFrame()
    frame = pd.DataFrame(table).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["direction", "bits"])
    frame = frame.sort_index(axis=1, key=lambda idx: idx.map(lambda v: v if isinstance(v, str) else int(v)))
    frame.index.name = "row"
    return frame.fillna("")


def moves(selected: pd.DataFrame, *, direction: str = "image->text", bits: int = 32) -> dict:
    """What moves ``direction`` at ``bits``: the mean over seeds of every (feature set, recipe) present, the change
    from SIFT to RoPH features per recipe and from the authors' recipe to ours per feature set."""
    cell = stats(selected)
    cell = cell[(cell["direction"] == direction) & (cell["bits"] == bits)]
    means = {(r.dataset, r.recipe): (float(r.mean), int(r.n)) for r in cell.itertuples()}
    feature = {recipe: means[("wikipedia_roph", recipe)][0] - means[("wikipedia", recipe)][0]
               for recipe in ("authors", "hashbook") if ("wikipedia", recipe) in means
               and ("wikipedia_roph", recipe) in means}
    recipe = {data: means[(data, "hashbook")][0] - means[(data, "authors")][0]
              for data in FEATURES if (data, "hashbook") in means and (data, "authors") in means}
    return {"means": means, "features": feature, "recipe": recipe, "direction": direction, "bits": bits}


def moves_note(selected: pd.DataFrame, *, direction: str = "image->text", bits: int = 32, paper=None):
    """One measured paragraph on what moves ``direction`` (numbers from :func:`moves`), or a note that the runs
    are not there."""
    found = moves(selected, direction=direction, bits=bits)
    if not found["features"] and not found["recipe"]:
        return note(f"The runs that separate the feature effect from the recipe effect ({direction}, {bits} bits, "
                    "both feature sets and both recipes) are not in this book.")
    parts = []
    for recipe, delta in found["features"].items():
        parts.append(f"with the {recipe} recipe, RoPH's image features instead of SIFT move {direction} by "
                     f"{delta:+.3f}")
    for data, delta in found["recipe"].items():
        parts.append(f"with {FEATURES[data]} features, our recipe instead of the authors' moves it by {delta:+.3f}")
    means = "; ".join(f"{FEATURES[d]} + {r}: {m:.3f} (n={n})" for (d, r), (m, n) in sorted(found["means"].items()))
    text = (f"**What moves {direction}** ({bits} bits, mean over seeds): " + "; ".join(parts) + f". Means: {means}.")
    if paper is not None and not (isinstance(paper, float) and np.isnan(paper)):
        text += f" The paper reports {paper:.3f}."
    return note(text)


def section(ok: pd.DataFrame, references=None, *, method: str, profile: str, labels: Sequence, epochs=None,
            paper_method: str | None = None, caption: str = "") -> list:
    """The table (styled) and the measured paragraph, or a note when none of these runs is in the book."""
    selected = select(ok, method=method, profile=profile, labels=labels, epochs=epochs)
    table = recipe_feature_table(selected, references, paper_method=paper_method)
    if selected.empty:
        return [note(f"No {method} run of the {profile} profile on both Wikipedia feature sets is in this book.")]
    paper = None
    if references is not None and paper_method is not None:
        hit = references[(references["method"] == paper_method) & (references["dataset"] == "wikipedia")
                         & (references["direction"] == "image->text") & (references["bits"] == 32)]
        paper = float(hit["value"].iloc[0]) if len(hit) else None
    devices = ", ".join(sorted(set(selected["device"])))
    return [style_table(table, caption=f"{caption} Device: {devices}."), moves_note(selected, paper=paper)]
