"""DCHN's per-view hashing network (Hu et al., IEEE TCYB 2021, Sec. III-B).

One network per view, trained alone against the SHAM target codes: ``in -> hidden -> hidden -> bits`` with ReLU
between the linear layers and an L2-normalised output (no tanh; the paper's hidden width is 4096). A feature view
is standardised inside the network with its training mean and standard deviation (stored as buffers, so the
network alone encodes new items); a raw-image view goes through a VGG19-BN fc7 front
(:class:`~hashlib_core.models.backbones_vgg.VGG19BNFc7`) first. Codes are the signs of the outputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class DCHNViewNet(nn.Module):
    """``x`` (m, in_features) float features, or (m, 3, H, W) images with a ``front`` -> (m, bits) unit-norm rows."""

    def __init__(self, in_features: int | None, bits: int, hidden: int = 4096, *, front: nn.Module | None = None,
                 input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None):
        super().__init__()
        if front is not None:
            in_features = int(front.out_features)
        if not isinstance(in_features, (int, np.integer)) or in_features < 1:
            raise ValueError(f"in_features must be a positive integer, got {in_features!r}")
        for name, value in (("bits", bits), ("hidden", hidden)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.in_features, self.bits, self.hidden = int(in_features), int(bits), int(hidden)
        self.front = front
        if front is None:
            mean = np.zeros(in_features) if input_mean is None else np.asarray(input_mean, dtype=np.float64)
            std = np.ones(in_features) if input_std is None else np.asarray(input_std, dtype=np.float64)
            if mean.shape != (in_features,) or std.shape != (in_features,):
                raise ValueError(f"input_mean/input_std must have shape ({in_features},), got {mean.shape}/{std.shape}")
            if np.any(std <= 0) or not np.all(np.isfinite(std)) or not np.all(np.isfinite(mean)):
                raise ValueError("input_std must be finite and > 0 and input_mean finite")
            self.register_buffer("input_mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("input_std", torch.as_tensor(std, dtype=torch.float32))
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, bits))
        self.history: list[dict] = []     # filled by training: one dict per epoch (not part of the state dict)
        self.train_seconds: float = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.front is not None:
            x = self.front(x)
        else:
            if x.ndim != 2 or x.shape[1] != self.in_features:
                raise ValueError(f"expected features of shape (m, {self.in_features}), got {tuple(x.shape)}")
            x = (x - self.input_mean) / self.input_std
        return F.normalize(self.mlp(x), dim=1)

    def parameter_groups(self, lr: float, front_lr_factor: float = 0.1) -> list[dict]:
        """Optimizer groups: the MLP at ``lr``, the (pretrained) front at ``lr * front_lr_factor`` (DCHN: x0.1)."""
        groups = [{"params": list(self.mlp.parameters()), "lr": lr, "name": "mlp"}]
        if self.front is not None:
            groups.append({"params": list(self.front.parameters()), "lr": lr * front_lr_factor, "name": "front"})
        return groups


def standardisation(features: np.ndarray, min_std: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of (n, d) training features; constant columns get std 1."""
    features = np.asarray(features, dtype=np.float64)
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    return mean, np.where(std > min_std, std, 1.0)
