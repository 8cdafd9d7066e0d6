"""CIFAR-10 (Krizhevsky 2009): 60,000 32 x 32 RGB images, 10 classes, with DeepHash-pytorch's three protocols.

Formats, first found wins (or ``format=``): the standard python batches ``cifar-10-batches-py/`` (lossless;
``data_batch_1..5`` then ``test_batch``, official order), a zip of ``{train,test}/<class>/NNNN.jpg`` members (the
JPEG q75 copy on these machines; read member by member, never unzipped), or the same JPEG tree as a folder.
For the JPEG layouts, rows are the training images then the test images, each sorted by class (official class
order = alphabetical) and by ``NNNN``. ``decode=True`` decodes a JPEG source once into memory (~10 s for 60k).

Protocols (DeepHash-pytorch / HybridHash ``utils/tools.py``, seeded here): all 60,000 images are pooled; per class
``cifar10``: 100 query + 500 train, retrieval = the other 54,000; ``cifar10-1``: the same query/train, retrieval =
all 59,000 non-query; ``cifar10-2``: 1,000 query + 5,000 train per class, retrieval = the 50,000 train.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .convert import to_multi_hot
from .dataset import DatasetError
from .files import FileRole, Need, Source, missing_error
from .images import ArrayImageSource, FileImageSource, ZipImageSource
from .options import take_options
from .splits import check_protocol, per_class

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PROTOCOLS = {"cifar10": (100, 500, "rest"), "cifar10-1": (100, 500, "non_query"), "cifar10-2": (1000, 5000, "train")}
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
ZIP_NAMES = ("cifar10_jpeg_q75.zip", "cifar10.zip", "cifar-10-images.zip")

ZIP_ROLE = FileRole("zip", ZIP_NAMES, "zip of {train,test}/<class>/NNNN.jpg")
ROLES = (ZIP_ROLE,)
MEMBER = re.compile(r"^(?:[^/]+/)?(train|test)/([^/]+)/(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)

SOURCE = Source(
    source="CIFAR-10 (Krizhevsky, Nair, Hinton); on these machines the JPEG quality-75 copy of YoongiKim/"
           "CIFAR-10-images packed as one zip",
    citation="A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Technical report, 2009.",
    obtain="https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz, extract cifar-10-batches-py/ "
           "into <data root>/cifar10/), or a zip / folder of train/<class>/NNNN.jpg and test/<class>/NNNN.jpg",
)
JPEG_NOTE = ("CIFAR-10 (JPEG q75 copy): lossy re-encode of the originals (mean PSNR 30.5 dB); expect numbers "
             "close to, not identical with, published CIFAR-10 results")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: plain containers and NumPy arrays, nothing that can run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = _BatchUnpickler(handle, encoding="bytes").load()
        data = np.asarray(batch[b"data"] if b"data" in batch else batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"] if b"labels" in batch else batch["labels"], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"cifar10: {path} is not a readable CIFAR python batch (truncated or corrupt?): "
                           f"{exc}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DatasetError(f"cifar10: {path}: expected data (n, 3072) and n labels, got {data.shape} and "
                           f"{labels.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _parse_names(names, where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names sorted train-then-test / class / number, class ids, is_test) from ``split/class/NNNN.jpg`` names."""
    entries = []
    for name in names:
        match = MEMBER.match(name)
        if not match:
            continue
        split, cls, number = match.group(1).lower(), match.group(2), int(match.group(3))
        if cls not in CLASSES:
            raise DatasetError(f"cifar10: {where}: unknown class folder {cls!r} in {name!r}; expected {CLASSES}")
        entries.append((split == "test", CLASSES.index(cls), number, name))
    if not entries:
        raise DatasetError(f"cifar10: {where} holds no {{train,test}}/<class>/NNNN.jpg images")
    entries.sort()
    keys = [(e[0], e[1], e[2]) for e in entries]
    if len(set(keys)) != len(keys):
        raise DatasetError(f"cifar10: {where} has the same split/class/number twice")
    return ([e[3] for e in entries], np.array([e[1] for e in entries], np.int64),
            np.array([e[0] for e in entries], bool))


