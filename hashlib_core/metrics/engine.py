"""The Hamming-ranking engine: per-query distance/relevance histograms and exact per-item rank terms.

Every metric in this package is computed from one scan over the (query x retrieval) pairs, vectorised over a
chunk of queries and chunked over the retrieval set, with no per-query Python loop:

* **Histograms** (any tie rule): ``hist[q, d]`` = items at Hamming distance ``d`` from query ``q`` and
  ``rel_hist[q, d]`` = relevant ones among them (``d = 0..bits``), from one ``bincount`` per chunk. These give
  precision/recall within a radius and everything the ``"expected"`` tie rule needs (``expected.py``).
* **Rank terms** (``ties="index"``: equal distances ranked by ascending retrieval index, what a stable sort
  gives). Each item's rank is ``pos = #items at smaller distance + #items at the same distance with smaller
  index + 1`` and its hit count ``hits`` is the same count over relevant items. Within a retrieval chunk a stable
  sort by distance (a radix sort of the small integer distances) orders the items; across chunks the global
  histogram (first pass) and running per-(query, distance) counters (second pass) supply the offsets, so no
  global sort is ever needed. When the whole retrieval set fits in one chunk a single pass suffices and
  ``pos``/``hits`` are simply the sorted position and the running relevant count.
  Per query the scan accumulates, for every cutoff ``K`` asked for: ``sum_topk = sum of hits/pos over relevant
  items with pos <= K``, ``count_topk = #relevant with pos <= K``, ``sum_first = sum of hits/pos over relevant
  items with hits <= min(K, R)`` (``R`` = all relevant), and for a grid of ``N``: ``#relevant with pos <= N``.

Distances: on the CPU, packed 64-bit words with XOR + popcount (numpy); on CUDA (and on the CPU when the torch
backend is forced, as the tests do) one exact matrix product of augmented +-1 codes, ``[-q/2, bits/2] . [r, 1] =
(bits - q.r) / 2 = d``, in float16 up to 1024 bits (every partial sum is a multiple of 1/2 of magnitude <= 1024,
which float16 holds exactly) or float32 (exact below 2**23 bits). On CUDA every step runs on the GPU (matmul,
``torch.sort``, ``gather``, ``cumsum``, ``bincount``).

Memory bound. With ``E = query_chunk * item_chunk <= max_elements`` pairs per chunk (``item_chunk = min(n_items,
item_chunk setting)``, ``query_chunk = max_elements // item_chunk``), the scan's working set is ``beta * E`` bytes
plus per-query tables of ``8 * (bits + 1) * n_query * 6`` bytes (histograms, prefix sums, running counters; the
multi-chunk pass also keeps ``16 * (bits + 1) * query_chunk`` bytes per retrieval chunk) and ``8 * n_items``
bytes of 1/k table. On the CPU ``beta ~ 11`` (measured with tracemalloc at 64 bits: 1 B distance, 1 B relevance,
8 B sort order, 1 B sorted relevance; the order is freed before the 4 B hit counts are made, the 8 B XOR and
label-AND scratch before the sort). On CUDA ``beta`` is about 48 (estimate: fp16 product 2 B, distance 1 B,
label AND 4 B + 1 B, sort values 1 B + indices 8 B + ``torch.sort`` scratch ~10 B, sorted relevance 1 B, hit
counts 4 B, float64 terms 8 B and one masked copy 8 B); the benchmark's CUDA rows measure it. Defaults: CPU
``max_elements = 2**21``, ``item_chunk = 2**20``; CUDA ``max_elements = 2**27``, ``item_chunk = 2**22``. For 10k
queries x 1M items at 64 bits: CPU ``query_chunk = 2``, ``E ~ 2.1e6`` -> about 23 MB + tables 8 * 65 * 10k * 6 B
= 31 MB + 8 MB (1/k) + the inputs; CUDA ``query_chunk = 128``, ``E ~ 1.3e8`` -> about 6.4 GB + the same tables,
far below 70 GB.

CPU work runs with one torch intra-op thread (see :func:`one_torch_thread`); its heavy kernels are numpy.

Compiled backends (the defaults where they are available; this module's numpy/torch scan stays the fallback and
the reference they are tested against): on the CPU ``"numba"`` (:mod:`~hashlib_core.metrics.cpu_kernel`: two
counting passes per query, no sort, parallel over queries), on CUDA ``"triton"``
(:mod:`~hashlib_core.metrics.cuda_kernel`: fused kernels that keep per-(query, distance) counters on chip).
Both give the same :class:`RankStats`.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from ..train.progress import progress
from ..train.threads import torch_threads
from .codes import (check_code_pair, distance_dtype, distance_operands, exact_matmul_dtype, matmul_distances,
                    pack_signs, popcount_distances, resolve_compute_device, to_numpy)
from . import cpu_kernel
from .labels import LabelSets, prepare_labels

_DEFAULTS = {"cpu": {"max_elements": 2**21, "item_chunk": 2**20},
             "cuda": {"max_elements": 2**27, "item_chunk": 2**22}}
_OVERRIDES: dict = {}
_PROGRESS_PAIRS = 5 * 10**8  # show a progress bar only for scans at least this large


BACKENDS = ("numba", "numpy", "torch", "triton")


@contextlib.contextmanager
def engine_options(*, backend: str | None = None, max_elements: int | None = None,
                   item_chunk: int | None = None, matmul_dtype: torch.dtype | None = None,
                   threads: int | None = None, query_block: int | None = None,
                   item_tile: int | None = None) -> Iterator[None]:
    """Temporarily override the engine's choices (tests and benchmarks; results never depend on them).

    ``backend``: ``"numba"`` (CPU: the compiled counting kernel, the default when numba is installed),
    ``"numpy"`` (CPU: popcount + numpy radix sort, the reference), ``"torch"`` (matmul + ``torch.sort``, also
    runnable on the CPU) or ``"triton"`` (CUDA: fused kernels; on the CPU only under ``TRITON_INTERPRET=1``).
    ``max_elements``: pairs per chunk and ``item_chunk``: retrieval items per chunk (numpy/torch; small values
    force the two-pass multi-chunk path). ``matmul_dtype``: dtype of the +-1 product (torch). ``threads``,
    ``query_block`` (queries sharing a tile) and ``item_tile`` (items per tile): the compiled kernels' split of
    the work (numba; triton uses ``query_block`` and ``item_tile`` as its block sizes, powers of two).
    """
    if backend not in (None,) + BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for name, value in (("max_elements", max_elements), ("item_chunk", item_chunk), ("threads", threads),
                        ("query_block", query_block), ("item_tile", item_tile)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    saved = dict(_OVERRIDES)
    _OVERRIDES.update({key: value for key, value in (("backend", backend), ("max_elements", max_elements),
                                                      ("item_chunk", item_chunk), ("matmul_dtype", matmul_dtype),
                                                      ("threads", threads), ("query_block", query_block),
                                                      ("item_tile", item_tile))
                       if value is not None})
    try:
        yield
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(saved)


def one_torch_thread(function):
    """Run ``function`` with a single torch intra-op thread (restored afterwards).

    The CPU engine's heavy kernels are numpy (single-threaded); what torch does around them works on small
    per-query tables, where waking a thread pool costs more than it saves, and on a shared machine (more busy
    threads than cores) each parallel op can stall for milliseconds. On CUDA the setting only touches host code.
    """
    return functools.wraps(function)(torch_threads(1)(function))


@dataclass
class Problem:
    """Validated codes and labels, ready for scanning on ``device``.

    ``backend="numpy"`` (CPU): packed codes and label words are numpy arrays and the per-chunk kernels are numpy
    (single-threaded, radix sort); ``backend="numba"`` (CPU): the same packed arrays, scanned by the compiled
    kernel; ``backend="torch"`` (CUDA, or the CPU when forced): the codes as
    :func:`~hashlib_core.metrics.codes.distance_operands` in an exact float dtype and label tensors on ``device``;
    ``backend="triton"``: packed int64 code words and label words as tensors on ``device``
    (``query_words``/``retrieval_words`` are then tensors).
    """

    bits: int
    n_query: int
    n_items: int
    device: torch.device
    backend: str
    labels: LabelSets
    query_words: np.ndarray | None = None       # numpy backend: (nq, W) uint64 packed codes
    retrieval_words: np.ndarray | None = None
    query_operands: torch.Tensor | None = None      # torch backend: query_operands @ retrieval_operands.T = d
    retrieval_operands: torch.Tensor | None = None
    max_elements: int = 2**21
    item_chunk: int = 2**20
    options: dict = field(default_factory=dict)  # compiled kernels: threads, query_block, item_tile

    @property
    def buckets(self) -> int:
        return self.bits + 1

    def distances(self, q0: int, q1: int, r0: int, r1: int):
        """``(q1 - q0, r1 - r0)`` Hamming distances (uint8 up to 255 bits): numpy (numpy backend) or a tensor."""
        np_dtype, torch_dtype = distance_dtype(self.bits)
        if self.backend in ("numpy", "numba"):
            return popcount_distances(self.query_words[q0:q1], self.retrieval_words[r0:r1], out_dtype=np_dtype)
        return matmul_distances(self.query_operands[q0:q1], self.retrieval_operands[r0:r1], torch_dtype)

    def relevance(self, q0: int, q1: int, r0: int, r1: int):
        """``(q1 - q0, r1 - r0)`` bool relevance: numpy (numpy backend) or a tensor."""
        return self.labels.relevance(q0, q1, r0, r1)

    def stable_argsort(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per row, the order that sorts ``dist`` ascending with ties by ascending column (stable), and the
        sorted distances when they come for free (``torch.sort``)."""
        if self.backend in ("numpy", "numba"):  # numpy's stable sort of small integers is a radix sort
            return torch.from_numpy(np.argsort(dist.numpy(), axis=1, kind="stable")), None
        values, order = torch.sort(dist, dim=1, stable=True)
        return order, values


