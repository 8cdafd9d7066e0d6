"""DCHN building blocks: SHAM (closed form, cache), the loss (against a hand computation), the per-view network,
independence of views, reproducibility, the ridge baseline and the VGG front's weight loading."""

import math

import numpy as np
import pytest
import torch

from hashlib_core.baselines.ridge import fit_ridge_hasher
from hashlib_core.losses.dchn import DCHNLoss, stable_log1p_exp
from hashlib_core.methods.dchn import (encode, network_sha256, profile_settings, train_view, view_seed)
from hashlib_core.models.dchn import DCHNViewNet
from hashlib_core.models.sham import (fit_sham, sham_coordinate_b_step, sham_label_matrix,
                                      sham_objective, sham_w_step, solve_sham)


def multi_hot(rng, n, classes, p=0.3):
    labels = (rng.random((n, classes)) < p).astype(np.uint8)
    labels[labels.sum(1) == 0, 0] = 1
    return labels


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """The SHAM cache in a temporary folder (one torch thread comes from conftest.py)."""
    monkeypatch.setenv("HASHLIB_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------------------ SHAM
def test_label_matrix_has_class_rows_then_sampled_training_rows():
    rng = np.random.default_rng(0)
    labels = multi_hot(rng, 50, 6)
    Y = sham_label_matrix(labels, 10, seed=3)
    assert Y.shape == (16, 6)
    assert np.array_equal(Y[:6], np.eye(6))
    rows = {tuple(r) for r in labels.astype(float)}
    assert all(tuple(r) in rows for r in Y[6:])
    assert np.array_equal(Y, sham_label_matrix(labels, 10, seed=3))
    assert sham_label_matrix(labels, 0, seed=3).shape == (6, 6)
    with pytest.raises(ValueError, match="available_num"):
        sham_label_matrix(labels, 51, seed=0)


def test_sylvester_step_solves_its_equation_and_minimises_over_w():
    rng = np.random.default_rng(1)
    Y = sham_label_matrix(multi_hot(rng, 80, 7), 30, seed=0)
    B = np.where(rng.standard_normal((Y.shape[0], 12)) > 0, 1.0, -1.0)
    gamma = 0.7
    W = sham_w_step(Y, B, gamma)
    lhs = (B.T @ B) @ W.T + W.T @ (gamma * Y.T @ Y)
    assert np.allclose(lhs, (1 + gamma) * B.T @ Y, atol=1e-8)
    best = sham_objective(Y, B, W, gamma)
    for _ in range(5):  # the exact W step: any perturbation raises the objective
        assert sham_objective(Y, B, W + 1e-3 * rng.standard_normal(W.shape), gamma) > best


def test_coordinate_b_step_never_raises_the_objective():
    rng = np.random.default_rng(2)
    Y = sham_label_matrix(multi_hot(rng, 100, 8), 40, seed=1)
    W = rng.standard_normal((8, 16))
    for trial in range(5):
        B = np.where(rng.standard_normal((Y.shape[0], 16)) > 0, 1.0, -1.0)
        refined = sham_coordinate_b_step(Y, W, B, 1.0)
        assert set(np.unique(refined)) <= {-1.0, 1.0}
        assert sham_objective(Y, refined, W, 1.0) <= sham_objective(Y, B, W, 1.0) + 1e-9


def test_sham_objective_never_increases_where_the_plain_alternation_does():
    rng = np.random.default_rng(0)
    labels = multi_hot(rng, 300, 8)
    Y = sham_label_matrix(labels, 50, seed=8)
    plain = np.array(solve_sham(Y, 12, seed=8, monotone=False).objective)
    assert np.any(np.diff(plain) > 1e-6), "fixture should make the authors' alternation go up somewhere"
    guarded = solve_sham(Y, 12, seed=8, monotone=True)
    trace = np.array(guarded.objective)
    assert len(trace) == 50
    assert np.all(np.diff(trace) <= 1e-9 * np.abs(trace[:-1]))
    assert "coordinate" in guarded.b_step
    assert trace[-1] <= plain.min() + 1e-6 or trace[-1] < plain[0]


def test_plain_alternation_keeps_the_best_w():
    rng = np.random.default_rng(0)
    Y = sham_label_matrix(multi_hot(rng, 300, 8), 50, seed=8)
    result = solve_sham(Y, 12, seed=8, monotone=False)
    assert result.best_iteration == int(np.argmin(result.objective))
    # the kept (B, W) pair is the one that produced the lowest recorded objective
    assert sham_objective(Y, result.B.astype(float), result.W, 1.0) == pytest.approx(min(result.objective))
    assert np.allclose(result.W, sham_w_step(Y, result.B.astype(float), 1.0))
    assert result.B.shape == (Y.shape[0], 12)


def test_same_seed_same_w_and_other_seed_other_w():
    labels = multi_hot(np.random.default_rng(4), 120, 5)
    a = fit_sham(labels, 16, dataset="toy", seed=3, cache_dir=False)
    b = fit_sham(labels, 16, dataset="toy", seed=3, cache_dir=False)
    c = fit_sham(labels, 16, dataset="toy", seed=4, cache_dir=False)
    assert np.array_equal(a.W, b.W) and a.objective == b.objective
    assert not np.array_equal(a.W, c.W)
    codes = a.target_codes(labels)
    assert codes.dtype == np.int8 and codes.shape == (120, 16) and set(np.unique(codes)) <= {-1, 1}
    assert np.array_equal(codes, np.where(labels @ a.W > 0, 1, -1))


def test_cache_is_keyed_by_dataset_and_reused(tmp_path):
    labels = multi_hot(np.random.default_rng(5), 150, 4)
    first = fit_sham(labels, 8, dataset="alpha", seed=1, cache_dir=tmp_path)
    assert not first.from_cache and first.cache_path
    again = fit_sham(labels, 8, dataset="alpha", seed=1, cache_dir=tmp_path)
    assert again.from_cache and again.cache_path == first.cache_path
    assert np.array_equal(again.W, first.W) and again.objective == first.objective
    other = fit_sham(labels, 8, dataset="beta", seed=1, cache_dir=tmp_path)
    assert not other.from_cache and other.cache_path != first.cache_path
    # every setting that changes W changes the file
    paths = {first.cache_path}
    for kwargs in ({"seed": 2}, {"gamma": 0.5}, {"available_num": 20}):
        paths.add(fit_sham(labels, 8, dataset="alpha", **{"seed": 1, **kwargs}, cache_dir=tmp_path).cache_path)
    paths.add(fit_sham(labels, 16, dataset="alpha", seed=1, cache_dir=tmp_path).cache_path)
    assert len(paths) == 5
    # the default folder is $HASHLIB_CACHE (set by the fixture)
    default = fit_sham(labels, 8, dataset="alpha", seed=1)
    assert "cache" in default.cache_path and not default.from_cache


def test_corrupt_cache_is_recomputed(tmp_path):
    labels = multi_hot(np.random.default_rng(6), 160, 4)
    first = fit_sham(labels, 8, dataset="alpha", cache_dir=tmp_path)
    with open(first.cache_path, "wb") as handle:
        handle.write(b"not an npz")
    with pytest.warns(UserWarning, match="unreadable"):
        again = fit_sham(labels, 8, dataset="alpha", cache_dir=tmp_path)
    assert np.array_equal(again.W, first.W) and not again.from_cache


def test_sham_rejects_bad_arguments():
    labels = multi_hot(np.random.default_rng(7), 130, 3)
    with pytest.raises(ValueError, match="gamma"):
        fit_sham(labels, 8, dataset="x", gamma=0, cache_dir=False)
    with pytest.raises(ValueError, match="dataset"):
        fit_sham(labels, 8, dataset="", cache_dir=False)
    with pytest.raises(ValueError, match="bits"):
        fit_sham(labels, 0, dataset="x", cache_dir=False)


# ------------------------------------------------------------------------------------------------ loss
def test_loss_matches_a_hand_computation():
    W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]])            # C=2 classes, 3 bits
    f = np.array([[0.6, 0.8, 0.0], [0.0, 0.6, -0.8], [1.0, 0.0, 0.0]])
    o = np.array([[1, -1, 1], [-1, 1, -1], [1, 1, -1]])
    y = np.array([[1, 0], [0, 1], [1, 1]])
    alpha = 0.3
    l_h = 0.0
    for i in range(3):
        row = 0.0
        for j in range(3):
            theta = 0.5 * sum(f[i, k] * o[j, k] for k in range(3))
            s = 1.0 if any(y[i, c] and y[j, c] for c in range(2)) else 0.0
            row += math.log(1 + math.exp(theta)) - s * theta
        l_h += row
    l_h /= 3
    l_r = 0.0
    for i in range(3):
        for c in range(2):
            decoded = sum(f[i, k] * W[c, k] for k in range(3))
            l_r += (decoded - y[i, c]) ** 2
    l_r /= 3
    loss = DCHNLoss(W, alpha=alpha)
    as_t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    total, terms = loss(as_t(f), as_t(o), as_t(y), return_terms=True)
    assert terms["L_H"] == pytest.approx(l_h, rel=1e-6)
    assert terms["L_R"] == pytest.approx(l_r, rel=1e-6)
    assert float(total) == pytest.approx(alpha * l_h + (1 - alpha) * l_r, rel=1e-6)


