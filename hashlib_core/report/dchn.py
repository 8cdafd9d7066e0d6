"""What the DCHN chapter (``book/chapters/dchn.ipynb``) and the DCHN run notebooks show.

Tables of one run (:func:`ridge_comparison_table`, :func:`new_view_table`, :func:`new_view_summary_table`,
:func:`new_view_hash_table`) take a :class:`~hashlib_core.records.RunResult` or its ``metrics.json`` record;
:func:`results_table` takes :func:`~hashlib_core.records.load_runs` rows; the chapter's sections take a
:class:`~hashlib_core.report.chapter.ChapterRuns` and return what the cell shows (a styled table, a closed
figure, a note, or a list of these; see :func:`~hashlib_core.report.chapter.show`). mAP values are in [0, 1],
protocol ``dchn`` unless a column says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from ..methods.dchn import PROFILES, RIDGE_LABEL, profile_settings
from .chapter import Captioned, ChapterRuns, joined_values, note, stamp, stamps
from .figures import plot_history, plot_pr_curve, plot_precision_at_n, plt
from .tables import paper_layout_table, style_table

METHOD = "dchn"
MULTIVIEW_DATASETS = ("mfeat", "scene15", "msrc_v1", "pie_face")
WIKIPEDIA_BITS = (16, 32, 64, 128)


# ---------------------------------------------------------------------------------------------- one run

def _record(result_or_record) -> dict:
    return getattr(result_or_record, "record", result_or_record)


def new_view_table(result_or_record) -> pd.DataFrame:
    """mAP of a new-view run per direction, each marked ``old->old``, ``new->old`` or ``old->new``."""
    record = _record(result_or_record)
    new = record["settings"]["new_view"]["new_view"]
    rows = []
    for direction, value in record["map"].items():
        query, target = direction.split("->")
        kind = "new->old" if query == new else "old->new" if target == new else "old->old"
        rows.append({"direction": direction, "kind": kind, "mAP": value})
    return pd.DataFrame(rows).sort_values(["kind", "direction"], kind="stable").reset_index(drop=True)


def new_view_summary_table(result_or_record) -> pd.DataFrame:
    """One row per new-view run: views, identical flags, timings (s) and the mean mAP of each direction kind."""
    record = _record(result_or_record)
    summary = record["settings"]["new_view"]
    means = new_view_table(record).groupby("kind")["mAP"].mean()
    seconds = summary["seconds"]
    return pd.DataFrame([{
        "dataset": record["dataset"], "bits": record["bits"], "old views": ", ".join(summary["old_views"]),
        "new view": summary["new_view"], "old networks identical": summary["old_networks_identical"],
        "old codes identical": summary["old_codes_identical"],
        "retrained = incremental": all(summary.get("retrained_identical", {}).values()) if
        "retrained_identical" in summary else None,
        "mAP old->old": means.get("old->old"), "mAP new->old": means.get("new->old"),
        "mAP old->new": means.get("old->new"), "train k old views (s)": seconds["train_old_views"],
        "add new view (s)": seconds["add_new_view"], "retrain all k+1 (s)": seconds.get("retrain_all"),
        "profile": record["profile"], "device": record["device"], "date": record["date"][:10],
    }])


def new_view_hash_table(summary: dict) -> pd.DataFrame:
    """Old views' SHA-256 (first 16 hex digits) of network and codes before and after adding the new view."""
    rows = []
    for view in summary["old_views"]:
        for item in ("network", "query_codes", "retrieval_codes"):
            before, after = summary["hashes_before"][view][item], summary["hashes_after"][view][item]
            rows.append({"view": view, "what": item, "before": before[:16], "after": after[:16],
                         "identical": before == after})
    return pd.DataFrame(rows)


def ridge_comparison_table(result_or_record) -> pd.DataFrame:
    """DCHN vs the ridge baseline (same targets, same split, protocol ``dchn``) per direction of one run."""
    record = _record(result_or_record)
    ridge = next((a["map"] for a in record.get("also", []) if a["label"] == RIDGE_LABEL), {})
    return pd.DataFrame([{"direction": d, "DCHN": v, "ridge": ridge.get(d), "DCHN - ridge":
                          (v - ridge[d]) if d in ridge else None} for d, v in record["map"].items()])


