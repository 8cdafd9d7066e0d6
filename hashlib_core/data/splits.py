"""Split protocols: the query / train / retrieval rules of the papers, seeded with ``numpy.random.default_rng``.

Every rule works on a *pool* of row indices (all rows, or a seeded stratified subset, see
:func:`stratified_subset`) and returns sorted int64 row indices. Count-based rules take a ``scale`` (pool size
/ full size): on a subset their counts shrink in proportion (rounded, at least 1), so a smoke run keeps the
protocol's shape at a smaller size. Membership rules (a published test/train split) intersect with the pool.

Rules (the book's datasets chapter lists which dataset uses which, with sizes):

- :func:`contiguous`: DCHN's index ranges: query = first q rows, train = the next t, retrieval = every
  non-query row (DCHN ``data_loader.py``: MIRFLICKR 2,000 / 10,000, NUS-WIDE 2,100 / 10,500, MS-COCO 5,000 /
  10,000). No randomness: the seed does not change it (DCHN's ``-rand`` files are pre-shuffled instead).
- :func:`from_sets`: a published split (Wikipedia's 693 test / 2,173 train, IAPR/XMedia test and
  database/train keys, Fashion-MNIST test/train, DeepHash list files).
- :func:`per_class`: DeepHash-pytorch's single-label sampling (CIFAR-10 ``cifar10``, ``cifar10-1``,
  ``cifar10-2``; Fashion-MNIST ``deephash``).
- :func:`per_label`: DJSRH's multi-label sampling (MIRFLICKR 160+400 for the first label, 80+200 for each later
  one; NUS-WIDE TC-10 200+500 per label), seeded here where the original was not.
- :func:`stratified_fraction`: ours for multi-view sets with no published split: 20 % of each class as queries,
  the rest as retrieval = train.
- :func:`random_split`: a seeded permutation (MITH/MATH-style sizes for the label-only sets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .dataset import DatasetError


def strata(labels: np.ndarray) -> np.ndarray:
    """(N,) stratum of each row: its class for one-hot labels, its first positive label for multi-hot ones,
    -1 for rows without a label."""
    labels = np.asarray(labels)
    has = labels.any(axis=1)
    return np.where(has, labels.argmax(axis=1), -1).astype(np.int64)


def _largest_remainder(counts: np.ndarray, total: int) -> np.ndarray:
    """Integer allocation proportional to ``counts`` summing exactly to ``total``."""
    share = counts * (total / counts.sum())
    alloc = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - alloc), kind="stable")
    alloc[order[: total - alloc.sum()]] += 1
    return alloc


def stratified_subset(pool: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator,
                      *, dataset: str = "dataset") -> np.ndarray:
    """A seeded subset of ``size`` rows of ``pool``, proportional per stratum (see :func:`strata`); sorted."""
    pool = np.asarray(pool, dtype=np.int64)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 < size <= pool.size:
        raise DatasetError(f"{dataset}: subset must be an integer in [1, {pool.size}], got {size!r}")
    groups = strata(labels[pool])
    values, counts = np.unique(groups, return_counts=True)
    alloc = _largest_remainder(counts.astype(np.float64), int(size))
    chosen = [rng.permutation(pool[groups == value])[:k] for value, k in zip(values, alloc)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def scaled(count: int, scale: float) -> int:
    """``count`` shrunk by ``scale`` (rounded, at least 1 when ``count`` > 0); unchanged when ``scale`` is 1."""
    if scale >= 1.0 or count == 0:
        return int(count)
    return max(1, int(round(count * scale)))


def finish(query, train, retrieval) -> dict[str, np.ndarray]:
    """The split dictionary with sorted, repeat-free int64 arrays."""
    return {name: np.unique(np.asarray(index, dtype=np.int64))
            for name, index in (("query", query), ("train", train), ("retrieval", retrieval))}


def contiguous(pool: np.ndarray, *, query: int, train: int, scale: float = 1.0,
               dataset: str = "dataset", protocol: str = "dchn") -> dict[str, np.ndarray]:
    """DCHN's ranges over ``pool`` in row order: query = first q, train = next t, retrieval = all but query."""
    q, t = scaled(query, scale), scaled(train, scale)
    if q + t > pool.size:
        raise DatasetError(f"{dataset}: protocol {protocol!r} needs {q} query + {t} train rows, "
                           f"the pool has {pool.size}")
    return finish(pool[:q], pool[q:q + t], pool[q:])


def from_sets(pool: np.ndarray, *, query: np.ndarray, train: np.ndarray, retrieval: np.ndarray
              ) -> dict[str, np.ndarray]:
    """A published split restricted to ``pool`` (the rows of each set that lie in the pool)."""
    return finish(*(np.intersect1d(np.asarray(part, dtype=np.int64), pool) for part in (query, train, retrieval)))


