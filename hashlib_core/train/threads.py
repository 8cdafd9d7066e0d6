"""Intra-op thread count for a block of CPU work."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(count: int):
    """Run the block (or, used as ``@torch_threads(1)``, each call of a function) with ``count`` torch intra-op
    threads, restoring the previous count afterwards.

    Small CPU workloads (batch-32 MLP steps, per-query metric tables) spend more time waking and synchronising a
    thread pool than they save, and on a shared machine with more busy threads than cores each parallel op can
    stall for milliseconds; one thread is then several times faster.
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