def results_table(runs, *, dataset: str, by_direction: bool = True) -> pd.DataFrame:
    """Our DCHN runs on ``dataset`` from :func:`hashlib_core.records.runs.load_runs` (finished, notebook ``dchn``):
    one row per profile, source, variant (DCHN_100 / DCHN_0) and bits; per direction the DCHN mAP (protocol
    ``dchn``, mean over seeds), the ridge baseline's and their difference; then seeds, device and date.
    ``by_direction=False`` (for sets with many views) gives the mean over all directions instead, with the
    number of directions and of directions where DCHN is ahead."""
    keep = ((runs["method"] == METHOD) & (runs["notebook"] == METHOD) & (runs["status"] == "ok")
            & (runs["dataset"] == dataset) & runs["evaluation"].isin(["main", RIDGE_LABEL]))
    selected = runs[keep].copy()
    if selected.empty:
        return pd.DataFrame()
    selected["variant"] = [s.get("variant", "DCHN_100") if isinstance(s, dict) else "DCHN_100"
                           for s in selected["settings"]]
    selected["what"] = selected["evaluation"].map({"main": "DCHN", RIDGE_LABEL: "ridge"})
    keys = ["profile", "source", "variant", "bits"]
    rows = []
    for key, group in selected.groupby(keys, sort=True):
        row = dict(zip(keys, key))
        if not by_direction:
            per = group.pivot_table(index="direction", columns="what", values="map", aggfunc="mean")
            row["directions"] = int(len(per))
            row["DCHN mean mAP"] = float(per["DCHN"].mean())
            row["ridge mean mAP"] = float(per["ridge"].mean()) if "ridge" in per else float("nan")
            row["DCHN ahead in"] = int((per["DCHN"] > per["ridge"]).sum()) if "ridge" in per else 0
        for direction in (sorted(set(group["direction"])) if by_direction else ()):
            part = group[group["direction"] == direction]
            values = {what: part.loc[part["what"] == what, "map"].astype(float).mean() for what in ("DCHN", "ridge")}
            row[f"{direction} DCHN"] = values["DCHN"]
            row[f"{direction} ridge"] = values["ridge"]
            row[f"{direction} DCHN - ridge"] = values["DCHN"] - values["ridge"]
        row["seeds"] = ", ".join(str(s) for s in sorted(set(group["seed"])))
        row["device"] = ", ".join(sorted({str(d) for d in group["device"]}))
        row["date"] = ", ".join(sorted({str(d)[:10] for d in group["date"]}))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_sham_objective(sham_summaries, *, ax=None, title: str | None = "SHAM objective per alternation"):
    """SHAM's objective J(B, W) against the alternation, one line per ``{label: record["settings"]["sham"]}``
    (or one summary dict); a marker on the kept W. Returns the matplotlib Figure."""
    if isinstance(sham_summaries, dict) and "objective" in sham_summaries:
        sham_summaries = {"SHAM": sham_summaries}
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=110)
    else:
        fig = ax.figure
    for label, summary in sham_summaries.items():
        values = summary["objective"]
        (line,) = ax.plot(range(1, len(values) + 1), values, label=label)
        best = summary["best_iteration"]
        ax.plot([best + 1], [values[best]], marker="o", color=line.get_color())
    ax.set_xlabel("alternation")
    ax.set_ylabel("J(B, W)")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------- the chapter

def built_for(chapter: ChapterRuns):
    """The chapter's opening line: the profile and how many run folders it read."""
    runs = chapter.runs
    return note(f"This chapter was built for the **{chapter.profile}** profile: "
                f"{runs['run_dir'].nunique() if len(runs) else 0} DCHN run folders (fresh runs of this profile and "
                f"committed records).")


def _day_range(days: list[str]) -> str:
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


def what_ran(chapter: ChapterRuns) -> list:
    """One row per notebook, dataset, profile and source: device, dates, number of runs, variants, bits, seeds,
    schedule (hidden, epochs), mean training seconds per run and the views; then the failed runs, if any."""
    ok, runs, values = chapter.ok, chapter.runs, joined_values
    shown = []
    if len(ok):
        first = ok.drop_duplicates("run_dir").assign(committed=lambda f: f["source"] != "fresh")
        rows = []
        for key, group in first.groupby(["notebook", "committed", "profile", "dataset"], sort=True):
            settings = list(group["settings"])
            days = sorted(group["date"].str[:10])
            rows.append({
                "notebook": key[0], "dataset": key[3], "profile": key[2], "source": group["source"].iloc[0],
                "device": values(group["device"]), "date": _day_range(days),
                "runs": len(group), "variants": values(s.get("variant") for s in settings),
                "bits": values(group["bits"], int), "seeds": values(group["seed"], int),
                "hidden": values((s.get("hidden") for s in settings), int), "epochs": values(group["epochs"], int),
                "train s per run": float(group["train_seconds"].mean()),
                "views": values(", ".join(s.get("views", [])) for s in settings)})
        shown.append(style_table(pd.DataFrame(rows), digits=1))
    else:
        shown.append(note("No finished DCHN run was found. Run `make book` (or `python -m hashlib_core run dchn "
                          "...`)."))
    failed = runs[runs["status"] == "failed"] if len(runs) else runs
    if len(failed):
        shown.append(note("**Failed runs** (their `failed.json` holds the traceback):"))
        shown.append(style_table(failed[["notebook", "run_id", "profile", "error"]].drop_duplicates()
                                 .reset_index(drop=True)))
    return shown


