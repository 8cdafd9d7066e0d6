"""The ``"expected"`` tie rule in closed form: the exact expectation over all orders within equal distances.

Per query the ranking is a sequence of distance buckets ``d = 0..bits``; bucket ``d`` holds ``n`` items, ``r`` of
them relevant, after ``A`` items (``H`` relevant) at smaller distances. Under ``ties="expected"`` every order
inside a bucket is equally likely, independently across buckets. Notation: ``Harm(k) = 1 + 1/2 + ... + 1/k``
(a float64 table), ``dH(A, t) = Harm(A + t) - Harm(A) = sum_{p=1..t} 1/(A + p)``.

**Partial bucket sum.** The expected sum of ``hits/pos`` over the relevant items among the first ``t`` positions of
a bucket ``(A, H, n, r)`` is ::

    G(A, H, n, r, t) = (r / n) * [ beta * t + (H + 1 - beta * (A + 1)) * dH(A, t) ],  beta = (r - 1) / (n - 1)

(``beta = 0`` when ``n = 1``). Derivation: a given relevant item sits at bucket position ``p`` with probability
``1/n``; given ``p``, each of the other ``r - 1`` relevant items precedes it with probability ``(p - 1)/(n - 1)``,
so ``E[hits | p] = H + 1 + beta (p - 1)``; summing ``E[hits | p] / (A + p)`` over ``p <= t`` and over the ``r``
relevant items, and writing ``H + 1 + beta (p - 1) = beta (A + p) + (H + 1 - beta (A + 1))``, gives ``G``.
``G(A, H, n, r, n)`` is the whole bucket.

**Protocols** (``K`` = topk, ``R`` = all relevant; buckets with ``A + n <= K`` are *full*, the bucket with
``A < K < A + n`` *straddles* ``K`` and contributes its first ``t = K - A`` positions):

* ``"dchn"``: ``E[AP] = (sum_full G(.., n) + G(A*, H*, n*, r*, t)) / R`` (the normaliser is fixed).
* ``"deephash"``: the normaliser (relevant items in the top ``K``) is random when a bucket straddles ``K``: the
  number ``x`` of relevant items among its first ``t`` positions is hypergeometric,
  ``P(x) = C(r*, x) C(n* - r*, t - x) / C(n*, t)``, and given ``x`` those ``t`` positions are a random order of
  ``x`` relevant among ``t`` items. Earlier buckets are independent of it, so ::

      E[AP] = sum_x P(x) * (S_full + G(A*, H*, t, x, t)) / (H* + x)     (a term with H* + x = 0 is 0),

  with ``S_full = sum_full G(.., n)`` and ``H* = relevant items in the full buckets``; without a straddling bucket
  ``E[AP] = S_full / H*`` (0 when ``H* = 0``).
* ``"dcmh"``: the first ``m = min(K, R)`` relevant items count, ``E[AP] = E[sum_{j<=m} j / pos_j] / m``. Buckets
  before the bucket holding the ``m``-th relevant item count fully; in that bucket ``(A, H, n, r)`` the first
  ``s = m - H`` of its ``r`` relevant items count, and these are random ones. If ``s = r`` the bucket counts fully;
  otherwise condition on the position ``tau`` of its ``s``-th relevant item (negative hypergeometric,
  ``P(tau) = C(tau - 1, s - 1) C(n - tau, r - s) / C(n, r)``, ``tau = s..n - r + s``): the ``s - 1`` earlier
  relevant items are a random order of ``s - 1`` relevant among the first ``tau - 1`` positions, so ::

      E[bucket terms] = sum_tau P(tau) * (G(A, H, tau - 1, s - 1, tau - 1) + (H + s) / (A + tau)).

  ``R = 0`` gives 0.
* ``E[#relevant in the top N] = sum_full r + r* (N - A*) / n*`` (precision@N, recall@N).

The finite sums over ``x`` / ``tau`` are exact (no sampling); their weights are built from consecutive ratios
(``P(x + 1) / P(x)``, no factorials) with log-sum-exp rescaling and normalised by their own sum. Work: at most
``K + 1`` terms per query for ``"deephash"`` and ``n - r + 1`` (the straddling bucket's non-relevant items + 1)
for ``"dcmh"``, evaluated in blocks of at most ``_BLOCK_ELEMENTS`` (query, term) pairs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_BLOCK_ELEMENTS = 2**18  # (queries x support terms) per block of the finite sums
_HARMONIC_CACHE: dict = {}


def harmonic_table(n: int, device: torch.device) -> torch.Tensor:
    """``Harm(k)`` for ``k = 0..n`` (float64, ``Harm(0) = 0``) on ``device`` (cached)."""
    key = (n, str(device))
    if key not in _HARMONIC_CACHE:
        _HARMONIC_CACHE.clear()
        table = np.zeros(n + 1, dtype=np.float64)
        np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64), out=table[1:])
        _HARMONIC_CACHE[key] = torch.from_numpy(table).to(device)
    return _HARMONIC_CACHE[key]


def partial_bucket_sum(A, H, n, r, t, harm: torch.Tensor) -> torch.Tensor:
    """``G(A, H, n, r, t)`` of the module docstring, elementwise over int64 tensors (float64 result)."""
    nf, rf, tf = n.double(), r.double(), t.double()
    beta = torch.where(n > 1, (rf - 1) / (nf - 1).clamp(min=1), torch.zeros_like(nf))
    delta = harm[(A + t).clamp(max=harm.numel() - 1)] - harm[A]
    value = rf / nf.clamp(min=1) * (beta * tf + (H.double() + 1 - beta * (A.double() + 1)) * delta)
    return torch.where((r > 0) & (t > 0), value, torch.zeros_like(value))


def _expectation_over_support(lo, hi, log_ratio, value) -> torch.Tensor:
    """``sum_x w(x) f(x) / sum_x w(x)`` per row over ``x = lo..hi`` (inclusive, int64 ``(S,)``).

    The weights are given by their ratios, ``log_ratio(rows, x) = log(w(x + 1) / w(x))`` for ``lo <= x < hi``,
    accumulated with a running maximum (log-sum-exp rescaling), so no factorial is ever formed and no weight
    overflows; evaluated in blocks of at most ``_BLOCK_ELEMENTS`` terms.
    """
    count = lo.numel()
    device = lo.device
    rows_all = torch.arange(count, device=device)
    length = hi - lo + 1
    numerator = torch.zeros(count, dtype=torch.float64, device=device)
    denominator = torch.zeros_like(numerator)
    reference = torch.full_like(numerator, -math.inf)  # running max of log w
    carry = torch.zeros_like(numerator)                # log w at the end of the previous block
    longest = int(length.max()) if count else 0
    offset = 0
    while offset < longest:
        rows = rows_all[length > offset]
        width = max(1, min(longest - offset, _BLOCK_ELEMENTS // max(1, rows.numel())))
        x = lo[rows, None] + offset + torch.arange(width, device=device)[None, :]
        inside = x <= hi[rows, None]
        step_from = torch.minimum(torch.maximum(x - 1, lo[rows, None]), (hi[rows, None] - 1).clamp(min=0))
        stepping = inside & (x > lo[rows, None])
        steps = torch.where(stepping, log_ratio(rows[:, None], step_from), 0.0)
        log_weight = carry[rows, None] + steps.cumsum(dim=1)
        carry[rows] = log_weight[:, -1]
        block_max = torch.where(inside, log_weight, -math.inf).max(dim=1).values
        new_reference = torch.maximum(reference[rows], block_max)
        rescale = torch.exp(reference[rows] - new_reference)
        weight = torch.where(inside, torch.exp(log_weight - new_reference[:, None]), 0.0)
        clipped = torch.minimum(x, hi[rows, None])
        numerator[rows] = numerator[rows] * rescale + (weight * value(rows[:, None], clipped)).sum(dim=1)
        denominator[rows] = denominator[rows] * rescale + weight.sum(dim=1)
        reference[rows] = new_reference
        offset += width
    return numerator / denominator


def _bucket_tables(hist: torch.Tensor, rel_hist: torch.Tensor):
    before_items = hist.cumsum(dim=1) - hist
    before_relevant = rel_hist.cumsum(dim=1) - rel_hist
    return before_items, before_relevant


def _pick(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(table, 1, index[:, None])[:, 0]


def expected_average_precision(protocol: str, hist: torch.Tensor, rel_hist: torch.Tensor, topk: int) -> torch.Tensor:
    """Per-query ``E[AP]`` under ``ties="expected"`` (float64 ``(nq,)``; NaN where ``"dchn"`` leaves a query out).

    ``hist``/``rel_hist``: ``(nq, bits + 1)`` int64 bucket counts; ``topk``: effective cutoff ``1..n_items``.
    """
    n_items = int(hist[0].sum())
    harm = harmonic_table(n_items, hist.device)
    A, H = _bucket_tables(hist, rel_hist)
    n, r = hist, rel_hist
    R = rel_hist.sum(dim=1)
    whole = partial_bucket_sum(A, H, n, r, n, harm)  # (nq, B): E[sum over the whole bucket]
    if protocol == "dcmh":
        return _expected_dcmh(A, H, n, r, R, whole, topk, harm)
    full = A + n <= topk
    sum_full = (whole * full).sum(dim=1)
    relevant_full = (r * full).sum(dim=1)
    straddle = (A < topk) & (A + n > topk)
    has = straddle.any(dim=1)
    where = straddle.long().argmax(dim=1)
    A_s, H_s, n_s, r_s = (_pick(table, where) for table in (A, H, n, r))
    t_s = topk - A_s
    if protocol == "dchn":
        partial = torch.where(has, partial_bucket_sum(A_s, H_s, n_s, r_s, t_s, harm), 0.0)
        return torch.where(R > 0, (sum_full + partial) / R.clamp(min=1).double(), float("nan"))
    # deephash
    result = torch.where(relevant_full > 0, sum_full / relevant_full.clamp(min=1).double(), 0.0)
    rows = torch.nonzero(has & (r_s > 0)).flatten()  # r* = 0: x = 0 surely, the formula above is exact
    if rows.numel():
        A_s, H_s, n_s, r_s, t_s, s_full = A_s[rows], H_s[rows], n_s[rows], r_s[rows], t_s[rows], sum_full[rows]
        lo = (t_s - (n_s - r_s)).clamp(min=0)
        hi = torch.minimum(r_s, t_s)

        def log_ratio(i, x):  # P(x + 1) / P(x) = (r - x)(t - x) / ((x + 1)(n - r - t + x + 1))
            r, t, n = r_s[i], t_s[i], n_s[i]
            return torch.log(((r - x) * (t - x)).double() / ((x + 1) * (n - r - t + x + 1)).double())

        def value(i, x):
            hits_before = H_s[i]
            terms = s_full[i] + partial_bucket_sum(A_s[i], hits_before, t_s[i], x, t_s[i], harm)
            normaliser = (hits_before + x).double()
            return torch.where(normaliser > 0, terms / normaliser.clamp(min=1), 0.0)

        result[rows] = _expectation_over_support(lo, hi, log_ratio, value)
    return result


def _expected_dcmh(A, H, n, r, R, whole, topk, harm):
    first = torch.clamp(R, max=topk)  # m = min(K, R)
    full = H + r < first[:, None]  # every relevant item of these buckets is among the first m
    sum_full = (whole * full).sum(dim=1)
    crossing = (H < first[:, None]) & (H + r >= first[:, None])  # bucket holding the m-th relevant item
    has = crossing.any(dim=1)
    where = crossing.long().argmax(dim=1)
    A_c, H_c, n_c, r_c, whole_c = (_pick(table, where) for table in (A, H, n, r, whole))
    s_c = first - H_c
    contribution = torch.where(has & (s_c == r_c), whole_c, 0.0)
    rows = torch.nonzero(has & (s_c < r_c)).flatten()
    if rows.numel():
        A_c, H_c, n_c, r_c, s_c = A_c[rows], H_c[rows], n_c[rows], r_c[rows], s_c[rows]
        lo, hi = s_c, n_c - r_c + s_c

        def log_ratio(i, tau):  # P(tau + 1) / P(tau) = tau (n - tau - r + s) / ((tau - s + 1)(n - tau))
            n, r, s = n_c[i], r_c[i], s_c[i]
            return torch.log((tau * (n - tau - r + s)).double() / ((tau - s + 1) * (n - tau)).double())

        def value(i, tau):
            earlier = partial_bucket_sum(A_c[i], H_c[i], tau - 1, s_c[i] - 1, tau - 1, harm)
            return earlier + (H_c[i] + s_c[i]).double() / (A_c[i] + tau).double()

        contribution[rows] = _expectation_over_support(lo, hi, log_ratio, value)
    return torch.where(first > 0, (sum_full + contribution) / first.clamp(min=1).double(), 0.0)


def expected_relevant_in_top(hist: torch.Tensor, rel_hist: torch.Tensor, ns) -> torch.Tensor:
    """``E[#relevant among the top N]`` per query for each ``N`` in ``ns``: ``(nq, len(ns))`` float64."""
    A, H = _bucket_tables(hist, rel_hist)
    columns = []
    for value in ns:
        full = (A + hist <= value)
        straddle = (A < value) & (A + hist > value)
        share = (value - A).double() / hist.clamp(min=1).double()
        columns.append((rel_hist * full).sum(dim=1).double() + (rel_hist.double() * share * straddle).sum(dim=1))
    return torch.stack(columns, dim=1)
