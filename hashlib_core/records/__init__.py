"""Run records, the run folder and only that: atomic I/O (:mod:`.io`), ``finish_run`` / ``RunResult`` /
``validate_record`` (:mod:`.run`), manifests (:mod:`.manifest`), the papers' reference numbers
(:mod:`.references`) and reading run folders back (:mod:`.runs`: ``load_runs``, ``load_curves``, ``load_history``).

Executing runs is :mod:`hashlib_core.grid`, what chapters show is :mod:`hashlib_core.report`, the book build is
:mod:`hashlib_core.book`; ``records`` imports none of them. ``manifest`` is also a command-line module
(``python -m hashlib_core.records.manifest``), so its names below are imported on first use.
"""

from importlib import import_module

from .io import (atomic_write_json, atomic_write_npz, atomic_write_text, git_commit, read_json, sha256_array,
                 sha256_file)
from .run import REQUIRED_KEYS, RunResult, finish_run, validate_record
from .references import load_references
from .runs import load_curves, load_history, load_runs

_LAZY = {"build_manifest": "manifest", "write_manifest": "manifest"}

__all__ = [
    "atomic_write_json", "atomic_write_npz", "atomic_write_text", "git_commit", "read_json", "sha256_array",
    "sha256_file", "REQUIRED_KEYS", "RunResult", "finish_run", "validate_record",
    "load_references", "load_curves", "load_history", "load_runs", *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