def test_loss_is_numerically_stable_and_checks_shapes():
    t = torch.tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    values = stable_log1p_exp(t)
    assert torch.all(torch.isfinite(values))
    assert torch.allclose(values, torch.tensor([0.0, math.log1p(math.exp(-30)), math.log(2), 30.0, 1000.0]))
    loss = DCHNLoss(np.ones((2, 4)))
    with pytest.raises(ValueError, match="features"):
        loss(torch.zeros(3, 5), torch.zeros(3, 5), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="labels"):
        loss(torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="alpha"):
        DCHNLoss(np.ones((2, 4)), alpha=1.5)


# ------------------------------------------------------------------------------------------------ network
def toy_views(seed=0, n=120, classes=4):
    rng = np.random.default_rng(seed)
    labels = np.eye(classes, dtype=np.uint8)[rng.integers(0, classes, n)]
    centres_a, centres_b = rng.standard_normal((classes, 10)) * 3, rng.standard_normal((classes, 6)) * 3
    a = (labels @ centres_a + rng.standard_normal((n, 10))).astype(np.float32) * 5 + 7
    b = (labels @ centres_b + rng.standard_normal((n, 6))).astype(np.float32)
    return labels, a, b


def test_network_output_has_unit_norm_and_standardises_inside():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 5)).astype(np.float32) * 4 + 10
    net = DCHNViewNet(5, 12, hidden=16, input_mean=x.mean(0), input_std=x.std(0))
    out = net(torch.from_numpy(x))
    assert out.shape == (20, 12)
    assert torch.allclose(out.norm(dim=1), torch.ones(20), atol=1e-6)
    assert {"input_mean", "input_std"} <= set(net.state_dict())
    with pytest.raises(ValueError, match="features of shape"):
        net(torch.zeros(3, 4))


