"""What the DJSRH chapter (``book/chapters/djsrh.ipynb``) shows, from run records only.

:func:`evaluations_table` and :func:`ablation_table` turn :func:`~hashlib_core.records.load_runs` rows into the
chapter's tables; the chapter's sections take a :class:`~hashlib_core.report.chapter.ChapterRuns` (or its finished
rows ``chapter.ok``) and return what the cell shows (a styled table, a closed figure, a note, or a list of these).
mAP values are in [0, 1]; the main evaluation is the paper's mAP@50 (``deephash``, ties by retrieval index).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..methods.djsrh import ABLATION, PROFILES, resolve_settings
from .chapter import Captioned, ChapterRuns, date_range, joined_values, note, stamp, stamps
from .figures import plot_history, plot_precision_at_n, plt
from .tables import comparison_table, paper_layout_table, style_table

METHOD = "djsrh"

# Column name -> the evaluation label in the records (``"main"`` is the record's own mAP@50).
EVALUATIONS = {
    "DJSRH mAP@50": "main",
    "CCA mAP@50": "CCA baseline mAP@50 (deephash)",
    "random mAP@50": "random codes mAP@50 (deephash)",
    "DJSRH mAP@all": "mAP@all (deephash)",
    "CCA mAP@all": "CCA baseline mAP@all (deephash)",
    "random mAP@all": "random codes mAP@all (deephash)",
    "DJSRH mAP@all (dchn)": "mAP@all (dchn, as the DCHN paper evaluates)",
}
CONVENTION_LABELS = (None, "no-weight-averaging", "uncentred-affinity", "authors-recipe")
GAP_COLUMNS = ("DJSRH mAP@50", "DJSRH mAP@all", "DJSRH mAP@all (dchn)", "CCA mAP@50", "CCA mAP@all",
               "random mAP@50", "random mAP@all")
PRECISION_LIMIT = 2000  # the paper's precision@R plot on Wikipedia goes to R = 2,000


# ---------------------------------------------------------------------------------------------- tables of runs

def _our_rows(runs, dataset: str | None):
    keep = (runs["method"] == METHOD) & (runs["status"] == "ok") & (runs["notebook"] == METHOD)
    if dataset is not None:
        keep &= runs["dataset"] == dataset
    return runs[keep]


def evaluations_table(runs, *, dataset: str = "wikipedia", labels=(None,), bits=None, seeds=None,
                      columns=tuple(EVALUATIONS)):
    """One row per (profile, source, label, bits, direction): the mean over seeds of each evaluation in
    ``columns`` (keys of :data:`EVALUATIONS`), with the number of seeds ``n`` and the seeds themselves.

    ``runs``: :func:`hashlib_core.records.runs.load_runs` rows. ``labels``: grid labels to keep (``None`` = the
    unlabelled main runs). ``bits`` / ``seeds``: optional filters (lists).
    """
    rows = _our_rows(runs, dataset)
    labelled = rows["label"].isin([lab for lab in labels if lab is not None])
    if None in labels:
        labelled |= rows["label"].isna()
    rows = rows[labelled]
    if bits is not None:
        rows = rows[rows["bits"].isin(list(bits))]
    if seeds is not None:
        rows = rows[rows["seed"].isin(list(seeds))]
    names = {EVALUATIONS[column]: column for column in columns}
    rows = rows[rows["evaluation"].isin(list(names))].assign(
        label=lambda f: f["label"].fillna("(main)"), column=lambda f: f["evaluation"].map(names))
    if rows.empty:
        return pd.DataFrame(columns=["profile", "source", "label", "bits", "direction", "n", "seeds", *columns])
    keys = ["profile", "source", "label", "bits", "direction"]
    values = rows.pivot_table(index=keys, columns="column", values="map", aggfunc="mean")
    seeds_used = rows.groupby(keys)["seed"].agg(lambda s: sorted(set(int(v) for v in s)))
    table = values.reindex(columns=[c for c in columns if c in values.columns]).reset_index()
    table.insert(5, "n", [len(seeds_used[tuple(k)]) for k in table[keys].itertuples(index=False)])
    table.insert(6, "seeds", [", ".join(map(str, seeds_used[tuple(k)])) for k in table[keys].itertuples(index=False)])
    order = {label: i for i, label in enumerate(["(main)", *[lab for lab, *_ in ABLATION]])}
    table["_order"] = table["label"].map(lambda lab: order.get(lab, len(order)))
    return table.sort_values(["profile", "source", "_order", "label", "bits", "direction"]).drop(
        columns="_order").reset_index(drop=True)


def ablation_table(runs, references, *, dataset: str = "wikipedia"):
    """The paper's Table 1 (NUS-WIDE TC-10, mAP@50) beside our ablation runs on ``dataset``: one row per
    ablation step in the paper's order; columns ``(source, direction, bits)``, ``source`` being
    ``"paper (nus_wide_tc10)"`` or ``"ours (<dataset>, <profile>)"`` (mean over seeds)."""
    paper = references[references["table"].astype(str) == "1"]
    ours = evaluations_table(runs, dataset=dataset, labels=[label for label, *_ in ABLATION],
                             columns=("DJSRH mAP@50",))
    frame = {}
    for label, paper_method, description, _ in ABLATION:
        row = {}
        for _, ref in paper[paper["method"] == paper_method].iterrows():
            row[(f"paper ({ref['dataset']})", ref["direction"], int(ref["bits"]))] = ref["value"]
        for _, our in ours[ours["label"] == label].iterrows():
            source = f"ours ({dataset}, {our['profile']}{'' if our['source'] == 'fresh' else ', committed'})"
            row[(source, our["direction"], int(our["bits"]))] = our["DJSRH mAP@50"]
        frame[f"{description} [{paper_method}]"] = row
    table = pd.DataFrame.from_dict(frame, orient="index")
    if len(table.columns):
        table.columns = pd.MultiIndex.from_tuples(table.columns, names=["source", "direction", "bits"])
        table = table.reindex(columns=sorted(table.columns, key=lambda c: (not c[0].startswith("paper"), c[0],
                                                                            c[2], c[1])))
    table.index.name = "ablation step"
    return table


def with_stamp(table: pd.DataFrame, ok: pd.DataFrame, dataset: str = "wikipedia") -> pd.DataFrame:
    """Add the device(s) and date(s) of the runs behind each row of an :func:`evaluations_table` (``ok``: the
    finished :func:`load_runs` rows it was made from)."""
    if not len(table):
        return table
    first = ok[(ok["notebook"] == METHOD) & (ok["dataset"] == dataset)].drop_duplicates("run_dir")
    first = first.assign(label=first["label"].fillna("(main)"))
    devices, dates = [], []
    for row in table.itertuples(index=False):
        seeds = [int(s) for s in str(row.seeds).split(", ")]
        behind = first[(first["profile"] == row.profile) & (first["source"] == row.source)
                       & (first["label"] == row.label) & (first["bits"] == row.bits) & first["seed"].isin(seeds)]
        devices.append(joined_values(behind["device"]))
        dates.append(date_range(behind["date"]))
    return table.assign(device=devices, date=dates)


def _span(ranges) -> str:
    """The first to last day of :func:`with_stamp`'s ``date`` entries (each a day or ``"first to last"``)."""
    days = sorted({day for entry in ranges if isinstance(entry, str) and entry for day in entry.split(" to ")})
    return "" if not days else days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


