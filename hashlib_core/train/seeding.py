"""Seeding: one call makes a CPU run bit-for-bit repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) with ``seed``.

    With ``deterministic=True`` PyTorch is asked for deterministic kernels (``warn_only``: a CUDA op without a
    deterministic variant warns instead of failing). CPU runs with the same seed and thread count then give
    identical results; CUDA runs are close but not guaranteed identical (atomics in some kernels).
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def torch_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (for DataLoader shuffling and samplers)."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator
