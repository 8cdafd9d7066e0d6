"""report/teaching.py (the ten-minute chapter): the hand computations agree with hand-worked numbers and with the
engine; the code families behave as described. Fabricated digits, no data files (one real-data check skips)."""

import math

import numpy as np
import pytest

from hashlib_core.metrics import average_precision_per_query, hamming_distance, mean_average_precision
from hashlib_core.report import teaching as T


def fabricated_digits(per_class=24, noise=2.0, seed=0) -> T.Digits:
    """10 classes, 240-d features = a class prototype + Gaussian noise; 1/4 of each class are queries."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 6, size=(10, 240))
    labels = np.repeat(np.arange(10), per_class)
    features = prototypes[labels] + noise * rng.standard_normal((len(labels), 240))
    is_query = np.tile(np.arange(per_class) < per_class // 4, 10)
    rows = np.arange(len(labels))
    return T.Digits(features=features, labels=labels, query=rows[is_query], train=rows[~is_query],
                    retrieval=rows[~is_query])


@pytest.mark.parametrize("bits", [5, 8, 13, 64, 70])
def test_hamming_by_xor_matches_the_engine_and_the_inner_product(bits):
    rng = np.random.default_rng(bits)
    a = np.where(rng.random((7, bits)) < 0.5, 1, -1).astype(np.int8)
    b = np.where(rng.random((9, bits)) < 0.5, 1, -1).astype(np.int8)
    ours = T.hamming_by_xor(a, b)
    np.testing.assert_array_equal(ours, hamming_distance(a, b))
    np.testing.assert_array_equal(ours, (bits - a.astype(int) @ b.T.astype(int)) // 2)


def test_popcount_table_counts_bits():
    assert T.POPCOUNT_TABLE[0] == 0 and T.POPCOUNT_TABLE[255] == 8 and T.POPCOUNT_TABLE[0b1011_0001] == 4


def test_xor_popcount_table_steps():
    a = np.array([1, 1, -1, -1, 1])
    b = np.array([1, -1, -1, 1, -1])
    table = T.xor_popcount_table(a, b)["value"]
    assert list(table.iloc[:3]) == ["11001", "10010", "01011"]
    assert list(table.iloc[3:]) == [3, 3, 3]


def test_rank_items_breaks_ties_by_index_and_counts_hits():
    query = np.array([1, 1, 1, 1])
    retrieval = np.array([[1, 1, -1, -1], [1, 1, 1, 1], [-1, 1, 1, 1], [1, -1, 1, 1], [-1, -1, -1, -1]])
    relevant = np.array([True, False, True, False, True])
    ranking = T.rank_items(query, retrieval, relevant)
    assert ranking["item"].tolist() == [1, 2, 3, 0, 4]          # distances 0, 1, 1, 2, 4; 2 before 3 (index)
    assert ranking["distance"].tolist() == [0, 1, 1, 2, 4]
    assert ranking["hits"].tolist() == [0, 1, 1, 2, 3]
    np.testing.assert_allclose(ranking["precision"], [0, 1 / 2, 1 / 3, 2 / 4, 3 / 5])


def test_average_precision_by_hand_worked_examples():
    ranking = [True, False, True, False, False, True]  # relevant at ranks 1, 3, 6; R = 3
    ap = T.average_precision_by_hand
    assert ap(ranking, "deephash") == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    assert ap(ranking, "deephash", 3) == pytest.approx((1 + 2 / 3) / 2)
    assert ap(ranking, "deephash", 2) == pytest.approx(1.0)
    assert ap(ranking, "dcmh", 2) == pytest.approx((1 + 2 / 3) / 2)        # first min(2, 3) relevant items
    assert ap(ranking, "dcmh", 4) == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)  # position 6 lies beyond K = 4
    assert ap(ranking, "dchn", 3) == pytest.approx((1 + 2 / 3) / 3)
    assert ap(ranking, "dchn") == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    nothing = [False, False]
    assert ap(nothing, "deephash") == 0.0 and ap(nothing, "dcmh") == 0.0 and math.isnan(ap(nothing, "dchn"))
    with pytest.raises(ValueError, match="protocol"):
        ap(ranking, "map")


def test_expected_ap_by_enumeration_worked_example():
    # one relevant and one irrelevant item at the same distance: AP is 1 or 1/2, each with probability 1/2
    assert T.expected_ap_by_enumeration([2, 2], [True, False], "deephash") == pytest.approx(0.75)
    # the tie only matters for the order within it: a lone relevant item in front is always rank 1
    assert T.expected_ap_by_enumeration([0, 3, 3], [True, True, False], "dchn") == pytest.approx((1 + 0.5 * (1 + 2 / 3)) / 2)


def test_toy_problem_realises_the_distances():
    distances = [3, 0, 8, 1]
    query, retrieval, query_labels, retrieval_labels = T.toy_problem(distances, [True, False, False, True])
    np.testing.assert_array_equal(hamming_distance(query, retrieval)[0], distances)
    assert retrieval_labels.tolist() == [0, 1, 1, 0] and query_labels.tolist() == [0]
    with pytest.raises(ValueError, match="distance"):
        T.toy_problem([9], [True])
    with pytest.raises(ValueError, match="same length"):
        T.toy_problem([1, 2], [True])


@pytest.mark.parametrize("seed", range(6))
def test_protocol_table_hand_equals_engine_on_random_tie_heavy_toys(seed):
    rng = np.random.default_rng(seed)
    n = 9
    distances = rng.integers(0, 4, n).tolist()
    relevant = (rng.random(n) < 0.4).tolist()
    table = T.protocol_table(distances, relevant, topks=(1, 4, None))
    for ties in T.TIES:
        hand, engine = table[(f"ties={ties}", "by hand")], table[(f"ties={ties}", "engine")]
        np.testing.assert_allclose(hand.to_numpy(), engine.to_numpy(), atol=1e-12, equal_nan=True)
    assert table.shape == (3 * 3, 4)


def test_default_toy_ranking_has_ties_that_move_the_numbers():
    table = T.protocol_table()
    index, expected = table[("ties=index", "by hand")], table[("ties=expected", "by hand")]
    assert (index - expected).abs().max() > 0.01  # the toy is chosen so the tie rule matters
    assert T.toy_table()["items at this distance"].max() > 1


def test_check_against_engine_on_fabricated_digits():
    data = fabricated_digits()
    codes = T.encode(data, "LSH", 16)
    query = T.typical_query(data, codes)
    table = T.check_against_engine(data, codes, query, topks=(5, 20, None), protocols=("deephash", "dcmh", "dchn"))
    assert len(table) == 9
    np.testing.assert_allclose(table["difference"], 0, atol=1e-12)
    assert table["engine"].between(0, 1).all()


def test_typical_query_is_the_one_nearest_the_median_ap():
    data = fabricated_digits(noise=6.0)
    codes = T.encode(data, "LSH", 8)
    ap = average_precision_per_query(codes.query, codes.retrieval, data.labels[data.query],
                                     data.labels[data.retrieval])
    chosen = T.typical_query(data, codes)
    assert abs(ap[chosen] - np.median(ap)) == pytest.approx(np.min(np.abs(ap - np.median(ap))))


def test_ap_steps_count_precision_only_at_relevant_ranks():
    data = fabricated_digits()
    ranking = T.query_ranking(data, T.encode(data, "LSH", 16), 0)
    steps = T.ap_steps(ranking, 10)
    assert len(steps) == 10 and steps["rank"].tolist() == list(range(1, 11))
    assert steps["counted precision"].isna().tolist() == (~steps["relevant"]).tolist()
    counted = steps["counted precision"].dropna()
    assert counted.mean() == pytest.approx(T.average_precision_by_hand(ranking["relevant"], "deephash", 10))


def test_code_families_shapes_and_order():
    data = fabricated_digits()
    codes = T.encode_families(data, 12)
    assert list(codes) == list(T.FAMILIES)
    for family in codes.values():
        assert family.query.shape == (len(data.query), 12) and family.retrieval.shape == (len(data.retrieval), 12)
        assert family.query.dtype == np.int8 and set(np.unique(family.query)) <= {-1, 1}
    with pytest.raises(ValueError, match="family"):
        T.encode(data, "pca", 8)


def test_lsh_is_a_seeded_sign_of_a_centred_projection():
    rng = np.random.default_rng(3)
    train, x = rng.standard_normal((50, 6)), rng.standard_normal((10, 6))
    codes = T.lsh_codes(train, x, 4, seed=7)
    projection = np.random.default_rng(7).standard_normal((6, 4))
    np.testing.assert_array_equal(codes, np.where((x - train.mean(0)) @ projection > 0, 1, -1))
    np.testing.assert_array_equal(T.lsh_codes(train + 5.0, x + 5.0, 4, seed=7), codes)  # shift-invariant


def test_learning_beats_hyperplanes_beats_coins_on_separable_data():
    data = fabricated_digits(per_class=32, noise=3.0)
    maps = {}
    for family in T.FAMILIES:
        codes = T.encode(data, family, 32)
        maps[family] = mean_average_precision(codes.query, codes.retrieval, data.labels[data.query],
                                              data.labels[data.retrieval])
    assert maps["random"] < 0.2 < maps["LSH"] < maps["SHAM + linear map"]
    assert abs(maps["random"] - T.chance_level(data)) < 0.05


def test_families_table_lists_every_family_and_length():
    frame = T.families_table(fabricated_digits(), bits=(8, 16)).data
    assert frame.index.tolist() == list(T.FAMILIES) and frame.columns.tolist() == ["8 bits", "16 bits"]
    assert ((frame >= 0) & (frame <= 1)).all().all()


def test_chance_level_and_tie_summary():
    data = fabricated_digits()
    assert T.chance_level(data) == pytest.approx(1 / 10)
    summary = T.tie_summary(data, T.encode(data, "random", 8), 0)
    assert summary["bits"] == 8 and 1 <= summary["distinct distances"] <= 9
    ranking = T.query_ranking(data, T.encode(data, "random", 8), 0)
    assert summary["items at the nearest distance"] == int((ranking["distance"] == ranking["distance"].min()).sum())


def test_plot_ranking_draws_one_row_per_family():
    data = fabricated_digits()
    fig = T.plot_ranking(data, T.encode_families(data, 8), query=0, top=5)
    assert len(fig.axes) == len(T.FAMILIES) * 6


def test_load_digits_on_the_shipped_data():
    try:
        data = T.load_digits()
    except ValueError as exc:  # DatasetError: mfeat's CSVs are not installed here
        pytest.skip(f"mfeat not available: {exc}")
    assert data.features.shape == (2000, 240) and data.image(0).shape == T.IMAGE_SHAPE
    assert len(data.query) == 400 and len(data.retrieval) == 1600
    assert sorted(np.bincount(data.labels)) == [200] * 10


def test_random_order_map_is_the_average_over_all_orders():
    labels = np.array([0, 0, 1, 0, 1, 1])  # query 0; retrieval items 1..5 hold two relevant items
    data = T.Digits(features=np.zeros((6, 240)), labels=labels, query=np.array([0]), train=np.arange(1, 6),
                    retrieval=np.arange(1, 6))
    relevant = (labels[1:] == 0).tolist()
    assert T.random_order_map(data) == pytest.approx(T.expected_ap_by_enumeration([0] * 5, relevant, "deephash"))


def test_swap_items_only_reorders_a_tie():
    distances, relevant = T.swap_items(0, 3)
    assert distances == list(T.TOY_DISTANCES)  # items 0 and 3 share distance 1
    assert relevant[0] == T.TOY_RELEVANT[3] and relevant[3] == T.TOY_RELEVANT[0]


def test_exercise_answers():
    data = fabricated_digits()
    answers = T.exercise_answers(data, T.encode_families(data, 16))
    a, b = T.codes_from_bits(*T.EXERCISE_CODES)
    assert answers["xor_distance"] == int(np.sum(a != b)) and answers["xor_inner"] == 8 - 2 * answers["xor_distance"]
    assert answers["xor_bits"] == "".join("1" if x != y else "0" for x, y in zip(*T.EXERCISE_CODES))
    assert answers["swap_index_change"] > 0.01 and answers["swap_expected_change"] < 1e-12
    assert answers["toy_dchn_k3"] == pytest.approx(answers["toy_deephash_k3"] * answers["toy_relevant_top3"]
                                                   / answers["toy_relevant_total"])
    assert answers["chance_level"] == pytest.approx(0.1) and answers["random_bits"] == 16


def test_toy_orders_counts_the_enumerated_rankings():
    assert T.toy_orders([0, 1, 1, 1, 2]) == 6 and T.toy_orders([5, 5, 5, 5, 1, 1]) == 48
    assert T.toy_orders() == math.prod(math.factorial(T.TOY_DISTANCES.count(d)) for d in set(T.TOY_DISTANCES))


def test_chapter_numbers_are_prefixed_and_plain():
    data = fabricated_digits()
    numbers = T.chapter_numbers(data, T.encode_families(data, 16), query=0)
    assert all(key.startswith("tm_") for key in numbers)
    assert {"tm_ties_distinct_distances", "tm_toy_orders", "tm_xor_distance", "tm_random_map"} <= set(numbers)
    assert all(isinstance(value, (int, float, str)) for value in numbers.values())
