"""Labels and relevance: a retrieval item is relevant to a query when the two share at least one label.

Labels are ``(n, C)`` multi-hot (entries 0/1, any numeric or bool dtype; single-label sets are one-hot) or
``(n,)`` integer class ids. Internally they become either class ids (one equality test) or packed 32-bit label
words (``(q & r) != 0``, one AND per 32 labels; int32 vectorises much better than int64 on CPUs), held as numpy
arrays (CPU engine) or tensors on the compute device (torch engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .codes import to_numpy


@dataclass(frozen=True)
class LabelSets:
    """Query and retrieval labels in the form the engine compares: ``kind`` is ``"ids"`` (``(n,)`` int32/int64) or
    ``"words"`` (``(n, W)`` int32 bit sets, bit ``c % 32`` of word ``c // 32`` = label ``c``); numpy arrays or
    torch tensors (the same code serves both)."""

    kind: str
    query: np.ndarray | torch.Tensor
    retrieval: np.ndarray | torch.Tensor

    def to_torch(self, device: torch.device) -> "LabelSets":
        return LabelSets(self.kind, torch.as_tensor(self.query).to(device),
                         torch.as_tensor(self.retrieval).to(device))

    def relevance(self, q0: int, q1: int, r0: int, r1: int):
        """``(q1 - q0, r1 - r0)`` bool: query ``q0 + i`` and item ``r0 + j`` share a label."""
        if self.kind == "ids":
            return self.query[q0:q1, None] == self.retrieval[None, r0:r1]
        query, retrieval = self.query[q0:q1], self.retrieval[r0:r1]
        result = None
        for word in range(query.shape[1]):
            shared = (query[:, word, None] & retrieval[None, :, word]) != 0
            if result is None:
                result = shared
            else:
                result |= shared
        return result


def _as_label_array(labels, name: str) -> np.ndarray:
    array = to_numpy(labels)
    if array.ndim not in (1, 2):
        raise ValueError(f"{name}: labels must be (n,) class ids or (n, C) multi-hot, got shape {array.shape}")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name}: labels must be numeric, got dtype {array.dtype}")
    if array.ndim == 1:
        if not (np.issubdtype(array.dtype, np.integer) and array.dtype != bool):
            raise ValueError(f"{name}: 1-D labels must be integer class ids, got dtype {array.dtype} "
                             f"(pass (n, C) multi-hot labels as a 2-D array)")
        return array.astype(np.int64, copy=False)
    if array.dtype != bool and not bool(((array == 0) | (array == 1)).all()):
        raise ValueError(f"{name}: multi-hot labels must hold only 0 and 1")
    return array.astype(bool, copy=False)


def _pack_label_words(multi_hot: np.ndarray) -> np.ndarray:
    n, classes = multi_hot.shape
    words = max(1, -(-classes // 32))
    padded = np.zeros((n, words * 32), dtype=np.uint8)
    padded[:, :classes] = multi_hot
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<i4").reshape(n, words).astype(np.int32, copy=False)


def prepare_labels(query_labels, retrieval_labels, n_query: int, n_retrieval: int) -> LabelSets:
    """Validate both label sets against the code row counts and convert them for the engine (numpy arrays).

    ``ValueError`` for row counts that differ from the codes', a different label width between query and
    retrieval, 1-D against 2-D labels, non-integer class ids or multi-hot entries other than 0/1.
    """
    query = _as_label_array(query_labels, "query_labels")
    retrieval = _as_label_array(retrieval_labels, "retrieval_labels")
    if query.shape[0] != n_query:
        raise ValueError(f"query_labels have {query.shape[0]} rows but query_codes have {n_query}")
    if retrieval.shape[0] != n_retrieval:
        raise ValueError(f"retrieval_labels have {retrieval.shape[0]} rows but retrieval_codes have "
                         f"{n_retrieval}")
    if query.ndim != retrieval.ndim:
        raise ValueError(f"query_labels are {query.ndim}-D but retrieval_labels are {retrieval.ndim}-D: pass both "
                         f"as (n,) class ids or both as (n, C) multi-hot")
    if query.ndim == 2:
        if query.shape[1] != retrieval.shape[1]:
            raise ValueError(f"query_labels have {query.shape[1]} label columns but retrieval_labels have "
                             f"{retrieval.shape[1]}")
        one_hot = bool((query.sum(axis=1) == 1).all()) and bool((retrieval.sum(axis=1) == 1).all())
        if one_hot:  # single-label data: comparing class ids is one cheap equality test
            query, retrieval = query.argmax(axis=1).astype(np.int64), retrieval.argmax(axis=1).astype(np.int64)
        else:
            return LabelSets("words", _pack_label_words(query), _pack_label_words(retrieval))
    both = np.concatenate([query, retrieval])
    if both.size and np.iinfo(np.int32).min <= both.min() and both.max() <= np.iinfo(np.int32).max:
        query, retrieval = query.astype(np.int32), retrieval.astype(np.int32)  # faster to compare
    return LabelSets("ids", np.ascontiguousarray(query), np.ascontiguousarray(retrieval))


__all__ = ["LabelSets", "prepare_labels"]
