"""HybridHash's training loss: HashNet-style weighted pairwise likelihood against a memory of all training outputs.

For a batch of relaxed codes u_i (B, bits) in (-1, 1) and the memory U (N_train, bits) holding the latest output of
every training item (the batch's own rows are written first, detached), with similarity s_ij = 1 when item i and
memory item j share a label and 0 otherwise:

    theta_ij = alpha * u_i . U_j                       (alpha = 0.5 in the paper)
    l_ij     = log(1 + exp(theta_ij)) - s_ij * theta_ij
             = log(1 + exp(-|theta_ij|)) + max(theta_ij, 0) - s_ij * theta_ij     (the stable form computed)
    loss     = (sum_ij w_ij l_ij) / S,  w_ij = S / S1 for similar pairs, S / S0 for dissimilar ones,

with S1 / S0 the numbers of similar / dissimilar pairs in the (B, N_train) matrix and S = S0 + S1; that is, the mean
over similar pairs plus the mean over dissimilar pairs (a group with no pairs contributes 0). As in the authors'
code the memory starts at zero codes and zero labels: rows not yet visited count as dissimilar pairs with
theta = 0 (they add log 2 to the loss and nothing to its gradient) until their item is first seen.
"""

from __future__ import annotations

import torch
from torch import nn


class HybridHashLoss(nn.Module):
    """Weighted pairwise likelihood loss holding the memory of training outputs and labels (buffers).

    ``forward(outputs, labels, indices)``: ``outputs`` (B, bits) float relaxed codes, ``labels`` (B, C) multi-hot
    (or one-hot) 0/1, ``indices`` (B,) int positions of the batch items in the training set (0 .. num_train - 1).
    Returns a scalar; :attr:`last_terms` then holds its two terms (detached 0-d tensors on the loss's device, so
    reading them costs no host sync): ``"similar pairs"`` and ``"dissimilar pairs"``.
    """

    def __init__(self, num_train: int, num_classes: int, bits: int, alpha: float = 0.5):
        super().__init__()
        for name, value in (("num_train", num_train), ("num_classes", num_classes), ("bits", bits)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"HybridHashLoss: {name} must be a positive integer, got {value!r}")
        if not alpha > 0:
            raise ValueError(f"HybridHashLoss: alpha must be positive, got {alpha!r}")
        self.alpha = float(alpha)
        self.register_buffer("memory_codes", torch.zeros(num_train, bits))
        self.register_buffer("memory_labels", torch.zeros(num_train, num_classes))
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, outputs: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        if outputs.ndim != 2 or outputs.shape[1] != self.memory_codes.shape[1]:
            raise ValueError(f"HybridHashLoss: outputs must be (B, {self.memory_codes.shape[1]}), "
                             f"got {tuple(outputs.shape)}")
        if labels.shape != (outputs.shape[0], self.memory_labels.shape[1]):
            raise ValueError(f"HybridHashLoss: labels must be (B, {self.memory_labels.shape[1]}) with "
                             f"B = {outputs.shape[0]}, got {tuple(labels.shape)}")
        outputs = outputs.to(self.memory_codes.dtype)   # float32 (the memory's dtype) even from bf16 autocast
        labels = labels.to(self.memory_labels.dtype)
        with torch.no_grad():
            self.memory_codes[indices] = outputs.detach()
            self.memory_labels[indices] = labels
        similar = (labels @ self.memory_labels.T) > 0                       # (B, N_train) bool
        theta = self.alpha * outputs @ self.memory_codes.T                  # (B, N_train)
        pair_loss = torch.log1p(torch.exp(-theta.abs())) + theta.clamp(min=0) - similar.float() * theta
        weight = similar.float()
        n_similar = weight.sum()
        n_dissimilar = weight.numel() - n_similar
        # clamp(min=1): an empty group has a zero sum, so it contributes 0 (and no host sync is needed)
        loss_similar = (pair_loss * weight).sum() / n_similar.clamp(min=1)
        loss_dissimilar = (pair_loss * (1 - weight)).sum() / n_dissimilar.clamp(min=1)
        self.last_terms = {"similar pairs": loss_similar.detach(), "dissimilar pairs": loss_dissimilar.detach()}
        return loss_similar + loss_dissimilar