# ---------------------------------------------------------------------------------------------- the chapter

def built_for(chapter: ChapterRuns):
    """The chapter's opening line: the profile and how many run folders it read."""
    runs = chapter.runs
    return note(f"This chapter was built for the **{chapter.profile}** profile from "
                f"{runs['run_dir'].nunique() if len(runs) else 0} DJSRH run folders (fresh runs of this profile "
                f"and committed records).")


def what_ran(chapter: ChapterRuns) -> list:
    """One row per dataset, profile, source and kind of run (``(main)``, ``ablation``, a convention variant):
    device, dates, runs, bits, seeds, schedule, loss settings, conventions, mean training seconds; then failures."""
    ok, runs, values = chapter.ok, chapter.runs, joined_values
    shown = []
    if len(ok):
        first = ok.drop_duplicates("run_dir")
        kind = first["label"].fillna("(main)").map(lambda lab: "ablation" if lab.startswith("ablation-") else lab)
        first = first.assign(kind=kind, committed=first["source"] != "fresh")
        rows = []
        for key, group in first.groupby(["committed", "profile", "dataset", "kind"], sort=True):
            settings = list(group["settings"])
            rows.append({
                "dataset": key[2], "runs of": key[3], "profile": key[1], "source": group["source"].iloc[0],
                "device": values(group["device"]), "date": date_range(group["date"]), "runs": len(group),
                "bits": values(group["bits"], int), "seeds": values(group["seed"], int),
                "epochs": values(group["epochs"], int), "hidden": values((s.get("hidden") for s in settings), int),
                **{name: values(s.get(key) for s in settings) for name, key in (
                    ("beta", "beta"), ("eta", "eta"), ("mu", "mu"), ("lambda", "lambda1"),
                    ("alpha", "alpha_schedule"), ("inputs", "input_norm"), ("centred", "center_features"),
                    ("weight averaging", "ema_decay"))},
                "train s per run": float(group["train_seconds"].mean())})
        shown.append(style_table(pd.DataFrame(rows), digits=1))
    else:
        shown.append(note("No finished DJSRH run was found. Run `make book` (or `python -m hashlib_core run djsrh "
                          "...`)."))
    failed = runs[runs["status"] == "failed"] if len(runs) else runs
    if len(failed):
        shown.append(note("**Failed runs** (their `failed.json` holds the traceback):"))
        shown.append(style_table(failed[["run_id", "profile", "error"]].drop_duplicates().reset_index(drop=True)))
    return shown