def small_training(**kwargs):
    return {"hidden": 32, "epochs": 3, "batch_size": 16, "lr": 1e-3, "lr_drop_epoch": 2, **kwargs}


def test_training_one_view_does_not_touch_another():
    labels, a, b = toy_views()
    sham = fit_sham(labels, 8, dataset="toy", cache_dir=False)
    net_a = train_view(a, labels, sham, view="a", **small_training())
    hash_a, codes_a = network_sha256(net_a), encode(net_a, a)
    net_b = train_view(b, labels, sham, view="b", **small_training())   # only view b's features
    assert network_sha256(net_a) == hash_a and np.array_equal(encode(net_a, a), codes_a)
    # a view's network depends on its own seed, not on which views were trained before it
    assert network_sha256(train_view(a, labels, sham, view="a", **small_training())) == hash_a
    assert network_sha256(net_b) != hash_a and view_seed(0, "a") != view_seed(0, "b")
    assert len(net_a.history) == 3 and {"loss", "L_H", "L_R", "lr"} <= set(net_a.history[0])
    assert net_a.history[-1]["lr"] == pytest.approx(1e-4)  # x0.1 from epoch 2 on


def test_training_is_reproducible_and_learns():
    labels, a, _ = toy_views(seed=1, n=200)
    sham = fit_sham(labels, 16, dataset="toy", cache_dir=False)
    first = train_view(a, labels, sham, view="a", seed=5, **small_training(epochs=15))
    second = train_view(a, labels, sham, view="a", seed=5, **small_training(epochs=15))
    codes = encode(first, a)
    assert np.array_equal(codes, encode(second, a))
    assert codes.dtype == np.int8 and set(np.unique(codes)) <= {-1, 1}
    assert first.history[-1]["loss"] < first.history[0]["loss"]
    targets = sham.target_codes(labels)
    assert np.mean(codes == targets) > 0.9          # separable toy data: the codes reach their targets
    other = train_view(a, labels, sham, view="a", seed=6, **small_training(epochs=15))
    assert network_sha256(other) != network_sha256(first)


