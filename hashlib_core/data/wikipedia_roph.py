"""Wikipedia with RoPH's image features: the canonical split and labels, image view = ``X1`` of ``wiki_roph.mat``.

Files, both in ``<root>/wikipedia/``: the canonical features (``wiki_data.mat``, or the SVCL release's
``raw_features.mat`` with its two ``.list`` files) for labels, split and the 10-d LDA text; and RoPH's release
``wiki_roph.mat`` (``data/wiki.mat`` in the RoPH repository: struct ``data`` with ``X1`` (128, N), ``X2`` (100, N),
``Y`` (10, N) sparse one-hot, ``split`` 1-based). RoPH stores its N columns in the canonical order (2,173 training
pairs, then 693 test pairs); every load checks this: the row count and each row's class must equal the canonical
file's, else :class:`~hashlib_core.data.DatasetError`.

Views: ``image`` = ``X1`` (128-d real-valued; RoPH does not say how it was computed); ``text`` = the canonical 10-d
LDA ``T_tr``/``T_te`` (``text="lda"``, default) or RoPH's 100-d ``X2`` (``text="roph_x2"``).
Protocols as ``wikipedia``: ``official`` = ``djsrh`` = ``dchn`` (query = the 693 test pairs, retrieval = train = the
2,173 training pairs) and ``roph`` (RoPH's own random 2,173 / 693 split stored in the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .dataset import DatasetError
from .files import Need, Source, absent, missing_error
from .options import take_options
from .splits import check_protocol, from_sets
from .wikipedia import (CANONICAL_HINT, CLASS_NAMES, PROTOCOLS, ROPH, SOURCE as WIKI_SOURCE, WIKI_DATA, canonical_needs,
                        read_canonical, read_roph)

OPTIONS = {"text": "lda", "views": None}
CHOICES = {"text": ("lda", "roph_x2")}
ROLES = (WIKI_DATA, ROPH)

SOURCE = Source(
    source="canonical features and split: " + WIKI_SOURCE.source + "; image features: RoPH's release "
           "(kding1225/RoPH, data/wiki.mat, stored here as wiki_roph.mat)",
    citation=WIKI_SOURCE.citation + " Image features: K. Ding, B. Fan, C. Huo, S. Xiang, C. Pan. Cross-Modal "
             "Hashing via Rank-Order Preserving. IEEE Transactions on Multimedia 19(3), 2017.",
    obtain="wiki_data.mat as for wikipedia, plus data/wiki.mat of the RoPH repository (kding1225/RoPH) saved as "
           "<data root>/wikipedia/wiki_roph.mat",
)
FEATURE_NOTES = (
    "image view = RoPH's X1 (128-d, centred, diagonal covariance: a PCA-type projection of some image descriptor); "
    "RoPH does not say how it was computed. Not a linear function of the 128-d SIFT histograms (least-squares "
    "R^2 0.23); logistic accuracy on the official split 0.446 against SIFT's 0.261 (data README; re-measured with "
    "z-scored L2 logistic regression: 0.439 against 0.264)",
)
TEXT_NOTES = {
    "lda": "text view = the canonical 10-d LDA topic proportions (T_tr/T_te), as in wikipedia and DJSRH",
    "roph_x2": "text view = RoPH's 100-d X2 (values in [-0.98, 0.98]; origin not stated); logistic accuracy on the "
               "official split 0.700 against the LDA's 0.672 (data README; re-measured: 0.690 against 0.678)",
}


def check_alignment(name: str, canonical: np.ndarray, roph: np.ndarray, *, canonical_file: str, roph_file: str
                    ) -> None:
    """``DatasetError`` unless RoPH's labels equal the canonical labels row for row (same count, same classes)."""
    if roph.shape[0] != canonical.shape[0]:
        raise DatasetError(f"{name}: {roph_file} has {roph.shape[0]} items (data.Y) but {canonical_file} has "
                           f"{canonical.shape[0]} canonical pairs; RoPH's features can only be used row for row "
                           "in the canonical order")
    if roph.shape[1] != canonical.shape[1]:
        raise DatasetError(f"{name}: {roph_file} has {roph.shape[1]} classes (data.Y), {canonical_file} has "
                           f"{canonical.shape[1]}")
    differ = np.flatnonzero((roph != canonical).any(axis=1))
    if differ.size:
        raise DatasetError(f"{name}: {roph_file} and {canonical_file} disagree on the class of {differ.size} of "
                           f"{canonical.shape[0]} rows (first: row {int(differ[0])}); the RoPH file is not stored in "
                           "the canonical order")


def load(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """Load ``wikipedia_roph`` (see the module docstring for files, views, ``text=`` and protocols)."""
    name = entry.name
    opts = take_options(name, options, OPTIONS, CHOICES)
    check_protocol(name, protocol, PROTOCOLS)
    chosen = requested_views(name, ("image", "text"), opts["views"])
    folder = root / entry.folder
    missing = [WIKI_DATA] if canonical_needs(folder) else []
    missing += [ROPH] if ROPH.find(folder) is None else []
    if missing:
        raise missing_error(name, folder, missing, SOURCE,
                            hint=f"(canonical features: wiki_data.mat {CANONICAL_HINT})" if WIKI_DATA in missing
                            else "")
    canonical_views, labels, is_test, files = read_canonical(name, folder)
    roph_path = ROPH.find(folder)
    roph_views, roph_labels, roph_test, roph_train = read_roph(name, roph_path)
    check_alignment(name, labels, roph_labels, canonical_file=" + ".join(files), roph_file=roph_path.name)
    views = {"image": roph_views["image"],
             "text": canonical_views["text"] if opts["text"] == "lda" else roph_views["text"]}
    views = {view: views[view] for view in chosen}
    notes = [*FEATURE_NOTES, TEXT_NOTES[opts["text"]],
             f"rows: the canonical order (checked: {labels.shape[0]} rows, every class equal to {' + '.join(files)})"]
    rows = np.arange(labels.shape[0])
    if protocol == "roph":
        test, train = roph_test, roph_train
        notes.append("protocol roph: RoPH's random split (not the official one)")
    else:
        test, train = rows[is_test], rows[~is_test]
    rule = lambda pool, rng, scale: from_sets(pool, query=test, train=train, retrieval=train)  # noqa: E731
    return assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                    class_names=list(CLASS_NAMES) if labels.shape[1] == 10 else None,
                    files={**files, roph_path.name: roph_path}, source=SOURCE, split_rule=rule, notes=notes,
                    options=opts)


def needs(entry, root: Path, options: dict) -> list[Need]:
    """Absent files of a ``wikipedia_roph`` load: the canonical features and ``wiki_roph.mat`` (existence only)."""
    take_options(entry.name, options, OPTIONS, CHOICES)
    folder = root / entry.folder
    return [*canonical_needs(folder), *absent(folder, (ROPH,))]

