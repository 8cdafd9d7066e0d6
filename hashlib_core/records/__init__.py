"""Run records: atomic I/O, the per-run folder (metrics.json and friends), manifests, the papers' reference
numbers, run tables, comparison tables, figures, the grid runner (``records.grid``) and the book build
(``records.book``).

``manifest``, ``grid`` and ``book`` are also command-line modules (``python -m hashlib_core.records.grid``), so
their names below are imported on first use rather than with the package.
"""

from importlib import import_module

from .io import (atomic_write_json, atomic_write_npz, atomic_write_text, git_commit, read_json, sha256_array,
                 sha256_file)
from .run import REQUIRED_KEYS, RunResult, finish_run, validate_record
from .references import load_references
from .runs import load_curves, load_history, load_runs
from .tables import comparison_table, paper_layout_table, style_table

_LAZY = {"build_manifest": "manifest", "write_manifest": "manifest", "commit_records": "grid", "run_grid": "grid",
         "build_book": "book"}

__all__ = [
    "atomic_write_json", "atomic_write_npz", "atomic_write_text", "git_commit", "read_json", "sha256_array",
    "sha256_file", "REQUIRED_KEYS", "RunResult", "finish_run", "validate_record",
    "load_references", "load_curves", "load_history", "load_runs", "comparison_table", "paper_layout_table",
    "style_table", *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
