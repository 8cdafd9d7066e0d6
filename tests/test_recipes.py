"""Recipes pinned switch by switch: each convention of ``recipe="authors"`` / ``"hashbook"`` does what its name says
(SHAM selection criterion and initial W, lr schedule rule, input scaling, affinity centring, weight averaging,
seeding of the network initialisation), the record names the recipe and its conventions, and a diverging run
(huge learning rate) stops with an error naming method, epoch and loss term, leaving no run folder."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from fixtures_data import make_wikipedia_canonical
from hashlib_core.methods import dchn, djsrh, hybridhash
from hashlib_core.models.djsrh import FeatureHashNet, TextHashNet
from hashlib_core.models.sham import (fit_sham, sham_b_step, sham_l1_loss, sham_label_matrix, sham_objective,
                                      sham_w_step, solve_sham)
from hashlib_core.train import TrainingDiverged, check_finite
from hashlib_core.train.recipes import resolve_recipe

MFEAT_VIEWS = ["fou", "kar"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HASHLIB_CACHE", str(tmp_path / "cache"))


def multi_hot(rng, n, classes, p=0.3):
    labels = (rng.random((n, classes)) < p).astype(np.uint8)
    labels[labels.sum(1) == 0, 0] = 1
    return labels


# ------------------------------------------------------------------------------------------------ recipe names
def test_recipe_defaults_follow_the_profile_and_bad_names_are_named():
    assert [resolve_recipe("x", None, p) for p in ("paper", "default", "smoke")] == ["authors", "hashbook", "hashbook"]
    assert resolve_recipe("x", "hashbook", "paper") == "hashbook"
    with pytest.raises(ValueError, match="dchn: recipe must be"):
        dchn.profile_settings("default", recipe="original")
    with pytest.raises(ValueError, match="djsrh: recipe must be"):
        djsrh.resolve_settings("wikipedia", "default", None, {"recipe": "paper"})
    with pytest.raises(ValueError, match="hybridhash: recipe must be"):
        hybridhash.resolve_settings("smoke", {"recipe": 1}, None)
    assert dchn.profile_settings("paper")["recipe"] == "authors"
    assert djsrh.resolve_settings("wikipedia", "paper", None, {})["recipe"] == "authors"
    assert hybridhash.resolve_settings("paper", {}, None)["recipe"] == "authors"
    assert hybridhash.resolve_settings("default", {}, None)["recipe"] == "hashbook"


def test_every_method_declares_recipe_and_its_learning_rates():
    for module, rates in ((dchn, ("lr",)), (djsrh, ("lr_image", "lr_text")), (hybridhash, ("lr",))):
        assert "recipe" in module.PARAMETERS and module.PARAMETERS["recipe"] is None
        assert set(rates) <= set(module.PARAMETERS)
        assert set(module.PARAMETERS) <= set(getattr(module, "PARAMETER_HELP", module.PARAMETERS))
    assert dchn.PARAMETERS["lr"] == dchn.PAPER_SETTINGS["lr"] == 1e-4
    paper = djsrh.paper_settings("wikipedia")
    assert (paper["lr_image"], paper["lr_text"]) == (0.01, 0.01)
    assert hybridhash.resolve_settings("paper", {}, None)["lr"] == 2.5e-5


# ------------------------------------------------------------------------------------------------ SHAM
def _replay(Y, bits, gamma, iterations):
    """The authors' alternation written out (fixed initial W, B step then W step, no guard): every (B, W)."""
    gaussian = np.random.RandomState(5555).standard_normal((Y.shape[1], bits))
    u, _, vt = np.linalg.svd(gaussian, full_matrices=False)
    W, pairs = u @ vt, []
    for _ in range(iterations):
        B = sham_b_step(Y, W, gamma)
        W = sham_w_step(Y, B, gamma)
        pairs.append((B, W))
    return pairs


def test_l1_loss_matches_a_hand_computation():
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    B = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, -1.0]])
    W = np.array([[0.5, -0.25, 0.1], [0.2, 0.4, -0.3]])
    gamma = 0.7
    first = second = 0.0
    for i in range(3):
        first += sum(abs(Y[i, c] - sum(B[i, k] * W[c, k] for k in range(3))) for c in range(2))
        second += sum(abs(B[i, k] - sum(Y[i, c] * W[c, k] for c in range(2))) for k in range(3))
    assert sham_l1_loss(Y, B, W, gamma) == pytest.approx(first / 3 + gamma * second / 3, rel=1e-12)


