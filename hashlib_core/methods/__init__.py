"""One module per paper, each exposing the same entry point the notebooks and the CLI call:

``run(*, dataset, bits, seed=0, epochs=None, device="auto", data_root=None, out_dir, profile="default",
**method_params) -> hashlib_core.records.RunResult``

plus ``METHOD`` (its name), ``PARAMETERS`` (method parameters and their defaults, as in the notebook's
``parameters`` cell) and ``PROFILES`` (what ``smoke`` / ``default`` / ``paper`` change).
"""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS = ("dchn", "djsrh", "hybridhash",
           # training-free baselines (one shared run: methods/training_free.py, notebooks/baseline.ipynb)
           "lsh", "itq", "pca_rotation", "cca", "ridge", "classifier")


def check_profile_and_parameters(method: str, profile: str, params, *, profiles, parameters) -> None:
    """``ValueError`` unless ``profile`` is one of ``profiles`` and every key of ``params`` is one of the method's
    ``parameters`` (the message names the unknown ones and lists the known)."""
    if profile not in profiles:
        raise ValueError(f"profile must be one of {sorted(profiles)}, got {profile!r}")
    unknown = sorted(set(params) - set(parameters))
    if unknown:
        raise ValueError(f"{method} has no parameter(s) {unknown} (unknown parameter names); "
                         f"known: {sorted(parameters)}")


def get_method(name: str) -> ModuleType:
    """The method module called ``name`` (one of :data:`METHODS`)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return importlib.import_module(f"{__name__}.{name}")