def test_train_view_rejects_mismatched_input():
    labels, a, _ = toy_views()
    sham = fit_sham(labels, 8, dataset="toy", cache_dir=False)
    with pytest.raises(ValueError, match="label rows"):
        train_view(a[:-1], labels, sham, **small_training())
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_view(bad, labels, sham, **small_training())
    with pytest.raises(ValueError, match="sham"):
        train_view(a, labels, sham.W, **small_training())


def test_profiles_record_what_they_change():
    paper = profile_settings("paper")
    assert (paper["hidden"], paper["epochs"], paper["lr_drop_epoch"], paper["batch_size"]) == (4096, 100, 50, 64)
    assert paper["betas"] == [0.5, 0.999] and paper["lr"] == 1e-4 and paper["profile_changes"] == {}
    default = profile_settings("default")
    assert set(default["profile_changes"]) == {"hidden", "epochs"}
    assert default["lr_drop_epoch"] == default["epochs"] // 2
    assert profile_settings("smoke", epochs=7)["epochs"] == 7
    with pytest.raises(ValueError, match="profile"):
        profile_settings("fast")


# ------------------------------------------------------------------------------------------------ ridge
def test_ridge_hasher_matches_the_closed_form_and_recovers_a_linear_map():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 6)) * [1, 2, 3, 4, 5, 6] + 10
    targets = np.where(((x - 10) / [1, 2, 3, 4, 5, 6]) @ rng.standard_normal((6, 5)) > 0, 1, -1)
    hasher = fit_ridge_hasher(x, targets, ridge=2.0)
    z = (x - x.mean(0)) / x.std(0)
    design = np.hstack([z, np.ones((400, 1))])
    penalty = np.diag([2.0] * 6 + [0.0])
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ targets)
    assert np.allclose(hasher.coef, solution[:6], atol=1e-8)
    assert np.allclose(hasher.intercept, solution[6], atol=1e-8)
    assert np.mean(hasher.encode(x) == targets) > 0.95
    with pytest.raises(ValueError, match="rows"):
        fit_ridge_hasher(x[:10], targets)


# ------------------------------------------------------------------------------------------------ VGG front
def test_vgg_front_reports_a_file_that_is_not_vgg(tmp_path):
    from hashlib_core.models.backbones_vgg import VGG19BNFc7

    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ValueError, match="not a VGG19-BN state dict"):
        VGG19BNFc7(path)


@pytest.mark.slow
def test_vgg_front_loads_torchvision_weights_and_gives_fc7(tmp_path):
    from torchvision.models import vgg19_bn

    from hashlib_core.models.backbones_vgg import VGG19BNFc7

    torch.manual_seed(0)
    reference = vgg19_bn(weights=None).eval()
    path = tmp_path / "vgg19_bn.pth"
    torch.save(reference.state_dict(), path)
    front = VGG19BNFc7(path).eval()
    assert front.load_report.unexpected == ["classifier.6.bias", "classifier.6.weight"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = front(x)
        expected = reference.classifier[:6](torch.flatten(reference.avgpool(reference.features(x)), 1))
    assert out.shape == (2, 4096) and torch.allclose(out, expected)
    net = DCHNViewNet(None, 16, hidden=32, front=front)
    groups = net.parameter_groups(1e-4)
    assert [g["lr"] for g in groups] == [1e-4, pytest.approx(1e-5)]


@pytest.mark.slow
def test_raw_image_view_trains_through_the_vgg_front():
    from hashlib_core.data.images import ArrayImageSource

    rng = np.random.default_rng(0)
    labels = np.eye(2, dtype=np.uint8)[np.arange(12) % 2]
    images = (rng.random((12, 32, 32, 3)) * 255).astype(np.uint8)
    images[labels[:, 0] == 1, :, :, 0] = 255                 # class 0 is red
    source = ArrayImageSource(images)
    sham = fit_sham(labels, 8, dataset="toy-images", available_num=4, cache_dir=False)
    train = np.arange(8)
    net = train_view(source, None, sham, indices=train, all_labels=labels, view="image", hidden=16, epochs=1,
                     batch_size=4, image_size=32, lr_drop_epoch=None)
    assert net.front is not None and len(net.history) == 1 and np.isfinite(net.history[0]["loss"])
    codes = encode(net, source, indices=np.arange(8, 12), image_size=32)
    assert codes.shape == (4, 8) and set(np.unique(codes)) <= {-1, 1}
    with pytest.raises(ValueError, match="indices"):
        train_view(source, None, sham, view="image")
