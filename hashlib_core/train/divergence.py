"""Stopping a diverging run: one check every method calls on its loss terms during training.

A NaN or infinite loss means the network's weights are (or are about to be) NaN/inf; nothing it would encode is a
result. :func:`check_finite` raises :class:`TrainingDiverged` at once, naming the method, the epoch (1-based), the
step and the loss term, so the run stops before any code is encoded, evaluated or written (no run folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


class TrainingDiverged(FloatingPointError, ValueError):
    """A training loss term became NaN or inf. A ``FloatingPointError`` and (usually caused by a bad setting such as
    a too large learning rate) a ``ValueError``, so the command line reports it as one ``error: ...`` line.

    Attributes: ``method``, ``epoch`` (1-based), ``step`` (1-based batch within the epoch, or None), ``term``,
    ``value``.
    """

    def __init__(self, message: str, *, method: str, epoch: int, step: int | None, term: str, value: float):
        super().__init__(message)
        self.method, self.epoch, self.step, self.term, self.value = method, epoch, step, term, value


def _as_float(value) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().sum()) if value.numel() != 1 else float(value.detach())
    return float(value)


def check_finite(method: str, epoch: int, terms: Mapping[str, object], *, step: int | None = None,
                 where: str | None = None, hint: str | None = None) -> None:
    """Raise :class:`TrainingDiverged` if any value of ``terms`` (name -> float, or a torch tensor, summed) is NaN
    or infinite.

    ``epoch`` and ``step`` are 1-based (``step`` None: an epoch total); ``where`` adds context (e.g. ``"view
    'image'"``), ``hint`` a remedy (e.g. ``"lower lr (now 0.1)"``). The first non-finite term in ``terms``' order is
    named; on CUDA each call synchronises the device once.
    """
    for name, value in terms.items():
        number = _as_float(value)
        if not math.isfinite(number):
            place = f"epoch {int(epoch)}" + (f", step {int(step)}" if step is not None else "")
            context = f" ({where})" if where else ""
            remedy = f"; {hint}" if hint else ""
            raise TrainingDiverged(
                f"{method}: training diverged at {place}{context}: loss term {name!r} is {number}; the run was "
                f"stopped and nothing was encoded or written{remedy}",
                method=method, epoch=int(epoch), step=None if step is None else int(step), term=str(name),
                value=number)
