"""What the evaluation-protocols chapter (``book/chapters/protocols.ipynb``) computes: the same codes scored under
every AP protocol, cutoff and tie rule (:func:`hashlib_core.metrics.mean_average_precision_grid`).

Label sets are real where the dataset loads (MIRFLICKR-25K, Wikipedia), synthetic of the same shape otherwise;
codes are 32-bit ``random`` and ``label-derived`` ones (:mod:`hashlib_core.metrics.synthetic`), ±1 int8.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .chapter import note
from .figures import plt

BITS = 32
TOPKS = (50, 1000, None)
#: (queries, retrieval items) kept per label set for quick profiles; a profile not listed keeps all
LIMITS = {"smoke": (300, 3000)}
#: name -> (dataset, classes, (queries, retrieval items) of the synthetic stand-in, load_dataset options)
LABEL_SETS = {"MIRFLICKR-25K (multi-label)": ("mirflickr25k", 24, (2000, 18015), {"views": ("text",)}),
              "Wikipedia (single-label)": ("wikipedia", 10, (693, 2173), {})}


def label_set(name: str, classes: int, sizes: tuple[int, int], *, limit=(None, None), **options):
    """``(query labels, retrieval labels, where they came from)``: the real labels of dataset ``name`` when it
    loads, else seeded synthetic labels of the same shape (one-hot when ``classes == 10``). ``limit``: at most
    (queries, retrieval items) kept."""
    from ..metrics.synthetic import synthetic_multilabel

    try:
        from ..data import load_dataset

        ds = load_dataset(name, **options)
        query, retrieval = ds.labels[ds.splits["query"]], ds.labels[ds.splits["retrieval"]]
        source = f"real {name} labels, split protocol '{ds.protocol}'"
    except Exception as exc:  # no data root / files on this machine: say so and use synthetic labels
        labels = synthetic_multilabel(sum(sizes), classes, seed=0)
        if classes == 10:  # single-label stand-in: one class per item
            labels = np.eye(classes, dtype=np.uint8)[np.random.default_rng(0).integers(0, classes, sum(sizes))]
        query, retrieval = labels[:sizes[0]], labels[sizes[0]:]
        source = f"synthetic labels shaped like {name} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return query[:limit[0]], retrieval[:limit[1]], source


def label_sets(profile: str) -> dict:
    """Every label set of :data:`LABEL_SETS`, limited as :data:`LIMITS` says for ``profile``."""
    limit = LIMITS.get(profile, (None, None))
    return {title: label_set(name, classes, sizes, limit=limit, **options)
            for title, (name, classes, sizes, options) in LABEL_SETS.items()}


def describe(sets: Mapping) -> str:
    """One line per label set: its size and where the labels came from."""
    return "\n".join(f"{name}: {len(q)} queries x {len(r)} items, {source}" for name, (q, r, source) in sets.items())


def protocol_grid(sets: Mapping, bits: int = BITS, topks=TOPKS) -> tuple[pd.DataFrame, dict]:
    """mAP of ``random`` and ``label-derived`` codes on every label set under every protocol, cutoff and tie
    rule: a long table (``labels, codes, protocol, topk, ties, map``; ``topk`` "all" for the whole ranking) and
    ``{(label set, code set): (query codes, retrieval codes, query labels, retrieval labels)}``."""
    from ..metrics import mean_average_precision_grid
    from ..metrics.synthetic import label_derived_codes, random_codes

    rows, codes_used = [], {}
    for set_name, (query_labels, retrieval_labels, _) in sets.items():
        n_query = len(query_labels)
        all_labels = np.concatenate([query_labels, retrieval_labels])
        code_sets = {"random": random_codes(len(all_labels), bits, seed=1),
                     "label-derived": label_derived_codes(all_labels, bits, noise=1.0, seed=2)}
        for code_name, codes in code_sets.items():
            codes_used[set_name, code_name] = (codes[:n_query], codes[n_query:], query_labels, retrieval_labels)
            for row in mean_average_precision_grid(codes[:n_query], codes[n_query:], query_labels, retrieval_labels,
                                                   topks=topks):
                rows.append({"labels": set_name, "codes": code_name, **row,
                             "topk": "all" if row["topk"] is None else row["topk"]})
    return pd.DataFrame(rows), codes_used


def wide_table(table: pd.DataFrame):
    """:func:`protocol_grid`'s table with one column per cutoff (mAP@50, mAP@1000, mAP@all), 4 decimals."""
    wide = table.pivot_table(index=["labels", "codes", "protocol", "ties"], columns="topk", values="map", sort=False)
    wide = wide[[50, 1000, "all"]]
    wide.columns = [f"mAP@{c}" for c in wide.columns]
    return wide.style.format("{:.4f}")


