"""Comparison tables regenerated from the paper numbers (:func:`load_references`) and run records
(:func:`load_runs`): nothing in them is typed by hand.

- :func:`comparison_table`: one row per dataset x direction x bits: the paper's number, ours as mean +- sample
  standard deviation over seeds (``n`` runs), the difference, and the profile / device / date of our runs.
- :func:`paper_layout_table`: a paper table pivoted as printed (rows = methods in the paper's order, columns =
  dataset, direction, bits) with our row(s) appended.
- :func:`style_table`: an HTML-rendering :class:`pandas.io.formats.style.Styler` (3 decimals, blanks for NaN).

Which of our runs count: ``method == our_method``, ``notebook`` (default: the method's own notebook, so an
experiment notebook such as ``dchn_new_view`` is never mixed in), ``status == "ok"``, the chosen ``evaluation``
(``"main"`` or an ``also`` label of the record), and ``label`` (``None``: the runs without a grid label, i.e.
the method's main setting; a string or a list picks labelled runs such as ablation rows). Runs of different
profiles, sources (fresh / committed) or labels are never averaged together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..records.references import metric_topk

NO_RUN_NOTE = "no run here: see the datasets chapter for the data we have"
GROUP = ["dataset", "direction", "bits", "profile", "source", "label", "recipe"]


def _as_list(value) -> list | None:
    if value is None:
        return None
    if isinstance(value, (str, int, np.integer)):
        return [value]
    return list(value)


def _select_runs(runs: pd.DataFrame, *, our_method: str, evaluation: str, label, metric_protocol=None,
                 datasets=None, bits=None, status: str = "ok", notebook: str | None = None) -> pd.DataFrame:
    missing = {"method", "notebook", "evaluation", "status", "label", "dataset", "bits"} - set(runs.columns)
    if missing:
        raise ValueError(f"runs: not a load_runs() table (missing columns {sorted(missing)})")
    keep = (runs["method"] == our_method) & (runs["status"] == status)
    keep &= runs["notebook"] == (notebook or our_method)
    if status == "ok":
        keep &= runs["evaluation"] == evaluation
    labels = _as_list(label)
    keep &= runs["label"].isna() if labels is None else runs["label"].isin(labels)
    if metric_protocol is not None and status == "ok":
        keep &= runs["protocol"] == metric_protocol
    if datasets is not None:
        keep &= runs["dataset"].isin(_as_list(datasets))
    if bits is not None:
        keep &= runs["bits"].isin([int(b) for b in _as_list(bits)])
    return runs[keep]


def _date_range(dates: Iterable) -> str:
    days = sorted({str(d)[:10] for d in dates if isinstance(d, str) and d})
    if not days:
        return ""
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def _metric_name(topk) -> str:
    return "mAP@all" if topk is None or (isinstance(topk, float) and np.isnan(topk)) else f"mAP@{int(topk)}"


def format_mean_std(mean: float, std: float, n: int, digits: int = 3) -> str:
    """``"0.712 ± 0.004 (n=3)"``; ``"0.712 (n=1)"`` for a single run; ``""`` when there is none."""
    if n == 0 or mean is None or np.isnan(mean):
        return ""
    if n == 1 or std is None or np.isnan(std):
        return f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {std:.{digits}f} (n={n})"


def aggregate_runs(selected: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1; NaN for one run) of ``map`` over seeds, per dataset,
    direction, bits, profile and source, with the devices, dates, seeds and metrics behind each number."""
    columns = GROUP + ["ours_mean", "ours_std", "n", "seeds", "device", "date", "ours_metric"]
    if selected.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, group in selected.groupby(GROUP, dropna=False, sort=False):
        values = group["map"].astype(float).to_numpy()
        metrics = sorted({f"{_metric_name(t)} ({p}, ties={ti})"
                          for t, p, ti in zip(group["topk"], group["protocol"], group["ties"])})
        rows.append({**dict(zip(GROUP, key)), "ours_mean": float(values.mean()),
                     "ours_std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                     "n": int(len(values)), "seeds": sorted(int(s) for s in group["seed"]),
                     "device": ", ".join(sorted({str(d) for d in group["device"]})),
                     "date": _date_range(group["date"]), "ours_metric": "; ".join(metrics),
                     "_topks": {None if pd.isna(t) else int(t) for t in group["topk"]}})
    return pd.DataFrame(rows)


