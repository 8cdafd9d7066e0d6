"""The teaching chapter "Hashing retrieval in ten minutes": everything its cells call, small enough to read.

Data: the 240-pixel view (``pix``) of UCI Multiple Features (``load_dataset("mfeat")``, ships with the install):
2,000 handwritten digits 0-9 as 16 x 15 grey levels 0-6, split 400 queries / 1,600 retrieval (= training) items.
Codes are ``(n, bits)`` int8 in {-1, +1}; an item is relevant to a query when both show the same digit.

Three ways to get codes, from no learning to a little:

- **random**: every bit of every item a fair coin (chance level; :func:`hashlib_core.baselines.random_codes`);
- **LSH** (random-hyperplane hashing): ``sign((x - mean) P)`` with a seeded Gaussian ``P`` (d x bits) and the
  training mean: items at a small angle (around the mean) tend to agree on most bits;
- **SHAM + linear map**: DCHN's first stage (:func:`hashlib_core.models.sham.fit_sham`) turns the training labels
  into one target code per digit, a ridge regression (:func:`hashlib_core.baselines.ridge.fit_ridge_hasher`) maps
  the pixels to those codes, and the sign of the prediction is the item's code.

The hand computations here (:func:`hamming_by_xor`, :func:`rank_items`, :func:`average_precision_by_hand`,
:func:`expected_ap_by_enumeration`) are deliberately plain, independent re-statements of the definitions; the
chapter sets each beside the engine (:mod:`hashlib_core.metrics`) and the tests check they agree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics import PROTOCOLS, TIES, average_precision_per_query, hamming_distance, mean_average_precision
from .tables import style_table

VIEW = "pix"
IMAGE_SHAPE = (16, 15)  # rows x columns of a ``pix`` digit
FAMILIES = ("random", "LSH", "SHAM + linear map")

#: the toy ranking of the protocol section: Hamming distance of each retrieval item to the query (by item index)
#: and whether it is relevant; distances 1 and 3 are shared (ties) by relevant and irrelevant items
TOY_DISTANCES = (1, 3, 0, 1, 3, 2, 1, 3, 4, 3)
TOY_RELEVANT = (False, True, True, True, False, False, False, True, True, False)
TOY_BITS = 8


# ------------------------------------------------------------------------------------------------ data and codes

@dataclass
class Digits:
    """The pixel view of mfeat with its split. ``features`` (N, 240) float64 grey levels 0-6; ``labels`` (N,)
    int64 digit 0-9; ``query`` / ``train`` / ``retrieval``: int64 row indices."""

    features: np.ndarray
    labels: np.ndarray
    query: np.ndarray
    train: np.ndarray
    retrieval: np.ndarray

    def image(self, row: int) -> np.ndarray:
        """The (16, 15) grey-level picture of item ``row``."""
        return self.features[row].reshape(IMAGE_SHAPE)

    def one_hot(self, rows) -> np.ndarray:
        """(len(rows), 10) uint8 one-hot labels of ``rows``."""
        return np.eye(10, dtype=np.uint8)[self.labels[rows]]


def load_digits(data_root=None, seed: int = 0) -> Digits:
    """mfeat's ``pix`` view and its default split (``seed`` picks the split; ``data_root`` as ``load_dataset``)."""
    from ..data import load_dataset

    ds = load_dataset("mfeat", root=data_root, seed=seed, views=[VIEW])
    return Digits(features=np.asarray(ds.views[VIEW], dtype=np.float64), labels=ds.labels.argmax(axis=1),
                  query=ds.splits["query"], train=ds.splits["train"], retrieval=ds.splits["retrieval"])


@dataclass
class Codes:
    """Codes of one family: ``query`` (n_query, bits) and ``retrieval`` (n_retrieval, bits), int8 in {-1, +1}."""

    family: str
    query: np.ndarray
    retrieval: np.ndarray

    @property
    def bits(self) -> int:
        return int(self.query.shape[1])