def paper_table(ok: pd.DataFrame, references: pd.DataFrame) -> list:
    """The paper's Table 2 with our row(s) appended, then (when there are runs) the Wikipedia comparison of the
    paper's DJSRH against ours. ``references``: ``load_references("djsrh")``."""
    frame = paper_layout_table(references, ok, table=2, our_method=METHOD)
    made = "; ".join(f"{i['row']}: {i['runs']} run(s), {i['device']}, {i['date']}" for i in frame.attrs["ours"]) \
        or "no run of ours"
    shown = [style_table(frame, caption=f"Table 2 ({frame.attrs['metric']}, {frame.attrs['source']}). Ours: {made}.")]
    if len(ok):
        table = comparison_table(references, ok, paper_method="DJSRH", our_method=METHOD, table=2,
                                 datasets=["wikipedia"])
        shown.append(style_table(table[["dataset", "direction", "bits", "paper", "ours", "diff", "profile", "source",
                                        "device", "date", "note"]],
                                 caption="Wikipedia: the paper's DJSRH (raw images + AlexNet) against ours (SIFT "
                                         "histograms)."))
    return shown


def missing_data_note(datasets: Sequence[str] = ("mirflickr25k", "nus_wide_tc10"), status_of=None):
    """What is here and what is missing of ``datasets`` (from the loaders), and how to run the paper's own
    raw-image setting once the files are in place."""
    if status_of is None:
        from ..data import dataset_status as status_of
    lines = []
    for name in datasets:
        status = status_of(name)
        present = ", ".join(Path(p).name for p in status["present"]) or "nothing"
        lines.append(f"- `{name}`: {status['status']} here (present: {present}; missing: "
                     f"{'; '.join(status['missing']) or 'nothing'}). To obtain: {status['obtain']}.")
    lines.append("- For the paper's own setting (raw images through AlexNet), put the raw-image file "
                 "(`mirflickr25k-iall.mat`, DCMH layout) in the same folder, together with torchvision's AlexNet "
                 "ImageNet weights (`alexnet-owt-7be5be79.pth`) as a local file, and run "
                 "`notebooks/djsrh.ipynb` with `data_options={\"features\": \"raw\"}`, `backbone=\"alexnet\"` and "
                 "`backbone_weights=<path>`. With the VGG feature file (`mirflickr25k-iall-vgg.mat`, key `XAll`) the "
                 "image network is an MLP on those features, or a single linear layer with `image_head=\"linear\"`.")
    return note("\n".join(lines))


