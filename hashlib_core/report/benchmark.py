"""The chapter "All methods under one protocol": tables and figures computed from the benchmark matrix alone
(:mod:`hashlib_core.report.matrix`), so every number can be recomputed from the runs' ``codes.npz``.

A *row* of ours is one (method, variant, recipe); a *cell* is one (dataset, direction, bits). Seeds are paired:
two rows are compared over the seeds both ran. The main evaluation is :data:`MAIN`: mAP over the whole ranking
(``deephash`` AP, queries without a relevant item count 0) with expected ties.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .matrix import DEEP_METHODS

MAIN = ("deephash", None, "expected")
BEST_MARK = " *"  # the best row of a cell, where its paired lead over the runner-up exceeds the seed spread
ROW = ["method", "variant", "recipe"]
CELL = ["dataset", "direction", "bits"]


def evaluation_name(protocol: str, topk, ties: str) -> str:
    """``"deephash@all, expected ties"``-style name of one evaluation."""
    cut = "all" if topk is None or (isinstance(topk, float) and math.isnan(topk)) or topk is pd.NA else int(topk)
    return f"{protocol}@{cut}, {ties} ties"


def select(matrix: pd.DataFrame, evaluation=MAIN) -> pd.DataFrame:
    """The matrix rows of one ``(protocol, topk, ties)`` evaluation (``topk=None`` = the whole ranking)."""
    protocol, topk, ties = evaluation
    keep = (matrix["protocol"] == protocol) & (matrix["ties"] == ties)
    keep &= matrix["topk"].isna() if topk is None else matrix["topk"] == topk
    return matrix[keep.fillna(False)]


def evaluations(matrix: pd.DataFrame) -> list[tuple]:
    """Every ``(protocol, topk, ties)`` in the matrix, main first, then in a stable order."""
    found = {(p, None if pd.isna(k) else int(k), t) for p, k, t in
             matrix[["protocol", "topk", "ties"]].drop_duplicates().itertuples(index=False)}
    rest = sorted(found - {MAIN}, key=lambda e: (e[0], -1 if e[1] is None else e[1], e[2]))
    return ([MAIN] if MAIN in found else []) + rest


def is_deep(method: str) -> bool:
    """True for the deep methods, False for the training-free baselines."""
    return method in DEEP_METHODS


def seed_table(matrix: pd.DataFrame, evaluation=MAIN) -> pd.DataFrame:
    """Mean, sample std and n over seeds per (row, cell) for one evaluation."""
    chosen = select(matrix, evaluation)
    grouped = chosen.groupby(ROW + CELL, dropna=False)["map"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()


def paired_lead(matrix: pd.DataFrame, first: tuple, second: tuple, cell: tuple, evaluation=MAIN) -> dict:
    """``first`` minus ``second`` (rows ``(method, variant, recipe)``) in one cell, paired over common seeds:
    ``{"lead": mean difference, "spread": sample std of the differences, "n": common seeds}``."""
    chosen = select(matrix, evaluation)
    in_cell = chosen[(chosen[CELL] == pd.Series(cell, index=CELL)).all(axis=1)]

    def by_seed(row):
        part = in_cell[(in_cell[ROW] == pd.Series(row, index=ROW)).all(axis=1)]
        return part.groupby("seed")["map"].mean()

    a, b = by_seed(first), by_seed(second)
    common = a.index.intersection(b.index)
    diffs = (a[common] - b[common]).to_numpy()
    return {"lead": float(diffs.mean()) if len(diffs) else float("nan"),
            "spread": float(diffs.std(ddof=1)) if len(diffs) > 1 else float("nan"), "n": int(len(diffs))}


def leaders(matrix: pd.DataFrame, evaluation=MAIN) -> pd.DataFrame:
    """Per cell: the row with the highest mean, the runner-up and the paired lead. ``clear`` is True only where at
    least two common seeds exist and the lead is larger than the spread of the paired differences."""
    stats = seed_table(matrix, evaluation)
    out = []
    for cell, part in stats.groupby(CELL, dropna=False):
        ranked = part.sort_values("mean", ascending=False)
        best = tuple(ranked.iloc[0][ROW])
        entry = {**dict(zip(CELL, cell)), "best": best, "runner_up": None, "lead": float("nan"),
                 "spread": float("nan"), "n": 0, "clear": False}
        if len(ranked) > 1:
            runner = tuple(ranked.iloc[1][ROW])
            lead = paired_lead(matrix, best, runner, cell, evaluation)
            entry.update(runner_up=runner, **lead, clear=bool(lead["n"] >= 2 and lead["lead"] > lead["spread"]))
        out.append(entry)
    return pd.DataFrame(out, columns=CELL + ["best", "runner_up", "lead", "spread", "n", "clear"])


def _label(row) -> str:
    method, variant, recipe = row
    text = method if variant in (None, "base") else f"{method} [{variant}]"
    return text if recipe in (None, "-") else f"{text} ({recipe} recipe)"


def dataset_table(matrix: pd.DataFrame, dataset: str, evaluation=MAIN) -> pd.DataFrame:
    """One dataset: rows = our (method, variant, recipe), columns = (direction, bits), cells ``mean ± std (n)``;
    a cell's best row is marked with a trailing :data:`BEST_MARK` only where :func:`leaders` calls its lead clear.
    A dataset with more than two directions (multi-view sets) is shown as the mean over each row's directions
    (:func:`collapse_directions`)."""
    part = collapse_directions(matrix[matrix["dataset"] == dataset])
    stats = seed_table(part, evaluation)
    if stats.empty:
        return pd.DataFrame()
    marks = leaders(part, evaluation)
    clear = {(r.direction, r.bits): r.best for r in marks.itertuples() if r.clear}

    def text(r):
        spread = "" if r.n < 2 else f" ± {r.std:.3f}"
        value = f"{r.mean:.3f}{spread} ({r.n})"
        return value + BEST_MARK if clear.get((r.direction, r.bits)) == (r.method, r.variant, r.recipe) else value

    stats = stats.assign(value=[text(r) for r in stats.itertuples()],
                         row=[_label(r) for r in stats[ROW].itertuples(index=False)],
                         kind=["deep" if is_deep(m) else "training-free" for m in stats["method"]])
    table = stats.pivot_table(index=["kind", "row"], columns=["direction", "bits"], values="value",
                              aggfunc="first").sort_index()
    table.columns.names = ["direction", "bits"]
    table.index.names = ["", "method (variant, recipe)"]
    return table.fillna("")


def collapse_directions(matrix: pd.DataFrame) -> pd.DataFrame:
    """Datasets with more than two directions (every ordered pair of views of a multi-view set) get one direction,
    ``"mean over directions"``: per run and evaluation, the mean mAP over that run's directions. Two-view and
    single-view datasets are returned as they are."""
    parts = []
    for dataset, part in matrix.groupby("dataset", sort=False):
        if part["direction"].nunique() <= 2:
            parts.append(part)
            continue
        keys = [c for c in matrix.columns if c not in ("direction", "map")]
        grouped = part.groupby(keys, dropna=False, sort=False)["map"]
        collapsed = grouped.agg(["mean", "count"]).reset_index()
        collapsed["direction"] = "mean over directions"
        parts.append(collapsed.rename(columns={"mean": "map"}).drop(columns="count")[list(matrix.columns)])
    return pd.concat(parts, ignore_index=True) if parts else matrix


def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b of two score vectors (ties allowed); NaN with fewer than two items."""
    from scipy.stats import kendalltau

    if len(a) < 2:
        return float("nan")
    tau = kendalltau(a, b).statistic
    return float(tau) if tau == tau else float("nan")