def default_backend(device: torch.device, bits: int) -> str:
    """The backend a scan on ``device`` uses unless :func:`engine_options` says otherwise: ``"numba"`` on the CPU
    when numba is installed (else ``"numpy"``); ``"triton"`` on CUDA when Triton is installed and its kernels passed
    their one-time self-check against the torch path on this GPU (else ``"torch"``)."""
    if device.type == "cpu":
        return "numba" if cpu_kernel.supports(bits) else "numpy"
    if device.type == "cuda":
        from . import cuda_kernel
        if cuda_kernel.unsupported_reason(device, bits) is None and cuda_kernel.self_check(device):
            return "triton"
    return "torch"


def prepare_problem(query_codes, retrieval_codes, query_labels, retrieval_labels, device=None) -> Problem:
    """Validate inputs (``ValueError`` naming the argument) and place them on the compute device."""
    target = resolve_compute_device(device, query_codes, retrieval_codes, query_labels, retrieval_labels)
    query, retrieval = check_code_pair(query_codes, retrieval_codes)
    n_query, bits = query.shape
    n_items = retrieval.shape[0]
    labels = prepare_labels(query_labels, retrieval_labels, n_query, n_items)
    backend = _OVERRIDES.get("backend") or default_backend(target, bits)
    if backend in ("numpy", "numba") and target.type != "cpu":
        raise ValueError(f"the {backend} backend runs on the CPU only, not on {target}")
    if backend == "numba" and not cpu_kernel.supports(bits):
        raise ValueError("backend 'numba' needs numba installed (pip install numba, or hashbook[fast]) and at most "
                         f"{cpu_kernel._MAX_BITS} bits")
    if backend == "triton":
        from . import cuda_kernel
        reason = cuda_kernel.unsupported_reason(target, bits)
        if reason:
            raise ValueError(f"backend 'triton': {reason}")
    defaults = _DEFAULTS["cuda" if target.type == "cuda" else "cpu"]
    problem = Problem(bits=bits, n_query=n_query, n_items=n_items, device=target, backend=backend, labels=labels,
                      max_elements=_OVERRIDES.get("max_elements", defaults["max_elements"]),
                      item_chunk=_OVERRIDES.get("item_chunk", defaults["item_chunk"]),
                      options={key: _OVERRIDES[key] for key in ("threads", "query_block", "item_tile")
                               if key in _OVERRIDES})
    if backend in ("numpy", "numba"):
        problem.query_words = pack_signs(to_numpy(query))
        problem.retrieval_words = pack_signs(to_numpy(retrieval))
    elif backend == "triton":
        problem.query_words = torch.from_numpy(pack_signs(to_numpy(query)).view(np.int64)).to(target)
        problem.retrieval_words = torch.from_numpy(pack_signs(to_numpy(retrieval)).view(np.int64)).to(target)
    else:
        dtype = _OVERRIDES.get("matmul_dtype") or exact_matmul_dtype(bits, target)
        problem.query_operands = distance_operands(torch.as_tensor(query).to(target), bits, "query", dtype)
        problem.retrieval_operands = distance_operands(torch.as_tensor(retrieval).to(target), bits, "retrieval", dtype)
        problem.labels = labels.to_torch(target)
    return problem


