"""Image-list datasets in DeepHash-pytorch format (HybridHash's ImageNet-100 and NUS-WIDE-81).

``<root>/<dataset>/{train,test,database}.txt``: one line per image, ``<path> l1 l2 ... lC`` with 0/1 label
entries (one-hot for ImageNet-100, multi-hot for NUS-WIDE-81). Relative paths are resolved against
``image_root=`` when given, else against the dataset folder, else against the data root (the first of these
holding the first listed image), never against the current working directory; absolute paths are used as they
are. Rows: train lines, then test lines, then database lines (an image may appear in two lists).
Protocol ``deephash``: query = the test lines, train = the train lines, retrieval = the database lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .dataset import DatasetError
from .files import FileRole, Need, Source, absent, locate
from .images import FileImageSource
from .options import take_options
from .splits import check_protocol, from_sets

LISTS = ("train", "test", "database")
ROLES = tuple(FileRole(part, (f"{part}.txt",), "DeepHash list: <path> l1 ... lC") for part in LISTS)
SOURCES = {
    "imagenet100": Source(
        source="ImageNet-100 as defined by HashNet / DeepHash-pytorch list files (100 ILSVRC-2012 classes)",
        citation="O. Russakovsky et al. ImageNet Large Scale Visual Recognition Challenge. IJCV 2015; Z. Cao et "
                 "al. HashNet. ICCV 2017.",
        obtain="the ImageNet-100 list files from DeepHash-pytorch / HybridHash (data/imagenet/) plus the "
               "ILSVRC-2012 images they point to, into <data root>/imagenet100/"),
    "nus_wide_81": Source(
        source="NUS-WIDE with 81 concepts, DeepHash-pytorch list files",
        citation="T.-S. Chua et al. NUS-WIDE: A Real-World Web Image Database from National University of "
                 "Singapore. CIVR 2009.",
        obtain="the nuswide_81 list files from DeepHash-pytorch / HybridHash (data/nuswide_81/) plus the "
               "NUS-WIDE images, into <data root>/nus_wide_81/"),
}


def read_list(name: str, path: Path) -> tuple[list[str], np.ndarray]:
    """(image paths as written, (n, C) uint8 labels) of one list file; errors name the file and line."""
    paths, rows = [], []
    width = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            values = fields[1:]
            if width is None:
                width = len(values)
            if len(values) != width or width == 0:
                raise DatasetError(f"{name}: {path} line {number}: expected a path and {width or 'C'} 0/1 labels, "
                                   f"got {len(values)} label fields")
            if any(v not in ("0", "1") for v in values):
                raise DatasetError(f"{name}: {path} line {number}: labels must be 0 or 1, got {values[:5]}")
            paths.append(fields[0])
            rows.append([v == "1" for v in values])
    if not paths:
        raise DatasetError(f"{name}: {path} lists no images")
    return paths, np.array(rows, dtype=np.uint8)


def _resolve(name: str, listed: list[str], bases: list[Path], list_file: Path) -> list[Path]:
    first = Path(listed[0])
    if first.is_absolute():
        base = None
    else:
        base = next((b for b in bases if (b / first).is_file()), None)
        if base is None:
            tried = ", ".join(str(b / first) for b in bases)
            raise DatasetError(f"{name}: the first image of {list_file} ({listed[0]!r}) was not found; tried "
                               f"{tried}. Pass image_root= to say where the listed paths start")
    return [Path(p) if Path(p).is_absolute() or base is None else base / p for p in listed]


OPTIONS = {"image_root": None, "views": None}


def _first_listed(path: Path) -> str | None:
    """The image path on the first non-empty line of a list file (None if unreadable or empty)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return next((line.split()[0] for line in handle if line.strip()), None)
    except OSError:
        return None


def needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a list-file load: the three lists, and the first image each list names (read: one line of
    each list; the other images are only opened when used)."""
    opts = take_options(entry.name, options, OPTIONS)
    folder = root / entry.folder
    missing = absent(folder, ROLES)
    bases = [Path(opts["image_root"])] if opts["image_root"] is not None else [folder, root]
    for role in ROLES:
        path = role.find(folder)
        first = _first_listed(path) if path is not None else None
        if first is None:
            continue
        if not (Path(first).is_file() if Path(first).is_absolute() else any((b / first).is_file() for b in bases)):
            missing.append(Need(f"the images {path.name} lists (first: {first}; looked under "
                                f"{', '.join(str(b) for b in bases)})", folder))
    return missing


def load(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """A DeepHash-format image-list dataset with view ``image`` (files opened lazily)."""
    name = entry.name
    opts = take_options(name, options, OPTIONS)
    check_protocol(name, protocol, ("deephash",))
    requested_views(name, ("image",), opts["views"])
    folder = root / entry.folder
    files = locate(name, folder, ROLES, SOURCES[name])
    bases = [Path(opts["image_root"])] if opts["image_root"] is not None else [folder, root]
    paths, labels, parts = [], [], {}
    start = 0
    for part in LISTS:
        listed, part_labels = read_list(name, files[part])
        paths += _resolve(name, listed, bases, files[part])
        labels.append(part_labels)
        parts[part] = np.arange(start, start + len(listed))
        start += len(listed)
    widths = {part: block.shape[1] for part, block in zip(LISTS, labels)}
    if len(set(widths.values())) != 1:
        raise DatasetError(f"{name}: the list files disagree on the number of labels {widths}")
    labels = np.concatenate(labels)
    rule = lambda pool, rng, scale: from_sets(pool, query=parts["test"], train=parts["train"],  # noqa: E731
                                              retrieval=parts["database"])
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset,
                    views={"image": FileImageSource(paths, dataset=name)}, labels=labels, class_names=None,
                    files={f"{part}.txt": files[part] for part in LISTS}, source=SOURCES[name], split_rule=rule,
                    notes=["rows: train.txt, then test.txt, then database.txt lines; the split is fixed by the "
                           "lists (the seed only matters with subset=)"], options=opts)