def test_sham_selection_keeps_the_w_its_criterion_names():
    rng = np.random.default_rng(8)
    Y = sham_label_matrix(multi_hot(rng, 200, 8), 60, seed=8)
    pairs = _replay(Y, 12, 1.0, 15)
    l1 = [sham_l1_loss(Y, B, W, 1.0) for B, W in pairs]
    frob = [sham_objective(Y, B, W, 1.0) for B, W in pairs]
    assert int(np.argmin(l1)) != int(np.argmin(frob)), "fixture must make the two criteria disagree"
    authors = solve_sham(Y, 12, iterations=15, monotone=False, init="fixed", selection="l1")
    ours = solve_sham(Y, 12, iterations=15, monotone=False, init="fixed", selection="frobenius")
    assert authors.best_iteration == int(np.argmin(l1)) and ours.best_iteration == int(np.argmin(frob))
    assert np.allclose(authors.W, pairs[authors.best_iteration][1])
    assert np.allclose(ours.W, pairs[ours.best_iteration][1])
    assert authors.selection_loss == pytest.approx(l1) and authors.objective == pytest.approx(frob)
    assert ours.selection_loss == pytest.approx(frob)


def test_sham_initial_w_fixed_for_the_authors_seeded_for_ours():
    labels = multi_hot(np.random.default_rng(3), 150, 6)
    fixed = [fit_sham(labels, 16, dataset="toy", available_num=0, seed=s, init="fixed", monotone=False,
                      selection="l1", cache_dir=False) for s in (0, 1)]
    seeded = [fit_sham(labels, 16, dataset="toy", available_num=0, seed=s, init="seeded", cache_dir=False)
              for s in (0, 1)]
    # available_num=0: Y is the identity whatever the seed, so only the initial W can differ
    assert np.array_equal(fixed[0].W, fixed[1].W) and fixed[0].objective == fixed[1].objective
    assert not np.array_equal(seeded[0].W, seeded[1].W)
    np.random.seed(123)       # the fixed rule does not depend on NumPy's global state either
    again = fit_sham(labels, 16, dataset="toy", available_num=0, seed=7, init="fixed", monotone=False,
                     selection="l1", cache_dir=False)
    assert np.array_equal(again.W, fixed[0].W)
    Y = sham_label_matrix(labels, 0, seed=0)
    assert np.allclose(fixed[0].W, _replay(Y, 16, 1.0, 50)[fixed[0].best_iteration][1])


def test_sham_cache_key_separates_the_recipes(tmp_path):
    labels = multi_hot(np.random.default_rng(5), 120, 4)
    paths = {fit_sham(labels, 8, dataset="a", init=i, selection=s, cache_dir=tmp_path).cache_path
             for i in ("seeded", "fixed") for s in ("frobenius", "l1")}
    assert len(paths) == 4
    cached = fit_sham(labels, 8, dataset="a", init="fixed", selection="l1", cache_dir=tmp_path)
    assert cached.from_cache and cached.summary()["selection"] == "l1" and len(cached.selection_loss) == 50
    with pytest.raises(ValueError, match="selection"):
        fit_sham(labels, 8, dataset="a", selection="l2", cache_dir=False)


def test_dchn_recipes_set_the_sham_switches():
    authors, ours = dchn.profile_settings("paper"), dchn.profile_settings("paper", recipe="hashbook")
    assert (authors["sham_selection"], authors["sham_init"], authors["sham_monotone"]) == ("l1", "fixed", False)
    assert (ours["sham_selection"], ours["sham_init"], ours["sham_monotone"]) == ("frobenius", "seeded", True)


# ------------------------------------------------------------------------------------------------ lr schedule
def _authors_loop(epochs, base=1.0):
    """The rule as the authors' loop has it: train an epoch, then lr x0.1 whenever (epoch + 1) % 50 == 0."""
    lr, used = base, []
    for epoch in range(epochs):
        used.append(lr)
        if (epoch + 1) % 50 == 0:
            lr *= 0.1
    return used