def per_class(pool: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *, query_per_class: int,
              train_per_class: int, database: str, scale: float = 1.0, query_from: np.ndarray | None = None,
              train_from: np.ndarray | None = None, dataset: str = "dataset", protocol: str = "deephash"
              ) -> dict[str, np.ndarray]:
    """DeepHash-style per-class sampling for single-label data.

    For each class (in class order) its pool rows are permuted once; the first ``query_per_class`` of them that
    lie in ``query_from`` (default: anywhere) are queries, the first ``train_per_class`` of the remaining ones that
    lie in ``train_from`` are training items. ``database``: ``"rest"`` (neither query nor train: ``cifar10``),
    ``"non_query"`` (``cifar10-1``, Fashion-MNIST) or ``"train"`` (``cifar10-2``).
    """
    if database not in ("rest", "non_query", "train"):
        raise ValueError(f"database must be 'rest', 'non_query' or 'train', got {database!r}")
    q, t = scaled(query_per_class, scale), scaled(train_per_class, scale)
    classes = strata(labels)
    in_query = np.ones(labels.shape[0], bool) if query_from is None else np.isin(np.arange(labels.shape[0]), query_from)
    in_train = np.ones(labels.shape[0], bool) if train_from is None else np.isin(np.arange(labels.shape[0]), train_from)
    query, train = [], []
    for cls in np.unique(classes[pool]):
        rows = rng.permutation(pool[classes[pool] == cls])
        picked_query = rows[in_query[rows]][:q]
        rest = rows[~np.isin(rows, picked_query)]
        picked_train = rest[in_train[rest]][:t]
        if picked_query.size < q or picked_train.size < t:
            raise DatasetError(f"{dataset}: protocol {protocol!r} needs {q} query + {t} train items of class "
                               f"{int(cls)}, only {picked_query.size} + {picked_train.size} are available")
        query.append(picked_query)
        train.append(picked_train)
    query = np.concatenate(query) if query else np.empty(0, np.int64)
    train = np.concatenate(train) if train else np.empty(0, np.int64)
    non_query = np.setdiff1d(pool, query)
    retrieval = {"rest": np.setdiff1d(non_query, train), "non_query": non_query, "train": train}[database]
    return finish(query, train, retrieval)


def per_label(pool: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *, first: tuple[int, int],
              later: tuple[int, int], query_total: int, train_total: int, scale: float = 1.0
              ) -> dict[str, np.ndarray]:
    """DJSRH's multi-label sampling, seeded.

    Label columns are visited in order; label 0 contributes ``first = (q, t)`` rows and each later label
    ``later = (q, t)``, drawn at random among pool rows with that label not used yet (fewer when too few are
    left): the first q become queries, the next t training items. Queries and training items are then topped up
    at random from unused rows to ``query_total`` / ``train_total``. Retrieval = every non-query pool row.
    """
    (q0, t0), (q1, t1) = [(scaled(a, scale), scaled(b, scale)) for a, b in (first, later)]
    q_total, t_total = scaled(query_total, scale), scaled(train_total, scale)
    used = np.zeros(labels.shape[0], bool)
    query, train = [], []
    for column in range(labels.shape[1]):
        nq, nt = (q0, t0) if column == 0 else (q1, t1)
        candidates = pool[(labels[pool, column] > 0) & ~used[pool]]
        take = rng.permutation(candidates)[: nq + nt]
        query.append(take[:nq])
        train.append(take[nq:])
        used[take] = True
    query, train = np.concatenate(query), np.concatenate(train)
    if query.size < q_total:
        extra = rng.permutation(pool[~used[pool]])[: q_total - query.size]
        used[extra] = True
        query = np.concatenate([query, extra])
    if train.size < t_total:
        extra = rng.permutation(pool[~used[pool]])[: t_total - train.size]
        used[extra] = True
        train = np.concatenate([train, extra])
    return finish(query, train, np.setdiff1d(pool, query))


def stratified_fraction(pool: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
                        query_fraction: float = 0.2) -> dict[str, np.ndarray]:
    """Ours for sets without a published split: per class, ``round(query_fraction * n_c)`` random rows (at least
    one, and never the whole class) are queries; all other rows are retrieval = train."""
    classes = strata(labels)
    query = []
    for cls in np.unique(classes[pool]):
        rows = rng.permutation(pool[classes[pool] == cls])
        k = int(round(query_fraction * rows.size))
        k = min(max(k, 1), rows.size - 1) if rows.size > 1 else 0
        query.append(rows[:k])
    query = np.concatenate(query) if query else np.empty(0, np.int64)
    rest = np.setdiff1d(pool, query)
    return finish(query, rest, rest)


def random_split(pool: np.ndarray, rng: np.random.Generator, *, query: int, train: int, scale: float = 1.0,
                 dataset: str = "dataset", protocol: str = "random") -> dict[str, np.ndarray]:
    """A seeded permutation of the pool: query = first q, train = next t, retrieval = every non-query row."""
    q, t = scaled(query, scale), scaled(train, scale)
    if q + t > pool.size:
        raise DatasetError(f"{dataset}: protocol {protocol!r} needs {q} query + {t} train rows, "
                           f"the pool has {pool.size}")
    order = rng.permutation(pool)
    return finish(order[:q], order[q:q + t], order[q:])


def check_protocol(dataset: str, protocol: str, known: Sequence[str]) -> None:
    """``DatasetError`` unless ``protocol`` is one of ``known``."""
    if protocol not in known:
        raise DatasetError(f"{dataset}: unknown protocol {protocol!r}; known for this dataset: {list(known)}")