def missing_datasets_note(references: pd.DataFrame, table, status_of=None):
    """A note listing the datasets of paper ``table`` whose files are not here (with what is missing and how to
    obtain it), or ``None`` when all are present. ``status_of``: :func:`hashlib_core.data.dataset_status`."""
    if status_of is None:
        from ..data import dataset_status as status_of
    datasets = list(dict.fromkeys(references.loc[references["table"].astype(str) == str(table), "dataset"]))
    lines = []
    for name in datasets:
        status = status_of(name)
        if status["status"] != "present":
            lines.append(f"- `{name}` ({status['status']} here; missing: {'; '.join(status['missing'])}). "
                         f"To obtain: {status['obtain']}")
    return note("Datasets of this table without their files here:\n\n" + "\n".join(lines)) if lines else None


def paper_tables(runs: pd.DataFrame, references: pd.DataFrame, tables: Iterable = (1, 2), status_of=None) -> list:
    """The paper's Tables 1 and 2 as printed, with our DCHN_100 (unlabelled) and DCHN_0 (label ``dchn0``) rows
    appended (mean over seeds), each captioned with what produced our rows; after each, the note of its datasets
    missing here. ``runs``: finished :func:`load_runs` rows; ``references``: ``load_references("dchn")``."""
    shown = []
    for table in tables:
        main = paper_layout_table(references, runs, table=table, our_method=METHOD)
        zero = paper_layout_table(references, runs, table=table, our_method=METHOD, label="dchn0")
        ours = [row["row"] for row in zero.attrs["ours"]]
        frame = pd.concat([main, zero.loc[ours]]) if ours else main
        info = main.attrs["ours"] + zero.attrs["ours"]
        made = "; ".join(f"{i['row']}: {i['runs']} run(s), {i['device']}, {i['date']}" for i in info) \
            or "no run of ours"
        shown.append(style_table(frame, caption=f"Table {table} ({frame.attrs.get('metric', main.attrs['metric'])}, "
                                                f"{main.attrs['source']}). Ours: {made}."))
        shown.append(missing_datasets_note(references, table, status_of))
    return [item for item in shown if item is not None]


def wikipedia_table(runs: pd.DataFrame) -> list:
    """Wikipedia, DCHN vs. the ridge baseline per direction (:func:`results_table`), then one line per variant,
    profile and source: in how many (code length, direction) cells DCHN is ahead, and by how much."""
    wiki = results_table(runs, dataset="wikipedia") if len(runs) else pd.DataFrame()
    if not len(wiki):
        return [note("No Wikipedia run of DCHN was found for this profile.")]
    lines = []
    for key, group in wiki.groupby(["variant", "profile", "source", "device", "date"], sort=False):
        diffs = group[[c for c in group.columns if c.endswith("DCHN - ridge")]]
        lines.append(f"- {key[0]} ({key[1]}, {key[2]}, {key[3]}, {key[4]}), {joined_values(group['bits'], int)} "
                     f"bits: DCHN ahead of ridge in {int((diffs > 0).sum().sum())} of {int(diffs.notna().sum().sum())} "
                     f"(code length, direction) cells, by {diffs.min().min():+.3f} to {diffs.max().max():+.3f}")
    return [style_table(wiki, caption="Wikipedia, mAP@all (protocol dchn, ties by index); DCHN vs. ridge, one row "
                                      "per profile, source, variant and code length."),
            note("\n".join(lines))]