@pytest.mark.parametrize("epochs", [30, 100, 101, 160])
def test_lr_schedule_rules(epochs):
    authors = dchn.profile_settings("default", epochs=epochs, recipe="authors")
    factors = [dchn.lr_factor(e, authors["lr_drop_epochs"], 0.1) for e in range(epochs)]
    assert factors == pytest.approx(_authors_loop(epochs), rel=1e-12)
    ours = dchn.profile_settings("default", epochs=epochs, recipe="hashbook")
    half = max(1, round(epochs / 2))
    assert ours["lr_drop_epochs"] == [half] and ours["lr_drop_epoch"] == half
    assert [dchn.lr_factor(e, ours["lr_drop_epochs"], 0.1) for e in range(epochs)] == \
        pytest.approx([1.0] * half + [0.1] * (epochs - half))
    assert authors["lr_drop_epoch"] == (50 if epochs > 50 else None)


def test_train_view_follows_the_drop_epochs():
    labels = np.eye(3, dtype=np.uint8)[np.arange(30) % 3]
    x = np.random.default_rng(0).standard_normal((30, 5)).astype(np.float32)
    sham = fit_sham(labels, 8, dataset="toy", available_num=0, cache_dir=False)
    net = dchn.train_view(x, labels, sham, hidden=8, epochs=4, lr=1e-2, batch_size=16, lr_drop_epochs=[1, 3])
    assert [row["lr"] for row in net.history] == pytest.approx([1e-2, 1e-3, 1e-3, 1e-4])


# ------------------------------------------------------------------------------------------------ input scaling
def test_dchn_input_scaling_follows_the_recipe_and_the_override():
    assert dchn.profile_settings("default")["standardize_inputs"] is True
    authors = dchn.profile_settings("default", recipe="authors")
    assert authors["standardize_inputs"] is False and authors["conventions_overridden"] == []
    mixed = dchn.profile_settings("default", recipe="authors", standardize_inputs=True)
    assert mixed["standardize_inputs"] is True and mixed["conventions_overridden"] == ["standardize_inputs"]
    assert "z-scored" in mixed["conventions"]["standardize_inputs"]
    x = (np.random.default_rng(1).standard_normal((40, 4)) * 3 + 5).astype(np.float32)
    raw = dchn._build_network(x, 8, 16, seed=0, standardize=False, vgg_weights=None)
    scaled = dchn._build_network(x, 8, 16, seed=0, standardize=True, vgg_weights=None)
    assert torch.equal(raw.input_mean, torch.zeros(4)) and torch.equal(raw.input_std, torch.ones(4))
    assert torch.allclose(scaled.input_mean, torch.from_numpy(x.mean(0)), atol=1e-5)


def test_djsrh_input_scaling_and_affinity_centring_follow_the_recipe():
    authors = djsrh.resolve_settings("wikipedia", "default", None, {"recipe": "authors"})
    ours = djsrh.resolve_settings("wikipedia", "default", None, {})
    assert (authors["input_norm"], authors["center_features"], authors["ema_decay"]) == ("none", False, 0.0)
    assert (ours["input_norm"], ours["center_features"], ours["ema_decay"]) == ("zscore", True, None)
    override = djsrh.resolve_settings("wikipedia", "paper", None, {"center_features": True})
    assert override["recipe"] == "authors" and override["center_features"] is True
    assert override["conventions_overridden"] == ["center_features"] and override["input_norm"] == "none"
    train = (np.random.default_rng(2).random((50, 6)) * 0.02).astype(np.float32)
    assert np.array_equal(djsrh._affinity_features(train, False).numpy(), train)
    assert np.allclose(djsrh._affinity_features(train, True).numpy(), train - train.mean(0), atol=1e-7)
    assert djsrh._standardiser(train, "none")(train) is train
    z = djsrh._standardiser(train, "zscore")(train)
    assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0), 1, atol=1e-3)


# ------------------------------------------------------------------------------------------------ EMA
def _train_tiny(params):
    settings = djsrh.resolve_settings("wikipedia", "smoke", 2, {"hidden": 16, "batch_size": 8, **params})
    djsrh._resolve_ema_decay(settings, image_is_backbone=False)
    generator = torch.Generator().manual_seed(3)
    inputs = {"image": torch.randn(40, 6, generator=generator), "text": torch.randn(40, 4, generator=generator)}
    torch.manual_seed(0)
    image_net, text_net = FeatureHashNet(6, 8, 16), TextHashNet(4, 8, 16)
    first = list(image_net.parameters())[0]
    last = []

    def after_step(optimizer, args, kwargs):
        if optimizer.param_groups[0]["params"][0] is first:
            last[:] = [p.detach().clone() for p in image_net.parameters()]

    handle = register_optimizer_step_post_hook(after_step)
    try:
        djsrh.train_djsrh(image_net, text_net, inputs, inputs, settings, seed=0, device=torch.device("cpu"))
    finally:
        handle.remove()
    return settings, list(image_net.parameters()), last


