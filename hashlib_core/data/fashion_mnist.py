"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 70,000 28 x 28 grey images of clothing, 10 classes.

Read from the IDX files (``.gz`` or not), first found: ``<root>/fashion_mnist/``,
``<root>/fashion_mnist/FashionMNIST/raw/``, ``<root>/FashionMNIST/raw/`` (torchvision's layout) or Debian's
``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``). Rows: the 60,000 training images,
then the 10,000 test images. View ``image``: a lazy RGB :class:`~hashlib_core.data.images.ImageSource`
(``features="image"``, default) or ``features="pixels"``: (N, 784) float32 in [0, 1].

Protocols: ``deephash`` (ours, DeepHash-style): per class 100 queries from the test set and 500 training items
from the training set, retrieval = every non-query image (69,000); ``official``: query = the 10,000 test images,
retrieval = train = the 60,000 training images.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .convert import to_features, to_multi_hot
from .dataset import DatasetError
from .files import FileRole, Need, Source, missing_error
from .images import ArrayImageSource
from .options import take_options
from .splits import check_protocol, from_sets, per_class

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
PARTS = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
SYSTEM_DIRS = [Path("/usr/share/datasets/fashion-mnist")]
ROLES = tuple(FileRole(part, (stem, stem + ".gz"), "IDX file") for part, stem in PARTS.items())
SOURCE = Source(
    source="Zalando Research, https://github.com/zalandoresearch/fashion-mnist (Debian: dataset-fashion-mnist)",
    citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
             "Learning Algorithms. arXiv:1708.07747, 2017.",
    obtain="apt-get install dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist/), or the four "
           "IDX files from the Fashion-MNIST repository into <data root>/fashion_mnist/",
)


def candidate_folders(root: Path) -> list[Path]:
    return [root / "fashion_mnist", root / "fashion_mnist" / "FashionMNIST" / "raw",
            root / "FashionMNIST" / "raw", *SYSTEM_DIRS]


def find_files(root: Path) -> dict[str, Path] | None:
    """Part -> path from the first folder holding all four IDX files, or None."""
    for folder in candidate_folders(root):
        found = {role.role: role.find(folder) for role in ROLES}
        if all(found.values()):
            return found
    return None


OPTIONS = {"features": "image", "views": None}
CHOICES = {"features": ("image", "pixels")}


def needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a Fashion-MNIST load: none when one candidate folder holds all four IDX files."""
    take_options(entry.name, options, OPTIONS, CHOICES)
    if find_files(root) is not None:
        return []
    return [Need(" + ".join(role.describe() for role in ROLES) + " (in one of: "
                 + ", ".join(str(f) for f in candidate_folders(root)) + ")", root / entry.folder)]


def status(root: Path) -> dict:
    found = find_files(root)
    if found:
        return {"present": [str(p) for p in found.values()], "missing": []}
    return {"present": [], "missing": [role.describe() for role in ROLES]}


def read_idx(path: Path, *, dims: int, dataset: str = "fashion_mnist") -> np.ndarray:
    """An IDX file of unsigned bytes (magic ``0x0000 08 <dims>``), as a uint8 array of its stored shape."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{dataset}: cannot read {path} (truncated or corrupt?): {exc}") from None
    if len(data) < 4 + 4 * dims or data[:2] != b"\x00\x00" or data[2] != 0x08 or data[3] != dims:
        raise DatasetError(f"{dataset}: {path} is not an IDX file of unsigned bytes with {dims} dimension(s)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{dataset}: {path} declares shape {shape} ({int(np.prod(shape))} bytes) but holds "
                           f"{body.size} bytes (truncated?)")
    return body.reshape(shape)


def load(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """Fashion-MNIST with view ``image`` (see the module docstring)."""
    name = entry.name
    opts = take_options(name, options, OPTIONS, CHOICES)
    check_protocol(name, protocol, ("deephash", "official"))
    requested_views(name, ("image",), opts["views"])
    files = find_files(root)
    if files is None:
        raise missing_error(name, root / entry.folder, list(ROLES), SOURCE,
                            hint="(also looked in " + ", ".join(str(f) for f in candidate_folders(root)[1:]) + ")")
    images = {part: read_idx(files[f"{part}_images"], dims=3, dataset=name) for part in ("train", "test")}
    ids = {part: read_idx(files[f"{part}_labels"], dims=1, dataset=name) for part in ("train", "test")}
    for part in ("train", "test"):
        if images[part].shape[0] != ids[part].shape[0]:
            raise DatasetError(f"{name}: {files[part + '_images'].name} has {images[part].shape[0]} images but "
                               f"{files[part + '_labels'].name} has {ids[part].shape[0]} labels")
    pixels = np.concatenate([images["train"], images["test"]])
    labels, _ = to_multi_hot(np.concatenate([ids["train"], ids["test"]]), dataset=name, source="IDX labels",
                             classes=np.arange(10))
    n_train = images["train"].shape[0]
    train_rows, test_rows = np.arange(n_train), np.arange(n_train, labels.shape[0])
    if opts["features"] == "pixels":
        view = to_features(pixels.reshape(pixels.shape[0], -1) / np.float32(255.0), dataset=name,
                           source="IDX images")
    else:
        view = ArrayImageSource(pixels)
    if protocol == "official":
        rule = lambda pool, rng, scale: from_sets(pool, query=test_rows, train=train_rows,  # noqa: E731
                                                  retrieval=train_rows)
    else:
        rule = lambda pool, rng, scale: per_class(pool, labels, rng, query_per_class=100,  # noqa: E731
                                                  train_per_class=500, database="non_query", scale=scale,
                                                  query_from=test_rows, train_from=train_rows, dataset=name,
                                                  protocol=protocol)
    notes = ["protocol deephash is ours (DeepHash-style sizes on the official test/train parts)"]
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views={"image": view}, labels=labels,
                    class_names=list(CLASSES), files={p.name: p for p in files.values()}, source=SOURCE,
                    split_rule=rule, notes=notes, options=opts)