def baselines_table(ok: pd.DataFrame, dataset: str = "wikipedia") -> list:
    """DJSRH vs. CCA vs. random codes (mAP@50 and mAP@all, mean over seeds) with device and date, then one line
    per profile, source and direction: DJSRH - CCA at mAP@50 per code length, and the random codes' range."""
    base = with_stamp(evaluations_table(ok, dataset=dataset), ok, dataset) if len(ok) else pd.DataFrame()
    if not len(base):
        return [note("No Wikipedia run of DJSRH was found for this profile.")]
    lines = []
    for (prof, source, direction), group in base.groupby(["profile", "source", "direction"], sort=False):
        diffs = ", ".join(f"{r['DJSRH mAP@50'] - r['CCA mAP@50']:+.3f} at {r['bits']} bits (n={r['n']})"
                          for _, r in group.iterrows())
        lines.append(f"- {direction}, profile {prof} ({source}, {joined_values(group['device'])}, "
                     f"{_span(group['date'])}): DJSRH - CCA at mAP@50 = {diffs}; random codes "
                     f"{group['random mAP@50'].min():.3f} to {group['random mAP@50'].max():.3f}.")
    return [style_table(base, caption="Wikipedia, deephash protocol, ties by index: DJSRH vs. CCA vs. random."),
            note("\n".join(lines))]


def seed_table(chapter: ChapterRuns, *, dataset: str = "wikipedia", bits: int = 32) -> list:
    """Seed by seed at ``bits``: DJSRH and CCA mAP@50 per direction and their difference, then one line per
    profile, source and direction saying for how many seeds DJSRH is ahead."""
    rows = []
    for run_dir in chapter.dirs(dataset=dataset, bits=bits, label=None):
        record = chapter.record(run_dir)
        cca = next(a["map"] for a in record["also"] if a["label"] == EVALUATIONS["CCA mAP@50"])
        for direction, value in record["map"].items():
            rows.append({"profile": record["profile"], "source": chapter.source_of(run_dir), "seed": record["seed"],
                         "direction": direction, "DJSRH mAP@50": value, "CCA mAP@50": cca[direction],
                         "DJSRH - CCA": value - cca[direction], "device": record["device"],
                         "date": record["date"][:10]})
    if not rows:
        return [note("No 32-bit Wikipedia run for this profile.")]
    seeds = pd.DataFrame(rows).sort_values(["profile", "source", "direction", "seed"]).reset_index(drop=True)
    lines = []
    for (prof, source, direction), group in seeds.groupby(["profile", "source", "direction"], sort=False):
        ahead = int((group["DJSRH - CCA"] > 0).sum())
        lines.append(f"- {direction}, profile {prof} ({source}, {joined_values(group['device'])}, "
                     f"{date_range(group['date'])}): DJSRH ahead of CCA at mAP@50 for {ahead} of {len(group)} seeds "
                     f"(mean difference {group['DJSRH - CCA'].mean():+.3f}, range {group['DJSRH - CCA'].min():+.3f} "
                     f"to {group['DJSRH - CCA'].max():+.3f}).")
    return [style_table(seeds), note("\n".join(lines))]


def conventions_table(ok: pd.DataFrame, dataset: str = "wikipedia"):
    """Wikipedia, 32 bits, seed 0: the main runs beside the runs with our conventions switched off."""
    conv = with_stamp(evaluations_table(
        ok, dataset=dataset, labels=list(CONVENTION_LABELS), bits=[32], seeds=[0],
        columns=("DJSRH mAP@50", "CCA mAP@50", "DJSRH mAP@all", "CCA mAP@all")), ok, dataset) \
        if len(ok) else pd.DataFrame()
    if len(conv) and (conv["label"] != "(main)").any():
        return style_table(conv, caption="Wikipedia, 32 bits, seed 0: the conventions switched off.")
    return note("No runs of the convention variants for this profile.")


def _setting_label(setting) -> str:
    return ", ".join(f"{key}={value}" for key, value in setting.items())


