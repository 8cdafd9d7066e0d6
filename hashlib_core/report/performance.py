"""What the performance chapter (``book/chapters/performance.ipynb``) shows: the committed results of
``benchmarks/eval_speed.py`` (``benchmarks/results/eval_speed*.json``, one per machine). Nothing is timed here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .chapter import note

#: result row key -> column title
COLUMNS = {"scale": "scale", "queries": "queries", "items": "items", "method": "method", "device": "device",
           "queries_timed": "queries timed",
           "seconds": "time, all queries (s)", "queries_per_second": "queries/s", "pairs_per_second": "pairs/s",
           "peak_memory_mb": "peak memory (MB)", "speedup_vs_quicksort_loop": "x quicksort loop",
           "speedup_vs_stable_loop": "x stable loop", "map": "mAP (queries computed)",
           "max_abs_diff_vs_stable_loop": "max |dAP| vs stable loop"}
FORMATS = {"queries": "{:,}", "items": "{:,}", "queries/s": "{:,.0f}", "pairs/s": "{:.3g}",
           "peak memory (MB)": "{:.1f}", "x quicksort loop": "{:.1f}", "x stable loop": "{:.1f}",
           "mAP (queries computed)": "{:.6f}", "max |dAP| vs stable loop": "{:.1e}"}


def results_dir() -> Path:
    """``<repo>/benchmarks/results``."""
    from ..records.runs import repo_root

    return repo_root() / "benchmarks" / "results"


def machine_note(path: Path, result: dict):
    """When, with which command and on which machine (CPU, GPU, libraries, threads) ``result`` was measured."""
    machine = result["machine"]
    lines = [f"### {path.stem}", "",
             f"- measured {result['date']} with `{result['command']}`",
             f"- CPU: {machine['cpu_model']}, {machine['usable_cores']} usable cores, {machine['memory_gib']} GiB, "
             f"load average {machine.get('load_average_1min_at_start')} at start"]
    if machine.get("gpu"):
        lines.append(f"- GPU: {machine['gpu']} (CUDA {machine.get('cuda')})")
    threads = ", ".join(f"{k}={v}" for k, v in machine.get("thread_env", {}).items()) or "library defaults"
    lines.append(f"- numpy {machine['numpy']}, torch {machine['torch']}; threads: {threads}; ours: best of "
                 f"{result['repeat']} run(s), the loops one run")
    return note("\n".join(lines))


def speed_table(result: dict):
    """The rows of one result file as a styled table; ``*`` marks a loop time extrapolated from fewer queries."""
    frame = pd.DataFrame(result["rows"])
    frame["seconds"] = [f"{s:.3f}{'*' if e else ''}" for s, e in zip(frame["seconds"], frame["extrapolated"])]
    frame = frame[list(COLUMNS)].rename(columns=COLUMNS)
    return frame.style.format(FORMATS, na_rep="-").hide(axis="index")


def benchmark_results(folder: str | os.PathLike | None = None) -> list:
    """Per ``eval_speed*.json`` file in ``folder`` (default :func:`results_dir`): its machine note and speed table;
    a note saying how to measure when there is none."""
    from ..records.io import read_json

    folder = Path(folder) if folder is not None else results_dir()
    files = sorted(folder.glob("eval_speed*.json"))
    if not files:
        return [note(f"No benchmark results in `{folder}` yet: run `python benchmarks/eval_speed.py --out "
                     f"benchmarks/results/eval_speed_cpu.md`.")]
    shown = []
    for path in files:
        result = read_json(path)
        shown += [machine_note(path, result), speed_table(result)]
    return shown