def _paper_rows(references: pd.DataFrame, paper_method: str, table, datasets, bits) -> pd.DataFrame:
    refs = references[references["method"] == paper_method]
    if refs.empty:
        known = list(dict.fromkeys(references["method"]))
        raise ValueError(f"paper_method: {paper_method!r} is not in the references; known: {known}")
    if table is not None:
        refs = refs[refs["table"].astype(str) == str(table)]
        if refs.empty:
            raise ValueError(f"table: {paper_method!r} has no numbers in table {table!r}")
    if datasets is not None:
        refs = refs[refs["dataset"].isin(_as_list(datasets))]
    if bits is not None:
        refs = refs[refs["bits"].isin([int(b) for b in _as_list(bits)])]
    keys = ["dataset", "direction", "bits"]
    conflicts = refs.groupby(keys)["value"].nunique()
    if (conflicts > 1).any():
        where = [tuple(k) for k in conflicts[conflicts > 1].index]
        raise ValueError(f"paper_method {paper_method!r}: different numbers in different tables for {where}; "
                         f"pass table= to choose one")
    return refs.drop_duplicates(keys).reset_index(drop=True)


def comparison_table(references: pd.DataFrame, runs: pd.DataFrame, *, paper_method: str, our_method: str,
                     metric_protocol: str | None = None, datasets=None, bits=None, evaluation: str = "main",
                     label: str | Sequence[str] | None = None, table=None,
                     notebook: str | None = None) -> pd.DataFrame:
    """Paper vs. ours per dataset x direction x bits (paper order first, then rows the paper does not have).

    ``references``: :func:`load_references`; ``runs``: :func:`load_runs`. ``paper_method``: the row name in the
    paper (e.g. ``"DCHN_100"``); ``our_method``: the ``method`` of our records (e.g. ``"dchn"``).
    ``metric_protocol``: keep only our evaluations made with this AP protocol (``"dchn"``, ``"deephash"``,
    ``"dcmh"``). ``evaluation``: ``"main"`` or an ``also`` label. ``label``: see the module docstring.
    ``table``: the paper table to read when ``paper_method`` appears in several. ``notebook``: which run
    notebook's records count (default: the method's own, ``notebooks/<our_method>.ipynb``; experiment notebooks
    such as ``dchn_new_view`` are separate experiments and never mixed in).

    Columns: ``dataset, direction, bits, paper, ours`` ("mean ± std (n=k)"), ``ours_mean, ours_std, n, diff``
    (``ours_mean - paper``), ``metric`` (the paper's), ``ours_metric``, ``profile, source, device, date, note,
    label, recipe``. One row per profile, source, label and recipe when several produced numbers for the same
    cell.
    """
    paper = _paper_rows(references, paper_method, table, datasets, bits)
    ours = aggregate_runs(_select_runs(runs, our_method=our_method, evaluation=evaluation, label=label,
                                       metric_protocol=metric_protocol, datasets=datasets, bits=bits,
                                       notebook=notebook))
    failed = _select_runs(runs, our_method=our_method, evaluation=evaluation, label=label, datasets=datasets,
                          bits=bits, status="failed", notebook=notebook)
    keys = ["dataset", "direction", "bits"]
    rows = []
    matched = set()
    for _, ref in paper.iterrows():
        key = (ref["dataset"], ref["direction"], int(ref["bits"]))
        mine = ours[(ours["dataset"] == key[0]) & (ours["direction"] == key[1]) & (ours["bits"] == key[2])]
        if mine.empty:
            rows.append({**dict(zip(keys, key)), "paper": ref["value"], "metric": ref["metric"],
                         "note": _failed_note(failed, key) or NO_RUN_NOTE})
            continue
        for idx, our in mine.iterrows():
            matched.add(idx)
            rows.append(_row(key, ref["value"], ref["metric"], our, _failed_note(failed, key)))
    for idx, our in ours.iterrows():
        if idx not in matched:
            key = (our["dataset"], our["direction"], int(our["bits"]))
            rows.append(_row(key, float("nan"), "", our, _failed_note(failed, key), extra="not in the paper's table"))
    for (dataset, bits_), group in failed.groupby(["dataset", "bits"], dropna=False):
        if not any(r["dataset"] == dataset and r["bits"] == bits_ for r in rows):
            rows.append({"dataset": dataset, "direction": "", "bits": bits_, "paper": float("nan"),
                         "metric": "", "note": _failed_note(failed, (dataset, None, bits_))})
    columns = ["dataset", "direction", "bits", "paper", "ours", "ours_mean", "ours_std", "n", "diff", "metric",
               "ours_metric", "profile", "source", "device", "date", "note", "label", "recipe"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["n"] = frame["n"].fillna(0).astype(int)
    for col in ("ours", "ours_metric", "profile", "source", "device", "date", "note", "metric"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), "")
    frame["diff"] = frame["ours_mean"] - frame["paper"]
    return frame