def training_fold_study(results_dir: str | os.PathLike | None = None) -> list:
    """The committed output of ``studies/djsrh_training_folds.py`` (``studies/results/djsrh_weight_averaging*.json``):
    per file a note (dataset, bits, profile, device, date, folds, seeds), the mean mAP per setting, and the paired
    differences (mean ± standard error over the same folds and seeds)."""
    from ..records.io import read_json
    from ..records.runs import repo_root

    results_dir = Path(results_dir) if results_dir is not None else repo_root() / "studies" / "results"
    study_files = sorted(results_dir.glob("djsrh_weight_averaging*.json"))
    shown = []
    for path in study_files:
        study = read_json(path)
        shown.append(note(f"**{study['dataset']}, {study['bits']} bits**, profile `{study['profile']}` on the "
                          f"{study['device']}, {study['date'][:10]}: training folds {study['folds']} x seeds "
                          f"{study['seeds']}, {study['queries']} held-out training pairs per fold (`{path.name}`)."))
        means = pd.DataFrame([{"setting": _setting_label(row["setting"]),
                               **{key: value for key, value in row.items() if key != "setting"}}
                              for row in study["means"]]).rename(columns={"n": "runs"})
        shown.append(style_table(means, digits=4))
        diffs = pd.DataFrame([{"setting": _setting_label(row["setting"]), "against": _setting_label(row["against"]),
                               "runs": row["n"],
                               **{f"{d}: paired difference": f"{row[f'{d} mean difference']:+.4f} ± "
                                                             f"{row[f'{d} standard error']:.4f}"
                                  for d in ("image->text", "text->image")}} for row in study["paired_differences"]])
        shown.append(style_table(diffs))
    if not study_files:
        shown.append(note("No committed study output in `studies/results/`."))
    return shown


def ablation(ok: pd.DataFrame, references: pd.DataFrame):
    """The paper's Table 1 ablation beside ours (:func:`ablation_table`), captioned with what produced our rows."""
    if not len(ok):
        return note("No ablation runs for this profile.")
    steps = [label for label, *_ in ABLATION]
    ablation_runs = ok[(ok["notebook"] == METHOD) & ok["label"].isin(steps)].drop_duplicates("run_dir")
    table = ablation_table(ok, references)
    made = "; ".join(f"ours ({prof}{'' if source == 'fresh' else ', committed'}): {len(group)} runs, "
                     f"{joined_values(group['device'])}, {date_range(group['date'])}"
                     for (prof, source), group in ablation_runs.groupby(["profile", "source"])) \
        or "No ablation run of ours for this profile"
    return style_table(table, caption="Table 1 ablation, mAP@50: the paper on NUS-WIDE TC-10 beside ours on "
                                      f"Wikipedia (SIFT + LDA features), same steps. {made}.")


def cut_precision_at_n(curve, limit: int) -> dict:
    """The ``precision_at_n`` part of a curve entry, keeping N <= ``limit``."""
    data = curve["precision_at_n"]
    keep = [i for i, n in enumerate(data["n"]) if n <= limit]
    return {"precision_at_n": {"n": [data["n"][i] for i in keep], "precision": [data["precision"][i] for i in keep]}}


