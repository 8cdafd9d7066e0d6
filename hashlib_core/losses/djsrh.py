"""DJSRH (Su, Zhong, Zhang, ICCV 2019): the joint-semantics affinity and the loss that reconstructs it.

Per batch of ``m`` image-text pairs:

- ``F_I``, ``F_T``: features of a frozen extractor, row-normalised (unit L2 norm per row);
- ``S_I = 2 F_I F_I^T - 1`` and ``S_T = 2 F_T F_T^T - 1``, i.e. ``2 cos - 1`` as the authors' code does
  (for non-negative features such as ReLU outputs or histograms the cosine lies in [0, 1], so the affinity
  spans [-1, 1]);
- ``S~ = beta S_I + (1 - beta) S_T`` and ``S = mu [(1 - eta) S~ + eta S~ S~^T / m]`` (the second-order term
  mixes in neighbours of neighbours; ``mu`` rescales the target so that it matches the range of code inner
  products).

The codes ``B = tanh(alpha h)`` of both networks are row-normalised and their inner products are pulled towards
``S``: ``L = MSE(B_I B_T^T, S) + lambda1 MSE(B_I B_I^T, S) + lambda2 MSE(B_T B_T^T, S)`` (mean over the
``m x m`` entries, as ``torch.nn.functional.mse_loss`` does in the original code).

``S`` is a training target: it is computed without gradients (the original back-propagates into its frozen
feature network for nothing).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ALPHA_SCHEDULES = ("sqrt", "constant")


def _check_unit_interval(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


def joint_semantics_affinity(F_I: torch.Tensor, F_T: torch.Tensor, beta: float, eta: float,
                             mu: float) -> torch.Tensor:
    """The (m, m) joint-semantics affinity ``S`` of a batch, computed under ``torch.no_grad()``.

    ``F_I`` (m, d_I) and ``F_T`` (m, d_T) are the image and text features of the same m pairs (any scale: rows
    are L2-normalised here). ``beta`` in [0, 1] weighs the image affinity, ``eta`` in [0, 1] the second-order
    term, ``mu`` > 0 scales the result. The result is symmetric, float32/64 like the inputs, and detached.
    """
    if F_I.ndim != 2 or F_T.ndim != 2:
        raise ValueError(f"F_I and F_T must be 2-D (m, d), got shapes {tuple(F_I.shape)} and {tuple(F_T.shape)}")
    if F_I.shape[0] != F_T.shape[0]:
        raise ValueError(f"F_I has {F_I.shape[0]} rows but F_T has {F_T.shape[0]}: they must describe the same pairs")
    if F_I.shape[0] == 0:
        raise ValueError("F_I and F_T are empty: a batch needs at least one pair")
    beta = _check_unit_interval("beta", beta)
    eta = _check_unit_interval("eta", eta)
    mu = float(mu)
    if not mu > 0:
        raise ValueError(f"mu must be positive, got {mu!r}")
    with torch.no_grad():
        image = F.normalize(F_I.detach(), dim=1)
        text = F.normalize(F_T.detach().to(image.dtype), dim=1)
        S_I = 2.0 * image @ image.T - 1.0
        S_T = 2.0 * text @ text.T - 1.0
        S_tilde = beta * S_I + (1.0 - beta) * S_T
        m = S_tilde.shape[0]
        S = mu * ((1.0 - eta) * S_tilde + eta * (S_tilde @ S_tilde.T) / m)
    return S


def alpha_for_epoch(epoch: int, schedule: str = "sqrt") -> float:
    """The code scale ``alpha`` of ``B = tanh(alpha h)`` in (0-based) ``epoch``.

    ``"sqrt"``: ``sqrt(epoch + 1)`` (the paper: codes sharpen towards +-1 as training goes on);
    ``"constant"``: 1 (the paper's ablation ``-(alpha = 1)``).
    """
    if schedule not in ALPHA_SCHEDULES:
        raise ValueError(f"alpha_schedule must be one of {ALPHA_SCHEDULES}, got {schedule!r}")
    if int(epoch) != epoch or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
    return math.sqrt(epoch + 1.0) if schedule == "sqrt" else 1.0


class JointSemanticsReconstructionLoss(nn.Module):
    """``MSE(B_I B_T^T, S) + lambda1 MSE(B_I B_I^T, S) + lambda2 MSE(B_T B_T^T, S)`` on row-normalised codes.

    ``forward(B_I, B_T, S)`` takes the relaxed codes (m, bits) of both views (values in (-1, 1), any scale:
    rows are L2-normalised here) and the target affinity (m, m); it returns the scalar loss and sets
    :attr:`last_terms` to the three MSE terms (floats) for the training history.
    """

    def __init__(self, lambda1: float, lambda2: float):
        super().__init__()
        for name, value in (("lambda1", lambda1), ("lambda2", lambda2)):
            if not float(value) >= 0:
                raise ValueError(f"{name} must be non-negative, got {value!r}")
        self.lambda1 = float(lambda1)
        self.lambda2 = float(lambda2)
        self.last_terms: dict[str, float] = {}

    def forward(self, B_I: torch.Tensor, B_T: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        if B_I.shape != B_T.shape or B_I.ndim != 2:
            raise ValueError(f"B_I and B_T must both be (m, bits), got {tuple(B_I.shape)} and {tuple(B_T.shape)}")
        m = B_I.shape[0]
        if tuple(S.shape) != (m, m):
            raise ValueError(f"S must be ({m}, {m}) for a batch of {m} pairs, got {tuple(S.shape)}")
        image = F.normalize(B_I, dim=1)
        text = F.normalize(B_T, dim=1)
        cross = F.mse_loss(image @ text.T, S)
        within_image = F.mse_loss(image @ image.T, S)
        within_text = F.mse_loss(text @ text.T, S)
        self.last_terms = {"loss_cross": float(cross.detach()), "loss_image": float(within_image.detach()),
                           "loss_text": float(within_text.detach())}
        return cross + self.lambda1 * within_image + self.lambda2 * within_text

    def extra_repr(self) -> str:
        return f"lambda1={self.lambda1}, lambda2={self.lambda2}"