def lsh_codes(train_features: np.ndarray, features: np.ndarray, bits: int, seed: int = 0) -> np.ndarray:
    """Random-hyperplane LSH: ``sign((features - mean(train_features)) @ P)``, ``P`` (d, bits) standard normal
    from ``numpy.random.default_rng(seed)``; ``+1`` where the projection is > 0. (n, bits) int8."""
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((train_features.shape[1], int(bits)))
    return np.where((features - train_features.mean(axis=0)) @ projection > 0, 1, -1).astype(np.int8)


def sham_linear_codes(data: Digits, bits: int, seed: int = 0) -> np.ndarray:
    """SHAM target codes from the training labels (DCHN's first stage, not cached), a ridge map from the pixels to
    them, and the sign: codes of every item, (N, bits) int8."""
    from ..baselines.ridge import fit_ridge_hasher
    from ..models.sham import fit_sham

    sham = fit_sham(data.one_hot(data.train), int(bits), dataset="mfeat", seed=seed, cache_dir=False)
    targets = sham.target_codes(data.one_hot(data.train))
    return fit_ridge_hasher(data.features[data.train], targets).encode(data.features)


def encode(data: Digits, family: str, bits: int, seed: int = 0) -> Codes:
    """Codes of ``family`` (one of :data:`FAMILIES`) for the query and retrieval items of ``data``."""
    from ..baselines.random_codes import random_codes

    if family == "random":
        every = random_codes(len(data.labels), int(bits), seed)
    elif family == "LSH":
        every = lsh_codes(data.features[data.train], data.features, bits, seed)
    elif family == "SHAM + linear map":
        every = sham_linear_codes(data, bits, seed)
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return Codes(family, every[data.query], every[data.retrieval])


def encode_families(data: Digits, bits: int, seed: int = 0) -> dict[str, Codes]:
    """``{family: Codes}`` for every family in :data:`FAMILIES`."""
    return {family: encode(data, family, bits, seed) for family in FAMILIES}


def families_table(data: Digits, bits: Sequence[int] = (16, 32, 64), seed: int = 0):
    """mAP over the whole retrieval set (``deephash`` protocol, ties by index) of every family at every code
    length: a styled table, families as rows, bits as columns."""
    rows = {family: {f"{b} bits": mean_average_precision(
        (codes := encode(data, family, b, seed)).query, codes.retrieval, data.labels[data.query],
        data.labels[data.retrieval]) for b in bits} for family in FAMILIES}
    frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("codes")
    return style_table(frame, caption=f"mAP@all (deephash, ties by index) of {len(data.query)} digit queries "
                                      f"against {len(data.retrieval)} items, seed {seed}")


# ------------------------------------------------------------------------------------------------ Hamming distance

#: popcount of every byte value 0..255 (how many 1 bits it has)
POPCOUNT_TABLE = np.array([bin(value).count("1") for value in range(256)], dtype=np.int32)