def precision_figure(chapter: ChapterRuns, *, limit: int = PRECISION_LIMIT):
    """Precision@R up to ``limit`` of DJSRH (Wikipedia, seed 0) at every code length present (one source) and, at
    32 bits, the CCA and random-code baselines: a :class:`Captioned` figure, or a note."""
    from ..records.io import read_json
    from ..records.runs import load_curves

    chosen = {bits: dirs[0] for bits in (16, 32, 64, 128)
              for dirs in [chapter.dirs(dataset="wikipedia", bits=bits, label=None, seed=0)] if dirs}
    if not chosen:
        return note("No Wikipedia curves to draw for this profile.")
    chosen, source = chapter.one_source(chosen)  # fresh runs of this profile if any, else the committed records
    records = [chapter.record(d) for d in chosen.values()]
    baselines = read_json(Path(chosen[32]) / "baselines.json")["curves"] \
        if 32 in chosen and (Path(chosen[32]) / "baselines.json").is_file() else None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), dpi=100)
    for ax, direction in zip(axes, ("image->text", "text->image")):
        curves = {f"DJSRH {bits} bits": cut_precision_at_n(load_curves(d)[direction], limit)
                  for bits, d in chosen.items()}
        for name in (("CCA baseline", "random codes") if baselines else ()):
            curves[f"{name} 32 bits"] = cut_precision_at_n(baselines[f"{name} {direction}"], limit)
        plot_precision_at_n(curves, ax=ax, title=f"Wikipedia {direction}")
        ax.set(xlabel="R (number of retrieved items)", ylabel="precision@R")
    fig.tight_layout()
    return Captioned.of(fig, f"Wikipedia, seed 0, DJSRH at {', '.join(str(b) for b in chosen)} bits"
                        + (" and the CCA and random-code baselines at 32 bits" if baselines else "")
                        + f"; {stamps(records)} ({source} runs)")


def published_map_definitions(references: pd.DataFrame, dchn_references: pd.DataFrame) -> list:
    """MIRFLICKR-25K: DJSRH's published mAP@50 beside DCHN's re-run of DJSRH (mAP@all), and their ranges.
    ``references``: ``load_references("djsrh")``; ``dchn_references``: ``load_references("dchn")``."""
    theirs = dchn_references[(dchn_references["method"] == "DJSRH") & (dchn_references["dataset"] == "mirflickr25k")]
    ours_paper = references[(references["method"] == "DJSRH") & (references["dataset"] == "mirflickr25k")]
    side = pd.merge(ours_paper[["direction", "bits", "value"]].rename(columns={"value": "DJSRH paper, mAP@50"}),
                    theirs[["direction", "bits", "value"]].rename(columns={"value": "DCHN paper, mAP@all"}),
                    on=["direction", "bits"], how="outer")
    side["difference"] = side["DJSRH paper, mAP@50"] - side["DCHN paper, mAP@all"]
    return [style_table(side, caption="MIRFLICKR-25K, DJSRH as published by its authors and as re-run by DCHN's."),
            note(f"DJSRH's paper: {side['DJSRH paper, mAP@50'].min():.2f}-{side['DJSRH paper, mAP@50'].max():.2f} "
                 f"(mAP@50); DCHN's re-run: {side['DCHN paper, mAP@all'].min():.2f}-"
                 f"{side['DCHN paper, mAP@all'].max():.2f} (mAP@all).")]


def map_gap_table(ok: pd.DataFrame, dataset: str = "wikipedia"):
    """The same codes under mAP@50 and mAP@all (:data:`GAP_COLUMNS`) with DJSRH's mAP@50 - mAP@all; ``None``
    when there is no run."""
    gap = with_stamp(evaluations_table(ok, dataset=dataset, columns=GAP_COLUMNS), ok, dataset) \
        if len(ok) else pd.DataFrame()
    if not len(gap):
        return None
    gap.insert(gap.columns.get_loc("device"), "DJSRH mAP@50 - mAP@all", gap["DJSRH mAP@50"] - gap["DJSRH mAP@all"])
    return style_table(gap, caption="Wikipedia: the same codes under mAP@50 and mAP@all.")


