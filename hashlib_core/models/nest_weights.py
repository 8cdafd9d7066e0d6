"""Load ImageNet NesT-Base weights from a local file into a :class:`~hashlib_core.models.hybridhash.HybridHashNet`.

The public NesT-Base PyTorch checkpoints name their tensors ``patch_embed.proj.*``, ``levels.<i>.pos_embed``,
``levels.<i>.transformer_encoder.<j>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``,
``levels.<i>.pool.{conv,norm}.*`` (the 3x3 conv + LayerNorm + max-pool that opens level i > 0), ``norm.*`` and the
ImageNet classifier ``head.*``. :func:`nest_key_to_ours` maps them to this package's names; the returned
:class:`~hashlib_core.models.weights.LoadReport` then says exactly what loaded. With the ``paper`` preset, expect
everything of the backbone to load except the parts NesT does not have (the global branches of the interaction
modules and the hash layer: reported ``missing``), and the file's extra tensors (the classifier and NesT-Base's
layers 15-19 of the last level, which HybridHash drops: reported ``unexpected``). Nothing is downloaded.
"""

from __future__ import annotations

import os
import re

from torch import nn

from .weights import LoadReport, load_weights

__all__ = ["nest_key_to_ours", "ours_key_to_nest", "load_nest_weights"]

_LAYER = re.compile(r"^levels\.(\d+)\.transformer_encoder\.(\d+)\.(.+)$")
_POS = re.compile(r"^levels\.(\d+)\.pos_embed$")
_POOL = re.compile(r"^levels\.(\d+)\.pool\.(conv|norm)\.(.+)$")

_OUR_LAYER = re.compile(r"^stages\.(\d+)\.layers\.(\d+)\.(.+)$")
_OUR_POS = re.compile(r"^stages\.(\d+)\.pos_embed$")
_OUR_POOL = re.compile(r"^interactions\.(\d+)\.(local_conv|norm)\.(.+)$")


def nest_key_to_ours(key: str) -> str:
    """A NesT checkpoint key -> the matching :class:`HybridHashNet` key. Keys with no counterpart (e.g. ``head.*``)
    come back unchanged, so the load report lists them as unexpected instead of dropping them silently. A leading
    ``module.`` (saved from DataParallel) is removed."""
    if key.startswith("module."):
        key = key[len("module."):]
    if m := _LAYER.match(key):
        return f"stages.{m[1]}.layers.{m[2]}.{m[3]}"
    if m := _POS.match(key):
        return f"stages.{m[1]}.pos_embed"
    if (m := _POOL.match(key)) and int(m[1]) > 0:
        part = "local_conv" if m[2] == "conv" else "norm"
        return f"interactions.{int(m[1]) - 1}.{part}.{m[3]}"
    return key


def ours_key_to_nest(key: str) -> str | None:
    """Inverse of :func:`nest_key_to_ours`; ``None`` for our tensors NesT has no counterpart for (the global
    branches and the hash layer)."""
    if m := _OUR_LAYER.match(key):
        return f"levels.{m[1]}.transformer_encoder.{m[2]}.{m[3]}"
    if m := _OUR_POS.match(key):
        return f"levels.{m[1]}.pos_embed"
    if m := _OUR_POOL.match(key):
        part = "conv" if m[2] == "local_conv" else "norm"
        return f"levels.{int(m[1]) + 1}.pool.{part}.{m[3]}"
    if key.startswith(("patch_embed.", "norm.")):
        return key
    return None


def load_nest_weights(model: nn.Module, path: str | os.PathLike, *, require_all: bool = False) -> LoadReport:
    """Copy the NesT tensors in the local file ``path`` into ``model`` (a HybridHashNet) and return the report.

    ``require_all=True`` raises ``ValueError`` when a tensor NesT should provide (see :func:`ours_key_to_nest`) is
    missing or has another shape; the parts NesT never had are not counted against it.
    """
    report = load_weights(model, path, rename=nest_key_to_ours)
    if require_all:
        expected_missing = [k for k in report.missing if ours_key_to_nest(k) is not None]
        if expected_missing or report.shape_mismatch:
            raise ValueError(f"{report.summary()}; NesT tensors missing: {expected_missing[:10]}, "
                             f"shape mismatches: {report.shape_mismatch[:10]}")
    return report