def representative(record: Mapping, k: int = 3) -> list[str]:
    """The best, median and worst direction by the run's mAP (all of them when there are at most k)."""
    ranked = sorted(record["map"], key=record["map"].get, reverse=True)
    return ranked if len(ranked) <= k else list(dict.fromkeys([ranked[0], ranked[len(ranked) // 2], ranked[-1]]))


def precision_figure(chapter: ChapterRuns):
    """Precision@N and precision-recall of the Wikipedia DCHN_100 runs at every code length present (one source),
    else of the newest finished DCHN run (its best, median and worst direction): a :class:`Captioned` figure, or
    a note when no run has curves."""
    from ..records.runs import load_curves

    wiki_runs = {}
    for bits in WIKIPEDIA_BITS:
        dirs = chapter.dirs(dataset="wikipedia", bits=bits, label=None)
        if dirs:
            wiki_runs[bits] = dirs[0]
    if wiki_runs:  # one source only: fresh runs of this profile if any, else the committed records
        wiki_runs, source = chapter.one_source(wiki_runs)
        records = [chapter.record(d) for d in wiki_runs.values()]
        curves = {bits: load_curves(d) for bits, d in wiki_runs.items()}
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.2), dpi=100)
        for row, direction in enumerate(("image->text", "text->image")):
            part = {f"{bits} bits": c[direction] for bits, c in curves.items()}
            plot_precision_at_n(part, ax=axes[row, 0], title=f"Wikipedia {direction}: precision@N")
            plot_pr_curve(part, ax=axes[row, 1], title=f"Wikipedia {direction}: precision-recall")
        about = (f"Wikipedia, DCHN_100, {', '.join(str(b) for b in wiki_runs)} bits, seed {records[0]['seed']}; "
                 f"{stamps(records)} ({source} runs)")
    else:
        dirs = chapter.dirs(label=None) or chapter.dirs()
        if not dirs:
            return note("No finished DCHN run with curves was found for this profile.")
        record = chapter.record(dirs[0])
        curves, shown = load_curves(dirs[0]), representative(record)
        part = {f"{d} (mAP {record['map'][d]:.3f})": curves[d] for d in shown}
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
        plot_precision_at_n(part, ax=axes[0], title=f"{record['dataset']}: precision@N")
        plot_pr_curve(part, ax=axes[1], title=f"{record['dataset']}: precision-recall")
        picked = "all its directions" if len(shown) == len(record["map"]) else \
            f"its best, median and worst of {len(record['map'])} directions by mAP"
        about = (f"{record['dataset']}, {record['settings']['variant']}, {record['bits']} bits, seed "
                 f"{record['seed']}, {picked}; {stamp(record)} ({chapter.source_of(dirs[0])} run)")
    fig.tight_layout()
    return Captioned.of(fig, about)


def sham_objectives(chapter: ChapterRuns) -> dict:
    """One SHAM solution per distinct SHAM input (dataset, bits, gamma, available_num, seed, iterations, monotone,
    label hash), fresh runs of this profile first: ``{key: (record, settings["sham"])}``."""
    solutions = {}
    for run_dir in chapter.dirs():
        record = chapter.record(run_dir)
        s = record["settings"]["sham"]
        key = (record["dataset"], s["bits"], s["gamma"], s["available_num"], s["seed"], s["iterations"],
               s["monotone"], s["label_sha256"])
        solutions.setdefault(key, (record, s))
    return solutions


def sham_figure(chapter: ChapterRuns) -> list:
    """J(B, W) per alternation divided by its value after the first, one panel per dataset, one line per distinct
    SHAM solution (code length and variant); a note first saying how many solutions needed the
    coordinate-descent B step. A note alone when there is no run."""
    solutions = sham_objectives(chapter)
    if not solutions:
        return [note("No run to show.")]
    by_dataset = {}
    for record, s in solutions.values():
        start = s["objective"][0]
        by_dataset.setdefault(record["dataset"], {})[(record["bits"], record["settings"]["variant"])] = {
            "objective": [v / start for v in s["objective"]], "best_iteration": s["best_iteration"]}
    cols = min(len(by_dataset), 3)
    rows = -(-len(by_dataset) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.7 * cols, 3.4 * rows), dpi=100, squeeze=False)
    for ax, (name, lines) in zip(axes.flat, sorted(by_dataset.items())):
        plot_sham_objective({f"{b} bits {v}": lines[(b, v)] for b, v in sorted(lines)}, ax=ax, title=name)
        ax.set_ylabel("J / J after alternation 1")
        ax.legend(fontsize=7)
    for ax in axes.flat[len(by_dataset):]:
        ax.set_axis_off()
    fig.tight_layout()
    plt.close(fig)
    records = [r for r, _ in solutions.values()]
    changed = sorted(f"{r['dataset']} {s['bits']}b {r['settings']['variant']}" for r, s in solutions.values()
                     if "coordinate" in s.get("b_step", []))
    return [note(f"{len(solutions)} distinct SHAM solutions, from runs of {stamps(records)}. The "
                 f"coordinate-descent B step was needed in {len(changed)} of them"
                 + (f": {', '.join(changed)}." if changed else ".")), fig]


def training_curves(chapter: ChapterRuns, *, dataset: str = "wikipedia", bits: int = 32):
    """Loss per epoch of each view's network and its two terms (L_H, L_R), for the DCHN_100 run of ``dataset``
    at ``bits`` (fresh first): a closed figure, or a note when there is none."""
    from ..records.runs import load_history

    dirs = chapter.dirs(dataset=dataset, bits=bits, label=None)
    if not dirs:
        return note("No Wikipedia 32-bit run for this profile.")
    record = chapter.record(dirs[0])
    history = load_history(dirs[0])
    views = record["settings"]["views"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), dpi=100)
    for ax, (term, title) in zip(axes, (("loss", "loss"), ("L_H", "L_H (pairwise likelihood)"),
                                        ("L_R", "L_R (label reconstruction)"))):
        plot_history(history, keys=[f"{v} {term}" for v in views], ax=ax, title=title)
    fig.suptitle(f"DCHN_100, Wikipedia, 32 bits ({stamp(record)}, {chapter.source_of(dirs[0])} run)", fontsize=11)
    fig.tight_layout()
    plt.close(fig)
    return fig


