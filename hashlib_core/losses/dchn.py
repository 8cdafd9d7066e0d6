"""DCHN's per-view loss (Hu et al., IEEE TCYB 2021, Sec. III-B): ``alpha * L_H + (1 - alpha) * L_R``.

For a batch of network outputs ``f`` (m, bits; L2-normalised rows), the SHAM target codes ``o`` (m, bits) in
{-1, +1} of the same samples and their labels ``y`` (m, C) multi-hot:

- ``Theta_ij = 0.5 * f_i^T o_j`` and ``s_ij = 1`` when samples i and j share at least one label, else 0;
- ``L_H = mean_i sum_j [log(1 + exp(Theta_ij)) - s_ij * Theta_ij]`` (the negative log-likelihood of the
  pairwise similarities), with ``log(1 + exp(t))`` computed as ``max(t, 0) + log1p(exp(-|t|))`` so that large
  ``|t|`` neither overflows nor loses precision;
- ``L_R = mean_i ||f_i W^T - y_i||^2`` (the output decoded by SHAM's ``W`` (C x bits) should give the labels back).

Defaults: ``alpha = 0.02`` (the authors' setting).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def stable_log1p_exp(t: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(t))`` without overflow: ``max(t, 0) + log1p(exp(-|t|))``."""
    return torch.clamp(t, min=0) + torch.log1p(torch.exp(-t.abs()))


class DCHNLoss(nn.Module):
    """``alpha * L_H + (1 - alpha) * L_R`` for one view; ``W`` is SHAM's projection (C x bits), a fixed buffer."""

    def __init__(self, W, alpha: float = 0.02):
        super().__init__()
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        W = torch.as_tensor(np.asarray(W) if not isinstance(W, torch.Tensor) else W, dtype=torch.float32)
        if W.ndim != 2:
            raise ValueError(f"W: expected SHAM's (C, bits) projection, got shape {tuple(W.shape)}")
        self.alpha = float(alpha)
        self.register_buffer("W", W.clone())

    def terms(self, features: torch.Tensor, target_codes: torch.Tensor,
              labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_H, L_R)`` of a batch: ``features`` (m, bits), ``target_codes`` (m, bits) +-1, ``labels`` (m, C)."""
        num_classes, bits = self.W.shape
        if features.ndim != 2 or features.shape[1] != bits:
            raise ValueError(f"features: expected (m, {bits}), got {tuple(features.shape)}")
        if target_codes.shape != features.shape:
            raise ValueError(f"target_codes: expected {tuple(features.shape)}, got {tuple(target_codes.shape)}")
        if labels.ndim != 2 or labels.shape != (features.shape[0], num_classes):
            raise ValueError(f"labels: expected ({features.shape[0]}, {num_classes}), got {tuple(labels.shape)}")
        labels = labels.to(features.dtype)
        theta = 0.5 * features @ target_codes.to(features.dtype).T
        similar = (labels @ labels.T > 0).to(features.dtype)
        hash_term = (stable_log1p_exp(theta) - similar * theta).sum(dim=1).mean()
        reconstruction = ((features @ self.W.to(features.dtype).T - labels) ** 2).sum(dim=1).mean()
        return hash_term, reconstruction

    def forward(self, features: torch.Tensor, target_codes: torch.Tensor, labels: torch.Tensor,
                return_terms: bool = False):
        """The scalar loss; with ``return_terms=True`` also ``{"L_H": ..., "L_R": ...}`` (detached floats)."""
        hash_term, reconstruction = self.terms(features, target_codes, labels)
        loss = self.alpha * hash_term + (1.0 - self.alpha) * reconstruction
        if return_terms:
            return loss, {"L_H": float(hash_term.detach()), "L_R": float(reconstruction.detach())}
        return loss