@dataclass
class RankStats:
    """What one scan measured, per query (all tensors on the problem's device, first axis = query).

    ``hist``/``rel_hist``: ``(nq, bits + 1)`` int64 item / relevant-item counts per Hamming distance (``None``
    when not asked for). ``n_relevant``: ``(nq,)`` int64 ``R``. For each effective cutoff ``K`` in ``cutoffs``
    (``1 <= K <= n_items``), column ``k`` of ``sum_topk``, ``count_topk`` and ``sum_first`` (``(nq, len(cutoffs))``)
    holds the index-tie terms described in the module docstring; ``grid_counts[:, g]`` = relevant items ranked
    within the top ``grid[g]`` (index ties).
    """

    bits: int
    n_items: int
    n_relevant: torch.Tensor
    hist: torch.Tensor | None = None
    rel_hist: torch.Tensor | None = None
    cutoffs: tuple[int, ...] = ()
    sum_topk: torch.Tensor | None = None
    count_topk: torch.Tensor | None = None
    sum_first: torch.Tensor | None = None
    grid: tuple[int, ...] = ()
    grid_counts: torch.Tensor | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = ""  # the scan that produced it; "numba": the expected-ties closed forms run compiled too


_INVERSE_CACHE: dict = {}


def inverse_ranks(n: int, device: torch.device) -> torch.Tensor:
    """``1 / k`` for ``k = 1..n`` (float64) on ``device`` (cached; on the CPU it shares memory with numpy)."""
    key = (n, str(device))
    if key not in _INVERSE_CACHE:
        _INVERSE_CACHE.clear()
        _INVERSE_CACHE[key] = 1.0 / torch.arange(1, n + 1, dtype=torch.float64, device=device)
    return _INVERSE_CACHE[key]