def ranking_agreement(matrix: pd.DataFrame) -> pd.DataFrame:
    """How much the evaluation moves the order of methods: per dataset and evaluation, Kendall's tau between the
    rows' mean mAP under that evaluation and under :data:`MAIN`, averaged over the cells, and in how many cells the
    top row changes. Columns ``dataset, evaluation, tau, top_changed, cells``."""
    main = seed_table(matrix, MAIN).set_index(ROW + CELL)["mean"]
    out = []
    for evaluation in evaluations(matrix):
        other = seed_table(matrix, evaluation).set_index(ROW + CELL)["mean"]
        joined = pd.concat({"main": main, "other": other}, axis=1, join="inner").reset_index()
        for dataset, part in joined.groupby("dataset"):
            taus, changed, cells = [], 0, 0
            for _, cell in part.groupby(["direction", "bits"]):
                if len(cell) < 2:
                    continue
                cells += 1
                taus.append(_kendall_tau(cell["main"].to_numpy(), cell["other"].to_numpy()))
                changed += int(cell["main"].idxmax() != cell["other"].idxmax())
            if cells:
                out.append({"dataset": dataset, "evaluation": evaluation_name(*evaluation),
                            "tau": float(np.nanmean(taus)) if np.isfinite(taus).any() else float("nan"),
                            "top_changed": changed, "cells": cells})
    return pd.DataFrame(out, columns=["dataset", "evaluation", "tau", "top_changed", "cells"])


