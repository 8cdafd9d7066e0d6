"""Run records: atomic I/O, the per-run folder (metrics.json and friends), and (grown by the book) manifests,
reference tables, comparison tables, figures and the grid runner."""

from .io import (atomic_write_json, atomic_write_npz, atomic_write_text, git_commit, read_json, sha256_array,
                 sha256_file)
from .run import REQUIRED_KEYS, RunResult, finish_run, validate_record

__all__ = [
    "atomic_write_json", "atomic_write_npz", "atomic_write_text", "git_commit", "read_json", "sha256_array",
    "sha256_file", "REQUIRED_KEYS", "RunResult", "finish_run", "validate_record",
]
