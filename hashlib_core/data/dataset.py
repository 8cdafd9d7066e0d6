"""The loaded-dataset object every method receives, its error type and the lazy image-source protocol.

A :class:`Dataset` holds N aligned items: ``views`` (view name -> (N, d) float32 array or a lazy
:class:`ImageSource` of N images), ``labels`` ((N, C) uint8 multi-hot; single-label sets one-hot) and ``splits``
(``"query"``, ``"train"``, ``"retrieval"`` -> sorted int64 row indices into the N items). Row indices always
refer to the rows of the files as published, so a split can be traced back to the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..records.io import sha256_array, sha256_file

SPLIT_NAMES = ("query", "train", "retrieval")


class DatasetError(ValueError):
    """A dataset cannot be loaded as asked: the message names the dataset, the file or argument, and the problem."""


@runtime_checkable
class ImageSource(Protocol):
    """A lazy, indexable collection of images: ``len(src)`` items, ``src[i]`` -> ``PIL.Image.Image`` in RGB.

    Implementations decode on access (zip members, files, HDF5 rows) so a 60k-image set costs nothing to load.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int): ...


def is_image_source(view: Any) -> bool:
    """True for a lazy image view, False for a feature array."""
    return not isinstance(view, np.ndarray) and isinstance(view, ImageSource)


@dataclass
class Dataset:
    """One loaded dataset with its split (see the module docstring for the conventions).

    ``files`` maps a short name (e.g. ``"wiki_data.mat"``) to the path read; ``info`` holds ``source``,
    ``citation`` and ``notes`` (caveats such as CIFAR-10's JPEG q75 copy); ``subset`` is the size of the seeded,
    stratified subset the split was drawn from (``None``: the whole set).
    """

    name: str
    protocol: str
    seed: int
    views: dict[str, Any]
    labels: np.ndarray
    splits: dict[str, np.ndarray]
    class_names: list[str] | None
    files: dict[str, Path]
    info: dict[str, Any] = field(default_factory=dict)
    subset: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    _hashes: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        """Check the invariants (shapes, dtypes, finite features, split bounds); :class:`DatasetError` if broken."""
        name = self.name
        labels = self.labels
        if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype != np.uint8:
            raise DatasetError(f"{name}: labels must be an (N, C) uint8 array, got "
                               f"{getattr(labels, 'dtype', type(labels))} {getattr(labels, 'shape', '')}")
        if labels.size and labels.max() > 1:
            raise DatasetError(f"{name}: labels must be multi-hot 0/1, found value {int(labels.max())}")
        n = labels.shape[0]
        for view, data in self.views.items():
            if isinstance(data, np.ndarray):
                if data.ndim != 2 or data.dtype != np.float32:
                    raise DatasetError(f"{name}: view {view!r} must be an (N, d) float32 array, got "
                                       f"{data.dtype} {data.shape}")
                rows = data.shape[0]
            elif isinstance(data, ImageSource):
                rows = len(data)
            else:
                raise DatasetError(f"{name}: view {view!r} is neither an array nor an image source "
                                   f"({type(data).__name__})")
            if rows != n:
                raise DatasetError(f"{name}: view {view!r} has {rows} rows but there are {n} label rows")
        missing = [key for key in SPLIT_NAMES if key not in self.splits]
        if missing:
            raise DatasetError(f"{name}: splits lack {missing}")
        for key, index in self.splits.items():
            if not isinstance(index, np.ndarray) or index.dtype != np.int64 or index.ndim != 1:
                raise DatasetError(f"{name}: split {key!r} must be a 1-D int64 array")
            if index.size and (index.min() < 0 or index.max() >= n):
                raise DatasetError(f"{name}: split {key!r} has indices outside [0, {n})")
            if index.size and np.any(np.diff(index) <= 0):
                raise DatasetError(f"{name}: split {key!r} must be sorted without repeats")

    # --------------------------------------------------------------------------------------------- queries
    @property
    def n(self) -> int:
        """Number of items (rows)."""
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of label columns C."""
        return int(self.labels.shape[1])

    def view_dims(self) -> dict[str, int | str]:
        """View name -> feature dimension, or ``"images"`` for a lazy image view."""
        return {view: (int(data.shape[1]) if isinstance(data, np.ndarray) else "images")
                for view, data in self.views.items()}

    def take(self, split: str, view: str | None = None):
        """Rows of ``split``: the (n, d) features of ``view``, or the (n, C) labels when ``view`` is None."""
        if split not in self.splits:
            raise DatasetError(f"{self.name}: unknown split {split!r}; have {sorted(self.splits)}")
        index = self.splits[split]
        if view is None:
            return self.labels[index]
        if view not in self.views:
            raise DatasetError(f"{self.name}: unknown view {view!r}; have {list(self.views)}")
        data = self.views[view]
        if not isinstance(data, np.ndarray):
            raise DatasetError(f"{self.name}: view {view!r} is an image source; wrap it in ImageDataset")
        return data[index]

    def file_hashes(self) -> dict[str, str]:
        """Short file name -> SHA-256 of every file read (computed once, then cached)."""
        if self._hashes is None:
            self._hashes = {short: sha256_file(path) for short, path in self.files.items()}
        return dict(self._hashes)

    def split_record(self) -> dict[str, Any]:
        """``{"protocol", "seed", "subset", "n", "sizes", "sha256"}`` (plus ``"validation"`` for a validation fold of
        the training rows): enough to trace a result to its split."""
        record = {
            "protocol": self.protocol,
            "seed": int(self.seed),
            "subset": None if self.subset is None else int(self.subset),
            "n": self.n,
            "sizes": {key: int(index.size) for key, index in self.splits.items()},
            "sha256": {key: sha256_array(index) for key, index in self.splits.items()},
        }
        if "validation" in self.options:
            record["validation"] = dict(self.options["validation"])
        return record

    def __repr__(self) -> str:
        sizes = ", ".join(f"{key}={index.size}" for key, index in self.splits.items())
        return (f"Dataset({self.name!r}, protocol={self.protocol!r}, seed={self.seed}, n={self.n}, "
                f"classes={self.num_classes}, views={self.view_dims()}, {sizes})")
