"""The compiled CPU scan (numba): per-query counting in two passes, no sort, the same :class:`RankStats` as the
reference engine (``engine.py``), which stays the fallback when numba is not installed.

Per query ``q`` and retrieval item ``j`` (in index order) the kernel forms ``key = 2 * d + rel`` (``d`` = Hamming
distance by XOR + popcount over packed 64-bit code words, ``rel`` = the two share a label: one equality test of
class ids, or an AND over 64-bit label masks, as many words as the labels need).

* **Pass 1** counts ``key`` into the query's ``(distance, relevant)`` histogram: ``hist[d]``, ``rel_hist[d]``.
  This is everything ``ties="expected"`` and the radius curves need (``expected.py`` and ``curves.py`` work on the
  histograms only).
* **Pass 2** (only for ``ties="index"``) walks the items again in index order. With ``A[d]`` / ``H[d]`` = items /
  relevant items at a smaller distance (prefix sums of pass 1), the running counters ``pos[d]`` (from ``A[d]``)
  and ``hits[d]`` (from ``H[d]``) give each item its exact rank under index ties: equal distances are ranked by
  ascending index, which is the order the walk meets them in. A relevant item adds ``hits / pos`` to its bucket's
  sum ``S[d]``. A rank cutoff ``K`` (topk or a precision@N grid point) falls in exactly one bucket; when that
  bucket's counter reaches ``pos = K`` the kernel records ``S[d]`` and ``hits[d]`` at that moment, so
  ``sum over relevant items with pos <= K of hits/pos = sum_{d' < d} S[d'] + S[d] (recorded)`` and ``#relevant
  with pos <= K = hits[d] (recorded)``. ``"dcmh"``'s first ``m = min(K, R)`` relevant items are found the same way,
  recording when ``hits`` reaches ``m``. Each item costs a few counter updates; a check against the bucket's next
  pending cutoff is one comparison.

Work is split into blocks of queries (threads, the compiled code releases the GIL) and, inside a block, tiles of
retrieval items, so a tile's codes and labels stay in cache while every query of the block reads them. Memory: the
outputs (``(nq, bits + 1)`` tables) plus per thread a few ``(query_block, bits + 1)`` tables and a tile of keys.

Compiled on first use with ``cache=True`` (numba keeps the machine code under ``__pycache__`` next to this file,
or in ``NUMBA_CACHE_DIR``); one type signature, so one compilation per machine.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
import torch

try:  # optional: `pip install hashbook[fast]`
    import numba
    from numba import types
    from numba.extending import intrinsic
except Exception:  # noqa: BLE001 - absent, or built for another numpy (it then refuses to import): numpy engine
    numba = None

_QUERY_BLOCK = 8    # queries that share one tile of retrieval items
_ITEM_TILE = 2048   # retrieval items per tile (codes + labels of a tile: 32 KB at 64 bits and <= 64 labels)
_MAX_BITS = 32767   # keys 2 * d + 1 fit a uint16; beyond this the reference engine is used
_KEY_BUFFER = 2**20  # bytes of keys per thread kept from pass 1 for pass 2 (else pass 2 recomputes them)


def available() -> bool:
    """True when numba is importable (the compiled kernel is then the default CPU engine)."""
    return numba is not None


def supports(bits: int) -> bool:
    return available() and bits <= _MAX_BITS


def default_threads() -> int:
    """Threads of the compiled scan: ``HASHLIB_EVAL_THREADS`` if set, else ``OMP_NUM_THREADS`` if set (the
    Makefile sets 1 for tests and the book), else the cores this process may use."""
    for name in ("HASHLIB_EVAL_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                count = int(value)
            except ValueError:
                raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
            if count < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            return count
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# ---- inputs in the kernel's form --------------------------------------------------------------------------------

def label_arrays(labels) -> tuple[np.ndarray, np.ndarray, bool]:
    """``LabelSets`` -> ``(query, retrieval, ids)``: int64 ``(n, 1)`` class ids (``ids=True``) or int64 ``(n, L)``
    label masks (64 labels per word; two of the engine's 32-bit words per 64-bit word)."""
    if labels.kind == "ids":
        return (np.ascontiguousarray(np.asarray(labels.query, dtype=np.int64).reshape(-1, 1)),
                np.ascontiguousarray(np.asarray(labels.retrieval, dtype=np.int64).reshape(-1, 1)), True)

    def widen(words32: np.ndarray) -> np.ndarray:
        words32 = np.asarray(words32, dtype=np.int32)
        n, w = words32.shape
        padded = np.zeros((n, w + (w % 2)), dtype=np.int32)
        padded[:, :w] = words32
        return np.ascontiguousarray(padded).view(np.int64)

    return widen(labels.query), widen(labels.retrieval), False


# ---- the compiled kernel ----------------------------------------------------------------------------------------

if numba is not None:
    @intrinsic
    def _popcount(typingctx, value):
        """Bits set in a uint64 (LLVM ``ctpop``: one instruction where the CPU has one)."""
        if not (isinstance(value, types.Integer) and value.bitwidth == 64 and not value.signed):
            return None

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.uint64(types.uint64), codegen

    def _jit(function):
        try:
            return numba.njit(cache=True, nogil=True)(function)
        except RuntimeError:  # no writable cache location: compile per process instead
            return numba.njit(nogil=True)(function)

    @_jit
    def _tile_keys(qw, rw, ql, rl, words, label_words, ids, q, r0, r1, keys, at):
        """``keys[at + j - r0] = 2 * d(q, j) + rel(q, j)`` (uint16) for items ``r0 <= j < r1``.

        Codes and labels come flat (row ``j`` of ``rw`` is ``rw[j * words: (j + 1) * words]``), so that the common
        case (one code word, one label word or class ids) is a contiguous loop the compiler vectorises. Indices
        are unsigned: numba then skips its negative-index wraparound, which would stop the vectorisation.
        """
        base = np.uint64(r0)
        out = np.uint64(at)
        count = np.uint64(r1 - r0)
        if words == 1 and (ids or label_words == 1):
            a = qw[np.uint64(q)]
            lab = ql[np.uint64(q)]
            if ids:
                for t in range(count):
                    keys[out + t] = ((np.uint16(_popcount(a ^ rw[base + t])) << np.uint16(1))
                                     | np.uint16(lab == rl[base + t]))
            else:
                for t in range(count):
                    keys[out + t] = ((np.uint16(_popcount(a ^ rw[base + t])) << np.uint16(1))
                                     | np.uint16((lab & rl[base + t]) != 0))
            return
        code_words = np.uint64(words)
        mask_words = np.uint64(label_words)
        q_code = np.uint64(q) * code_words
        q_mask = np.uint64(q) * mask_words
        for t in range(count):
            j = base + t
            d = np.uint64(0)
            for w in range(code_words):
                d += _popcount(qw[q_code + w] ^ rw[j * code_words + w])
            rel = np.uint16(0)
            if ids:
                rel = np.uint16(ql[np.uint64(q)] == rl[j])
            else:
                for w in range(mask_words):
                    if (ql[q_mask + w] & rl[j * mask_words + w]) != 0:
                        rel = np.uint16(1)
                        break
            keys[out + t] = (np.uint16(d) << np.uint16(1)) | rel

    @_jit
    def _count_keys(keys, at, count, row, counts):
        """Add ``keys[at: at + count]`` to ``row`` of ``counts`` ``(rows, 4, width)``: four interleaved copies, so
        that runs of equal keys (ties) do not wait on the previous increment of the same counter."""
        lane0 = counts[row, 0]
        lane1 = counts[row, 1]
        lane2 = counts[row, 2]
        lane3 = counts[row, 3]
        start = np.uint64(at)
        whole = np.uint64(count // 4 * 4)
        for t in range(np.uint64(0), whole, np.uint64(4)):
            j = start + t
            lane0[keys[j]] += 1
            lane1[keys[j + np.uint64(1)]] += 1
            lane2[keys[j + np.uint64(2)]] += 1
            lane3[keys[j + np.uint64(3)]] += 1
        for t in range(whole, np.uint64(count)):
            lane0[keys[start + t]] += 1

    @_jit
    def _scan_range(qw, rw, ql, rl, words, label_words, ids, bits, q0, q1, ranks, first, cutoffs, targets,
                    target_of_cutoff, target_of_grid, hist, rel_hist, n_relevant, sum_topk, count_topk, sum_first,
                    grid_counts, query_block, item_tile, key_buffer):
        """Scan queries ``q0 <= q < q1`` against every retrieval item; write rows ``q`` of the outputs.

        ``qw``/``rw``: flat uint64 code words (``words`` per row); ``ql``/``rl``: flat int64 class ids (``ids``) or
        label masks (``label_words`` per row). ``cutoffs`` (ascending effective top-K values), ``targets``
        (ascending union of cutoffs and grid points, rank positions in ``1..n_items``), ``target_of_cutoff`` /
        ``target_of_grid``: index into ``targets``. When ``key_buffer`` bytes hold a block's keys, pass 1 keeps them
        for pass 2 (the block is then at most ``key_buffer / (2 n_items)`` queries), else pass 2 recomputes them.
        """
        n_items = rw.shape[0] // words
        buckets = bits + 1
        n_cut = cutoffs.shape[0]
        n_targets = targets.shape[0]
        kept = ranks and 2 * n_items <= key_buffer
        if kept:
            query_block = max(1, min(query_block, key_buffer // (2 * n_items)))
        keys = np.empty(query_block * n_items if kept else item_tile, dtype=np.uint16)
        pair_hist = np.zeros((query_block, 4, 2 * buckets), dtype=np.int64)
        # pass-2 state per query of the block and per distance bucket
        pos = np.zeros((query_block, buckets), dtype=np.int64)
        hit = np.zeros((query_block, buckets), dtype=np.int64)
        bucket_sum = np.zeros((query_block, buckets), dtype=np.float64)
        next_target = np.zeros((query_block, buckets), dtype=np.int64)  # index into targets
        end_target = np.zeros((query_block, buckets), dtype=np.int64)
        pos_target = np.zeros((query_block, buckets), dtype=np.int64)   # next pending rank cutoff, -1: none
        hit_values = np.zeros((query_block, max(n_cut, 1)), dtype=np.int64)  # distinct m = min(K, R) > 0
        hit_of_cutoff = np.zeros((query_block, max(n_cut, 1)), dtype=np.int64)  # index into hit_values, -1: m = 0
        next_hit = np.zeros((query_block, buckets), dtype=np.int64)
        end_hit = np.zeros((query_block, buckets), dtype=np.int64)
        hit_target = np.zeros((query_block, buckets), dtype=np.int64)
        snap_sum = np.zeros((query_block, max(n_targets, 1)), dtype=np.float64)
        snap_hits = np.zeros((query_block, max(n_targets, 1)), dtype=np.int64)
        snap_bucket = np.zeros((query_block, max(n_targets, 1)), dtype=np.int64)
        hsnap_sum = np.zeros((query_block, max(n_cut, 1)), dtype=np.float64)
        hsnap_bucket = np.zeros((query_block, max(n_cut, 1)), dtype=np.int64)
        before_sum = np.zeros(buckets + 1, dtype=np.float64)

        for b0 in range(q0, q1, query_block):
            b1 = min(q1, b0 + query_block)
            pair_hist[:, :, :] = 0
            for r0 in range(0, n_items, item_tile):  # pass 1: (distance, relevant) histograms
                r1 = min(n_items, r0 + item_tile)
                for q in range(b0, b1):
                    at = (q - b0) * n_items + r0 if kept else 0
                    _tile_keys(qw, rw, ql, rl, words, label_words, ids, q, r0, r1, keys, at)
                    _count_keys(keys, at, r1 - r0, q - b0, pair_hist)
            for q in range(b0, b1):
                i = q - b0
                total = np.int64(0)
                for d in range(buckets):
                    items = np.int64(0)
                    relevant = np.int64(0)
                    for copy in range(4):
                        items += pair_hist[i, copy, 2 * d] + pair_hist[i, copy, 2 * d + 1]
                        relevant += pair_hist[i, copy, 2 * d + 1]
                    hist[q, d] = items
                    rel_hist[q, d] = relevant
                    total += relevant
                n_relevant[q] = total
            if not ranks:
                continue
            for q in range(b0, b1):  # pass-2 set-up: counters start at the prefix sums, pending cutoffs per bucket
                i = q - b0
                items_before = np.int64(0)
                relevant_before = np.int64(0)
                t = 0
                n_hit_values = 0
                for c in range(n_cut):
                    m = min(cutoffs[c], n_relevant[q])
                    if m == 0:
                        hit_of_cutoff[i, c] = -1
                        continue
                    if n_hit_values == 0 or hit_values[i, n_hit_values - 1] != m:
                        hit_values[i, n_hit_values] = m
                        n_hit_values += 1
                    hit_of_cutoff[i, c] = n_hit_values - 1
                u = 0
                for d in range(buckets):
                    pos[i, d] = items_before
                    hit[i, d] = relevant_before
                    bucket_sum[i, d] = 0.0
                    items_after = items_before + hist[q, d]
                    relevant_after = relevant_before + rel_hist[q, d]
                    while t < n_targets and targets[t] <= items_before:
                        t += 1
                    next_target[i, d] = t
                    while t < n_targets and targets[t] <= items_after:
                        t += 1
                    end_target[i, d] = t
                    pos_target[i, d] = targets[next_target[i, d]] if next_target[i, d] < t else -1
                    while u < n_hit_values and hit_values[i, u] <= relevant_before:
                        u += 1
                    next_hit[i, d] = u
                    while u < n_hit_values and hit_values[i, u] <= relevant_after:
                        u += 1
                    end_hit[i, d] = u
                    hit_target[i, d] = hit_values[i, next_hit[i, d]] if (first and next_hit[i, d] < u) else -1
                    items_before = items_after
                    relevant_before = relevant_after
            for r0 in range(0, n_items, item_tile):  # pass 2: exact ranks under index ties
                r1 = min(n_items, r0 + item_tile)
                for q in range(b0, b1):
                    i = q - b0
                    at = i * n_items + r0 if kept else 0
                    if not kept:
                        _tile_keys(qw, rw, ql, rl, words, label_words, ids, q, r0, r1, keys, at)
                    pos_i = pos[i]
                    hit_i = hit[i]
                    sum_i = bucket_sum[i]
                    pos_target_i = pos_target[i]
                    hit_target_i = hit_target[i]
                    start = np.uint64(at)
                    for t in range(np.uint64(r1 - r0)):  # branch-free but for the rare cutoff events
                        key = keys[start + t]
                        d = key >> np.uint16(1)
                        relevant = np.int64(key & np.uint16(1))
                        p = pos_i[d] + 1
                        pos_i[d] = p
                        h = hit_i[d] + relevant
                        hit_i[d] = h
                        sum_i[d] += (h * relevant) / p
                        if first:
                            if h == hit_target_i[d]:  # the m-th relevant item (first reached here): for "dcmh"
                                u = next_hit[i, d]
                                hsnap_sum[i, u] = sum_i[d]
                                hsnap_bucket[i, u] = d
                                u += 1
                                next_hit[i, d] = u
                                hit_target_i[d] = hit_values[i, u] if u < end_hit[i, d] else -1
                        if p == pos_target_i[d]:  # a rank cutoff: record the bucket's sum and hit count
                            t = next_target[i, d]
                            snap_sum[i, t] = sum_i[d]
                            snap_hits[i, t] = h
                            snap_bucket[i, t] = d
                            t += 1
                            next_target[i, d] = t
                            pos_target_i[d] = targets[t] if t < end_target[i, d] else -1
            for q in range(b0, b1):  # combine: sums of the buckets before the recorded one + the record
                i = q - b0
                before_sum[0] = 0.0
                for d in range(buckets):
                    before_sum[d + 1] = before_sum[d] + bucket_sum[i, d]
                for c in range(n_cut):
                    t = target_of_cutoff[c]
                    sum_topk[q, c] = before_sum[snap_bucket[i, t]] + snap_sum[i, t]
                    count_topk[q, c] = snap_hits[i, t]
                    if first:
                        u = hit_of_cutoff[i, c]
                        sum_first[q, c] = 0.0 if u < 0 else before_sum[hsnap_bucket[i, u]] + hsnap_sum[i, u]
                for g in range(target_of_grid.shape[0]):
                    grid_counts[q, g] = snap_hits[i, target_of_grid[g]]


    # ---- the "expected" tie rule from the histograms (the closed forms of expected.py, per query) ----------------

    @_jit
    def _harmonic(n):
        table = np.zeros(n + 1, dtype=np.float64)
        running = 0.0
        for k in range(1, n + 1):
            running += 1.0 / k
            table[k] = running
        return table

    @_jit
    def _bucket_sum(A, H, n, r, t, harm):
        """``G(A, H, n, r, t)`` of expected.py: expected sum of hits/pos over the relevant items among the first
        ``t`` positions of a bucket of ``n`` items (``r`` relevant) after ``A`` items (``H`` relevant)."""
        if r <= 0 or t <= 0:
            return 0.0
        beta = (r - 1) / (n - 1) if n > 1 else 0.0
        delta = harm[min(A + t, harm.shape[0] - 1)] - harm[A]
        return r / max(n, 1) * (beta * t + (H + 1 - beta * (A + 1)) * delta)

    @_jit
    def _expected_ap(hist, rel_hist, protocol, topk, harm, out, weights):
        """Per-query ``E[AP]`` (protocol 0 = deephash, 1 = dcmh, 2 = dchn) into ``out``; ``weights``: scratch of
        at least ``n_items + 2`` float64 (the log-weights of the finite sums)."""
        nq, buckets = hist.shape
        for q in range(nq):
            R = np.int64(0)
            for d in range(buckets):
                R += rel_hist[q, d]
            if protocol == 1:  # dcmh: the first m = min(K, R) relevant items
                m = min(topk, R)
                if m == 0:
                    out[q] = 0.0
                    continue
                A = np.int64(0)
                H = np.int64(0)
                total = 0.0
                for d in range(buckets):
                    n = hist[q, d]
                    r = rel_hist[q, d]
                    if H + r < m:
                        total += _bucket_sum(A, H, n, r, n, harm)
                    elif H < m:  # the bucket holding the m-th relevant item
                        s = m - H
                        if s == r:
                            total += _bucket_sum(A, H, n, r, n, harm)
                        else:  # position tau of its s-th relevant item: negative hypergeometric
                            lo = s
                            hi = n - r + s
                            top = -np.inf
                            log_weight = 0.0
                            for tau in range(lo, hi + 1):
                                if tau > lo:
                                    x = tau - 1
                                    log_weight += np.log((x * (n - x - r + s)) / ((x - s + 1) * (n - x)))
                                weights[tau - lo] = log_weight
                                top = max(top, log_weight)
                            numerator = 0.0
                            denominator = 0.0
                            for tau in range(lo, hi + 1):
                                w = np.exp(weights[tau - lo] - top)
                                value = _bucket_sum(A, H, tau - 1, s - 1, tau - 1, harm) + (H + s) / (A + tau)
                                numerator += w * value
                                denominator += w
                            total += numerator / denominator
                    A += n
                    H += r
                out[q] = total / m
                continue
            # deephash / dchn: buckets entirely in the top K, and the one straddling K (if any)
            A = np.int64(0)
            H = np.int64(0)
            sum_full = 0.0
            relevant_full = np.int64(0)
            straddle = -1
            A_s = np.int64(0)
            H_s = np.int64(0)
            for d in range(buckets):
                n = hist[q, d]
                r = rel_hist[q, d]
                if A + n <= topk:
                    sum_full += _bucket_sum(A, H, n, r, n, harm)
                    relevant_full += r
                elif A < topk and straddle < 0:
                    straddle = d
                    A_s = A
                    H_s = H
                A += n
                H += r
            if protocol == 2:
                if R == 0:
                    out[q] = np.nan
                    continue
                partial = 0.0
                if straddle >= 0:
                    partial = _bucket_sum(A_s, H_s, hist[q, straddle], rel_hist[q, straddle], topk - A_s, harm)
                out[q] = (sum_full + partial) / R
                continue
            result = sum_full / relevant_full if relevant_full > 0 else 0.0
            if straddle >= 0 and rel_hist[q, straddle] > 0:  # x relevant among its first t: hypergeometric
                n = hist[q, straddle]
                r = rel_hist[q, straddle]
                t = topk - A_s
                lo = max(t - (n - r), 0)
                hi = min(r, t)
                top = -np.inf
                log_weight = 0.0
                for x in range(lo, hi + 1):
                    if x > lo:
                        y = x - 1
                        log_weight += np.log(((r - y) * (t - y)) / ((y + 1) * (n - r - t + y + 1)))
                    weights[x - lo] = log_weight
                    top = max(top, log_weight)
                numerator = 0.0
                denominator = 0.0
                for x in range(lo, hi + 1):
                    w = np.exp(weights[x - lo] - top)
                    normaliser = H_s + x
                    value = (sum_full + _bucket_sum(A_s, H_s, t, x, t, harm)) / normaliser if normaliser > 0 else 0.0
                    numerator += w * value
                    denominator += w
                result = numerator / denominator
            out[q] = result

    @_jit
    def _expected_relevant_in_top(hist, rel_hist, ns, out):
        """``out[q, g] = E[#relevant among the top ns[g]]`` (index-free: full buckets + a share of the straddling
        one)."""
        nq, buckets = hist.shape
        for q in range(nq):
            for g in range(ns.shape[0]):
                value = ns[g]
                A = np.int64(0)
                whole = np.int64(0)
                share = 0.0
                for d in range(buckets):
                    n = hist[q, d]
                    if A + n <= value:
                        whole += rel_hist[q, d]
                    elif A < value:
                        share += rel_hist[q, d] * ((value - A) / max(n, 1))
                    A += n
                out[q, g] = whole + share


_PROTOCOL_CODES = {"deephash": 0, "dcmh": 1, "dchn": 2}


def expected_average_precision(protocol: str, hist: torch.Tensor, rel_hist: torch.Tensor, topk: int) -> torch.Tensor:
    """Compiled :func:`hashlib_core.metrics.expected.expected_average_precision` (CPU tensors in and out)."""
    hist_np = np.ascontiguousarray(hist.numpy(), dtype=np.int64)
    rel_np = np.ascontiguousarray(rel_hist.numpy(), dtype=np.int64)
    n_items = int(hist_np[0].sum())
    out = np.empty(hist_np.shape[0], dtype=np.float64)
    _expected_ap(hist_np, rel_np, _PROTOCOL_CODES[protocol], int(topk), _harmonic_table(n_items), out,
                 np.empty(n_items + 2, dtype=np.float64))
    return torch.from_numpy(out)


def expected_relevant_in_top(hist: torch.Tensor, rel_hist: torch.Tensor, ns) -> torch.Tensor:
    """Compiled :func:`hashlib_core.metrics.expected.expected_relevant_in_top` (CPU tensors in and out)."""
    hist_np = np.ascontiguousarray(hist.numpy(), dtype=np.int64)
    out = np.empty((hist_np.shape[0], len(ns)), dtype=np.float64)
    _expected_relevant_in_top(hist_np, np.ascontiguousarray(rel_hist.numpy(), dtype=np.int64),
                              np.asarray(list(ns), dtype=np.int64), out)
    return torch.from_numpy(out)


_HARMONIC: dict = {}


def _harmonic_table(n: int) -> np.ndarray:
    if n not in _HARMONIC:
        _HARMONIC.clear()
        _HARMONIC[n] = _harmonic(n)
    return _HARMONIC[n]


# ---- the driver -------------------------------------------------------------------------------------------------

def scan_compiled(problem, *, histogram: bool, cutoffs: tuple, first: bool, grid: tuple, threads: int | None = None,
                  query_block: int | None = None, item_tile: int | None = None, bar=None):
    """Run the compiled scan on a numpy-backend :class:`~hashlib_core.metrics.engine.Problem`; return the same
    :class:`~hashlib_core.metrics.engine.RankStats` as :func:`~hashlib_core.metrics.engine.scan` (torch tensors
    sharing memory with numpy arrays). ``cutoffs``/``grid`` are validated by the caller (``1..n_items``)."""
    from .engine import RankStats  # engine imports this module lazily; no import cycle at load time

    if not available():
        raise RuntimeError("numba is not installed: pip install numba (or hashbook[fast])")
    nq, n_items, bits = problem.n_query, problem.n_items, problem.bits
    buckets = bits + 1
    query_block = int(query_block or _QUERY_BLOCK)
    item_tile = int(item_tile or _ITEM_TILE)
    threads = max(1, int(threads or default_threads()))
    ranks = bool(cutoffs or grid)
    ql, rl, ids = label_arrays(problem.labels)
    words, label_words = problem.query_words.shape[1], ql.shape[1]
    qw = np.ascontiguousarray(problem.query_words, dtype=np.uint64).reshape(-1)
    rw = np.ascontiguousarray(problem.retrieval_words, dtype=np.uint64).reshape(-1)
    ql, rl = ql.reshape(-1), rl.reshape(-1)

    order = np.argsort(np.asarray(cutoffs, dtype=np.int64), kind="stable")
    sorted_cutoffs = np.asarray(cutoffs, dtype=np.int64)[order]
    targets = np.unique(np.concatenate([sorted_cutoffs, np.asarray(grid, dtype=np.int64)])).astype(np.int64)
    target_of_cutoff = np.searchsorted(targets, sorted_cutoffs).astype(np.int64)
    target_of_grid = np.searchsorted(targets, np.asarray(grid, dtype=np.int64)).astype(np.int64)

    hist = np.zeros((nq, buckets), dtype=np.int64)
    rel_hist = np.zeros((nq, buckets), dtype=np.int64)
    n_relevant = np.zeros(nq, dtype=np.int64)
    n_cut = len(cutoffs)
    sum_topk = np.zeros((nq, n_cut), dtype=np.float64)
    count_topk = np.zeros((nq, n_cut), dtype=np.int64)
    sum_first = np.zeros((nq, n_cut), dtype=np.float64)
    grid_counts = np.zeros((nq, len(grid)), dtype=np.int64)

    def run(q0: int, q1: int) -> int:
        _scan_range(qw, rw, ql, rl, words, label_words, ids, bits, q0, q1, ranks, bool(first), sorted_cutoffs, targets,
                    target_of_cutoff, target_of_grid, hist, rel_hist, n_relevant, sum_topk, count_topk, sum_first,
                    grid_counts, query_block, item_tile, _KEY_BUFFER)
        return q1 - q0

    # tasks of whole query blocks; several per thread so a busy core does not hold up the others
    per_task = max(query_block, -(-nq // (threads * 8)) // query_block * query_block)
    bounds = [(q0, min(nq, q0 + per_task)) for q0 in range(0, nq, per_task)]
    if threads == 1 or len(bounds) == 1:
        for q0, q1 in bounds:
            run(q0, q1)
            if bar is not None:
                bar.update(q1 - q0)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(threads, len(bounds))) as pool:
            for done in pool.map(lambda b: run(*b), bounds):
                if bar is not None:
                    bar.update(done)

    stats = RankStats(bits=bits, n_items=n_items, device=torch.device("cpu"), cutoffs=tuple(cutoffs),
                      grid=tuple(grid), n_relevant=torch.from_numpy(n_relevant), backend="numba")
    if histogram or not ranks:
        stats.hist, stats.rel_hist = torch.from_numpy(hist), torch.from_numpy(rel_hist)
    if ranks:
        back = np.empty_like(order)
        back[order] = np.arange(order.size)  # columns back in the caller's cutoff order
        stats.sum_topk = torch.from_numpy(np.ascontiguousarray(sum_topk[:, back]))
        stats.count_topk = torch.from_numpy(np.ascontiguousarray(count_topk[:, back]))
        stats.sum_first = torch.from_numpy(np.ascontiguousarray(sum_first[:, back])) if first else None
        if grid:
            stats.grid_counts = torch.from_numpy(grid_counts)
    return stats


__all__ = ["available", "supports", "default_threads", "label_arrays", "scan_compiled", "expected_average_precision",
           "expected_relevant_in_top"]
