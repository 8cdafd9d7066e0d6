"""Progress bars: plain-text tqdm (terminals, notebooks, logs alike; no ipywidgets needed), silent when
HASHLIB_PROGRESS=0."""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.std import tqdm


def progress(iterable: Iterable | None = None, *, desc: str | None = None, total: int | None = None,
             leave: bool = False, **kwargs):
    """Wrap ``iterable`` in a tqdm bar. Set ``HASHLIB_PROGRESS=0`` to disable bars (e.g. in CI logs)."""
    disable = os.environ.get("HASHLIB_PROGRESS", "1").strip() in {"0", "false", "no", "off"}
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=disable, dynamic_ncols=True, **kwargs)
