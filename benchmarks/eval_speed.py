#!/usr/bin/env python
"""Evaluation speed and memory: ``hashlib_core.metrics`` against the per-query numpy loop, measured in one run.

The loop is what the seed repositories run for mAP (written here from that description): per query, Hamming
distances by the ``0.5 * (bits - q . B^T)`` trick on +-1 float codes, ``np.argsort``, then the AP sum over the
relevant positions. It is timed twice: with ``np.argsort``'s default (quicksort, not stable: the order of equal
distances is implementation-defined, as in the seed repositories) and with ``kind="stable"`` (equal distances by
ascending retrieval index = our ``ties="index"``), which is the one our values must equal exactly.

Ours is timed per backend of ``hashlib_core.metrics.engine`` (``engine_options(backend=...)``): on the CPU the
compiled numba kernel (the default when numba is installed) and the numpy engine (the reference and fallback); on
CUDA the fused Triton kernels (the default when Triton is there and passed its self-check) and the torch engine.

Problems are synthetic with a fixed seed and the published sizes: MIRFLICKR-25K (2,000 queries x 18,015 items,
64 bits, 24 labels), NUS-WIDE (2,100 x 193,734, 64 bits, 21 labels) and a million-item problem (10,000 x
1,000,000, 64 bits, 21 labels); multi-hot labels with skewed label frequencies and "trained-looking" codes (sign
of a random projection of the labels plus noise), so that relevance rates and Hamming ties resemble real runs.

Usage::

    python benchmarks/eval_speed.py --out benchmarks/results/eval_speed_cpu.md
    python benchmarks/eval_speed.py --device cuda --out benchmarks/results/eval_speed_h100.md
    python benchmarks/eval_speed.py --quick                       # small smoke run
    python benchmarks/eval_speed.py --loop-queries nuswide=300    # time the loop on a subset, extrapolate

At the million-item scale the loops (``--loop-queries``, default 20 queries there) and the reference engines
(``--engine-queries``, default 200 queries there) are timed on the first queries and extrapolated linearly; the
compiled kernels run on all 10,000 queries, once (``repeat`` there is 1).

Peak memory is measured in a separate, untimed call: CPU rows by ``tracemalloc`` (numpy's array buffers; the
loop's per-query peak on its first 20 queries; the numba kernel's own scratch, a few ``(queries per block) x
(bits + 1)`` tables per thread, is allocated by numba and not traced), CUDA rows by
``torch.cuda.max_memory_allocated`` above what was allocated before the call. At the million-item scale memory
is measured on the first ``memory_queries`` queries (named in the row).
Needs only numpy, torch and this package (no Jupyter); numba and Triton where their rows are wanted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashlib_core.metrics import average_precision_per_query  # noqa: E402
from hashlib_core.metrics import cpu_kernel  # noqa: E402
from hashlib_core.metrics.engine import default_backend, engine_options  # noqa: E402
from hashlib_core.metrics.synthetic import label_derived_codes, synthetic_multilabel  # noqa: E402
from hashlib_core.records.io import atomic_write_json, atomic_write_text  # noqa: E402
from hashlib_core.train.progress import progress  # noqa: E402

SCALES = {
    "mirflickr": {"label": "MIRFLICKR-25K scale", "n_query": 2000, "n_items": 18015, "bits": 64, "classes": 24},
    "nuswide": {"label": "NUS-WIDE scale", "n_query": 2100, "n_items": 193734, "bits": 64, "classes": 21},
    "million": {"label": "million-item scale", "n_query": 10000, "n_items": 1000000, "bits": 64, "classes": 21,
                "loop_queries": 20, "engine_queries": 200, "memory_queries": 1000, "repeat": 1},
}
QUICK_SCALES = {
    "mirflickr": {"label": "MIRFLICKR-25K scale / 10 (quick)", "n_query": 200, "n_items": 1801, "bits": 64,
                  "classes": 24},
    "nuswide": {"label": "NUS-WIDE scale / 10 (quick)", "n_query": 210, "n_items": 19373, "bits": 64,
                "classes": 21},
    "million": {"label": "million-item scale / 100 (quick)", "n_query": 100, "n_items": 10000, "bits": 64,
                "classes": 21, "loop_queries": 20, "engine_queries": 50, "memory_queries": 50, "repeat": 1},
}
_BLOCK_ROWS = 100_000  # rows of synthetic codes generated at a time for large problems


# ---- the problem ------------------------------------------------------------------------------------------------

def synthetic_problem(n_query: int, n_items: int, bits: int, classes: int, seed: int = 0):
    """Codes (int8 +-1) and multi-hot labels (uint8) for ``n_query`` queries and ``n_items`` retrieval items.

    Up to ``_BLOCK_ROWS`` rows in all: one call of ``label_derived_codes`` (the committed MIRFLICKR/NUS-WIDE rows).
    Larger problems: the same model in blocks of rows (one projection, independent noise per block), so the float
    temporaries stay at ``_BLOCK_ROWS x bits``."""
    labels = synthetic_multilabel(n_query + n_items, classes, seed=seed)
    if n_query + n_items <= _BLOCK_ROWS:
        codes = label_derived_codes(labels, bits, noise=1.2, seed=seed + 1)
    else:
        projection = np.random.default_rng(seed + 1).standard_normal((classes, bits))
        codes = np.empty((n_query + n_items, bits), dtype=np.int8)
        for block, start in enumerate(range(0, labels.shape[0], _BLOCK_ROWS)):
            part = labels[start:start + _BLOCK_ROWS].astype(np.float64)
            signal = part @ projection / np.sqrt(np.maximum(part.sum(axis=1, keepdims=True), 1.0))
            noise = np.random.default_rng([seed + 1, block]).standard_normal(signal.shape)
            codes[start:start + _BLOCK_ROWS] = np.where(signal + 1.2 * noise > 0, 1, -1)
    return codes[:n_query], codes[n_query:], labels[:n_query], labels[n_query:]


def numpy_loop_average_precision(query_codes, retrieval_codes, query_labels, retrieval_labels, *,
                                 sort_kind: str | None) -> np.ndarray:
    """Per-query AP over the whole ranking ("deephash" protocol, topk = all) by the per-query numpy loop."""
    query_codes = query_codes.astype(np.float32)
    retrieval_codes = retrieval_codes.astype(np.float32)
    query_labels = query_labels.astype(np.float32)
    retrieval_labels = retrieval_labels.astype(np.float32)
    bits = query_codes.shape[1]
    ap = np.zeros(query_codes.shape[0])
    kind = {} if sort_kind is None else {"kind": sort_kind}
    for i in progress(range(query_codes.shape[0]), desc=f"numpy loop ({sort_kind or 'default'})"):
        relevant = (query_labels[i] @ retrieval_labels.T > 0).astype(np.float32)
        hamming = 0.5 * (bits - query_codes[i] @ retrieval_codes.T)
        relevant = relevant[np.argsort(hamming, **kind)]
        total = int(relevant.sum())
        if total == 0:
            continue
        hits = np.linspace(1, total, total)
        positions = np.flatnonzero(relevant) + 1.0
        ap[i] = np.mean(hits / positions)
    return ap


# ---- measuring --------------------------------------------------------------------------------------------------

def _status_kib(key: str, path: str = "/proc/self/status") -> int | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else None


def peak_memory(function, device: str) -> tuple[float, str]:
    """Peak extra memory (bytes) of one call, in a separate untimed run: on CUDA the allocator's peak above what
    was allocated before; on the CPU the peak of numpy's traced allocations (``tracemalloc``; numpy registers its
    array buffers with it; the few small torch tables of our CPU path are not traced)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        function()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before, "torch.cuda.max_memory_allocated"
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1], "tracemalloc (numpy allocations)"
    finally:
        tracemalloc.stop()