OPTIONS = {"format": "auto", "decode": False, "views": None}
CHOICES = {"format": ("auto", "batches", "zip", "folder"), "decode": (True, False)}
LAYOUT_ROLES = (ZIP_ROLE, FileRole("batches", tuple(f"cifar-10-batches-py/{b}" for b in BATCHES),
                                   "all six python batches"),
                FileRole("folder", ("train/<class>/NNNN.jpg", "test/<class>/NNNN.jpg"), "a JPEG folder"))


def _candidates(folder: Path) -> dict[str, Path | None]:
    """Layout -> its path when present (existence checks only)."""
    batches = folder / "cifar-10-batches-py"
    return {
        "batches": batches if all((batches / b).is_file() for b in BATCHES) else None,
        "zip": ZIP_ROLE.find(folder),
        "folder": folder if (folder / "train").is_dir() and (folder / "test").is_dir() else None,
    }


def _wanted_roles(fmt: str) -> list[FileRole]:
    return list(LAYOUT_ROLES) if fmt == "auto" else [r for r in LAYOUT_ROLES if r.role == fmt]


def _find(folder: Path, fmt: str) -> tuple[str, Path]:
    candidates = _candidates(folder)
    order = ("batches", "zip", "folder") if fmt == "auto" else (fmt,)
    for kind in order:
        if candidates[kind] is not None:
            return kind, candidates[kind]
    raise missing_error("cifar10", folder, _wanted_roles(fmt), SOURCE, hint="(any one of these layouts is enough)")


def needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a CIFAR-10 load: none when a layout ``format=`` accepts is present (any one, for ``auto``)."""
    opts = take_options(entry.name, options, OPTIONS, CHOICES)
    folder = root / entry.folder
    fmt = opts["format"]
    candidates = _candidates(folder)
    if any(candidates[kind] is not None for kind in (candidates if fmt == "auto" else (fmt,))):
        return []
    return [Need(" or ".join(role.describe() for role in _wanted_roles(fmt)), folder)]


def load(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """CIFAR-10 with view ``image`` (a lazy :class:`~hashlib_core.data.images.ImageSource`)."""
    name = entry.name
    opts = take_options(name, options, OPTIONS, CHOICES)
    check_protocol(name, protocol, tuple(PROTOCOLS))
    requested_views(name, ("image",), opts["views"])
    folder = root / entry.folder
    kind, path = _find(folder, opts["format"])
    notes = []
    if kind == "batches":
        arrays, ids = zip(*(_read_batch(path / batch) for batch in BATCHES))
        source = ArrayImageSource(np.concatenate(arrays))
        class_ids = np.concatenate(ids)
        files = {f"cifar-10-batches-py/{batch}": path / batch for batch in BATCHES}
        notes.append("rows: data_batch_1..5 then test_batch (official order)")
    elif kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{name}: {path} is not a readable zip archive (truncated or corrupt?): {exc}") \
                from None
        members, class_ids, _ = _parse_names(names, str(path))
        source = ZipImageSource(path, members, dataset=name)
        if opts["decode"]:
            source = ArrayImageSource(source.to_array())
        files = {path.name: path}
        notes += [JPEG_NOTE, "rows: train then test, each sorted by class and image number"]
    else:
        names = [p.relative_to(path).as_posix() for split in ("train", "test") for p in (path / split).rglob("*")
                 if p.is_file()]
        members, class_ids, _ = _parse_names(names, str(path))
        source = FileImageSource([path / m for m in members], dataset=name)
        if opts["decode"]:
            source = ArrayImageSource(np.stack([np.asarray(source[i]) for i in range(len(source))]))
        files = {}
        notes += [JPEG_NOTE, "rows: train then test, each sorted by class and image number"]
    labels, _ = to_multi_hot(class_ids, dataset=name, source=str(path), classes=np.arange(10))
    per_query, per_train, database = PROTOCOLS[protocol]
    rule = lambda pool, rng, scale: per_class(pool, labels, rng, query_per_class=per_query,  # noqa: E731
                                              train_per_class=per_train, database=database, scale=scale,
                                              dataset=name, protocol=protocol)
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views={"image": source},
                    labels=labels, class_names=list(CLASSES), files=files, source=SOURCE, split_rule=rule,
                    notes=notes, options={**opts, "format": kind})