def _row(key, paper_value, paper_metric, our, failed_note, extra=None) -> dict:
    notes = []
    if paper_metric:
        expected = metric_topk(paper_metric)
        if our["_topks"] != {expected}:
            notes.append(f"ours is {'/'.join(_metric_name(t) for t in sorted(our['_topks'], key=str))}, "
                         f"the paper's {paper_metric}")
    if extra:
        notes.append(extra)
    if failed_note:
        notes.append(failed_note)
    return {"dataset": key[0], "direction": key[1], "bits": key[2], "paper": paper_value,
            "ours": format_mean_std(our["ours_mean"], our["ours_std"], our["n"]), "ours_mean": our["ours_mean"],
            "ours_std": our["ours_std"], "n": our["n"], "metric": paper_metric, "ours_metric": our["ours_metric"],
            "profile": our["profile"], "source": our["source"], "device": our["device"], "date": our["date"],
            "note": "; ".join(notes), "label": our["label"], "recipe": our["recipe"]}


def _failed_note(failed: pd.DataFrame, key) -> str:
    if failed.empty:
        return ""
    hit = failed[(failed["dataset"] == key[0]) & (failed["bits"] == key[2])]
    if hit.empty:
        return ""
    profiles = ", ".join(sorted({str(p) for p in hit["profile"]}))
    return f"{len(hit)} failed run(s) ({profiles}): {hit['error'].iloc[0]}"


def _row_label(template: str, profile: str, source: str, label, disambiguate: bool, recipe: str = "hashbook") -> str:
    text = template.replace("<profile>", str(profile)).replace("{profile}", str(profile))
    text = text.replace("<recipe>", str(recipe))
    if disambiguate:
        text += f" [{source}]"
    if label is not None and not (isinstance(label, float) and np.isnan(label)):
        text += f" {label}"
    return text


def paper_layout_table(references: pd.DataFrame, runs: pd.DataFrame, *, table, our_method: str,
                       our_row_label: str = "ours (<recipe> recipe, <profile>)", evaluation: str = "main",
                       label: str | Sequence[str] | None = None, notebook: str | None = None) -> pd.DataFrame:
    """A paper table as printed: rows = its methods in the paper's order, columns = (dataset, direction, bits)
    in the paper's order, values = the published numbers; then one row of ours per profile (and label), the mean
    over seeds, blank (NaN) where we have no run. ``table`` is the reference ``table`` value (``1``, ``"2"``,
    ``"log"``). ``our_row_label``: ``<profile>`` / ``<recipe>`` are replaced by the runs' profile and recipe
    (``"authors"``: the authors' released code; ``"hashbook"``: our conventions), one row per recipe.

    ``frame.attrs["ours"]`` lists, per appended row, its profile, source, device, date range, number of runs
    and metric, so a caption can say what produced it.
    """
    refs = references[references["table"].astype(str) == str(table)]
    if refs.empty:
        known = list(dict.fromkeys(references["table"].astype(str)))
        raise ValueError(f"table: no reference numbers for table {table!r}; known tables: {known}")
    columns = list(dict.fromkeys(zip(refs["dataset"], refs["direction"], refs["bits"].astype(int))))
    methods = list(dict.fromkeys(refs["method"]))
    index = pd.MultiIndex.from_tuples(columns, names=["dataset", "direction", "bits"])
    frame = pd.DataFrame(np.nan, index=pd.Index(methods, name="method"), columns=index)
    for _, ref in refs.iterrows():
        frame.loc[ref["method"], (ref["dataset"], ref["direction"], int(ref["bits"]))] = ref["value"]

    selected = _select_runs(runs, our_method=our_method, evaluation=evaluation, label=label, notebook=notebook)
    keep = [(d, r, int(b)) in set(columns) for d, r, b in zip(selected["dataset"], selected["direction"],
                                                                 selected["bits"])]
    selected = selected[keep]
    ours_info = []
    if not selected.empty:
        groups = selected.groupby(["profile", "source", "label", "recipe"], dropna=False, sort=False)
        seen = [(p, str(lab), r) for p, _, lab, r in groups.groups]  # the same row from two sources: say which
        for (profile, source, run_label, recipe), group in groups:
            aggregated = aggregate_runs(group)
            name = _row_label(our_row_label, profile, source, run_label,
                              seen.count((profile, str(run_label), recipe)) > 1, recipe)
            frame.loc[name] = np.nan
            for _, cell in aggregated.iterrows():
                frame.loc[name, (cell["dataset"], cell["direction"], int(cell["bits"]))] = cell["ours_mean"]
            ours_info.append({"row": name, "profile": profile, "source": source, "recipe": recipe,
                              "device": ", ".join(sorted(set(aggregated["device"]))),
                              "date": _date_range(group["date"]), "runs": int(group["run_dir"].nunique()),
                              "metric": "; ".join(sorted(set(aggregated["ours_metric"])))})
    frame.attrs["ours"] = ours_info
    frame.attrs["metric"] = ", ".join(dict.fromkeys(refs["metric"]))
    frame.attrs["source"] = ", ".join(dict.fromkeys(refs["source"]))
    return frame