def per_query_gap(chapter: ChapterRuns, *, dataset: str = "wikipedia") -> list:
    """Per query, from a fresh run's ``codes.npz`` (the 32-bit seed-0 run when it has codes, else any unlabelled
    ``dataset`` run that does): mAP@50 and mAP@all (``deephash``), the share of queries with AP@50 > AP@all, the
    mean number of relevant items in the top 50 and in all; then one line per direction."""
    from ..metrics import average_precision_per_query
    from ..records.runs import load_curves

    def with_codes(dirs):
        return [d for d in dirs if (Path(d) / "codes.npz").is_file()]

    dirs = with_codes(chapter.dirs(dataset=dataset, bits=32, label=None, seed=0)) \
        or with_codes(chapter.dirs(dataset=dataset, label=None))
    if not dirs:
        return [note("No Wikipedia run with codes (`codes.npz`) for this profile.")]
    record = chapter.record(dirs[0])
    codes = np.load(Path(dirs[0]) / "codes.npz")
    curves = load_curves(dirs[0])
    ql, rl = codes["query_labels"], codes["retrieval_labels"]
    relevant = (ql.astype(np.int64) @ rl.T.astype(np.int64) > 0).sum(axis=1)
    rows = []
    for direction, (q, r) in {"image->text": ("image", "text"), "text->image": ("text", "image")}.items():
        at50 = average_precision_per_query(codes[f"{q}_query"], codes[f"{r}_retrieval"], ql, rl, topk=50,
                                           protocol="deephash")
        full = average_precision_per_query(codes[f"{q}_query"], codes[f"{r}_retrieval"], ql, rl, topk=None,
                                           protocol="deephash")
        p50 = dict(zip(curves[direction]["precision_at_n"]["n"], curves[direction]["precision_at_n"]["precision"]))[50]
        rows.append({"direction": direction, "mAP@50": at50.mean(), "mAP@all": full.mean(),
                     "queries with AP@50 > AP@all": f"{(at50 > full).mean():.0%}",
                     "relevant in top 50 (mean)": 50 * p50, "relevant in all (mean R)": relevant.mean()})
    lines = [f"- {row['direction']}: a query finds on average {row['relevant in top 50 (mean)']:.1f} relevant items "
             f"in its top 50, out of {row['relevant in all (mean R)']:.0f} relevant items in all; AP@50 is larger "
             f"than AP@all for {row['queries with AP@50 > AP@all']} of the queries; mAP@50 - mAP@all = "
             f"{row['mAP@50'] - row['mAP@all']:+.3f}." for row in rows]
    return [style_table(pd.DataFrame(rows), digits=3,
                        caption=f"Per query, {record['bits']} bits, seed {record['seed']} ({stamp(record)}, "
                                f"{chapter.source_of(dirs[0])} run)."),
            note("\n".join(lines) + "\n\nThe better the top of a ranking is compared with the rest of it, the "
                 "larger the gap between the two numbers. Where precision is about as low at rank 50 as further "
                 "down, the two nearly agree. Quoting one paper's mAP@50 beside another's mAP@all compares "
                 "different quantities.")]


def training_curves(chapter: ChapterRuns, *, dataset: str = "wikipedia", bits: int = 32):
    """The loss per epoch and its three terms for the ``dataset`` run at ``bits``, seed 0 (fresh first): a closed
    figure, or a note."""
    from ..records.runs import load_history

    dirs = chapter.dirs(dataset=dataset, bits=bits, label=None, seed=0)
    if not dirs:
        return note("No Wikipedia 32-bit run for this profile.")
    record = chapter.record(dirs[0])
    fig = plot_history(load_history(dirs[0]), keys=["loss", "loss_cross", "loss_image", "loss_text"],
                       title=f"DJSRH loss, Wikipedia 32 bits\n({stamp(record)}, {chapter.source_of(dirs[0])} run)")
    plt.close(fig)
    return fig


def profiles_table(dataset: str = "wikipedia") -> pd.DataFrame:
    """What each profile sets for ``dataset`` (schedule, loss weights, conventions), one column per profile."""
    return pd.DataFrame({name: {k: v for k, v in resolve_settings(dataset, name, None, {}).items()
                                if k not in ("backbone", "backbone_weights", "data_options", "image_head")}
                         for name in PROFILES})


def recipes_and_features(chapter: ChapterRuns, references) -> list:
    """Table 2's Wikipedia row beside our paper-profile runs for both image feature sets (SIFT, RoPH) and both
    recipes (the authors' = the paper profile's main runs; ours = ``hashbook-recipe``), mean ± std over seeds,
    and the measured paragraph on what moves image->text (:mod:`hashlib_core.report.recipes`)."""
    from . import recipes

    return recipes.section(chapter.ok, references, method="djsrh", profile="paper", labels=(None, "hashbook-recipe"),
                           paper_method="DJSRH", caption="DJSRH on the Wikipedia items, mAP@50, paper profile "
                                                         "(200 epochs), mean ± std over seeds (n).")
