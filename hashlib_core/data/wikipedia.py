"""Wikipedia image-text (Rasiwasia et al., ACM MM 2010): 2,866 pairs, 10 classes, official 2,173 / 693 split.

Three ways in, chosen with ``features=``:

- ``"canonical"`` (default): ``wiki_data.mat`` (``I_tr``/``I_te`` 128-d SIFT bag of words, ``T_tr``/``T_te``
  10-d LDA, ``L_train``/``L_test`` one-hot or ``L_tr``/``L_te`` class ids 1..10), MATLAB v5 or a v7.3 copy stored
  transposed; without it, the SVCL release's ``raw_features.mat`` (same keys for the features) with labels from
  its ``.list`` files.
- ``"raw"``: the SVCL release layout: raw images ``images/<category>/<image id>.jpg`` (lazy) and the LDA text of
  ``raw_features.mat``, rows in the order of ``trainset_txt_img_cat.list`` then ``testset_txt_img_cat.list``
  (what DJSRH trains on).
- ``"roph"``: RoPH's ``wiki_roph.mat`` (struct ``data``: ``X1`` (128, N) image, ``X2`` (100, N) text, ``Y``
  (10, N) one-hot, ``split.ind_train``/``ind_test`` 1-based): different features, same canonical row order.

Rows: the 2,173 training pairs, then the 693 test pairs. Protocols ``official`` (= ``djsrh`` = ``dchn``): query =
the 693 test pairs, retrieval = train = the 2,173 training pairs; ``roph`` (only with ``features="roph"``): RoPH's
own random 2,173 / 693 split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .convert import to_features, to_multi_hot
from .dataset import DatasetError
from .files import FileRole, Need, Source, absent, locate, missing_error
from .images import FileImageSource
from .matlab import MatFile, orient_labels, orient_rows
from .options import take_options
from .splits import check_protocol, from_sets

CLASS_NAMES = ["art & architecture", "biology", "geography", "history", "literature & theatre", "media", "music",
               "royalty & nobility", "sport & recreation", "warfare"]
SVCL_FOLDERS = ["art", "biology", "geography", "history", "literature", "media", "music", "royalty", "sport",
                "warfare"]
PROTOCOLS = ("official", "djsrh", "dchn", "roph")
N_TRAIN, N_TEST = 2173, 693          # the official split; RoPH's file keeps this row order

WIKI_DATA = FileRole("features", ("wiki_data.mat",), "canonical SIFT (I_tr/I_te) + LDA (T_tr/T_te) + labels")
RAW_FEATURES = FileRole("raw_features", ("raw_features.mat",), "SVCL release: I_tr/I_te, T_tr/T_te")
TRAIN_LIST = FileRole("train_list", ("trainset_txt_img_cat.list",), "SVCL: text id, image id, class 1..10")
TEST_LIST = FileRole("test_list", ("testset_txt_img_cat.list",), "SVCL: text id, image id, class 1..10")
ROPH = FileRole("roph", ("wiki_roph.mat", "wiki.mat"), "RoPH's struct data.{X1,X2,Y,split}")
ROLES = (WIKI_DATA,)
OPTIONS = {"features": "canonical", "views": None}
CHOICES = {"features": ("canonical", "raw", "roph")}
CANONICAL_HINT = ("(or the SVCL release: raw_features.mat, trainset_txt_img_cat.list, testset_txt_img_cat.list, "
                  "images/<category>/)")

SOURCE = Source(
    source="SVCL, UCSD (http://www.svcl.ucsd.edu/projects/crossmodal/); wiki_data.mat as redistributed with "
           "shallow cross-modal hashing code (e.g. cuilimeng/MCTD)",
    citation="N. Rasiwasia, J. Costa Pereira, E. Coviello, G. Doyle, G. Lanckriet, R. Levy, N. Vasconcelos. "
             "A New Approach to Cross-Modal Multimedia Retrieval. ACM MM 2010.",
    obtain="download the Wikipedia dataset from the SVCL cross-modal page (images, raw_features.mat and the "
           "two .list files) or a redistributed wiki_data.mat, and put the files in <data root>/wikipedia/",
)


def _read_canonical(name: str, path: Path) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """(features {"image", "text"}, labels (N, 10), is_test (N,), notes) from wiki_data.mat-style keys."""
    with MatFile(path, name) as mat:
        mat.require("I_tr", "I_te", "T_tr", "T_te")
        parts = {}
        for split in ("tr", "te"):
            long = "train" if split == "tr" else "test"
            if f"L_{long}" in mat:
                raw = orient_labels(mat.array(f"L_{long}"), None, what=f"{path.name}:L_{long}", dataset=name)
                labels, _ = to_multi_hot(raw, dataset=name, source=f"{path.name}:L_{long}")
            elif f"L_{split}" in mat:
                raw = orient_labels(mat.array(f"L_{split}"), None, what=f"{path.name}:L_{split}", dataset=name)
                labels, _ = to_multi_hot(raw, dataset=name, source=f"{path.name}:L_{split}",
                                         classes=np.arange(1, 11))
            else:
                raise DatasetError(f"{name}: {path} has no labels (L_{long} or L_{split}); it has {mat.keys()}")
            n = labels.shape[0]
            image = orient_rows(mat.array(f"I_{split}"), n, what=f"{path.name}:I_{split}", dataset=name)
            text = orient_rows(mat.array(f"T_{split}"), n, what=f"{path.name}:T_{split}", dataset=name)
            parts[split] = (to_features(image, dataset=name, source=f"{path.name}:I_{split}"),
                            to_features(text, dataset=name, source=f"{path.name}:T_{split}"), labels)
    if parts["tr"][2].shape[1] != parts["te"][2].shape[1]:
        raise DatasetError(f"{name}: {path} train and test labels have different class counts")
    views = {"image": np.concatenate([parts["tr"][0], parts["te"][0]]),
             "text": np.concatenate([parts["tr"][1], parts["te"][1]])}
    labels = np.concatenate([parts["tr"][2], parts["te"][2]])
    is_test = np.r_[np.zeros(parts["tr"][2].shape[0], bool), np.ones(parts["te"][2].shape[0], bool)]
    return views, labels, is_test, []


def _read_list(name: str, path: Path) -> list[tuple[str, str, int]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[2].isdigit() or not 1 <= int(fields[2]) <= 10:
            raise DatasetError(f"{name}: {path} line {number}: expected '<text id> <image id> <class 1..10>', "
                               f"got {line!r}")
        rows.append((fields[0], fields[1], int(fields[2])))
    if not rows:
        raise DatasetError(f"{name}: {path} is empty")
    return rows


def _svcl_category_folders(folder: Path) -> list[str]:
    listing = folder / "categories.list"
    if listing.is_file():
        names = [line.split()[0] for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(names) == 10:
            return names
    return list(SVCL_FOLDERS)


def _read_svcl(name: str, folder: Path, *, raw_images: bool) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    files = locate(name, folder, (RAW_FEATURES, TRAIN_LIST, TEST_LIST), SOURCE)
    train_rows = _read_list(name, files["train_list"])
    test_rows = _read_list(name, files["test_list"])
    rows = train_rows + test_rows
    labels, _ = to_multi_hot(np.array([r[2] for r in rows]), dataset=name, source="the .list files",
                             classes=np.arange(1, 11))
    is_test = np.r_[np.zeros(len(train_rows), bool), np.ones(len(test_rows), bool)]
    views = {}
    with MatFile(files["raw_features"], name) as mat:
        mat.require("T_tr", "T_te")
        for split, count in (("tr", len(train_rows)), ("te", len(test_rows))):
            key = f"T_{split}"
            views.setdefault("text", []).append(to_features(
                orient_rows(mat.array(key), count, what=f"raw_features.mat:{key}", dataset=name),
                dataset=name, source=f"raw_features.mat:{key}"))
            if not raw_images:
                mat.require("I_tr", "I_te")
                key = f"I_{split}"
                views.setdefault("image", []).append(to_features(
                    orient_rows(mat.array(key), count, what=f"raw_features.mat:{key}", dataset=name),
                    dataset=name, source=f"raw_features.mat:{key}"))
    views = {view: np.concatenate(parts) for view, parts in views.items()}
    if raw_images:
        categories = _svcl_category_folders(folder)
        paths = [folder / "images" / categories[cls - 1] / f"{image_id}.jpg" for _, image_id, cls in rows]
        if not paths[0].is_file():
            raise DatasetError(f"{name}: image {paths[0]} (first row of {files['train_list'].name}) does not "
                               f"exist; features='raw' needs the SVCL images/<category>/<image id>.jpg folders")
        views = {"image": FileImageSource(paths, dataset=name), "text": views["text"]}
    else:
        views = {"image": views["image"], "text": views["text"]}
    short = {path.name: path for path in files.values()}
    return views, labels, is_test, short


def read_canonical(name: str, folder: Path) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """(views {"image": SIFT, "text": LDA}, labels (N, 10), is_test (N,), files) of the canonical features:
    ``wiki_data.mat``, else the SVCL release's ``raw_features.mat`` with its two ``.list`` files."""
    path = WIKI_DATA.find(folder)
    if path is not None:
        views, labels, is_test, _ = _read_canonical(name, path)
        return views, labels, is_test, {path.name: path}
    if RAW_FEATURES.find(folder) is not None:
        return _read_svcl(name, folder, raw_images=False)
    raise missing_error(name, folder, [WIKI_DATA], SOURCE, hint=CANONICAL_HINT)


