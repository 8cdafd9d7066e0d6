"""Load pretrained weights from a local file and say exactly which tensors loaded.

The original repositories call ``load_state_dict(..., strict=False)`` and never look at the result, so a
renamed key silently leaves a layer at its random initialisation. :func:`load_weights` returns a
:class:`LoadReport` listing what loaded, what the model lacks in the file, what the file has that the model does
not use, and what was skipped because the shapes differ; ``require_all=True`` turns any gap into an error.
Nothing here downloads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn


@dataclass
class LoadReport:
    """Outcome of :func:`load_weights` (key lists are sorted)."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)       # in the model, not (usably) in the file
    unexpected: list[str] = field(default_factory=list)    # in the file, not in the model
    shape_mismatch: list[str] = field(default_factory=list)  # in both, different shapes (left untouched)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.shape_mismatch

    def summary(self) -> str:
        """One line, e.g. ``'nest.pth: 310 tensors loaded, 4 missing, 2 unexpected, 0 shape mismatches'``."""
        return (f"{Path(self.path).name}: {len(self.loaded)} tensors loaded, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {len(self.shape_mismatch)} shape mismatches")

    def as_dict(self) -> dict:
        return {"path": self.path, "loaded": len(self.loaded), "missing": self.missing,
                "unexpected": self.unexpected, "shape_mismatch": self.shape_mismatch}


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist (pass the path of a local .pth/.pt file; "
                                f"nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsupported files
        raise ValueError(f"weights file {path}: cannot read it as a PyTorch state dict ({exc})") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path}: expected a mapping of parameter names to tensors")
    return state


def load_weights(module: nn.Module, path: str | os.PathLike, *,
                 rename: Callable[[str], str | None] | None = None, require_all: bool = False) -> LoadReport:
    """Copy matching tensors from the state dict in ``path`` into ``module``; return a :class:`LoadReport`.

    ``rename`` maps a file key to a model key (return ``None`` to drop it), for checkpoints saved under other
    names. Tensors whose shapes differ are left as initialised and reported. With ``require_all=True`` a
    missing or mismatched tensor raises ``ValueError`` naming them.
    """
    path = Path(path)
    state = _read_state_dict(path)
    if rename is not None:
        renamed = {}
        for key, value in state.items():
            new_key = rename(key)
            if new_key is not None:
                renamed[new_key] = value
        state = renamed
    own = module.state_dict()
    report = LoadReport(path=str(path))
    usable = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(value.shape):
            report.shape_mismatch.append(key)
        else:
            usable[key] = value
    report.loaded = sorted(usable)
    report.missing = sorted(set(own) - set(usable) - set(report.shape_mismatch))
    report.unexpected.sort()
    report.shape_mismatch.sort()
    if require_all and not report.complete:
        raise ValueError(f"{report.summary()}; missing: {report.missing[:10]}, "
                         f"shape mismatches: {report.shape_mismatch[:10]}")
    module.load_state_dict(usable, strict=False)
    return report