def plot_ranking_agreement(agreement: pd.DataFrame, title: str = "Rank agreement with the main evaluation"):
    """Heat map dataset x evaluation of Kendall's tau (1 = the same order of methods as the main evaluation)."""
    import matplotlib.pyplot as plt

    grid = agreement.pivot(index="dataset", columns="evaluation", values="tau")
    fig, ax = plt.subplots(figsize=(min(3 + 0.7 * grid.shape[1], 12), 2.8 + 0.45 * grid.shape[0]),
                           layout="constrained")
    image = ax.imshow(grid.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=9)
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        if value == value:
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="Kendall's tau")
    ax.set_title(title, fontsize=10)
    return fig


def deep_vs_baselines(matrix: pd.DataFrame, evaluation=MAIN) -> pd.DataFrame:
    """Per cell and deep row: its mean mAP minus the best training-free row's mean in the same cell (positive =
    the deep method is ahead). Columns ``dataset, direction, bits, deep, deep_map, best_baseline, baseline_map,
    gap``."""
    stats = seed_table(matrix, evaluation)
    out = []
    for cell, part in stats.groupby(CELL, dropna=False):
        base = part[~part["method"].map(is_deep)]
        deep = part[part["method"].map(is_deep)]
        if base.empty or deep.empty:
            continue
        top = base.loc[base["mean"].idxmax()]
        for row in deep.itertuples():
            out.append({**dict(zip(CELL, cell)), "deep": _label((row.method, row.variant, row.recipe)),
                        "deep_map": row.mean, "best_baseline": _label((top.method, top.variant, top.recipe)),
                        "baseline_map": top["mean"], "gap": row.mean - top["mean"]})
    return pd.DataFrame(out, columns=CELL + ["deep", "deep_map", "best_baseline", "baseline_map", "gap"])


def claim_check(matrix: pd.DataFrame, first: tuple, second: tuple, evaluation=MAIN) -> pd.DataFrame:
    """A paper's claim "``first`` beats ``second``" checked in every cell where both ran: paired lead over seeds,
    its spread, n, and whether the claim holds clearly (lead > spread with n >= 2)."""
    stats = seed_table(matrix, evaluation)
    cells_a = set(map(tuple, stats[(stats[ROW] == pd.Series(first, index=ROW)).all(axis=1)][CELL].to_numpy()))
    cells_b = set(map(tuple, stats[(stats[ROW] == pd.Series(second, index=ROW)).all(axis=1)][CELL].to_numpy()))
    out = []
    for cell in sorted(cells_a & cells_b, key=lambda c: (c[0], c[1], int(c[2]))):
        lead = paired_lead(matrix, first, second, cell, evaluation)
        verdict = ("holds" if lead["n"] >= 2 and lead["lead"] > lead["spread"] else
                   "reversed" if lead["n"] >= 2 and -lead["lead"] > lead["spread"] else "within the seed spread")
        out.append({**dict(zip(CELL, cell)), **lead, "verdict": verdict})
    return pd.DataFrame(out, columns=CELL + ["lead", "spread", "n", "verdict"])