def hamming_by_xor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All Hamming distances (len(a), len(b)) int32 between rows of {-1, +1} codes, the way hardware does it:
    bit = 1 where the code is +1, 8 bits packed per byte, XOR (1 where the codes differ), popcount per byte from
    :data:`POPCOUNT_TABLE`, summed over the bytes."""
    a_bytes = np.packbits(np.asarray(a) > 0, axis=1)
    b_bytes = np.packbits(np.asarray(b) > 0, axis=1)
    differ = np.bitwise_xor(a_bytes[:, None, :], b_bytes[None, :, :])
    return POPCOUNT_TABLE[differ].sum(axis=2).astype(np.int32)


def _bit_string(code: np.ndarray) -> str:
    return "".join("1" if value > 0 else "0" for value in code)


def xor_popcount_table(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """The Hamming distance of two codes (bits,) step by step: both as bit strings, their XOR, its popcount, the
    inner-product formula ``(k - a . b) / 2`` and the engine's :func:`hashlib_core.metrics.hamming_distance`."""
    a, b = np.asarray(a).reshape(1, -1), np.asarray(b).reshape(1, -1)
    differ = _bit_string(np.where(a[0] != b[0], 1, -1))
    steps = [("code a (+1 -> 1, -1 -> 0)", _bit_string(a[0])), ("code b", _bit_string(b[0])),
             ("a XOR b (1 = the bits differ)", differ),
             ("popcount(a XOR b), byte table", int(hamming_by_xor(a, b)[0, 0])),
             ("(k - a . b) / 2", int((a.shape[1] - int(a[0].astype(int) @ b[0].astype(int))) // 2)),
             ("hashlib_core.metrics.hamming_distance", int(hamming_distance(a, b)[0, 0]))]
    return pd.DataFrame(steps, columns=["step", "value"]).set_index("step")


# ------------------------------------------------------------------------------------------------ one query's ranking

def rank_items(query_code: np.ndarray, retrieval_codes: np.ndarray, relevant: np.ndarray) -> pd.DataFrame:
    """One query's ranking, ties by index: every retrieval item sorted by Hamming distance, equal distances by
    ascending item index (a stable sort). Columns: ``rank`` (1-based), ``item`` (retrieval index), ``distance``,
    ``relevant``, ``hits`` (relevant items at this rank or before) and ``precision`` (= hits / rank)."""
    distance = hamming_by_xor(np.asarray(query_code).reshape(1, -1), retrieval_codes)[0]
    order = np.argsort(distance, kind="stable")
    relevant = np.asarray(relevant, dtype=bool)[order]
    hits = np.cumsum(relevant)
    rank = np.arange(1, len(order) + 1)
    return pd.DataFrame({"rank": rank, "item": order, "distance": distance[order], "relevant": relevant,
                         "hits": hits, "precision": hits / rank})


def query_ranking(data: Digits, codes: Codes, query: int) -> pd.DataFrame:
    """:func:`rank_items` of query number ``query`` (0-based position in ``data.query``)."""
    relevant = data.labels[data.retrieval] == data.labels[data.query[query]]
    return rank_items(codes.query[query], codes.retrieval, relevant)


def typical_query(data: Digits, codes: Codes) -> int:
    """The query (position in ``data.query``) whose AP over the whole list is closest to the median AP of all
    queries under ``codes`` (ties by the smaller position): a query neither easy nor hopeless."""
    ap = average_precision_per_query(codes.query, codes.retrieval, data.labels[data.query],
                                     data.labels[data.retrieval])
    return int(np.argmin(np.abs(ap - np.median(ap))))


def plot_ranking(data: Digits, codes_by_family: dict[str, Codes], query: int, top: int = 10):
    """The query's digit, then its ``top`` first retrieved digits under each family's codes (one row each), with
    their Hamming distance; a green frame = relevant (same digit), red = not. Returns the Figure."""
    import matplotlib.pyplot as plt

    families = list(codes_by_family)
    fig, axes = plt.subplots(len(families), top + 1, figsize=(0.8 * (top + 1), 1.15 * len(families)), dpi=130,
                             squeeze=False)
    for row, family in enumerate(families):
        ranking = query_ranking(data, codes_by_family[family], query).head(top)
        panels = [(data.query[query], f"query: a {data.labels[data.query[query]]}", "black")]
        panels += [(data.retrieval[item], f"d = {dist}", "tab:green" if rel else "tab:red")
                   for item, dist, rel in ranking[["item", "distance", "relevant"]].itertuples(index=False)]
        for col, (item, title, colour) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(data.image(item), cmap="gray_r", vmin=0, vmax=6)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(title, fontsize=9)
            for spine in ax.spines.values():
                spine.set_color(colour), spine.set_linewidth(2.5)
        axes[row, 0].set_ylabel(f"{family}\n{codes_by_family[family].bits} bits", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


# ------------------------------------------------------------------------------------------------ AP by hand

def average_precision_by_hand(relevant_in_rank_order: Sequence[bool], protocol: str = "deephash",
                              topk: int | None = None) -> float:
    """AP of one ranking (relevance flags in rank order; ``R`` = all relevant flags) under ``protocol``, the plain
    way (see the protocols chapter): ``deephash`` = mean precision at the relevant ranks <= K (0 when none);
    ``dcmh`` = mean of j / rank_j over the first min(K, R) relevant items anywhere in the list (0 when R = 0);
    ``dchn`` = the sum of the precisions at the relevant ranks <= K, divided by R (NaN when R = 0)."""
    flags = [bool(v) for v in relevant_in_rank_order]
    k = len(flags) if topk is None else min(int(topk), len(flags))
    positions = [rank for rank, flag in enumerate(flags, start=1) if flag]
    precisions = [(j + 1) / rank for j, rank in enumerate(positions)]  # hits / rank at each relevant rank
    within = [p for p, rank in zip(precisions, positions) if rank <= k]
    if protocol == "deephash":
        return sum(within) / len(within) if within else 0.0
    if protocol == "dcmh":
        first = min(k, len(positions))
        return sum(precisions[:first]) / first if first else 0.0
    if protocol == "dchn":
        return sum(within) / len(positions) if positions else math.nan
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def ap_steps(ranking: pd.DataFrame, topk: int) -> pd.DataFrame:
    """The first ``topk`` rows of a :func:`rank_items` ranking with the precision that AP@K averages (only at the
    relevant ranks): what one writes down computing AP by hand."""
    steps = ranking.head(topk).copy()
    steps["counted precision"] = steps["precision"].where(steps["relevant"])
    return steps[["rank", "item", "distance", "relevant", "hits", "counted precision"]]


def check_against_engine(data: Digits, codes: Codes, query: int, topks: Sequence[int | None] = (20, None),
                         protocols: Sequence[str] = ("deephash",)) -> pd.DataFrame:
    """AP of one query by hand (:func:`average_precision_by_hand` on its ranking) beside the engine's
    :func:`~hashlib_core.metrics.average_precision_per_query` for the same query, per protocol and K."""
    relevant = query_ranking(data, codes, query)["relevant"].to_numpy()
    rows = []
    for protocol in protocols:
        for topk in topks:
            engine = average_precision_per_query(codes.query[query:query + 1], codes.retrieval,
                                                 data.labels[data.query[query:query + 1]],
                                                 data.labels[data.retrieval], topk=topk, protocol=protocol)[0]
            hand = average_precision_by_hand(relevant, protocol, topk)
            rows.append({"protocol": protocol, "K": "all" if topk is None else topk, "by hand": hand,
                         "engine": float(engine), "difference": hand - float(engine)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ the toy ranking

def toy_problem(distances: Sequence[int] = TOY_DISTANCES, relevant: Sequence[bool] = TOY_RELEVANT,
                bits: int = TOY_BITS):
    """Codes and labels that realise a toy ranking: the query code is all +1, retrieval item i has its first
    ``distances[i]`` bits flipped to -1 (so its Hamming distance is exactly that); labels are class 0 for the
    query and the relevant items, class 1 otherwise. Returns (query codes (1, bits), retrieval codes (n, bits),
    query labels (1,), retrieval labels (n,))."""
    distances = [int(d) for d in distances]
    if len(distances) != len(relevant) or any(not 0 <= d <= bits for d in distances):
        raise ValueError(f"distances and relevant must have the same length and 0 <= distance <= bits={bits}, got "
                         f"{distances} and {list(relevant)}")
    retrieval = np.ones((len(distances), bits), dtype=np.int8)
    for i, d in enumerate(distances):
        retrieval[i, :d] = -1
    labels = np.where(np.asarray(relevant, dtype=bool), 0, 1)
    return np.ones((1, bits), dtype=np.int8), retrieval, np.zeros(1, dtype=np.int64), labels


def toy_table(distances: Sequence[int] = TOY_DISTANCES, relevant: Sequence[bool] = TOY_RELEVANT) -> pd.DataFrame:
    """The toy ranking ties by index (:func:`rank_items` of :func:`toy_problem`), with each item's tie group."""
    query, retrieval, _, _ = toy_problem(distances, relevant)
    ranking = rank_items(query[0], retrieval, np.asarray(relevant, dtype=bool))
    ranking["items at this distance"] = ranking["distance"].map(pd.Series(distances).value_counts())
    return ranking[["rank", "item", "distance", "items at this distance", "relevant", "hits", "precision"]]


def expected_ap_by_enumeration(distances: Sequence[int], relevant: Sequence[bool], protocol: str,
                               topk: int | None = None) -> float:
    """The ``"expected"`` tie rule the slow way: AP (:func:`average_precision_by_hand`) averaged over every order
    of the items within each distance (all permutations; distances ascending). Small rankings only."""
    buckets = [[i for i, d in enumerate(distances) if d == value] for value in sorted(set(distances))]
    total, count = 0.0, 0
    for orders in itertools.product(*(itertools.permutations(bucket) for bucket in buckets)):
        ranked = [relevant[i] for order in orders for i in order]
        total += average_precision_by_hand(ranked, protocol, topk)
        count += 1
    return total / count


def protocol_table(distances: Sequence[int] = TOY_DISTANCES, relevant: Sequence[bool] = TOY_RELEVANT,
                   topks: Sequence[int | None] = (3, None)) -> pd.DataFrame:
    """The toy ranking's AP under every protocol and tie rule, by hand (index order; enumeration of all orders
    for ``expected``) and by the engine, side by side. Rows: protocol x K; columns: tie rule x (by hand, engine)."""
    query, retrieval, query_labels, retrieval_labels = toy_problem(distances, relevant)
    index_order = rank_items(query[0], retrieval, np.asarray(relevant, dtype=bool))["relevant"].tolist()
    rows = {}
    for protocol in PROTOCOLS:
        for topk in topks:
            row = {}
            for ties in TIES:
                hand = (average_precision_by_hand(index_order, protocol, topk) if ties == "index"
                        else expected_ap_by_enumeration(distances, relevant, protocol, topk))
                engine = average_precision_per_query(query, retrieval, query_labels, retrieval_labels, topk=topk,
                                                     protocol=protocol, ties=ties)[0]
                row[(f"ties={ties}", "by hand")] = hand
                row[(f"ties={ties}", "engine")] = float(engine)
            rows[(protocol, "all" if topk is None else topk)] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.names = ["protocol", "K"]
    return frame


# ------------------------------------------------------------------------------------------------ exercise answers

def chance_level(data: Digits) -> float:
    """Mean over the queries of R / N (relevant items / retrieval items): the expected AP@all of a random ranking
    under ``deephash`` is close to it (exactly for ``ties="expected"`` when every item ties)."""
    relevant = data.labels[data.query][:, None] == data.labels[data.retrieval][None, :]
    return float(relevant.mean())


def random_order_map(data: Digits) -> float:
    """The exact expected mAP@all (``deephash``) of a uniformly random ranking: every item at the same distance
    (identical codes) with ``ties="expected"``, which averages over all orders in closed form."""
    same = np.ones((len(data.labels), 1), dtype=np.int8)
    return mean_average_precision(same[data.query], same[data.retrieval], data.labels[data.query],
                                  data.labels[data.retrieval], ties="expected")


def tie_summary(data: Digits, codes: Codes, query: int) -> dict:
    """For one query: how many distinct Hamming distances its ranking has (at most bits + 1), and how many
    retrieval items share the distance of its first retrieved item."""
    ranking = query_ranking(data, codes, query)
    first = int(ranking["distance"].iloc[0])
    return {"bits": codes.bits, "distinct distances": int(ranking["distance"].nunique()),
            "nearest distance": first, "items at the nearest distance": int((ranking["distance"] == first).sum())}


#: the two 8-bit codes of the XOR exercise, as bit strings (1 = +1, 0 = -1)
EXERCISE_CODES = ("10110010", "01110110")


def codes_from_bits(*bit_strings: str) -> np.ndarray:
    """{-1, +1} int8 codes (len(bit_strings), bits) from strings of 0/1 (1 -> +1)."""
    return np.array([[1 if c == "1" else -1 for c in s] for s in bit_strings], dtype=np.int8)


def swap_items(i: int, j: int, distances: Sequence[int] = TOY_DISTANCES,
               relevant: Sequence[bool] = TOY_RELEVANT) -> tuple[list[int], list[bool]]:
    """The toy ranking with retrieval items ``i`` and ``j`` exchanged (their distances and relevance trade
    places): with equal distances, only the order inside that tie changes."""
    distances, relevant = list(distances), list(relevant)
    distances[i], distances[j] = distances[j], distances[i]
    relevant[i], relevant[j] = relevant[j], relevant[i]
    return distances, relevant


def toy_orders(distances: Sequence[int] = TOY_DISTANCES) -> int:
    """How many rankings the ``expected`` tie rule averages over: the product of (tie size)! over the distances."""
    return math.prod(math.factorial(count) for count in pd.Series(list(distances)).value_counts())


def exercise_answers(data: Digits, codes_by_family: dict[str, Codes]) -> dict[str, float | int | str]:
    """The numbers the exercises and their hidden solutions quote (glued by the chapter): chance level and random
    codes' mAP, the XOR exercise, the toy ranking's tie swap (items 0 and 3), and the toy's deephash vs dchn at
    K = 3."""
    random = codes_by_family["random"]
    a, b = (row[None] for row in codes_from_bits(*EXERCISE_CODES))  # (1, 8) each
    inner = int(a[0].astype(int) @ b[0].astype(int))
    before = protocol_table()
    after = protocol_table(*swap_items(0, 3))
    change = (after - before).abs().max()
    toy = before.xs(3, level="K")
    return {
        "chance_level": chance_level(data),
        "random_map": mean_average_precision(random.query, random.retrieval, data.labels[data.query],
                                             data.labels[data.retrieval]),
        "random_bits": random.bits,
        "random_order_map": random_order_map(data),
        "xor_a": EXERCISE_CODES[0],
        "xor_b": EXERCISE_CODES[1],
        "xor_bits": _bit_string(np.where(a[0] != b[0], 1, -1)),
        "xor_distance": int(hamming_by_xor(a, b)[0, 0]),
        "xor_inner": inner,
        "swap_index_change": float(change[("ties=index", "by hand")]),
        "swap_expected_change": float(change[("ties=expected", "by hand")]),
        "toy_deephash_k3": float(toy.loc["deephash", ("ties=index", "by hand")]),
        "toy_dchn_k3": float(toy.loc["dchn", ("ties=index", "by hand")]),
        "toy_relevant_total": int(sum(TOY_RELEVANT)),
        "toy_relevant_top3": int(toy_table()["relevant"].head(3).sum()),
    }


def chapter_numbers(data: Digits, codes_by_family: dict[str, Codes], query: int) -> dict[str, float | int | str]:
    """Every number the chapter's prose quotes, keyed by its glue name (``tm_...``): the query's ties
    (:func:`tie_summary` under the LSH codes), the toy's number of tie orders and :func:`exercise_answers`."""
    ties = tie_summary(data, codes_by_family["LSH"], query)
    numbers = {f"ties_{key.replace(' ', '_')}": value for key, value in ties.items()}
    numbers["toy_orders"] = toy_orders()
    numbers.update(exercise_answers(data, codes_by_family))
    return {f"tm_{key}": value for key, value in numbers.items()}


__all__ = ["VIEW", "IMAGE_SHAPE", "FAMILIES", "TOY_DISTANCES", "TOY_RELEVANT", "TOY_BITS", "Digits", "load_digits",
           "Codes", "lsh_codes", "sham_linear_codes", "encode", "encode_families", "families_table",
           "POPCOUNT_TABLE", "hamming_by_xor", "xor_popcount_table", "rank_items", "query_ranking", "typical_query",
           "plot_ranking", "average_precision_by_hand", "ap_steps", "check_against_engine", "toy_problem",
           "toy_table", "expected_ap_by_enumeration", "protocol_table", "chance_level", "random_order_map", "tie_summary",
           "EXERCISE_CODES", "codes_from_bits", "swap_items", "toy_orders", "exercise_answers", "chapter_numbers"]
