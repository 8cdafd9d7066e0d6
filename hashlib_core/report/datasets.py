"""What the datasets chapter (``book/chapters/datasets.ipynb``) shows, computed from the loaders on the data root
of the machine that builds the book (:mod:`hashlib_core.data.overview`).

Counts are shown with thousands separators, rates with 3 decimals, blanks where a dataset is missing.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from .chapter import note
from .figures import plt

OVERVIEW_COLUMNS = ["dataset", "status", "views (dim)", "N", "classes", "labels/item", "protocol", "query", "train",
                    "retrieval", "relevance rate", "remark"]
MULTI_LABEL_SETS = ("mirflickr25k", "nus_wide_labels", "mscoco_labels")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root a chapter reads (``None``: ``$HASHLIB_DATA``, else ``./data``)."""
    from ..data.files import resolve_root

    return resolve_root(root)


def built_on(root: Path, profile: str):
    """The data root, profile, host and time (UTC) of this build."""
    return note(f"Data root used for this build: `{Path(root).resolve()}` (profile `{profile}`, host "
                f"`{platform.node()}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC).")


def _count(value) -> str:
    return "" if value is None or pd.isna(value) else f"{int(value):,}"


def _rate(value) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"


def overview_table(root: Path, cache: dict | None = None):
    """One row per registered dataset, loaded with its default protocol (:func:`overview_rows`): status, views,
    sizes, classes, labels per item, split sizes and the relevance rate of random pairs. ``cache``: datasets
    loaded here, reused by :func:`protocols_table`."""
    from ..data.overview import overview_rows

    table = pd.DataFrame(overview_rows(root, cache=cache)).reindex(columns=OVERVIEW_COLUMNS)
    for column in ("N", "classes", "query", "train", "retrieval"):
        table[column] = table[column].map(_count)
    table["relevance rate"] = table["relevance rate"].map(_rate)
    table["labels/item"] = table["labels/item"].map(_rate)
    return table.fillna("").style.hide(axis="index")


def protocols_table(root: Path, cache: dict | None = None):
    """One row per (dataset, split protocol): the rule, the sizes measured on the files here, the default mark."""
    from ..data.overview import protocol_rows

    protocols = pd.DataFrame(protocol_rows(root, cache=cache))
    for column in ("query", "train", "retrieval"):
        protocols[column] = protocols[column].map(_count)
    protocols["default"] = protocols["default"].map({True: "yes", False: ""})
    return protocols.style.hide(axis="index")


def label_statistics_figure(root: Path):
    """Per multi-label set present here, the share of items carrying each label (sorted); and one CIFAR-10 image
    per class when that set is present. A closed figure, or a note when there is nothing to plot."""
    from ..data import dataset_status, load_dataset

    multi_label = []
    for name in MULTI_LABEL_SETS:
        if dataset_status(name, root)["status"] == "missing":
            continue
        options = {"views": ("text",)} if name == "mirflickr25k" else {}
        ds = load_dataset(name, root=root, **options)
        multi_label.append((name, ds.labels.mean(axis=0), ds.class_names))
    cifar = load_dataset("cifar10", root=root) if dataset_status("cifar10", root)["status"] != "missing" else None
    panels = len(multi_label) + (1 if cifar is not None else 0)
    if panels == 0:
        return note("No multi-label set and no CIFAR-10 on this machine: nothing to plot.")
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6), squeeze=False)
    for ax, (name, share, class_names) in zip(axes[0], multi_label):
        order = np.argsort(-share)
        ax.bar(np.arange(share.size), share[order], color="#4c72b0")
        ax.set_title(f"{name}: {share.size} labels")
        ax.set_xlabel("label (sorted by frequency)")
        ax.set_ylabel("share of items")
        ax.annotate(class_names[order[0]], (0, share[order[0]]), fontsize=8, xytext=(4, -2),
                    textcoords="offset points", va="top")
    if cifar is not None:
        _cifar_panel(axes[0][-1], cifar)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _cifar_panel(ax, cifar) -> None:
    """The first training image of each CIFAR-10 class, in two rows of five."""
    train_rows = np.arange(50000)
    first_of_class = [int(train_rows[cifar.labels[:50000, c] == 1][0]) for c in range(10)]
    thumbs = [np.asarray(cifar.views["image"][i]) for i in first_of_class]
    grid = np.concatenate([np.concatenate(thumbs[:5], axis=1), np.concatenate(thumbs[5:], axis=1)], axis=0)
    ax.imshow(grid)
    ax.set_xticks(16 + 32 * np.arange(5), [f"{a}\n{b}" for a, b in zip(cifar.class_names[:5],
                                                                       cifar.class_names[5:])], fontsize=7)
    ax.set_yticks([16, 48], ["0-4", "5-9"], fontsize=7)
    ax.set_title("CIFAR-10 (JPEG q75 copy)" if any("JPEG" in n for n in cifar.info["notes"]) else "CIFAR-10")


def sources_table(root: Path):
    """Every registered dataset's source and how to obtain it, with whether it is here."""
    from ..data import dataset_status, list_datasets
    from ..data.overview import source_rows

    sources = pd.DataFrame(source_rows())
    status = {name: dataset_status(name, root)["status"] for name in list_datasets()}
    sources.insert(1, "here", sources["dataset"].map(status))
    return sources.style.hide(axis="index")