# ---------------------------------------------------------------------------------------------- chapter sections

#: the seeds' own claims the chapter checks where our runs allow: (claim, the row that should win, the other row)
CLAIMS = (
    ("DCHN: DCHN_100 (label rows added to SHAM) beats DCHN_0", ("dchn", "base", "hashbook"),
     ("dchn", "dchn0", "hashbook")),
    ("DCHN (authors' recipe): DCHN_100 beats DCHN_0", ("dchn", "base", "authors"), ("dchn", "dchn0", "authors")),
    ("DJSRH beats CCA", ("djsrh", "base", "hashbook"), ("cca", "base", "-")),
    ("DJSRH (authors' recipe) beats CCA", ("djsrh", "authors-recipe", "authors"), ("cca", "base", "-")),
)


def load_matrix(profile: str, matrix_path=None, runs_root=None, records_root=None) -> pd.DataFrame:
    """The matrix a chapter shows: the CSV the book build wrote (``matrix_path``), else re-scored now from the
    runs of ``profile`` under ``runs_root`` / ``records_root`` (default ``<repo>/runs`` and ``<repo>/records``)."""
    from pathlib import Path

    from .matrix import build_matrix, read_matrix

    if matrix_path and Path(matrix_path).is_file():
        return name_splits(read_matrix(matrix_path))
    from ..records.runs import default_roots

    roots = default_roots()
    fresh = Path(runs_root) if runs_root else roots["fresh"][0]
    committed = Path(records_root) if records_root else roots["committed"][0]
    return name_splits(build_matrix(profile, roots={"fresh": fresh / profile, "committed": committed / profile},
                                    progress=False).frame)


def split_sizes(run_dir) -> str:
    """``"<query> / <retrieval>"`` items of a run's split (its ``split.json``), ``"?"`` when it has none."""
    from pathlib import Path

    from ..records import read_json

    path = Path(run_dir) / "split.json"
    try:
        sizes = read_json(path).get("sizes") or {}
    except (OSError, ValueError, AttributeError):
        return "?"
    return f"{sizes.get('query', '?')} / {sizes.get('retrieval', '?')}"


def name_splits(matrix: pd.DataFrame) -> pd.DataFrame:
    """Runs of one dataset compare in one cell only when their splits have the same size: where a dataset's runs
    used splits of different sizes (e.g. a smaller seeded subset of CIFAR-10 for the baselines' frozen features),
    its ``dataset`` becomes ``"<dataset> (<query> / <retrieval> split)"`` per size, so no cell mixes two splits."""
    if matrix.empty:
        return matrix
    sizes = {run_dir: split_sizes(run_dir) for run_dir in matrix["run_dir"].unique()}
    matrix = matrix.copy()
    size = matrix["run_dir"].map(sizes)
    mixed = size.groupby(matrix["dataset"]).transform("nunique") > 1
    matrix.loc[mixed, "dataset"] = matrix.loc[mixed, "dataset"] + " (" + size[mixed] + " split)"
    return matrix


