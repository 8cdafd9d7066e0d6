"""The fused CUDA scan (Triton): per-(query, distance) counters on chip, no (queries x items) matrix, no sort.

The same two passes as the compiled CPU kernel (:mod:`~hashlib_core.metrics.cpu_kernel`), cut for a GPU. The
retrieval set is split into ``S`` segments; one program handles a block of ``BQ`` queries against one segment,
walking it in tiles of ``BN`` items. For each (query, item) of a tile it forms ``key = 2 * d + rel`` in registers
(``d``: XOR + popcount over packed int64 code words; ``rel``: class-id equality or an AND over int64 label words).

* **Pass 1** (``_histogram_kernel``): ``tl.histogram`` of the tile's keys, accumulated in registers per query;
  each program writes its segment's ``(query, key)`` counts. Summing the segments gives ``hist``/``rel_hist``:
  everything ``ties="expected"`` and the radius curves need. Nothing else is computed, so ``"expected"`` costs
  one pass and is never slower than ``"index"``.
* **Pass 2** (``_rank_kernel``, ``ties="index"`` only): the program's counters start at the exact rank offsets
  of its segment (items at a smaller distance, plus items at the same distance in earlier segments: prefix sums
  of pass 1, computed with torch on the GPU). Inside a tile, an item's rank among equal distances is its counter
  plus the number of earlier items of the tile at the same distance (a ``BN x BN`` comparison in registers), so
  every item gets ``pos`` and ``hits`` exactly as a stable sort would; then the counters advance by the tile's
  histogram. Relevant items add ``hits / pos`` (float64) to the per-cutoff sums, counts and ``"dcmh"`` sums of
  the first ``min(K, R)`` relevant items; precision@N grid points come from a histogram of the grid slot of each
  relevant item's rank (a small lookup table ``rank -> slot``).

Memory: the inputs (packed codes, label words), ``(queries, S, 2 * next_pow2(bits + 1))`` int32 segment
histograms and the small per-(query, segment) outputs, for at most ``_MAX_TABLE_BYTES`` of queries at a time;
never anything of size queries x items. Up to ``_MAX_BITS`` bits (wider codes use the torch path).

The kernels are checked once per process and GPU against the torch path on small random problems
(:func:`self_check`) before they become the default; on any failure the engine warns and keeps the torch path.
Under ``TRITON_INTERPRET=1`` (set before this module is imported) Triton runs them on the CPU, which is how the
tests exercise them without a GPU.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import torch

try:  # Triton ships with the CUDA builds of torch
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice
except ImportError:  # pragma: no cover - exercised where triton is absent
    triton = None

_MAX_BITS = 256                 # 2 * next_pow2(bits + 1) histogram bins per query stay small
_MAX_TABLE_BYTES = 2**28        # per-(query, segment) tables of one launch
_HIST_BLOCK = (4, 256)          # (BQ, BN) of the histogram kernel
_RANK_BLOCK = (4, 32)           # (BQ, BN) of the rank kernel (its tile comparison is BQ x BN x BN)


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() not in ("", "0", "false", "no", "off")


def available() -> bool:
    return triton is not None


def unsupported_reason(device: torch.device, bits: int) -> str | None:
    """Why the fused kernels cannot run for ``bits``-bit codes on ``device`` (``None``: they can)."""
    if triton is None:
        return "Triton is not installed (it ships with the CUDA builds of torch)"
    if bits > _MAX_BITS:
        return f"at most {_MAX_BITS} bits (got {bits}); the torch path handles wider codes"
    if device.type == "cuda" or (device.type == "cpu" and interpreting()):
        return None
    return f"needs a CUDA device (or TRITON_INTERPRET=1 on the CPU), not {device}"


def _next_pow2(value: int) -> int:
    return 1 << max(0, int(value) - 1).bit_length()


if triton is not None:
    @triton.jit
    def _popcount(x, POPC: tl.constexpr):
        """Bits set in each int64 of ``x`` (int32): the hardware instruction on CUDA, SWAR in the interpreter."""
        if POPC:
            count = libdevice.popc(x)
        else:
            u = x.to(tl.uint64, bitcast=True)
            u = u - ((u >> 1) & 0x5555555555555555)
            u = (u & 0x3333333333333333) + ((u >> 2) & 0x3333333333333333)
            u = (u + (u >> 4)) & 0x0F0F0F0F0F0F0F0F
            count = ((u * 0x0101010101010101) >> 56).to(tl.int32)
        return count

    @triton.jit
    def _tile_keys(qw, rw, ql, rl, qs, q_ok, js, j_ok, W: tl.constexpr, L: tl.constexpr, IDS: tl.constexpr,
                   POPC: tl.constexpr):
        """``(d, rel)`` of queries ``qs`` x items ``js``: int32 distances and bool relevance, ``(BQ, BN)``."""
        d = tl.zeros([qs.shape[0], js.shape[0]], dtype=tl.int32)
        for w in tl.static_range(W):
            a = tl.load(qw + qs.to(tl.int64) * W + w, mask=q_ok, other=0)
            b = tl.load(rw + js.to(tl.int64) * W + w, mask=j_ok, other=0)
            d += _popcount(a[:, None] ^ b[None, :], POPC)
        if IDS:
            a = tl.load(ql + qs.to(tl.int64), mask=q_ok, other=0)
            b = tl.load(rl + js.to(tl.int64), mask=j_ok, other=0)
            rel = a[:, None] == b[None, :]
        else:
            rel = tl.zeros([qs.shape[0], js.shape[0]], dtype=tl.int1)
            for w in tl.static_range(L):
                a = tl.load(ql + qs.to(tl.int64) * L + w, mask=q_ok, other=0)
                b = tl.load(rl + js.to(tl.int64) * L + w, mask=j_ok, other=0)
                rel = rel | ((a[:, None] & b[None, :]) != 0)
        return d, rel

    @triton.jit
    def _histogram_kernel(qw, rw, ql, rl, seg_hist, nq, n_items, seg_len, S, W: tl.constexpr, L: tl.constexpr,
                          IDS: tl.constexpr, POPC: tl.constexpr, BQ: tl.constexpr, BN: tl.constexpr,
                          NB2: tl.constexpr):
        """``seg_hist[q, s, 2 d + rel]`` = items of segment ``s`` at distance ``d`` with relevance ``rel``."""
        pid_q = tl.program_id(0)
        pid_s = tl.program_id(1)
        rows = tl.arange(0, BQ)
        qs = pid_q * BQ + rows
        q_ok = qs < nq
        r_begin = pid_s * seg_len
        r_end = tl.minimum(r_begin + seg_len, n_items)
        acc = tl.zeros([BQ * NB2], dtype=tl.int32)
        for r0 in range(r_begin, r_end, BN):
            js = r0 + tl.arange(0, BN)
            j_ok = js < r_end
            d, rel = _tile_keys(qw, rw, ql, rl, qs, q_ok, js, j_ok, W, L, IDS, POPC)
            key = d * 2 + rel.to(tl.int32) + (rows * NB2)[:, None]
            valid = q_ok[:, None] & j_ok[None, :]
            acc += tl.histogram(tl.reshape(key, [BQ * BN]), BQ * NB2, mask=tl.reshape(valid, [BQ * BN]))
        bins = tl.arange(0, NB2)
        offsets = (qs.to(tl.int64)[:, None] * S + pid_s) * NB2 + bins[None, :]
        tl.store(seg_hist + tl.reshape(offsets, [BQ * NB2]), acc,
                 mask=tl.reshape(q_ok[:, None] & (bins[None, :] >= 0), [BQ * NB2]))

    @triton.jit
    def _rank_kernel(qw, rw, ql, rl, pos_base, hit_base, cutoffs, limits, slots, sums, counts, firsts, grid_slots,
                     nq, n_items, seg_len, S, W: tl.constexpr, L: tl.constexpr, IDS: tl.constexpr,
                     POPC: tl.constexpr, BQ: tl.constexpr, BN: tl.constexpr, NBP: tl.constexpr,
                     NCP: tl.constexpr, FIRST: tl.constexpr, GRID: tl.constexpr, GP: tl.constexpr):
        """Index-tie rank terms of segment ``s`` for a block of queries (see the module docstring)."""
        pid_q = tl.program_id(0)
        pid_s = tl.program_id(1)
        rows = tl.arange(0, BQ)
        qs = pid_q * BQ + rows
        q_ok = qs < nq
        r_begin = pid_s * seg_len
        r_end = tl.minimum(r_begin + seg_len, n_items)
        bins = tl.arange(0, NBP)
        table = (qs.to(tl.int64)[:, None] * S + pid_s) * NBP + bins[None, :]
        pos_ctr = tl.load(pos_base + table, mask=q_ok[:, None], other=0)   # (BQ, NBP) rank offsets
        hit_ctr = tl.load(hit_base + table, mask=q_ok[:, None], other=0)
        cols = tl.arange(0, NCP)
        cut = tl.load(cutoffs + cols)                                         # padded with 0: never reached
        limit = tl.load(limits + qs.to(tl.int64)[:, None] * NCP + cols[None, :], mask=q_ok[:, None], other=0)
        acc_sum = tl.zeros([BQ, NCP], dtype=tl.float64)
        acc_count = tl.zeros([BQ, NCP], dtype=tl.int32)
        acc_first = tl.zeros([BQ, NCP], dtype=tl.float64)
        acc_grid = tl.zeros([BQ * GP], dtype=tl.int32)
        lane = tl.arange(0, BN)
        earlier = lane[None, :] < lane[:, None]                                # [j, j']: j' before j
        for r0 in range(r_begin, r_end, BN):
            js = r0 + lane
            j_ok = js < r_end
            d, rel = _tile_keys(qw, rw, ql, rl, qs, q_ok, js, j_ok, W, L, IDS, POPC)
            valid = q_ok[:, None] & j_ok[None, :]
            relevant = rel & valid
            same = (d[:, :, None] == d[:, None, :]) & earlier[None, :, :] & valid[:, None, :]
            before = tl.sum(same.to(tl.int32), axis=2)
            relevant_before = tl.sum((same & relevant[:, None, :]).to(tl.int32), axis=2)
            dd = tl.where(valid, d, 0)
            pos = tl.gather(pos_ctr, dd, 1) + before + 1
            hits = tl.gather(hit_ctr, dd, 1) + relevant_before + 1
            ratio = tl.where(relevant, hits.to(tl.float64) / pos.to(tl.float64), 0.0)
            inside = (pos[:, :, None] <= cut[None, None, :]) & relevant[:, :, None]
            acc_sum += tl.sum(tl.where(inside, ratio[:, :, None], 0.0), axis=1)
            acc_count += tl.sum(inside.to(tl.int32), axis=1)
            if FIRST:
                counted = (hits[:, :, None] <= limit[:, None, :]) & relevant[:, :, None]
                acc_first += tl.sum(tl.where(counted, ratio[:, :, None], 0.0), axis=1)
            if GRID:
                slot = tl.load(slots + (pos - 1).to(tl.int64), mask=relevant, other=0) + (rows * GP)[:, None]
                acc_grid += tl.histogram(tl.reshape(slot, [BQ * BN]), BQ * GP,
                                         mask=tl.reshape(relevant, [BQ * BN]))
            key = dd + (rows * NBP)[:, None]
            flat = tl.reshape(key, [BQ * BN])
            pos_ctr += tl.reshape(tl.histogram(flat, BQ * NBP, mask=tl.reshape(valid, [BQ * BN])), [BQ, NBP])
            hit_ctr += tl.reshape(tl.histogram(flat, BQ * NBP, mask=tl.reshape(relevant, [BQ * BN])), [BQ, NBP])
        out = (qs.to(tl.int64)[:, None] * S + pid_s) * NCP + cols[None, :]
        tl.store(sums + out, acc_sum, mask=q_ok[:, None])
        tl.store(counts + out, acc_count, mask=q_ok[:, None])
        if FIRST:
            tl.store(firsts + out, acc_first, mask=q_ok[:, None])
        if GRID:
            gbins = tl.arange(0, GP)
            goffsets = (qs.to(tl.int64)[:, None] * S + pid_s) * GP + gbins[None, :]
            tl.store(grid_slots + tl.reshape(goffsets, [BQ * GP]), acc_grid,
                     mask=tl.reshape(q_ok[:, None] & (gbins[None, :] >= 0), [BQ * GP]))


def _label_tensors(problem):
    from .cpu_kernel import label_arrays

    labels = problem.labels
    if isinstance(labels.query, torch.Tensor):
        from .labels import LabelSets
        labels = LabelSets(labels.kind, labels.query.cpu().numpy(), labels.retrieval.cpu().numpy())
    ql, rl, ids = label_arrays(labels)
    device = problem.device
    return (torch.from_numpy(ql).to(device).contiguous(), torch.from_numpy(rl).to(device).contiguous(), ids)


def _segments(n_query: int, n_items: int, block_q: int, block_n: int, device: torch.device) -> int:
    """Retrieval segments: enough programs to fill the GPU, segments of at least a few tiles."""
    units = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4
    programs_per_segment = -(-n_query // block_q)
    wanted = -(-(8 * units) // programs_per_segment)
    return int(max(1, min(wanted, -(-n_items // (4 * block_n)))))


def scan_fused(problem, *, histogram: bool, cutoffs: tuple, first: bool, grid: tuple, threads=None,
               query_block: int | None = None, item_tile: int | None = None, bar=None):
    """Run the fused kernels on a ``backend="triton"`` :class:`~hashlib_core.metrics.engine.Problem`; return the
    same :class:`~hashlib_core.metrics.engine.RankStats` as :func:`~hashlib_core.metrics.engine.scan` (tensors
    on the problem's device). ``query_block``/``item_tile`` override both kernels' ``BQ``/``BN`` (powers of 2)."""
    from .engine import RankStats

    device, nq, n_items, bits = problem.device, problem.n_query, problem.n_items, problem.bits
    for name, value in (("query_block", query_block), ("item_tile", item_tile)):
        if value is not None and value & (value - 1):
            raise ValueError(f"{name} must be a power of 2 for the triton backend, got {value}")
    buckets = bits + 1
    qw, rw = problem.query_words.contiguous(), problem.retrieval_words.contiguous()
    ql, rl, ids = _label_tensors(problem)
    W, L = qw.shape[1], ql.shape[1]
    popc = device.type == "cuda" and not interpreting()
    hq, hn = query_block or _HIST_BLOCK[0], item_tile or _HIST_BLOCK[1]
    kq, kn = query_block or _RANK_BLOCK[0], item_tile or _RANK_BLOCK[1]
    NB2, NBP = _next_pow2(2 * buckets), _next_pow2(buckets)
    ranks = bool(cutoffs or grid)

    unique_cut = sorted(set(int(k) for k in cutoffs))
    NC = len(unique_cut)
    NCP = _next_pow2(max(NC, 1))
    cut_t = torch.zeros(NCP, dtype=torch.int32, device=device)
    if NC:
        cut_t[:NC] = torch.tensor(unique_cut, dtype=torch.int32, device=device)
    G = len(grid)
    GP = _next_pow2(G + 1)
    slot_table = None
    if G:
        grid_t = torch.tensor(grid, dtype=torch.int64, device=device)
        ranks_1 = torch.arange(1, n_items + 1, dtype=torch.int64, device=device)
        slot_table = torch.searchsorted(grid_t, ranks_1).to(torch.int32)  # first g with grid[g] >= rank

    hist = torch.zeros(nq, buckets, dtype=torch.int64, device=device)
    rel_hist = torch.zeros(nq, buckets, dtype=torch.int64, device=device)
    sum_topk = torch.zeros(nq, NC, dtype=torch.float64, device=device)
    count_topk = torch.zeros(nq, NC, dtype=torch.int64, device=device)
    sum_first = torch.zeros(nq, NC, dtype=torch.float64, device=device)
    grid_counts = torch.zeros(nq, G, dtype=torch.int64, device=device)

    S = _segments(nq, n_items, max(hq, kq), min(hn, kn), device)
    per_query = S * (NB2 * 4 + 2 * NBP * 4 + NCP * 24 + GP * 4)
    chunk = max(max(hq, kq), min(nq, _MAX_TABLE_BYTES // per_query))
    for c0 in range(0, nq, chunk):
        c1 = min(nq, c0 + chunk)
        cq = c1 - c0
        qw_c = qw[c0:c1].contiguous()
        ql_c = ql[c0:c1].contiguous()
        seg_len = -(-(-(-n_items // S)) // max(hn, kn)) * max(hn, kn)  # a whole number of both kernels' tiles
        seg_hist = torch.empty(cq, S, NB2, dtype=torch.int32, device=device)
        _histogram_kernel[(-(-cq // hq), S)](qw_c, rw, ql_c, rl, seg_hist, cq, n_items, seg_len, S, W=W, L=L,
                                             IDS=ids, POPC=popc, BQ=hq, BN=hn, NB2=NB2)
        pairs = seg_hist[:, :, :2 * buckets].long().view(cq, S, buckets, 2)
        seg_items = pairs.sum(dim=3)             # (cq, S, buckets)
        seg_relevant = pairs[..., 1]
        hist[c0:c1] = seg_items.sum(dim=1)
        rel_hist[c0:c1] = seg_relevant.sum(dim=1)
        if ranks:  # rank offsets of segment s: items at a smaller distance + at the same distance in segments < s
            R = rel_hist[c0:c1].sum(dim=1)
            items_before = hist[c0:c1].cumsum(dim=1) - hist[c0:c1]
            relevant_before = rel_hist[c0:c1].cumsum(dim=1) - rel_hist[c0:c1]
            pos_base = torch.zeros(cq, S, NBP, dtype=torch.int32, device=device)
            hit_base = torch.zeros(cq, S, NBP, dtype=torch.int32, device=device)
            pos_base[:, :, :buckets] = (items_before[:, None, :] + seg_items.cumsum(dim=1) - seg_items).int()
            hit_base[:, :, :buckets] = (relevant_before[:, None, :] + seg_relevant.cumsum(dim=1)
                                        - seg_relevant).int()
            limits = torch.minimum(cut_t[None, :].long(), R[:, None]).int().contiguous()
            sums = torch.empty(cq, S, NCP, dtype=torch.float64, device=device)
            counts = torch.empty(cq, S, NCP, dtype=torch.int32, device=device)
            firsts = torch.zeros(cq, S, NCP, dtype=torch.float64, device=device)
            grid_slots = torch.zeros(cq, S, GP, dtype=torch.int32, device=device)
            _rank_kernel[(-(-cq // kq), S)](
                qw_c, rw, ql_c, rl, pos_base, hit_base, cut_t, limits,
                slot_table if slot_table is not None else cut_t, sums, counts, firsts, grid_slots,
                cq, n_items, seg_len, S, W=W, L=L, IDS=ids, POPC=popc, BQ=kq, BN=kn, NBP=NBP, NCP=NCP,
                FIRST=bool(first), GRID=G > 0, GP=GP)
            sum_topk[c0:c1] = sums.sum(dim=1)[:, :NC]
            count_topk[c0:c1] = counts.long().sum(dim=1)[:, :NC]
            sum_first[c0:c1] = firsts.sum(dim=1)[:, :NC]
            if G:
                grid_counts[c0:c1] = grid_slots.long().sum(dim=1)[:, :G].cumsum(dim=1)
        if bar is not None:
            bar.update(cq)

    stats = RankStats(bits=bits, n_items=n_items, device=device, cutoffs=tuple(int(k) for k in cutoffs),
                      grid=tuple(int(n) for n in grid), n_relevant=rel_hist.sum(dim=1), backend="triton")
    if histogram or not ranks:
        stats.hist, stats.rel_hist = hist, rel_hist
    if ranks:
        columns = torch.tensor([unique_cut.index(int(k)) for k in cutoffs], dtype=torch.int64, device=device)
        stats.sum_topk = sum_topk[:, columns]
        stats.count_topk = count_topk[:, columns]
        stats.sum_first = sum_first[:, columns] if first else None
        if G:
            stats.grid_counts = grid_counts
    return stats


@functools.lru_cache(maxsize=None)
def _self_check_cached(device_key: str) -> bool:
    from . import engine
    from .average_precision import ap_from_stats
    from .synthetic import label_derived_codes, synthetic_multilabel

    device = torch.device(device_key)
    saved = dict(engine._OVERRIDES)
    engine._OVERRIDES.clear()  # the check runs with the engine's own choices, whatever the caller overrode
    try:
        for classes, bits, n_query, n_items in ((24, 64, 37, 301), (70, 96, 9, 130), (0, 16, 5, 77)):
            if classes:
                labels = synthetic_multilabel(n_query + n_items, classes, seed=bits)
            else:
                labels = np.random.default_rng(bits).integers(0, 3, n_query + n_items)
            codes = label_derived_codes(labels, bits, noise=1.5, seed=bits + 1)
            args = (codes[:n_query], codes[n_query:], labels[:n_query], labels[n_query:])
            cutoffs, grid = (n_items, 10), (1, 5, 50, n_items)
            results = {}
            for backend in ("torch", "triton"):
                with engine.engine_options(backend=backend):
                    problem = engine.prepare_problem(*args, device=device)
                    results[backend] = engine.scan(problem, histogram=True, cutoffs=cutoffs, first=True, grid=grid)
            ref, got = results["torch"], results["triton"]
            if not (torch.equal(ref.hist.cpu(), got.hist.cpu()) and torch.equal(ref.rel_hist.cpu(),
                                                                                  got.rel_hist.cpu())
                    and torch.equal(ref.grid_counts.cpu(), got.grid_counts.cpu())):
                raise AssertionError("histogram or precision@N counts differ from the torch path")
            for protocol in ("deephash", "dcmh", "dchn"):
                for topk in cutoffs:
                    a = ap_from_stats(ref, protocol, "index", topk).cpu().double()
                    b = ap_from_stats(got, protocol, "index", topk).cpu().double()
                    if not torch.allclose(a.nan_to_num(-1.0), b.nan_to_num(-1.0), rtol=0, atol=1e-12):
                        raise AssertionError(f"{protocol} AP@{topk} differs from the torch path")
    except Exception as exc:  # noqa: BLE001 - any failure means: keep the torch path
        warnings.warn(f"hashlib_core.metrics: the Triton kernels failed their self-check on {device} "
                      f"({type(exc).__name__}: {exc}); using the torch path", RuntimeWarning, stacklevel=3)
        return False
    finally:
        engine._OVERRIDES.clear()
        engine._OVERRIDES.update(saved)
    return True


def self_check(device: torch.device) -> bool:
    """Once per process and device: do the fused kernels reproduce the torch path exactly on small random
    problems (multi-hot, > 64 labels, class ids; 16, 64 and 96 bits)? ``False`` (with a warning) on any error."""
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return _self_check_cached(str(device))


__all__ = ["available", "interpreting", "unsupported_reason", "scan_fused", "self_check"]