def test_authors_recipe_keeps_the_last_iterate_ours_averages():
    settings, kept, last = _train_tiny({"recipe": "authors"})
    assert settings["ema_decay"] == 0.0 and settings["ema_decay_source"].startswith("recipe 'authors'")
    assert all(torch.equal(a, b) for a, b in zip(kept, last))
    assert djsrh.conventions(settings)["ema_decay"] == "the last SGD iterate"
    settings, kept, last = _train_tiny({"recipe": "hashbook"})
    assert settings["ema_decay"] == djsrh.DEFAULT_EMA_DECAY
    assert not all(torch.equal(a, b) for a, b in zip(kept, last))


# ------------------------------------------------------------------------------------------------ init seeding
def _initial_network(seed, init_seed):
    """The network right after initialisation, through train_view (lr 0: Adam leaves the weights as they are)."""
    labels = np.eye(3, dtype=np.uint8)[np.arange(24) % 3]
    x = np.random.default_rng(0).standard_normal((24, 5)).astype(np.float32)
    sham = fit_sham(labels, 8, dataset="toy", available_num=0, cache_dir=False)
    return dchn.train_view(x, labels, sham, view="v", seed=seed, hidden=8, epochs=1, lr=0.0, batch_size=8,
                           init_seed=init_seed), (x, labels, sham)


def test_dchn_network_init_fixed_for_the_authors_seeded_for_ours():
    fixed = [dchn.network_sha256(_initial_network(s, dchn.fixed_init_seed("v"))[0]) for s in (0, 1)]
    seeded = [dchn.network_sha256(_initial_network(s, None)[0]) for s in (0, 1)]
    assert fixed[0] == fixed[1] and seeded[0] != seeded[1]
    assert dchn.fixed_init_seed("v") != dchn.fixed_init_seed("w")
    # with the init fixed, the batch order still follows the run seed
    _, (x, labels, sham) = _initial_network(0, None)
    trained = [dchn.network_sha256(dchn.train_view(x, labels, sham, view="v", seed=s, hidden=8, epochs=1, lr=1e-2,
                                                   batch_size=8, init_seed=dchn.fixed_init_seed("v")))
               for s in (0, 1)]
    assert trained[0] != trained[1]


def test_dchn_runs_record_recipe_conventions_and_init_seeds(tmp_path):
    runs = {(recipe, seed): dchn.run(dataset="mfeat", bits=16, seed=seed, profile="smoke", views=MFEAT_VIEWS,
                                     out_dir=tmp_path / f"{recipe}{seed}", recipe=recipe).record["settings"]
            for recipe in ("authors", "hashbook") for seed in (0, 1)}
    authors, ours = runs[("authors", 0)], runs[("hashbook", 0)]
    assert authors["recipe"] == "authors" and ours["recipe"] == "hashbook"
    assert set(authors["conventions"]) == set(dchn.RECIPES["authors"]) == set(ours["conventions"])
    assert authors["conventions"]["lr_schedule"] == "lr x0.1 whenever (epoch + 1) % 50 == 0"
    assert (authors["standardize_inputs"], authors["sham"]["selection"], authors["sham"]["init"]) == \
        (False, "l1", "fixed")
    assert authors["view_init_seeds"] == runs[("authors", 1)]["view_init_seeds"]
    assert ours["view_init_seeds"] != runs[("hashbook", 1)]["view_init_seeds"]
    assert authors["lr_drop_epochs"] == [] and ours["lr_drop_epochs"] == [2]   # smoke: 3 epochs


# ------------------------------------------------------------------------------------------------ grids
def test_grids_put_both_recipes_side_by_side():
    def labelled(specs, label):
        return [s for s in specs if s.get("label") == label]

    (dchn_authors,) = labelled(dchn.GRID["default"], "authors-recipe")
    assert (dchn_authors["dataset"], dchn_authors["bits"], dchn_authors["params"]["recipe"]) == \
        ("wikipedia", 32, "authors")
    (djsrh_authors,) = labelled(djsrh.GRID["default"], "authors-recipe")
    assert (djsrh_authors["dataset"], djsrh_authors["bits"], djsrh_authors["params"]) == \
        ("wikipedia", 32, {"recipe": "authors"})
    for module in (dchn, djsrh):
        ours = labelled(module.GRID["paper"], "hashbook-recipe")
        assert ours and all(s["params"]["recipe"] == "hashbook" for s in ours)
        assert {s["bits"] for s in ours if s["dataset"] == "wikipedia"} == {16, 32, 64, 128}
        assert all("recipe" not in s["params"] for s in module.GRID["default"] if not s.get("label"))


