"""Label-only releases (no images, no features): NUS-WIDE's 21 concepts and MS-COCO's 80 categories.

``labels_annotation.txt``: one line per item, the comma-separated names of its labels (the DCHMT / MITH / MATH
preprocessing). They load as datasets with no views, for label statistics (relevance base rates, class
imbalance). Label columns are the names sorted alphabetically (the original column order is not recoverable
from this file). MS-COCO lines without any label are dropped by default (``drop_empty=True``: 122,218 rows).
Protocol ``mith``: a seeded permutation with MITH/MATH's sizes (query first, then train; retrieval = all
non-query rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .assemble import assemble
from .dataset import DatasetError
from .files import FileRole, Source, locate
from .options import take_options
from .splits import check_protocol, random_split

OPTIONS = {"drop_empty": True}
SPECS = {
    "nus_wide_labels": {
        "file": FileRole("labels", ("labels_annotation.txt",), "one line per image: comma-separated concepts"),
        "sizes": (2100, 10500),
        "source": Source(
            source="NUS-WIDE 21-concept label annotations (190,421 rows) from the MITH / MATH preprocessing",
            citation="T.-S. Chua et al. NUS-WIDE: A Real-World Web Image Database from National University of "
                     "Singapore. CIVR 2009.",
            obtain="dataset/nuswide/labels_annotation.txt of the MITH / MATH repositories, into <data root>/nuswide/",
            notes=("labels only: rows cannot be linked to images or tags",)),
    },
    "mscoco_labels": {
        "file": FileRole("labels", ("labels_annotation.txt",), "one line per image: comma-separated categories"),
        "sizes": (5000, 10000),
        "source": Source(
            source="MS-COCO 2014 80-category label annotations (123,287 rows) from the DCHMT / MITH / MATH "
                   "preprocessing",
            citation="T.-Y. Lin et al. Microsoft COCO: Common Objects in Context. ECCV 2014.",
            obtain="dataset/coco/labels_annotation.txt of the MITH / MATH repositories, into <data root>/mscoco/",
            notes=("labels only: rows cannot be linked to images or captions",)),
    },
}


def read_annotations(name: str, path: Path) -> list[list[str]]:
    """Label names per line (an empty line gives an empty list); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{name}: cannot read {path}: {exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return [[item.strip() for item in line.rstrip("\r").split(",") if item.strip()] for line in lines]


def load(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """A labels-only dataset: ``views`` is empty, ``labels`` (N, C) multi-hot, class names sorted."""
    name = entry.name
    spec = SPECS[name]
    opts = take_options(name, options, OPTIONS)
    check_protocol(name, protocol, ("mith",))
    path = locate(name, root / entry.folder, (spec["file"],), spec["source"])["labels"]
    rows = read_annotations(name, path)
    empty = sum(1 for row in rows if not row)
    if opts["drop_empty"]:
        rows = [row for row in rows if row]
    if not rows:
        raise DatasetError(f"{name}: {path} has no labelled lines")
    names = sorted({label for row in rows for label in row})
    column = {label: j for j, label in enumerate(names)}
    labels = np.zeros((len(rows), len(names)), dtype=np.uint8)
    row_index = np.repeat(np.arange(len(rows)), [len(row) for row in rows])
    labels[row_index, [column[label] for row in rows for label in row]] = 1
    query, train = spec["sizes"]
    rule = lambda pool, rng, scale: random_split(pool, rng, query=query, train=train, scale=scale,  # noqa: E731
                                                 dataset=name, protocol=protocol)
    notes = ["label columns sorted alphabetically",
             f"{empty} empty line(s) in the file" + (" dropped" if opts["drop_empty"] else " kept")]
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views={}, labels=labels,
                    class_names=names, files={path.name: path}, source=spec["source"], split_rule=rule,
                    notes=notes, options=opts)
