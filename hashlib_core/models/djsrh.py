"""DJSRH networks (Su, Zhong, Zhang, ICCV 2019): one hashing network per view, codes ``B = tanh(alpha h)``.

- :class:`TextHashNet`: ``Linear(d, 4096) -> ReLU -> Linear(4096, bits)`` on text features (bag of words, LDA
  topics, tag vectors), as in the paper.
- :class:`FeatureHashNet`: the same MLP on precomputed image features (e.g. Wikipedia's 128-d SIFT histograms,
  or features cached from a frozen front).
- :class:`LinearHashNet`: ``Linear(d, bits)``, the hash layer the paper puts on AlexNet's fc7.
- :class:`ImageHashNet`: a frozen front (``backbones.feature_extractor``) followed by a trainable head, i.e.
  raw images -> fc7 (no gradient) -> ``Linear(4096, bits)``. Unlike the original, which fine-tunes the whole
  AlexNet of its hashing branch, the front stays frozen here, so features can be computed once and cached.

Every network's ``forward(x, alpha)`` returns ``(h, B)``: the pre-activation ``h`` (n, bits) and the relaxed code
``B = tanh(alpha h)`` in (-1, 1). Binary codes are ``sign(h)`` (:func:`binarize`), which equals ``sign(B)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import FeatureExtractor

DEFAULT_HIDDEN = 4096


def _check_dims(**dims: int) -> None:
    for name, value in dims.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class _HashNet(nn.Module):
    def hash(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hash(x)
        return h, torch.tanh(alpha * h)


class LinearHashNet(_HashNet):
    """``Linear(in_dim, bits)``: (n, in_dim) features -> ``(h, tanh(alpha h))``, each (n, bits)."""

    def __init__(self, in_dim: int, bits: int):
        super().__init__()
        _check_dims(in_dim=in_dim, bits=bits)
        self.hash_layer = nn.Linear(in_dim, bits)

    def hash(self, x: torch.Tensor) -> torch.Tensor:
        return self.hash_layer(x)


class TextHashNet(_HashNet):
    """``Linear(in_dim, hidden) -> ReLU -> Linear(hidden, bits)`` (hidden 4096 in the paper): (n, in_dim) ->
    ``(h, tanh(alpha h))``, each (n, bits)."""

    def __init__(self, in_dim: int, bits: int, hidden: int = DEFAULT_HIDDEN):
        super().__init__()
        _check_dims(in_dim=in_dim, bits=bits, hidden=hidden)
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True))
        self.hash_layer = nn.Linear(hidden, bits)

    def hash(self, x: torch.Tensor) -> torch.Tensor:
        return self.hash_layer(self.encoder(x))


class FeatureHashNet(TextHashNet):
    """The image network on precomputed image features: the same MLP as :class:`TextHashNet`."""


class ImageHashNet(_HashNet):
    """Raw images (n, 3, 224, 224) -> frozen front (no gradient, eval mode) -> trainable ``head``.

    ``head`` defaults to ``LinearHashNet(front.dim, bits)`` (the paper's hash layer on fc7). Only the head has
    trainable parameters; :meth:`features` gives the cached-feature path the training loop uses.
    """

    def __init__(self, front: FeatureExtractor, bits: int, head: _HashNet | None = None):
        super().__init__()
        self.front = front.module
        self.head = head if head is not None else LinearHashNet(front.dim, bits)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Front features (n, dim), computed under ``torch.no_grad()``."""
        return self.front(images)

    def hash(self, images: torch.Tensor) -> torch.Tensor:
        return self.head.hash(self.features(images))


def binarize(h: torch.Tensor) -> torch.Tensor:
    """``sign(h)`` as int8 codes in {-1, +1} (exact zeros go to +1)."""
    return torch.where(h >= 0, 1, -1).to(torch.int8)