# ---- per-chunk kernels: numpy (CPU backend) -------------------------------------------------------------------

def _histograms_numpy(dist: np.ndarray, rel: np.ndarray, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: items and relevant items at each distance, ``(rows, buckets)`` int64 each."""
    rows = dist.shape[0]
    key = np.left_shift(dist, 1, dtype=np.intp)  # bincount counts intp keys without another conversion
    key |= rel
    key += (np.arange(rows, dtype=np.intp) * (2 * buckets))[:, None]
    counts = np.bincount(key.reshape(-1), minlength=rows * buckets * 2).reshape(rows, buckets, 2)
    return torch.from_numpy(counts.sum(axis=2)), torch.from_numpy(np.ascontiguousarray(counts[:, :, 1]))


def _full_row_terms_numpy(dist: np.ndarray, rel: np.ndarray, cutoffs, grid, inverse: np.ndarray, first: bool):
    """Index-tie terms when the chunk holds the whole retrieval set (numpy): the stable radix sort gives the
    ranks directly (``pos`` = sorted position + 1, ``hits`` = running relevant count)."""
    rows, n = dist.shape
    order = np.argsort(dist, axis=1, kind="stable")
    order += (np.arange(rows, dtype=np.int64) * n)[:, None]
    rel_sorted = rel.reshape(-1).take(order)
    del order
    hits = np.cumsum(rel_sorted, axis=1, dtype=np.int32)
    n_relevant = hits[:, -1].astype(np.int64)
    counts = [hits[:, cutoff - 1].astype(np.int64) for cutoff in cutoffs]
    grid_counts = hits[:, [value - 1 for value in grid]].astype(np.int64) if grid else None
    hits *= rel_sorted  # terms: the hit count at each relevant item, 0 elsewhere (divided by pos via 1/pos)
    terms = hits
    sums, firsts = [], []
    full = None
    for cutoff in cutoffs:
        topk = np.einsum("ij,j->i", terms[:, :cutoff], inverse[:cutoff])  # float64 accumulation
        if cutoff == n:
            full = topk
        sums.append(topk)
        if not first:
            firsts.append(np.zeros(rows))
            continue
        limit = np.minimum(n_relevant, cutoff)
        if bool((limit == n_relevant).all()):  # min(K, R) = R for every query: all relevant items count
            firsts.append(full if full is not None else np.einsum("ij,j->i", terms, inverse))
        else:  # the first min(K, R) relevant items are those whose hit count is <= min(K, R)
            firsts.append(np.einsum("ij,j->i", np.where(terms <= limit[:, None], terms, 0), inverse))
    as_tensor = torch.from_numpy
    return (as_tensor(n_relevant), [as_tensor(v) for v in sums], [as_tensor(v) for v in counts],
            [as_tensor(v) for v in firsts], None if grid_counts is None else as_tensor(grid_counts))


# ---- per-chunk kernels: torch (CUDA backend; also runs on the CPU) ----------------------------------------------

def _histograms_torch(dist: torch.Tensor, rel: torch.Tensor, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: items and relevant items at each distance, ``(rows, buckets)`` int64 each."""
    rows = dist.shape[0]
    key = dist.long().mul_(2).add_(rel)
    key += torch.arange(rows, device=dist.device).mul_(2 * buckets)[:, None]
    counts = torch.bincount(key.reshape(-1), minlength=rows * buckets * 2).reshape(rows, buckets, 2)
    return counts.sum(dim=2), counts[:, :, 1].contiguous()


def _full_row_terms_torch(problem: Problem, dist, rel, cutoffs, grid, inverse, first: bool):
    """Index-tie terms when the chunk holds the whole retrieval set: the stable sort gives the ranks directly."""
    order, _ = problem.stable_argsort(dist)
    del dist
    rel_sorted = torch.gather(rel, 1, order)
    del order, rel
    hits = torch.cumsum(rel_sorted, dim=1, dtype=torch.int32)  # hits[q, i] = relevant among the first i + 1
    n_relevant = hits[:, -1].long()
    counts = [hits[:, cutoff - 1].long() for cutoff in cutoffs]
    grid_counts = torch.stack([hits[:, n - 1].long() for n in grid], dim=1) if grid else None
    terms = hits.mul_(rel_sorted).double()  # at a relevant item: its hit count; divided by pos via inverse
    del hits
    sums, firsts = [], []
    full = None
    for cutoff in cutoffs:
        topk = terms[:, :cutoff] @ inverse[:cutoff]
        if cutoff == terms.shape[1]:
            full = topk
        sums.append(topk)
        if not first:
            firsts.append(torch.zeros_like(topk))
            continue
        limit = torch.clamp(n_relevant, max=cutoff)
        if bool((limit == n_relevant).all()):  # min(K, R) = R for every query: all relevant items count
            firsts.append(full if full is not None else terms @ inverse)
        else:  # the first min(K, R) relevant items are those whose hit count is <= min(K, R)
            firsts.append(terms.masked_fill(terms > limit[:, None], 0.0) @ inverse)
    return n_relevant, sums, counts, firsts, grid_counts


def _chunk_terms(problem: Problem, dist, rel, base_pos, base_hits, cutoffs, firsts_limit, grid_t, sums, counts,
                 firsts, grid_counts):
    """Index-tie terms of one retrieval chunk (multi-chunk path, torch ops); accumulates into the given tensors."""
    order, dist_sorted = problem.stable_argsort(dist)
    if dist_sorted is None:
        dist_sorted = torch.gather(dist, 1, order)
    rel_sorted = torch.gather(rel, 1, order)
    del order
    dist_sorted = dist_sorted.long()
    within = torch.arange(1, dist.shape[1] + 1, device=dist.device)
    pos = torch.gather(base_pos, 1, dist_sorted).add_(within)
    hits = torch.gather(base_hits, 1, dist_sorted).add_(torch.cumsum(rel_sorted, dim=1))
    del dist_sorted
    ratio = torch.where(rel_sorted, hits.double() / pos.double(), 0.0)
    for k, cutoff in enumerate(cutoffs):
        inside = pos <= cutoff
        sums[:, k] += ratio.masked_fill(~inside, 0.0).sum(dim=1)
        counts[:, k] += (inside & rel_sorted).sum(dim=1)
        if firsts_limit is not None:
            firsts[:, k] += ratio.masked_fill(hits > firsts_limit[:, k, None], 0.0).sum(dim=1)
    if grid_t is not None:
        size = grid_t.numel() + 1
        slot = torch.searchsorted(grid_t, pos)  # pos <= grid[g]  <=>  slot <= g; slot == len(grid): beyond
        slot.masked_fill_(~rel_sorted, size - 1)
        slot += torch.arange(pos.shape[0], device=pos.device)[:, None] * size
        per_slot = torch.bincount(slot.reshape(-1), minlength=pos.shape[0] * size).reshape(-1, size)
        grid_counts += per_slot[:, :-1].cumsum(dim=1)


def _exclusive_cumsum(table: torch.Tensor) -> torch.Tensor:
    return table.cumsum(dim=1) - table


def scan(problem: Problem, *, histogram: bool = True, cutoffs: Sequence[int] = (), first: bool = True,
         grid: Sequence[int] = ()) -> RankStats:
    """Scan every (query, item) pair once (twice when the retrieval set spans several chunks and rank terms are
    needed) and return the :class:`RankStats` asked for.

    ``cutoffs``: effective top-K values (``1..n_items``) for the index-tie AP terms (``sum_first``, which only
    ``"dcmh"`` needs, is skipped with ``first=False``); ``grid``: increasing ``N`` values (``1..n_items``) for
    index-tie precision@N counts. Both empty: histograms only.
    """
    cutoffs = tuple(int(k) for k in cutoffs)
    grid = tuple(int(n) for n in grid)
    for value in cutoffs + grid:
        if not 1 <= value <= problem.n_items:
            raise ValueError(f"cutoff {value} outside 1..{problem.n_items}")
    if list(grid) != sorted(set(grid)):
        raise ValueError(f"grid must be strictly increasing, got {grid}")
    need_ranks = bool(cutoffs or grid)
    nq, n_items, buckets, device = problem.n_query, problem.n_items, problem.buckets, problem.device
    if problem.backend in ("numba", "triton"):
        bar = progress(total=nq, desc="hamming ranking") if nq * n_items >= _PROGRESS_PAIRS else None
        try:
            if problem.backend == "numba":
                return cpu_kernel.scan_compiled(problem, histogram=histogram, cutoffs=cutoffs, first=first,
                                                grid=grid, bar=bar, **problem.options)
            from . import cuda_kernel
            return cuda_kernel.scan_fused(problem, histogram=histogram, cutoffs=cutoffs, first=first, grid=grid,
                                          bar=bar, **problem.options)
        finally:
            if bar is not None:
                bar.close()
    use_numpy = problem.backend == "numpy"
    histograms = _histograms_numpy if use_numpy else _histograms_torch
    item_chunk = min(n_items, problem.item_chunk)
    item_bounds = [(r0, min(n_items, r0 + item_chunk)) for r0 in range(0, n_items, item_chunk)]
    single = len(item_bounds) == 1
    query_chunk = max(1, min(nq, problem.max_elements // item_chunk))
    query_bounds = [(q0, min(nq, q0 + query_chunk)) for q0 in range(0, nq, query_chunk)]
    want_hist = histogram or not need_ranks or not single

    stats = RankStats(bits=problem.bits, n_items=n_items, device=device, cutoffs=cutoffs, grid=grid,
                      n_relevant=torch.zeros(nq, dtype=torch.int64, device=device))
    if want_hist:
        stats.hist = torch.zeros(nq, buckets, dtype=torch.int64, device=device)
        stats.rel_hist = torch.zeros(nq, buckets, dtype=torch.int64, device=device)
    if need_ranks:
        stats.sum_topk = torch.zeros(nq, len(cutoffs), dtype=torch.float64, device=device)
        stats.count_topk = torch.zeros(nq, len(cutoffs), dtype=torch.int64, device=device)
        stats.sum_first = torch.zeros(nq, len(cutoffs), dtype=torch.float64, device=device) if first else None
        if grid:
            stats.grid_counts = torch.zeros(nq, len(grid), dtype=torch.int64, device=device)
    inverse = inverse_ranks(n_items, device) if need_ranks and single else None
    grid_t = torch.tensor(grid, dtype=torch.int64, device=device) if grid else None

    steps = len(query_bounds) * len(item_bounds) * (2 if need_ranks and not single else 1)
    bar = progress(total=steps, desc="hamming ranking") if nq * n_items >= _PROGRESS_PAIRS else None
    for q0, q1 in query_bounds:
        if single:
            dist = problem.distances(q0, q1, 0, n_items)
            rel = problem.relevance(q0, q1, 0, n_items)
            if want_hist:
                stats.hist[q0:q1], stats.rel_hist[q0:q1] = histograms(dist, rel, buckets)
            if need_ranks:
                if use_numpy:
                    terms = _full_row_terms_numpy(dist, rel, cutoffs, grid, inverse.numpy(), first)
                else:
                    terms = _full_row_terms_torch(problem, dist, rel, cutoffs, grid, inverse, first)
                n_rel, sums, counts, firsts, grid_counts = terms
                stats.n_relevant[q0:q1] = n_rel
                if cutoffs:
                    stats.sum_topk[q0:q1] = torch.stack(sums, dim=1)
                    stats.count_topk[q0:q1] = torch.stack(counts, dim=1)
                    if first:
                        stats.sum_first[q0:q1] = torch.stack(firsts, dim=1)
                if grid:
                    stats.grid_counts[q0:q1] = grid_counts
            else:
                stats.n_relevant[q0:q1] = stats.rel_hist[q0:q1].sum(dim=1)
            if bar is not None:
                bar.update(1)
            continue
        chunk_hists = []
        for r0, r1 in item_bounds:  # pass 1: histograms per retrieval chunk
            counts = histograms(problem.distances(q0, q1, r0, r1), problem.relevance(q0, q1, r0, r1), buckets)
            chunk_hists.append(counts)
            stats.hist[q0:q1] += counts[0]
            stats.rel_hist[q0:q1] += counts[1]
            if bar is not None:
                bar.update(1)
        stats.n_relevant[q0:q1] = stats.rel_hist[q0:q1].sum(dim=1)
        if not need_ranks:
            continue
        before_items = _exclusive_cumsum(stats.hist[q0:q1])      # items at a smaller distance
        before_relevant = _exclusive_cumsum(stats.rel_hist[q0:q1])
        seen_items = torch.zeros_like(before_items)               # items at the same distance in earlier chunks
        seen_relevant = torch.zeros_like(before_items)
        limits = torch.minimum(stats.n_relevant[q0:q1, None],
                               torch.tensor(cutoffs, dtype=torch.int64, device=device)[None, :])
        for (r0, r1), (chunk_items, chunk_relevant) in zip(item_bounds, chunk_hists):  # pass 2: rank terms
            dist = torch.as_tensor(problem.distances(q0, q1, r0, r1))
            rel = torch.as_tensor(problem.relevance(q0, q1, r0, r1))
            # pos = before_items[d] + seen_items[d] + (sorted position - chunk start of d) + 1 (within = 1-based)
            base_pos = before_items + seen_items - _exclusive_cumsum(chunk_items)
            base_hits = before_relevant + seen_relevant - _exclusive_cumsum(chunk_relevant)
            _chunk_terms(problem, dist, rel, base_pos, base_hits, cutoffs, limits if first else None, grid_t,
                         stats.sum_topk[q0:q1], stats.count_topk[q0:q1],
                         stats.sum_first[q0:q1] if first else None,
                         stats.grid_counts[q0:q1] if grid else None)
            seen_items += chunk_items
            seen_relevant += chunk_relevant
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return stats


def validate_topk(topk, n_items: int) -> int:
    """``topk=None`` -> ``n_items``; a positive int larger than the retrieval set is clipped to it."""
    if topk is None:
        return n_items
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)):
        raise ValueError(f"topk must be None or a positive integer, got {topk!r}")
    if topk < 1:
        raise ValueError(f"topk must be None or a positive integer, got {topk!r}")
    return int(min(int(topk), n_items))


__all__ = ["BACKENDS", "Problem", "RankStats", "default_backend", "prepare_problem", "scan", "engine_options",
           "validate_topk", "one_torch_thread"]