def style_table(frame: pd.DataFrame, *, digits: int = 3, caption: str | None = None):
    """A Styler that renders ``frame`` as an HTML table: floats with ``digits`` decimals, NaN blank, no row
    numbers when the index is the default 0, 1, ... (a meaningful index, e.g. the paper's methods, is kept)."""
    numeric = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    styler = frame.style.format(f"{{:.{digits}f}}", subset=numeric, na_rep="").format(na_rep="", subset=[
        c for c in frame.columns if c not in numeric])
    if isinstance(frame.index, pd.RangeIndex):
        styler = styler.hide(axis="index")  # row numbers 0, 1, ... say nothing
    if caption:
        styler = styler.set_caption(caption)
    return styler


def run_status_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What ran: one row per method, notebook, profile and source, with the number of finished and failed runs,
    their datasets, bits, seeds, devices and dates (from :func:`load_runs`)."""
    columns = ["method", "notebook", "profile", "source", "finished", "failed", "data missing", "datasets", "bits",
               "seeds", "device", "date"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    keys = ["method", "notebook", "profile", "source"]
    for key, group in runs.groupby(keys, dropna=False, sort=True):
        per_run = group.drop_duplicates("run_dir")
        rows.append({**dict(zip(keys, key)),
                     "finished": int((per_run["status"] == "ok").sum()),
                     "failed": int((per_run["status"] == "failed").sum()),
                     "data missing": int((per_run["status"] == "missing").sum()),
                     "datasets": ", ".join(sorted({str(d) for d in per_run["dataset"].dropna()})),
                     "bits": ", ".join(str(b) for b in sorted({int(b) for b in per_run["bits"].dropna()})),
                     "seeds": ", ".join(str(s) for s in sorted({int(s) for s in per_run["seed"].dropna()})),
                     "device": ", ".join(sorted({str(d) for d in per_run["device"].dropna()})),
                     "date": _date_range(per_run["date"])})
    return pd.DataFrame(rows, columns=columns)


def failed_runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The failed runs (one row each): method, profile, run id, source, date and the error message."""
    columns = ["method", "profile", "run_id", "source", "date", "error", "run_dir"]
    failed = runs[runs["status"] == "failed"] if not runs.empty else runs
    if failed.empty:
        return pd.DataFrame(columns=columns)
    return failed.drop_duplicates("run_dir")[columns].reset_index(drop=True)


def missing_data_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs not started because their data files are absent: one row per (method, notebook, dataset) with the
    number of such runs and the missing files with where to get them (the ``error`` of :func:`load_runs`)."""
    columns = ["method", "notebook", "dataset", "runs", "missing files (where to get them)"]
    missing = runs[runs["status"] == "missing"].drop_duplicates("run_dir") if not runs.empty else runs
    if missing.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (method, notebook, dataset), group in missing.groupby(["method", "notebook", "dataset"], dropna=False):
        files = sorted({str(e).removeprefix("data missing: ") for e in group["error"].dropna()})
        rows.append({"method": method, "notebook": notebook, "dataset": dataset, "runs": len(group),
                     "missing files (where to get them)": " | ".join(files)})
    return pd.DataFrame(rows, columns=columns)