def canonical_needs(folder: Path) -> list[Need]:
    """Absent files of the canonical features (wiki_data.mat, or raw_features.mat with both .list files)."""
    if WIKI_DATA.find(folder) is not None:
        return []
    if RAW_FEATURES.find(folder) is not None:
        return absent(folder, (TRAIN_LIST, TEST_LIST))
    return [Need(f"{WIKI_DATA.describe()} {CANONICAL_HINT}", folder)]


def _first_svcl_image(folder: Path) -> Path | None:
    """The image file of the first row of ``trainset_txt_img_cat.list`` (None when the line cannot be parsed)."""
    path = TRAIN_LIST.find(folder)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            fields = next((line.split() for line in handle if line.strip()), [])
    except OSError:
        return None
    if len(fields) != 3 or not fields[2].isdigit() or not 1 <= int(fields[2]) <= 10:
        return None
    return folder / "images" / _svcl_category_folders(folder)[int(fields[2]) - 1] / f"{fields[1]}.jpg"


def needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a load with ``options`` (existence checks; only the first line of a list file is read)."""
    opts = take_options(entry.name, options, OPTIONS, CHOICES)
    folder = root / entry.folder
    if opts["features"] == "roph":
        return absent(folder, (ROPH,))
    if opts["features"] == "canonical":
        return canonical_needs(folder)
    missing = absent(folder, (RAW_FEATURES, TRAIN_LIST, TEST_LIST))
    if TRAIN_LIST.find(folder) is not None:
        image = _first_svcl_image(folder)
        if image is not None and not image.is_file():
            missing.append(Need(f"images/<category>/<image id>.jpg: the SVCL raw images ({image.relative_to(folder)}"
                                " of the first list row is absent)", folder))
    return missing


def read_roph(name: str, path: Path) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """(views, labels, roph_test_rows, roph_train_rows) from RoPH's struct file (1-based split indices)."""
    with MatFile(path, name) as mat:
        mat.require("data")
        data = mat.array("data")
    try:
        record = data[0, 0] if data.ndim == 2 else data
        fields = {key: record[key] for key in ("X1", "X2", "Y", "split")}
        split = fields["split"][0, 0] if fields["split"].ndim == 2 else fields["split"]
        ind_train = np.asarray(split["ind_train"]).ravel().astype(np.int64) - 1
        ind_test = np.asarray(split["ind_test"]).ravel().astype(np.int64) - 1
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise DatasetError(f"{name}: {path} is not RoPH's struct data.{{X1, X2, Y, split}}: {exc}") from None
    y = fields["Y"]
    y = y.toarray() if hasattr(y, "toarray") else np.asarray(y)
    labels, _ = to_multi_hot(orient_labels(y, None, what=f"{path.name}:data.Y", dataset=name).astype(np.uint8),
                             dataset=name, source=f"{path.name}:data.Y")
    n = labels.shape[0]
    views = {view: to_features(orient_rows(fields[key], n, what=f"{path.name}:data.{key}", dataset=name),
                               dataset=name, source=f"{path.name}:data.{key}")
             for view, key in (("image", "X1"), ("text", "X2"))}
    for what, index in (("ind_train", ind_train), ("ind_test", ind_test)):
        if index.size == 0 or index.min() < 0 or index.max() >= n:
            raise DatasetError(f"{name}: {path} data.split.{what} has indices outside 1..{n}")
    return views, labels, ind_test, ind_train


