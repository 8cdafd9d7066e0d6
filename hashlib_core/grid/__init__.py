"""Planning and executing runs: each method's ``GRID[profile]`` of run specs, executed as papermill notebooks
(:mod:`.runner`: skip when up to date, failure isolation, local processes or Ray), as headless command-line
processes (:mod:`.headless`, for machines without Jupyter), and committed into ``records/`` (:mod:`.collect`).

Command line: ``python -m hashlib_core.grid run|list|collect ...`` (:mod:`.cli`) and
``python -m hashlib_core.grid.headless ...``. ``grid`` calls the methods through their notebooks and the CLI and
writes run folders with :mod:`hashlib_core.records`; it never imports :mod:`hashlib_core.report` or the book build.
"""

from importlib import import_module

from .collect import commit_records
from .runner import (KERNEL_NAME, SPEC_KEYS, GridBusy, GridError, GridInterrupted, RunOutcome, RunTask, execute_run,
                     grid_specs, is_up_to_date, normalise_spec, plan_runs, run_grid, run_id, spec_hash, summarise)

_LAZY = {"run_headless": "headless", "cli_command": "headless", "main": "cli", "grid_lock": "lock"}

__all__ = ["KERNEL_NAME", "SPEC_KEYS", "GridBusy", "GridError", "GridInterrupted", "RunOutcome", "RunTask", "commit_records", "execute_run",
           "grid_specs", "is_up_to_date", "normalise_spec", "plan_runs", "run_grid", "run_id", "spec_hash",
           "summarise", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
