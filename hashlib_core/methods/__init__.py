"""One module per paper, each exposing the same entry point the notebooks and the CLI call:

``run(*, dataset, bits, seed=0, epochs=None, device="auto", data_root=None, out_dir, profile="default",
**method_params) -> hashlib_core.records.RunResult``

plus ``METHOD`` (its name), ``PARAMETERS`` (method parameters and their defaults, as in the notebook's
``parameters`` cell) and ``PROFILES`` (what ``smoke`` / ``default`` / ``paper`` change).
"""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS = ("dchn", "djsrh", "hybridhash")


def get_method(name: str) -> ModuleType:
    """The method module called ``name`` (one of :data:`METHODS`)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return importlib.import_module(f"{__name__}.{name}")