# ------------------------------------------------------------------------------------------------ divergence
def test_check_finite_names_method_epoch_step_and_term():
    check_finite("m", 1, {"loss": 1.0, "a": torch.tensor(2.0)})
    with pytest.raises(TrainingDiverged, match=r"m: training diverged at epoch 3, step 7 \(view 'x'\): loss term "
                                               r"'L_H' is nan; .*lower lr") as caught:
        check_finite("m", 3, {"loss": 1.0, "L_H": float("nan")}, step=7, where="view 'x'", hint="lower lr")
    assert (caught.value.epoch, caught.value.step, caught.value.term) == (3, 7, "L_H")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, FloatingPointError)
    with pytest.raises(TrainingDiverged, match="'loss' is inf"):
        check_finite("m", 1, {"loss": torch.tensor(float("inf"))})


def test_dchn_huge_learning_rate_stops_the_run_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"dchn: training diverged at epoch 1, step \d+ \(view 'fou'\)"):
        dchn.run(dataset="mfeat", bits=16, profile="smoke", views=MFEAT_VIEWS, out_dir=out, lr=1e30)
    assert not out.exists()


def test_djsrh_huge_learning_rate_stops_the_run_and_writes_nothing(tmp_path):
    make_wikipedia_canonical(tmp_path / "data", n_train=96, n_test=30)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"djsrh: training diverged at epoch \d+, step \d+: loss term"):
        djsrh.run(dataset="wikipedia", bits=16, data_root=tmp_path / "data", out_dir=out, profile="smoke",
                  device="cpu", lr_image=1e12, lr_text=1e12)
    assert not out.exists()


@pytest.mark.parametrize("every_step", [True, False])   # False: the CUDA rule (epoch sums), run on the CPU
def test_hybridhash_huge_learning_rate_stops_training(every_step):
    rng = np.random.default_rng(0)

    class Source:
        images = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(24)]

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            from PIL import Image

            return Image.fromarray(self.images[i])

    from hashlib_core.losses.hybridhash import HybridHashLoss
    from hashlib_core.models.hybridhash import HybridHashConfig, HybridHashNet

    config = HybridHashConfig(image_size=8, patch_size=1, embed_dims=(8, 16, 16), depths=(1, 1, 1),
                              num_heads=(2, 2, 2), num_blocks=(4, 1, 1), drop_path=0.0)
    torch.manual_seed(0)
    model = HybridHashNet(config, bits=8)
    loss_fn = HybridHashLoss(24, 3, 8)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e30)
    feed = hybridhash.ImageFeed(Source(), np.arange(24), resize=9, device=torch.device("cpu"))
    labels = torch.nn.functional.one_hot(torch.arange(24) % 3, 3).float()
    generator = torch.Generator().manual_seed(0)
    where = r", step \d+: loss term" if every_step else r" \(sums over the epoch\): loss term"
    with pytest.raises(TrainingDiverged, match=r"hybridhash: training diverged at epoch \d+" + where):
        for epoch in range(1, 6):
            hybridhash.train_epoch(model, loss_fn, optimizer, feed, np.arange(24), labels, batch_size=8,
                                   generator=generator, device=torch.device("cpu"), epoch=epoch,
                                   check_every_step=every_step)
    assert set(loss_fn.last_terms) == {"similar pairs", "dissimilar pairs"}


def _cifar_root():
    root = Path(os.environ.get("HASHLIB_DATA", "data"))
    return root if (root / "cifar10" / "cifar10_jpeg_q75.zip").is_file() else None


@pytest.mark.skipif(_cifar_root() is None, reason="needs $HASHLIB_DATA/cifar10/cifar10_jpeg_q75.zip")
def test_hybridhash_huge_learning_rate_on_the_smoke_profile_writes_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"hybridhash: training diverged at epoch \d+"):
        hybridhash.run(dataset="cifar10", bits=16, profile="smoke", out_dir=out, data_root=_cifar_root(),
                       device="cpu", lr=1e30, subset=600, epochs=3)
    assert not out.exists()