def best_time(function, device: str, repeat: int):
    """Best wall time of ``repeat`` calls (CUDA synchronised) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = function()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def describe_machine(with_cuda: bool) -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    except (OSError, AttributeError):
        memory = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info = {"cpu_model": model, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "memory_gib": round(memory / 2**20, 1) if memory else None,
            "load_average_1min_at_start": round(load, 2) if load is not None else None,
            "torch_threads": torch.get_num_threads(),
            "thread_env": {key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                "MKL_NUM_THREADS", "HASHLIB_EVAL_THREADS")
                           if os.environ.get(key)},
            "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__, "platform": platform.platform(),
            "numba": _version("numba"), "triton": _version("triton")}
    if with_cuda:
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


# ---- the table --------------------------------------------------------------------------------------------------

def _parse_loop_queries(text: str | None) -> dict:
    if text is None:
        return {}
    if "=" not in text:
        return {scale: int(text) for scale in SCALES}
    out = {}
    for part in text.split(","):
        scale, value = part.split("=", 1)
        if scale.strip() not in SCALES:
            raise SystemExit(f"unknown scale {scale!r} in a SCALE=N option (known: {', '.join(SCALES)})")
        out[scale.strip()] = int(value)
    return out


def backends_for(device: str) -> list[tuple[str, str, bool]]:
    """``(backend, label, reference)`` per engine timed on ``device``: the default (compiled) one first, then the
    reference engine (timed on a subset of queries where the scale says so)."""
    if device == "cuda":
        out = []
        if default_backend(torch.device("cuda"), 64) == "triton":
            out.append(("triton", "hashlib_core fused Triton kernels (default)", False))
        return out + [("torch", "hashlib_core torch engine" + ("" if out else " (default)"), True)]
    out = []
    if cpu_kernel.available():
        out.append(("numba", f"hashlib_core numba kernel (default, {cpu_kernel.default_threads()} threads)", False))
    return out + [("numpy", "hashlib_core numpy engine (reference" + (")" if out else ", default)"), True)]


def run_scale(name: str, spec: dict, devices: list[str], repeat: int, loop_queries: int | None,
              engine_queries: int | None, seed: int) -> list:
    q, r, ql, rl = synthetic_problem(spec["n_query"], spec["n_items"], spec["bits"], spec["classes"], seed)
    n_query, n_items = spec["n_query"], spec["n_items"]
    loop_queries = loop_queries if loop_queries is not None else spec.get("loop_queries")
    engine_queries = engine_queries if engine_queries is not None else spec.get("engine_queries")
    subset = n_query if loop_queries is None else max(1, min(n_query, loop_queries))
    repeat = min(repeat, spec.get("repeat", repeat))
    memory_queries = min(n_query, spec.get("memory_queries", n_query))
    rows = []

    def add(method, device, backend, queries_timed, seconds, memory, ap, reference, memory_count):
        memory_bytes, memory_method = memory
        full_seconds = seconds * n_query / queries_timed
        compared = None if reference is None else min(len(ap), len(reference))
        rows.append({
            "scale": spec["label"], "queries": n_query, "items": n_items, "bits": spec["bits"],
            "labels": spec["classes"], "method": method, "device": device, "backend": backend,
            "queries_timed": queries_timed, "extrapolated": queries_timed < n_query, "seconds": full_seconds,
            "runs": 1 if backend.startswith("loop") else repeat,
            "queries_per_second": queries_timed / seconds, "pairs_per_second": queries_timed * n_items / seconds,
            "peak_memory_mb": memory_bytes / 2**20, "memory_method": memory_method, "memory_queries": memory_count,
            "map": float(np.mean(ap)),
            "max_abs_diff_vs_stable_loop": None if reference is None else float(np.max(np.abs(ap[:compared]
                                                                                            - reference[:compared]))),
        })

    loop = {}
    for kind, label in ((None, "numpy loop, np.argsort default (quicksort; seed repos)"),
                        ("stable", "numpy loop, np.argsort(kind='stable')")):
        def loop_on(count, kind=kind):
            return numpy_loop_average_precision(q[:count], r, ql[:count], rl, sort_kind=kind)

        seconds, ap = best_time(lambda: loop_on(subset), "cpu", 1)
        memory = peak_memory(lambda: loop_on(min(subset, 20)), "cpu")
        loop[kind] = (seconds * n_query / subset, ap)
        add(label, "cpu", f"loop-{kind or 'quicksort'}", subset, seconds, memory, ap, None, min(subset, 20))
    reference = loop["stable"][1]
    rows[0]["max_abs_diff_vs_stable_loop"] = float(np.max(np.abs(loop[None][1] - reference)))
    rows[1]["max_abs_diff_vs_stable_loop"] = 0.0

    for device in devices:
        if device == "cuda":  # inputs live on the GPU, as after encoding
            inputs = [torch.from_numpy(x).cuda() for x in (q, r, ql, rl)]
        else:
            inputs = [q, r, ql, rl]
        for backend, label, is_reference in backends_for(device):
            count = n_query if not is_reference or engine_queries is None else max(1, min(n_query, engine_queries))
            with engine_options(backend=backend):
                # warm-up: compiles the kernels (numba: loads its on-disk cache) and, on CUDA, starts the context
                average_precision_per_query(inputs[0][:8], inputs[1][:1000], inputs[2][:8], inputs[3][:1000])
                for ties in ("index", "expected"):
                    def ours(ties=ties, count=count):
                        return average_precision_per_query(inputs[0][:count], inputs[1], inputs[2][:count],
                                                           inputs[3], protocol="deephash", ties=ties)

                    def ours_memory(ties=ties, count=min(count, memory_queries)):
                        return average_precision_per_query(inputs[0][:count], inputs[1], inputs[2][:count],
                                                           inputs[3], protocol="deephash", ties=ties)

                    seconds, ap = best_time(ours, device, repeat)
                    memory = peak_memory(ours_memory, device)
                    add(f"{label}, ties='{ties}'", device, backend, count, seconds, memory, ap,
                        reference if ties == "index" else None, min(count, memory_queries))
    by_backend = {(row["backend"], row["method"].rsplit("ties=", 1)[-1]): row for row in rows}
    for row in rows:
        row["speedup_vs_quicksort_loop"] = loop[None][0] / row["seconds"]
        row["speedup_vs_stable_loop"] = loop["stable"][0] / row["seconds"]
        base = by_backend.get(("numpy" if row["device"] == "cpu" else "torch", row["method"].rsplit("ties=", 1)[-1]))
        row["speedup_vs_reference_engine"] = (base["seconds"] / row["seconds"]
                                              if base is not None and "ties=" in row["method"] else None)
    return rows


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(machine: dict, rows: list, command: str, date: str, repeat: int) -> str:
    lines = ["# Evaluation speed: hashlib_core.metrics vs the per-query numpy loop", "",
             f"- date (UTC): {date}", f"- command: `{command}`",
             f"- CPU: {machine['cpu_model']}, {machine['usable_cores']} usable of {machine['logical_cores']} "
             f"logical cores, {machine['memory_gib']} GiB RAM, load average {machine['load_average_1min_at_start']}"
             f" at start, {machine.get('load_average_1min_at_end', '-')} at the end"]
    if "gpu" in machine:
        lines.append(f"- GPU: {machine['gpu']} (CUDA {machine['cuda']})")
    threads = ", ".join(f"{key}={value}" for key, value in machine["thread_env"].items()) or "library defaults"
    lines += [f"- python {machine['python']}, numpy {machine['numpy']}, torch {machine['torch']}, "
              f"numba {machine.get('numba') or 'not installed'}, triton {machine.get('triton') or 'not installed'}; "
              f"threads: {threads}",
              f"- metric: mAP over the whole ranking, protocol 'deephash' (topk = all); ours: best of {repeat} "
              f"run(s) (the million-item scale: 1 run), inputs already in memory (on the GPU for CUDA rows); the "
              f"loops: one run",
              "- `*` = timed on a subset of the queries and the time extrapolated linearly to all queries; max |dAP| "
              "compares per-query AP with the stable loop on the queries both ran; `x reference` = speed-up over "
              "the reference engine of the same device (numpy on the CPU, torch on CUDA) with the same tie rule", "",
              "| scale | method | device | time, all queries (s) | queries/s | pairs/s | peak memory (MB) "
              "| x quicksort loop | x stable loop | x reference | mAP (queries computed) "
              "| max abs dAP vs stable loop |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        timed_note = "*" if row["extrapolated"] else ""
        method = row["method"] + (f" ({row['queries_timed']:,} queries timed)" if row["extrapolated"] else "")
        memory_note = "" if row["memory_queries"] == row["queries"] else f" ({row['memory_queries']:,} q.)"
        lines.append(
            f"| {row['scale']} ({row['queries']:,} x {row['items']:,}) | {method} | {row['device']} | "
            f"{row['seconds']:.3f}{timed_note} | {row['queries_per_second']:,.0f} | {row['pairs_per_second']:.3g} | "
            f"{_fmt(row['peak_memory_mb'], '.1f')}{memory_note} | {row['speedup_vs_quicksort_loop']:.1f} | "
            f"{row['speedup_vs_stable_loop']:.1f} | {_fmt(row['speedup_vs_reference_engine'], '.1f')} | "
            f"{row['map']:.6f} | {_fmt(row['max_abs_diff_vs_stable_loop'], '.2e')} |")
    methods = sorted({row["memory_method"] for row in rows if row["memory_method"]})
    lines += ["", f"Peak memory measured by: {'; '.join(methods)}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="cpu: ours on the CPU; cuda: ours on the CPU and on CUDA; auto: CUDA too when present")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours per row (best time reported)")
    parser.add_argument("--quick", action="store_true", help="one tenth of each size, one repeat (smoke run)")
    parser.add_argument("--loop-queries", default=None,
                        help="time the numpy loop on N queries and extrapolate: N (every scale) or "
                             "SCALE=N[,SCALE=N] with SCALE in " + ", ".join(SCALES))
    parser.add_argument("--engine-queries", default=None,
                        help="time the reference engines (numpy, torch) on N queries and extrapolate: N or "
                             "SCALE=N[,SCALE=N] (default: 200 at the million-item scale, all elsewhere)")
    parser.add_argument("--scales", default=",".join(SCALES), help="comma-separated subset of " + ", ".join(SCALES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the table to FILE (.md) and FILE.json, atomically")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available on this machine")
    devices = ["cpu"] + (["cuda"] if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                         else [])
    scales = QUICK_SCALES if args.quick else SCALES
    chosen = [name.strip() for name in args.scales.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in scales]
    if unknown:
        raise SystemExit(f"--scales: unknown {unknown} (known: {', '.join(scales)})")
    repeat = 1 if args.quick else max(1, args.repeat)
    loop_queries = _parse_loop_queries(args.loop_queries)
    engine_queries = _parse_loop_queries(args.engine_queries)
    machine = describe_machine("cuda" in devices)
    date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    command = "python " + " ".join([Path(sys.argv[0]).as_posix()] + (argv if argv is not None else sys.argv[1:]))

    rows = []
    for name in chosen:
        rows += run_scale(name, scales[name], devices, repeat, loop_queries.get(name), engine_queries.get(name),
                          args.seed)
    machine["load_average_1min_at_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    text = markdown(machine, rows, command, date, repeat)
    print(text)
    if args.out:
        out = Path(args.out)
        markdown_path = out if out.suffix == ".md" else out.with_suffix(".md")
        atomic_write_text(markdown_path, text)
        atomic_write_json(markdown_path.with_suffix(".json"),
                          {"benchmark": "eval_speed", "date": date, "command": command, "machine": machine,
                           "repeat": repeat, "quick": args.quick, "rows": rows})
        print(f"wrote {markdown_path} and {markdown_path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
