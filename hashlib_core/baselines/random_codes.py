"""Random binary codes: the chance level of a retrieval table.

Each bit of each item is +1 or -1 with probability 1/2, independently, from a seeded generator; ranking by Hamming
distance to such codes is a random ranking (with many ties), so its mAP is what a method must beat to have
learned anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def random_codes(n: int, bits: int, seed: int | Sequence[int]) -> np.ndarray:
    """(n, bits) int8 codes in {-1, +1}, uniform and independent, from ``numpy.random.default_rng(seed)``
    (``seed`` an integer or a sequence of integers, e.g. ``[run seed, stream]`` for independent streams)."""
    for name, value in (("n", n), ("bits", bits)):
        if int(value) != value or value < (0 if name == "n" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'n' else 'positive'} integer, "
                             f"got {value!r}")
    rng = np.random.default_rng(seed)
    return np.where(rng.random((int(n), int(bits))) < 0.5, 1, -1).astype(np.int8)