def ties_figure(table: pd.DataFrame, bits: int = BITS):
    """Bars of the label-derived codes' mAP per protocol@cutoff, ``index`` beside ``expected`` ties, one panel
    per label set (a closed figure)."""
    subset = table[(table.codes == "label-derived")]
    names = list(dict.fromkeys(table["labels"]))
    fig, axes = plt.subplots(1, len(names), figsize=(12, 3.8), sharey=True)
    for ax, set_name in zip(np.atleast_1d(axes), names):
        part = subset[subset.labels == set_name].copy()
        part["setting"] = part.protocol + "@" + part.topk.astype(str)
        part.pivot_table(index="setting", columns="ties", values="map", sort=False).plot.bar(ax=ax, rot=45)
        ax.set_title(f"label-derived {bits}-bit codes, {set_name}", fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("mAP")
        ax.set_ylim(0, 1.2)
        ax.legend(title="ties", ncol=2, fontsize=8, loc="upper center")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def tie_gaps(table: pd.DataFrame) -> list:
    """``index`` - ``expected`` per label set, codes, protocol and cutoff, with a note naming the largest gap."""
    gaps = table.pivot_table(index=["labels", "codes", "protocol", "topk"], columns="ties", values="map", sort=False)
    gaps["index - expected"] = gaps["index"] - gaps["expected"]
    largest = gaps["index - expected"].abs().idxmax()
    return [note(f"Largest |index - expected| in the table: **{abs(gaps['index - expected']).max():.2e}** "
                 f"({', '.join(map(str, largest))})."),
            gaps.style.format("{:.5f}")]


def zero_one_check(query_codes, retrieval_codes, query_labels, retrieval_labels, topk: int = 1000) -> pd.DataFrame:
    """mAP@``topk`` of the same codes given as ±1 and as 0/1, for every protocol and tie rule, and whether the
    two floats are identical."""
    from ..metrics import mean_average_precision_grid

    signs = mean_average_precision_grid(query_codes, retrieval_codes, query_labels, retrieval_labels, topks=(topk,))
    bits01 = mean_average_precision_grid((query_codes > 0).astype(np.uint8), (retrieval_codes > 0).astype(np.uint8),
                                         query_labels, retrieval_labels, topks=(topk,))
    return pd.DataFrame([{"protocol": a["protocol"], "ties": a["ties"], f"mAP@{topk}, +-1 codes": a["map"],
                          f"mAP@{topk}, 0/1 codes": b["map"], "identical": a["map"] == b["map"]}
                         for a, b in zip(signs, bits01)])


#: the committed output of ``studies/tie_order_per_class.py`` that :func:`tie_order_section` shows
TIE_ORDER_STUDY = "tie_order_per_class.json"


def load_tie_order_study(results_dir=None) -> dict | None:
    """The committed ``studies/results/tie_order_per_class.json`` (``results_dir`` overrides the folder), or ``None``
    when it is absent; ``ValueError`` naming the file when it lacks what the section shows."""
    from pathlib import Path

    from ..records.io import read_json
    from ..records.runs import repo_root

    path = (Path(results_dir) if results_dir is not None else repo_root() / "studies" / "results") / TIE_ORDER_STUDY
    if not path.is_file():
        return None
    study = read_json(path)
    missing = [key for key in ("run", "protocol", "topk", "sortedness", "per_class", "overall", "summary", "date",
                               "device") if key not in study]
    if missing or not study.get("per_class"):
        raise ValueError(f"{path}: not the output of studies/tie_order_per_class.py (missing "
                         f"{', '.join(missing) or 'per_class rows'})")
    return study


def tie_order_table(study: dict) -> pd.DataFrame:
    """One row per class and an ``all`` row: queries, mean relative position of the class in the stored
    retrieval set (0 = first row, 1 = last), mAP under index and expected ties, and the shifts from expected of
    the stored order, the reversed order and (largest over the random permutations) a shuffled order."""
    rows = [{"class": f"{row['class']} {row['name']}", "queries": row["queries"],
             "mean position": row["mean position"], "mAP, index ties": row["index"],
             "mAP, expected ties": row["expected"], "index - expected": row["index - expected"],
             "reversed order: index - expected": row["reversed - expected"],
             "shuffled order: max |index - expected|": row["permuted - expected, max abs"]}
            for row in study["per_class"]]
    overall = study["overall"]
    permuted = overall.get("permuted") or []
    rows.append({"class": "all", "queries": study["run"]["queries"], "mean position": np.nan,
                 "mAP, index ties": overall["index"], "mAP, expected ties": overall["expected"],
                 "index - expected": overall["index - expected"],
                 "reversed order: index - expected": overall["reversed"] - overall["expected"],
                 "shuffled order: max |index - expected|":
                     max(abs(v - overall["expected"]) for v in permuted) if permuted else np.nan})
    return pd.DataFrame(rows)


def tie_order_figure(study: dict):
    """Bars of per-class ``index - expected``: the stored (class-sorted) order beside the mean over shuffled
    orders (a closed figure)."""
    names = [row["name"] for row in study["per_class"]]
    stored = [row["index - expected"] for row in study["per_class"]]
    shuffled = [row["permuted - expected, mean"] for row in study["per_class"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(x - 0.2, stored, width=0.4, label="stored order (sorted by class)")
    ax.bar(x + 0.2, shuffled, width=0.4, label=f"shuffled order (mean of {study.get('permutations', '?')})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("per-class mAP: index - expected")
    run = study["run"]
    ax.set_title(f"{run['method']} {run['dataset']} {run['bits']} bits: ties=\"index\" minus ties=\"expected\"",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def tie_order_section(results_dir=None) -> list:
    """What the protocols chapter shows about per-class numbers and tie order, from the committed output of
    ``studies/tie_order_per_class.py``: a note (which codes, profile, device, dates, how sorted the retrieval set
    is), the per-class table (:func:`tie_order_table`), the figure (:func:`tie_order_figure`) and a note with the
    measured extremes; a single note when no output is committed."""
    from .tables import style_table

    study = load_tie_order_study(results_dir)
    if study is None:
        return [note("No committed output of `studies/tie_order_per_class.py` in `studies/results/`.")]
    run, order, summary = study["run"], study["sortedness"], study["summary"]
    topk = "all" if study["topk"] is None else study["topk"]
    about = note(
        f"Codes: {run['method']} on {run['dataset']}, {run['bits']} bits, seed {run['seed']}, profile "
        f"`{run['profile']}` trained on the {run['device']} {run['date'][:10]}; measured on the {study['device']} "
        f"{study['date'][:10]}; `{study['protocol']}` mAP@{topk}, {run['queries']} queries x {order['items']} "
        f"retrieval items. Storage order: {order['neighbours same class']:.4f} of neighbouring retrieval rows share "
        f"a class (a random order: {order['neighbours same class, random order']:.2f}), "
        f"{order['same-class blocks']} same-class blocks.")
    table = style_table(tie_order_table(study), digits=4,
                        caption="Per-class mAP under the two tie rules; shifts are index - expected.")
    shuffled = summary.get("max abs permuted - expected")
    closing = note(
        f"Stored order: per-class shifts up to **{summary['max abs index - expected']:.4f}** "
        f"({summary['class of max abs index - expected']}), overall **{summary['abs overall index - expected']:.5f}**"
        + (f"; shuffled: at most {shuffled:.4f}" if shuffled is not None else "")
        + f"; reversed: up to {summary['max abs reversed - expected']:.4f}, with the opposite sign "
        f"(correlation {summary['corr(index - expected, reversed - expected)']:+.2f}).")
    return [about, table, tie_order_figure(study), closing]
