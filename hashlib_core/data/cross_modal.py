"""Cross-modal benchmark files as their authors ship them: the DCMH family (MIRFLICKR-25K, NUS-WIDE TC-10 /
TC-21), IAPR TC-12, DCHN's MS-COCO doc2vec HDF5 and XMedia.

DCMH family (``LAll`` labels, ``YAll`` tag bag-of-words, ``XAll`` VGG features, ``IAll`` raw images): one file per
matrix, in a flat ``<root>/<dataset>/`` folder or DCMH's ``LAll/ YAll/ IAll/`` subfolders, MATLAB v5 or v7.3 (read
lazily; any matrix may be stored transposed: the item axis is found from the label row count). DCHN's pre-shuffled
``-rand`` files are accepted as a set (``variant="rand"``; ``"auto"`` takes the plain names when the plain label
file exists). Options: ``features="vgg"`` (image view = ``XAll``) or ``"raw"`` (image view = the ``IAll`` images,
lazily, 224 x 224 RGB), ``views=("text",)`` to load without the image file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .convert import to_features, to_multi_hot
from .dataset import DatasetError
from .files import FileRole, Need, Source, absent, locate, missing_error
from .images import HDF5ImageSource
from .matlab import MatFile, orient_labels, orient_rows
from .options import take_options
from .splits import check_protocol, contiguous, from_sets, per_label, scaled

DCMH_SUBFOLDERS = ("LAll", "YAll", "IAll", "XAll")
DCMH_OPTIONS = {"features": "vgg", "views": None, "variant": "auto"}
DCMH_CHOICES = {"features": ("vgg", "raw")}


@dataclass(frozen=True)
class DCMHSpec:
    """File names (per variant) and split sizes of one DCMH-format dataset."""

    name: str
    files: dict[str, dict[str, tuple[str, ...]]]      # variant -> role ("labels", "text", "vgg", "raw") -> names
    dchn_sizes: tuple[int, int]                       # (query, train) of the contiguous DCHN ranges
    djsrh: dict | None                                # per_label arguments, None when DJSRH did not use it
    class_names: tuple[str, ...] | None
    source: Source

    def role(self, variant: str, role: str) -> FileRole | None:
        names = self.files.get(variant, {}).get(role)
        if not names:
            return None
        what = {"labels": "key LAll, (N, C) 0/1 labels", "text": "key YAll, (N, d) tag bag-of-words",
                "vgg": "key XAll, (N, 4096) VGG image features",
                "raw": "key IAll, the raw images (MATLAB 7.3, 224x224x3 per item)"}[role]
        return FileRole(role, names, what, DCMH_SUBFOLDERS)

    def default_roles(self) -> tuple[FileRole, ...]:
        return tuple(self.role("plain", role) for role in ("labels", "text", "vgg"))


FLICKR_LABELS = ("animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor", "lake",
                 "male", "night", "people", "plant_life", "portrait", "river", "sea", "sky", "structures", "sunset",
                 "transport", "tree", "water")

DCMH_SPECS = {
    "mirflickr25k": DCMHSpec(
        "mirflickr25k",
        {"plain": {"labels": ("mirflickr25k-lall.mat",), "text": ("mirflickr25k-yall.mat",),
                   "vgg": ("mirflickr25k-iall-vgg.mat",), "raw": ("mirflickr25k-iall.mat",)},
         "rand": {"labels": ("mirflickr25k-lall-rand.mat",), "text": ("mirflickr25k-yall-rand.mat",),
                  "vgg": ("mirflickr25k-iall-vgg-rand.mat",)}},
        dchn_sizes=(2000, 10000),
        djsrh={"first": (160, 400), "later": (80, 200), "query_total": 2000, "train_total": 5000},
        class_names=FLICKR_LABELS,
        source=Source(
            source="MIRFLICKR-25K, cross-modal hashing version of DCMH (Jiang & Li, CVPR 2017): 20,015 pairs",
            citation="M. J. Huiskes, M. S. Lew. The MIR Flickr Retrieval Evaluation. ACM MIR 2008.",
            obtain="the DCMH-format files (mirflickr25k-lall.mat, -yall.mat, -iall.mat / -iall-vgg.mat) from the "
                   "DCMH / DCHN / DJSRH data links, into <data root>/mirflickr25k/ (flat or LAll/ YAll/ IAll/)")),
    "nus_wide_tc10": DCMHSpec(
        "nus_wide_tc10",
        {"plain": {"labels": ("nus-wide-tc10-lall.mat",), "text": ("nus-wide-tc10-yall.mat",),
                   "vgg": ("nus-wide-tc10-xall-vgg.mat",), "raw": ("nus-wide-tc10-iall.mat",)}},
        dchn_sizes=(2100, 10500),
        djsrh={"first": (200, 500), "later": (200, 500), "query_total": 2000, "train_total": 5000},
        class_names=None,
        source=Source(
            source="NUS-WIDE, DCMH-style 10-concept version (186,577 pairs) used by DJSRH",
            citation="T.-S. Chua et al. NUS-WIDE: A Real-World Web Image Database from National University of "
                     "Singapore. CIVR 2009.",
            obtain="nus-wide-tc10-lall.mat, -yall.mat (v7.3) and -iall.mat / -xall-vgg.mat from the DJSRH / DCMH "
                   "data links, into <data root>/nus_wide_tc10/")),
    "nus_wide_tc21": DCMHSpec(
        "nus_wide_tc21",
        {"plain": {"labels": ("nus-wide-tc21-lall-clean.mat", "nus-wide-tc21-lall-vgg-clean.mat"),
                   "text": ("nus-wide-tc21-yall-clean.mat", "nus-wide-tc21-yall-vgg-clean.mat"),
                   "vgg": ("nus-wide-tc21-xall-vgg-clean.mat",)}},
        dchn_sizes=(2100, 10500),
        djsrh=None,
        class_names=None,
        source=Source(
            source="NUS-WIDE, 21-concept cleaned version used by DCHN",
            citation="T.-S. Chua et al. NUS-WIDE: A Real-World Web Image Database from National University of "
                     "Singapore. CIVR 2009.",
            obtain="nus-wide-tc21-{l,y}all-clean.mat and nus-wide-tc21-xall-vgg-clean.mat from the DCHN data "
                   "links, into <data root>/nus_wide_tc21/")),
}


def dcmh_status(name: str):
    """``dataset_status`` helper: present/missing files of the default load (labels, tags, VGG features), for
    whichever file variant (plain or DCHN's ``-rand``) has the most files present."""
    spec = DCMH_SPECS[name]

    def status(root: Path) -> dict:
        best = None
        for variant in spec.files:
            roles = [spec.role(variant, role) for role in ("labels", "text", "vgg")]
            found = {role.role: role.find(root / name) for role in roles if role is not None}
            result = {"present": [str(p) for p in found.values() if p is not None],
                      "missing": [role.describe() for role in roles if role is not None and found[role.role] is None]}
            if best is None or len(result["present"]) > len(best["present"]):
                best = result
        return best

    return status


def _variant(spec: DCMHSpec, folder: Path, requested: str) -> str:
    if requested != "auto":
        if requested not in spec.files:
            raise DatasetError(f"{spec.name}: variant={requested!r} is not one of {['auto', *spec.files]}")
        return requested
    for variant in spec.files:
        if spec.role(variant, "labels").find(folder) is not None:
            return variant
    alternatives = [name for variant in spec.files for name in spec.files[variant]["labels"]]
    raise missing_error(spec.name, folder, [spec.role("plain", "labels")], spec.source,
                        hint=f"(label file looked for under the names {alternatives})")


def _image_source(spec: DCMHSpec, path: Path, n: int) -> HDF5ImageSource:
    mat = MatFile(path, spec.name)
    try:
        if mat.version == "5":
            raise DatasetError(f"{spec.name}: {path} is MATLAB v5; the raw image file must be MATLAB 7.3 / HDF5 "
                               "(it is read row by row)")
        data = mat.lazy("IAll")
        shape = data.shape
        column_major = mat.column_major
    finally:
        mat.close()
    if len(shape) != 4:
        raise DatasetError(f"{spec.name}: {path.name}:IAll has shape {shape}, expected 4 axes (items, 3, W, H)")
    if shape[0] == n:
        axis = 0
    elif shape[-1] == n:
        axis = 3
    else:
        raise DatasetError(f"{spec.name}: {path.name}:IAll has shape {shape}, but the labels have {n} rows")
    return HDF5ImageSource(path, "IAll", item_axis=axis, length=n, column_major=column_major, dataset=spec.name)


def _dcmh_roles(spec: DCMHSpec, variant: str, opts: dict) -> tuple[tuple[str, ...], list[FileRole], FileRole | None]:
    """(views asked for, the file roles they need, the image role or None) of one DCMH-format load."""
    name = spec.name
    chosen = requested_views(name, ("image", "text"), opts["views"])
    roles = [spec.role(variant, "labels")]
    if "text" in chosen:
        roles.append(spec.role(variant, "text"))
    image_role = spec.role(variant, opts["features"]) if "image" in chosen else None
    if "image" in chosen:
        if image_role is None:
            raise DatasetError(f"{name}: no {opts['features']!r} image file is known for variant {variant!r}; "
                               f"known files: {spec.files[variant]}")
        roles.append(image_role)
    return chosen, roles, image_role


def dcmh_needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a DCMH-format load with ``options`` (variant ``auto``: the first variant whose label file
    exists, else the plain names); existence checks only."""
    spec = DCMH_SPECS[entry.name]
    opts = take_options(spec.name, options, DCMH_OPTIONS, DCMH_CHOICES)
    folder = root / entry.folder
    variant = opts["variant"]
    if variant == "auto":
        variant = next((v for v in spec.files if spec.role(v, "labels").find(folder) is not None), "plain")
    elif variant not in spec.files:
        raise DatasetError(f"{spec.name}: variant={variant!r} is not one of {['auto', *spec.files]}")
    _, roles, _ = _dcmh_roles(spec, variant, opts)
    return absent(folder, roles)


def load_dcmh(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """MIRFLICKR-25K / NUS-WIDE TC-10 / TC-21 in DCMH format (see the module docstring for the options)."""
    spec = DCMH_SPECS[entry.name]
    name = spec.name
    opts = take_options(name, options, DCMH_OPTIONS, DCMH_CHOICES)
    check_protocol(name, protocol, tuple(entry.protocols))
    folder = root / entry.folder
    variant = _variant(spec, folder, opts["variant"])
    chosen, roles, image_role = _dcmh_roles(spec, variant, opts)
    found = {role.role: role.find(folder) for role in roles}
    missing = [role for role in roles if found[role.role] is None]
    if missing:
        hint = ""
        if image_role is not None and missing == [image_role] and "text" in chosen:
            hint = ("The image view is absent here; load the text view alone with views=('text',) "
                    "(labels and tags are present).")
        raise missing_error(name, folder, missing, spec.source, hint=hint)

    with MatFile(found["labels"], name) as mat:
        mat.require("LAll")
        raw = orient_labels(mat.array("LAll"), None, what=f"{found['labels'].name}:LAll", dataset=name)
    labels, _ = to_multi_hot(raw, dataset=name, source=f"{found['labels'].name}:LAll")
    n = labels.shape[0]
    views = {}
    if "image" in chosen:
        path = found[image_role.role]
        if opts["features"] == "raw":
            views["image"] = _image_source(spec, path, n)
        else:
            with MatFile(path, name) as mat:
                mat.require("XAll")
                views["image"] = to_features(orient_rows(mat.array("XAll"), n, what=f"{path.name}:XAll",
                                                         dataset=name), dataset=name, source=f"{path.name}:XAll")
    if "text" in chosen:
        path = found["text"]
        with MatFile(path, name) as mat:
            mat.require("YAll")
            views["text"] = to_features(orient_rows(mat.array("YAll"), n, what=f"{path.name}:YAll", dataset=name),
                                        dataset=name, source=f"{path.name}:YAll")
    views = {view: views[view] for view in chosen}

    if protocol == "dchn":
        query, train = spec.dchn_sizes
        rule = lambda pool, rng, scale: contiguous(pool, query=query, train=train, scale=scale,  # noqa: E731
                                                   dataset=name, protocol=protocol)
    else:
        if spec.djsrh is None:
            raise DatasetError(f"{name}: protocol {protocol!r} is not defined for this dataset")
        rule = lambda pool, rng, scale: per_label(pool, labels, rng, scale=scale, **spec.djsrh)  # noqa: E731
    notes = [f"file variant: {variant}"]
    if variant == "rand":
        notes.append("DCHN's pre-shuffled -rand files: the dchn ranges apply to the shuffled order")
    class_names = list(spec.class_names) if spec.class_names and len(spec.class_names) == labels.shape[1] else None
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=class_names, files={p.name: p for p in found.values()}, source=spec.source,
                    split_rule=rule, notes=notes, options={**opts, "variant": variant})


def _stack_parts(mat: MatFile, path: Path, name: str, chosen, parts: dict[str, tuple[str, str, str]]):
    """Read the labelled parts of one feature file and stack them in the order of ``parts``.

    ``parts``: part name -> (image key, text key, label key); every key must be in the file. Returns the
    ``chosen`` views (each (N, d) float32), the (N, C) multi-hot labels and part name -> its row indices.
    """
    mat.require(*[key for keys in parts.values() for key in keys])
    read = {}
    for part, (image_key, text_key, label_key) in parts.items():
        labels, _ = to_multi_hot(orient_labels(mat.array(label_key), None, what=f"{path.name}:{label_key}",
                                               dataset=name), dataset=name, source=f"{path.name}:{label_key}")
        views = {view: to_features(orient_rows(mat.array(key), labels.shape[0], what=f"{path.name}:{key}",
                                               dataset=name), dataset=name, source=f"{path.name}:{key}")
                 for view, key in (("image", image_key), ("text", text_key)) if view in chosen}
        read[part] = (views, labels)
    if len({labels.shape[1] for _, labels in read.values()}) != 1:
        label_keys = " and ".join(keys[2] for keys in parts.values())
        raise DatasetError(f"{name}: {path.name}: {label_keys} have different class counts")
    views = {view: np.concatenate([read[part][0][view] for part in parts]) for view in chosen}
    labels = np.concatenate([read[part][1] for part in parts])
    ends = np.cumsum([read[part][1].shape[0] for part in parts])
    rows = {part: np.arange(end - read[part][1].shape[0], end) for part, end in zip(parts, ends)}
    return views, labels, rows


# --------------------------------------------------------------------------------------------------- IAPR
IAPR_FILE = FileRole("data", ("iapr-tc12.mat", "iapr-tc12-rand.mat"),
                     "VTest/YTest/testL (query) and VDatabase/YDatabase/databaseL (database)")
IAPR_ROLES = (IAPR_FILE,)
IAPR_SOURCE = Source(
    source="IAPR TC-12 benchmark, DCHN's feature file (image features, tag bag-of-words, 255 labels)",
    citation="M. Grubinger, P. Clough, H. Mueller, T. Deselaers. The IAPR TC-12 Benchmark: A New Evaluation "
             "Resource for Visual Information Systems. OntoImage 2006.",
    obtain="iapr-tc12.mat from the DCHN data links, into <data root>/iapr_tc12/")
IAPR_TRAIN = 10000


def load_iapr(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """IAPR TC-12: rows = the test keys then the database keys (DCHN's order)."""
    name = entry.name
    opts = take_options(name, options, {"views": None})
    check_protocol(name, protocol, tuple(entry.protocols))
    path = locate(name, root / entry.folder, IAPR_ROLES, IAPR_SOURCE)["data"]
    chosen = requested_views(name, ("image", "text"), opts["views"])
    with MatFile(path, name) as mat:
        views, labels, rows = _stack_parts(mat, path, name, chosen, {"test": ("VTest", "YTest", "testL"),
                                                                     "database": ("VDatabase", "YDatabase",
                                                                                  "databaseL")})
    test, database = rows["test"], rows["database"]

    def rule(pool, rng, scale):
        split = from_sets(pool, query=test, train=database, retrieval=database)
        if protocol == "dchn":
            split["train"] = split["train"][:scaled(IAPR_TRAIN, scale)]
        return split

    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=None, files={path.name: path}, source=IAPR_SOURCE, split_rule=rule,
                    notes=["rows: test keys first, then database keys"], options=opts)


# ------------------------------------------------------------------------------------------------ MS-COCO
MSCOCO_FILE = FileRole("data", ("MSCOCO_deep_doc2vec_data.h5py", "MSCOCO_deep_doc2vec_data_rand.h5py"),
                       "HDF5: train_imgs_deep, test_imgs_deep, train_text, test_text, train_imgs_labels, "
                       "test_imgs_labels")
MSCOCO_ROLES = (MSCOCO_FILE,)
MSCOCO_SOURCE = Source(
    source="MS-COCO 2014 with DCHN's deep image features and doc2vec text (MSCOCO_deep_doc2vec_data.h5py)",
    citation="T.-Y. Lin et al. Microsoft COCO: Common Objects in Context. ECCV 2014.",
    obtain="MSCOCO_deep_doc2vec_data.h5py from the DCHN data links, into <data root>/mscoco/ (the label "
           "annotations alone load as 'mscoco_labels')")


def load_mscoco(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """DCHN's MS-COCO HDF5: rows = the train keys then the test keys (DCHN's concatenation order)."""
    name = entry.name
    opts = take_options(name, options, {"views": None})
    check_protocol(name, protocol, tuple(entry.protocols))
    path = locate(name, root / entry.folder, MSCOCO_ROLES, MSCOCO_SOURCE,
                  hint="(labels_annotation.txt alone loads as load_dataset('mscoco_labels'))")["data"]
    chosen = requested_views(name, ("image", "text"), opts["views"])
    with MatFile(path, name) as mat:
        keys = {part: (f"{part}_imgs_deep", f"{part}_text" if f"{part}_text" in mat else f"{part}_texts",
                       f"{part}_imgs_labels") for part in ("train", "test")}
        views, labels, rows = _stack_parts(mat, path, name, chosen, keys)
    train_rows, test_rows = rows["train"], rows["test"]
    if protocol == "dchn":
        rule = lambda pool, rng, scale: contiguous(pool, query=5000, train=10000, scale=scale,  # noqa: E731
                                                   dataset=name, protocol=protocol)
    else:
        rule = lambda pool, rng, scale: from_sets(pool, query=test_rows, train=train_rows,  # noqa: E731
                                                  retrieval=train_rows)
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=None, files={path.name: path}, source=MSCOCO_SOURCE, split_rule=rule,
                    notes=["rows: train keys first, then test keys (DCHN's order)"], options=opts)


# ------------------------------------------------------------------------------------------------- XMedia
XMEDIA_VIEWS = {  # view -> (train features, test features, train labels, test labels)
    "image": ("I_tr_CNN", "I_te_CNN", "trImgCat", "teImgCat"),
    "text": ("T_tr_BOW", "T_te_BOW", "trTxtCat", "teTxtCat"),
    "audio": ("A_tr", "A_te", "trAudCat", "teAudCat"),
    "3d": ("d3_tr", "d3_te", "tr3dCat", "te3dCat"),
    "video": ("V_tr_CNN", "V_te_CNN", "trVidCat", "teVidCat"),
}
XMEDIA_FILE = FileRole("data", ("XMediaFeatures.mat",), "per medium *_tr / *_te features and tr*Cat / te*Cat "
                                                        "class ids")
XMEDIA_ROLES = (XMEDIA_FILE,)
XMEDIA_SOURCE = Source(
    source="PKU XMedia dataset, feature file XMediaFeatures.mat (CNN image/video, BoW text, MFCC audio, "
           "LightField 3-D)",
    citation="X. Zhai, Y. Peng, J. Xiao. Learning Cross-Media Joint Representation with Sparse and "
             "Semi-Supervised Regularization. IEEE TCSVT 2014; Y. Peng et al. IEEE TCSVT 2016.",
    obtain="XMediaFeatures.mat from the PKU XMedia page, into <data root>/xmedia/")


def load_xmedia(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """XMedia: rows = the ``*_te`` rows then the ``*_tr`` rows (DCHN's order); integer class ids -> one-hot.

    The five media have different item counts and are not paired. A :class:`Dataset` holds aligned rows, so the
    chosen ``views`` (default ``("image", "text")``) must have identical class sequences; load other media one
    at a time (``views=("audio",)``), as DCHN trains one network per view anyway.
    """
    name = entry.name
    opts = take_options(name, options, {"views": ("image", "text")})
    check_protocol(name, protocol, tuple(entry.protocols))
    path = locate(name, root / entry.folder, XMEDIA_ROLES, XMEDIA_SOURCE)["data"]
    chosen = requested_views(name, tuple(XMEDIA_VIEWS), opts["views"])
    views, sequences = {}, {}
    with MatFile(path, name) as mat:
        for view in chosen:
            tr, te, ltr, lte = XMEDIA_VIEWS[view]
            mat.require(tr, te, ltr, lte)
            ids = {}
            for key in (lte, ltr):
                raw = orient_labels(mat.array(key), None, what=f"{path.name}:{key}", dataset=name)
                if raw.shape[1] != 1:
                    raise DatasetError(f"{name}: {path.name}:{key} must be a vector of class ids, got {raw.shape}")
                ids[key] = raw[:, 0]
            feats = [to_features(orient_rows(mat.array(key), ids[lab].size, what=f"{path.name}:{key}",
                                             dataset=name), dataset=name, source=f"{path.name}:{key}")
                     for key, lab in ((te, lte), (tr, ltr))]
            views[view] = np.concatenate(feats)
            sequences[view] = (ids[lte], ids[ltr])
    first = chosen[0]
    for view in chosen[1:]:
        same = all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(sequences[first], sequences[view]))
        if not same:
            raise DatasetError(
                f"{name}: views {first!r} ({sum(s.size for s in sequences[first])} items) and {view!r} "
                f"({sum(s.size for s in sequences[view])} items) are not paired (different class sequences); "
                "load them separately, e.g. views=('audio',)")
    test_ids, train_ids = sequences[first]
    classes = np.unique(np.concatenate([test_ids, train_ids]))
    labels, _ = to_multi_hot(np.concatenate([test_ids, train_ids]), dataset=name, source=f"{path.name}:*Cat",
                             classes=classes)
    test_rows = np.arange(test_ids.size)
    train_rows = np.arange(test_ids.size, labels.shape[0])
    rule = lambda pool, rng, scale: from_sets(pool, query=test_rows, train=train_rows,  # noqa: E731
                                              retrieval=train_rows)
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=[str(int(c)) for c in classes], files={path.name: path}, source=XMEDIA_SOURCE,
                    split_rule=rule, notes=["rows: *_te rows first, then *_tr rows (DCHN's order)"],
                    options={**opts, "views": chosen})