def multiview_table(runs: pd.DataFrame, datasets: Iterable[str] = MULTIVIEW_DATASETS):
    """Multi-view sets: per code length the mean mAP over every ordered pair of views for DCHN and the ridge
    baseline, one row per dataset, variant, profile and source, with the cells where DCHN is ahead, device, date."""
    parts = [results_table(runs, dataset=name, by_direction=False).assign(dataset=name)
             for name in datasets] if len(runs) else []
    parts = [p for p in parts if len(p)]
    if not parts:
        return note("No multi-view run of `notebooks/dchn.ipynb` for this profile.")
    frame = pd.concat(parts, ignore_index=True)
    keys = ["dataset", "variant", "profile", "source"]
    rows = {}
    for key, group in frame.groupby(keys, sort=False):
        days = sorted({d for ds in group["date"] for d in ds.split(", ")})
        row = {}
        for _, r in group.iterrows():
            row[(f"{r['bits']} bits", "DCHN")] = r["DCHN mean mAP"]
            row[(f"{r['bits']} bits", "ridge")] = r["ridge mean mAP"]
        row[("DCHN > ridge", "cells")] = f"{int(group['DCHN ahead in'].sum())} of {int(group['directions'].sum())}"
        row[("recorded", "device")] = joined_values(group["device"])
        row[("recorded", "date")] = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
        rows[key] = row
    wide = pd.DataFrame.from_dict(rows, orient="index")
    lengths = sorted({int(c[0].split()[0]) for c in wide.columns if c[0].endswith("bits")})
    wide = wide[[(f"{b} bits", w) for b in lengths for w in ("DCHN", "ridge")]
                + [("DCHN > ridge", "cells"), ("recorded", "device"), ("recorded", "date")]]
    wide.index.names = keys
    return style_table(wide, caption="Multi-view sets: mean mAP@all (protocol dchn) over every ordered pair of "
                                     "views, DCHN and the ridge baseline on the same targets.")


def new_view_runs(chapter: ChapterRuns):
    """:func:`new_view_summary_table` of every finished ``dchn_new_view`` run, one row each, or a note."""
    tables = [new_view_summary_table(chapter.record(d)) for d in chapter.dirs("dchn_new_view")]
    if not tables:
        return note("No new-view run for this profile.")
    return style_table(pd.concat(tables, ignore_index=True), digits=3,
                       caption="New-view experiment: old networks and codes before/after, mAP and timings.")


def profiles_table() -> pd.DataFrame:
    """What each profile sets (hidden width, epochs, ...), one column per profile."""
    return pd.DataFrame({name: {k: (v if not isinstance(v, list) else str(v))
                                for k, v in profile_settings(name).items() if k != "profile_changes"}
                         for name in PROFILES})


def recipes_and_features(chapter: ChapterRuns) -> list:
    """Our DCHN runs on the Wikipedia items with both image feature sets (SIFT, RoPH) and both recipes, at the
    default width with the authors' 100 epochs (labels ``authors-recipe`` / ``hashbook-e100``), mean ± std over
    seeds, and the measured paragraph on what moves image->text (:mod:`hashlib_core.report.recipes`). The DCHN
    paper reports no Wikipedia number."""
    from . import recipes

    return recipes.section(chapter.ok, method="dchn", profile="default", labels=("authors-recipe", "hashbook-e100"),
                           epochs=100, caption="DCHN on the Wikipedia items, mAP@all (dchn protocol), default "
                                               "width (512), the authors' 100 epochs, mean ± std over seeds (n).")