def load(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """Load Wikipedia (see the module docstring for ``features``, row order and protocols)."""
    name = entry.name
    opts = take_options(name, options, OPTIONS, CHOICES)
    check_protocol(name, protocol, PROTOCOLS)
    folder = root / entry.folder
    notes = []
    roph_sets = None
    if opts["features"] == "roph":
        path = locate(name, folder, (ROPH,), SOURCE)["roph"]
        views, labels, roph_test, roph_train = read_roph(name, path)
        files = {path.name: path}
        if labels.shape[0] != N_TRAIN + N_TEST:
            raise DatasetError(f"{name}: {path} has {labels.shape[0]} items, expected the {N_TRAIN + N_TEST} "
                               "canonical pairs (train then test)")
        is_test = np.arange(labels.shape[0]) >= N_TRAIN
        roph_sets = (roph_test, roph_train)
        notes.append("RoPH features: X1 128-d (a PCA-type projection, not the SIFT histogram), X2 100-d text; "
                     "canonical row order.")
    elif opts["features"] == "raw":
        views, labels, is_test, files = _read_svcl(name, folder, raw_images=True)
        notes.append("raw SVCL images (lazy) + 10-d LDA text, rows in .list order")
    else:
        views, labels, is_test, files = read_canonical(name, folder)
    if protocol == "roph" and roph_sets is None:
        raise DatasetError(f"{name}: protocol 'roph' is RoPH's own split and needs features='roph'")
    chosen = requested_views(name, ("image", "text"), opts["views"])
    views = {view: views[view] for view in chosen}
    rows = np.arange(labels.shape[0])
    if protocol == "roph":
        test, train = roph_sets
        notes.append("protocol roph: RoPH's random split (only 1,637 of its train rows are canonical train rows)")
    else:
        test, train = rows[is_test], rows[~is_test]
    rule = lambda pool, rng, scale: from_sets(pool, query=test, train=train, retrieval=train)  # noqa: E731
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=list(CLASS_NAMES) if labels.shape[1] == 10 else None, files=files,
                    source=SOURCE, split_rule=rule, notes=notes, options=opts)