def summary(matrix: pd.DataFrame, profile: str):
    """The opening paragraph: how many runs, methods, datasets and evaluations the matrix holds."""
    from .chapter import note

    if matrix.empty:
        return note(f"No finished run of the **{profile}** profile has saved codes, so there is nothing to compare.")
    deep = sorted({m for m in matrix["method"] if is_deep(m)})
    free = sorted({m for m in matrix["method"] if not is_deep(m)})
    return note(f"This book (**{profile}** profile) re-scored {matrix['run_dir'].nunique()} runs from their saved "
                f"codes: {len(matrix)} numbers over {matrix['dataset'].nunique()} datasets "
                f"({', '.join(sorted(matrix['dataset'].unique()))}) and {len(evaluations(matrix))} evaluations. "
                f"Deep methods: {', '.join(deep) or 'none'}; training-free baselines: {', '.join(free) or 'none'}.")


def _styled(frame: pd.DataFrame, caption: str):
    from .tables import style_table

    styler = style_table(frame, caption=caption)
    return styler.map(lambda v: "font-weight: bold" if isinstance(v, str) and v.endswith(BEST_MARK) else "")


def dataset_sections(matrix: pd.DataFrame) -> list:
    """Per dataset: a heading and :func:`dataset_table` under the main evaluation (styled, best cells bold)."""
    from .chapter import note

    shown = []
    for dataset in sorted(matrix["dataset"].unique()):
        table = dataset_table(matrix, dataset)
        if table.empty:
            continue
        shown += [note(f"### {dataset}"), _styled(
            table, f"{dataset}: mAP@all (deephash AP, expected ties), mean ± std over seeds (n). "
                   f"{BEST_MARK.strip()} = best, with a paired lead over the runner-up larger than the seed spread.")]
    return shown


def agreement_section(matrix: pd.DataFrame) -> list:
    """:func:`ranking_agreement` as a table and a heat map (closed figure), or a note when there is no ranking."""
    import matplotlib.pyplot as plt

    from .chapter import note
    from .tables import style_table

    agreement = ranking_agreement(matrix)
    if agreement.empty:
        return [note("No cell has two methods to rank.")]
    fig = plot_ranking_agreement(agreement)
    plt.close(fig)
    table = agreement.pivot(index="evaluation", columns="dataset", values="tau")
    changed = agreement.pivot(index="evaluation", columns="dataset", values="top_changed").fillna(0).astype(int)
    cells = agreement.groupby("dataset")["cells"].max()
    text = table.round(2).astype(str) + " (" + changed.astype(str) + "/" + cells.reindex(table.columns).astype(str) + ")"
    return [style_table(text, caption="Kendall's tau with the main evaluation, mean over cells (in how many cells "
                                      "the best method changes / cells)"), fig]


def gap_section(matrix: pd.DataFrame) -> list:
    """Deep minus the best training-free baseline per dataset, code length and deep method (mean over the
    directions of the cell), as a table; a note when a dataset has no baseline or no deep run."""
    from .chapter import note
    from .tables import style_table

    gaps = deep_vs_baselines(collapse_directions(matrix))
    if gaps.empty:
        return [note("No dataset has both a deep run and a training-free baseline.")]
    per = gaps.groupby(["dataset", "bits", "deep"])["gap"].mean().unstack("deep")
    best = gaps.groupby(["dataset", "bits"])["best_baseline"].agg(lambda s: ", ".join(sorted(set(s))))
    per.insert(0, "best baseline", best)
    per.index.names = ["dataset", "bits"]
    return [style_table(per, caption="mAP@all of each deep method minus the best training-free baseline in the same "
                                     "cell (positive: the deep method is ahead), mean over directions")]


def claims_section(matrix: pd.DataFrame, claims=CLAIMS) -> list:
    """Each claim of :data:`CLAIMS` checked in every cell where both rows ran, or a note where none did."""
    from .chapter import note
    from .tables import style_table

    shown = []
    for text, first, second in claims:
        checked = claim_check(collapse_directions(matrix), first, second)
        if checked.empty:
            shown.append(note(f"**{text}**: no cell of this book has both runs."))
            continue
        shown += [note(f"**{text}**"), style_table(checked, caption=f"{_label(first)} minus {_label(second)}, "
                                                                   "paired over seeds")]
    return shown
