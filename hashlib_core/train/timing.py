"""Wall-clock timing that is correct on CUDA (synchronises before reading the clock)."""

from __future__ import annotations

import time

import torch


class Stopwatch:
    """Accumulating stopwatch: ``with watch: ...`` adds the block's wall time to ``watch.seconds``.

    Pass ``device`` to synchronise CUDA before reading the clock, so asynchronous kernels are counted.
    """

    def __init__(self, device: torch.device | None = None):
        self.device = device
        self.seconds = 0.0
        self._start: float | None = None

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __enter__(self) -> "Stopwatch":
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._sync()
        self.seconds += time.perf_counter() - self._start
        self._start = None
