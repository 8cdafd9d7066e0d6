"""HybridHash: network shapes and size, loss against a hand computation, NesT weight loading, device-side image
pipeline, settings validation, seeded CPU reproducibility of training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from hashlib_core.losses.hybridhash import HybridHashLoss
from hashlib_core.methods import hybridhash as method
from hashlib_core.models.hybridhash import (PRESETS, HybridHashConfig, HybridHashNet, blockify, config_for,
                                            deblockify, stage_parameter_counts)
from hashlib_core.models.nest_weights import load_nest_weights, nest_key_to_ours, ours_key_to_nest


# ---------------------------------------------------------------------------------------------- network
def test_paper_config_shapes_through_every_stage():
    torch.manual_seed(0)
    model = HybridHashNet(config_for("paper"), bits=64).eval()
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        feats = model.features(x)
        codes = model(x)
    expected = {"patch_embed": (1, 128, 56, 56), "stage0": (1, 128, 56, 56), "interaction0": (1, 256, 28, 28),
                "stage1": (1, 256, 28, 28), "interaction1": (1, 512, 14, 14), "stage2": (1, 512, 14, 14),
                "norm": (1, 512, 14, 14)}
    assert {k: tuple(v.shape) for k, v in feats.items()} == expected
    assert codes.shape == (1, 64) and codes.dtype == torch.float32
    # the stages attend within blocks of 14 x 14 tokens: 16, 4 and 1 blocks
    assert [tuple(s.pos_embed.shape) for s in model.stages] == [(1, 16, 196, 128), (1, 4, 196, 256),
                                                                 (1, 1, 196, 512)]
    assert [len(s.layers) for s in model.stages] == [2, 2, 15]


def test_paper_parameter_count_is_plausible():
    model = HybridHashNet(config_for("paper"), bits=64)
    total = sum(p.numel() for p in model.parameters())
    per_stage = stage_parameter_counts(model)
    print(f"HybridHash paper model, 64 bits: {total:,} parameters; per part: {per_stage}")
    assert sum(per_stage.values()) == total
    # one 512-wide transformer layer has 12 * 512^2 + 13 * 512 parameters; stage 3 holds 15 of them + pos_embed
    assert per_stage["stage 3"] == 15 * (12 * 512 ** 2 + 13 * 512) + 196 * 512
    assert 50e6 < total < 62e6   # NesT-Base (68M, 20 last-stage layers) minus 5 layers, plus the hybrid parts


@pytest.mark.parametrize("size", ["small", "tiny"])
def test_small_presets_shapes(size):
    config = PRESETS[size]
    model = HybridHashNet(config, bits=16).eval()
    with torch.no_grad():
        feats = model.features(torch.randn(2, 3, 32, 32))
        codes = model(torch.randn(2, 3, 32, 32))
    d0, d1, d2 = config.embed_dims
    assert tuple(feats["stage0"].shape) == (2, d0, 8, 8)        # 32 / patch 4
    assert tuple(feats["interaction0"].shape) == (2, d1, 4, 4)
    assert tuple(feats["interaction1"].shape) == (2, d2, 2, 2)
    assert tuple(feats["norm"].shape) == (2, d2, 2, 2)
    assert [tuple(s.pos_embed.shape[1:3]) for s in model.stages] == [(16, 4), (4, 4), (1, 4)]
    assert codes.shape == (2, 16)


def test_outputs_lie_strictly_inside_minus_one_one():
    torch.manual_seed(1)
    model = HybridHashNet(config_for("tiny"), bits=32).eval()
    with torch.no_grad():
        u = model(3 * torch.randn(8, 3, 32, 32))
    assert torch.all(u > -1) and torch.all(u < 1)
    assert u.abs().max() > 0  # not a degenerate all-zero output


def test_wrong_input_and_config_errors_are_value_errors():
    model = HybridHashNet(config_for("tiny"), bits=8)
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="num_blocks"):
        HybridHashConfig(image_size=32, patch_size=2, num_blocks=(8, 4, 1))
    with pytest.raises(ValueError, match="does not split"):
        HybridHashConfig(image_size=32, patch_size=4, num_blocks=(9, 4, 1))
    with pytest.raises(ValueError, match="divisible"):
        HybridHashConfig(embed_dims=(130, 256, 512))
    with pytest.raises(ValueError, match="model_size"):
        config_for("huge")
    with pytest.raises(ValueError, match="bits"):
        HybridHashNet(config_for("tiny"), bits=0)


def test_blockify_orders_blocks_and_tokens_row_major():
    x = torch.arange(4 * 4).reshape(1, 4, 4, 1)              # (B, H, W, C), value = 4 * row + col
    blocks = blockify(x, 2)                                   # 2 x 2 blocks of 2 x 2 tokens
    assert blocks.shape == (1, 4, 4, 1)
    assert blocks[0, :, :, 0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    assert torch.equal(deblockify(blocks, 2, 2), x)


# ---------------------------------------------------------------------------------------------- loss
def _hand_loss(u, labels, memory_codes, memory_labels, alpha):
    """The weighted pairwise likelihood written with Python loops over (batch item, memory item) pairs."""
    pos, neg = [], []
    for i in range(len(u)):
        for j in range(len(memory_codes)):
            theta = alpha * sum(a * b for a, b in zip(u[i], memory_codes[j]))
            s = 1.0 if any(a > 0 and b > 0 for a, b in zip(labels[i], memory_labels[j])) else 0.0
            value = math.log(1.0 + math.exp(theta)) - s * theta
            (pos if s else neg).append(value)
    total = len(pos) + len(neg)
    weighted = sum(v * total / len(pos) for v in pos) + sum(v * total / len(neg) for v in neg)
    return weighted / total


def test_loss_matches_hand_computation_with_pair_reweighting():
    torch.manual_seed(0)
    n_train, classes, bits, alpha = 7, 4, 6, 0.5
    loss_fn = HybridHashLoss(n_train, classes, bits, alpha=alpha).double()
    labels_all = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                               [1, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.float64)
    # first batch fills slots 0, 3, 5 of the memory
    first = torch.tanh(torch.randn(3, bits, dtype=torch.float64))
    loss_fn(first, labels_all[[0, 3, 5]], torch.tensor([0, 3, 5]))
    # second batch: slots 1, 2, 5 (slot 5 overwritten); slots 4 and 6 stay unseen (zero code, zero labels)
    u = torch.tanh(3 * torch.randn(3, bits, dtype=torch.float64)).requires_grad_()
    index = torch.tensor([1, 2, 5])
    loss = loss_fn(u, labels_all[index], index)

    memory_codes = torch.zeros(n_train, bits, dtype=torch.float64)
    memory_labels = torch.zeros(n_train, classes, dtype=torch.float64)
    memory_codes[[0, 3]] = first[:2]
    memory_labels[[0, 3]] = labels_all[[0, 3]]
    memory_codes[index] = u.detach()
    memory_labels[index] = labels_all[index]
    expected = _hand_loss(u.detach().tolist(), labels_all[index].tolist(), memory_codes.tolist(),
                          memory_labels.tolist(), alpha)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert torch.equal(loss_fn.memory_codes, memory_codes)
    assert torch.equal(loss_fn.memory_labels, memory_labels)
    loss.backward()
    assert u.grad is not None and torch.isfinite(u.grad).all() and u.grad.abs().sum() > 0


def test_loss_is_stable_for_large_theta_and_handles_a_missing_group():
    loss_fn = HybridHashLoss(2, 2, 64, alpha=10.0)
    u = torch.ones(2, 64)
    # all pairs dissimilar (no positive group), theta = 640: the naive log(1 + exp(theta)) overflows
    loss = loss_fn(u, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    # pairs: (0,0) and (1,1) similar (self), (0,1), (1,0) dissimilar with l = 640; similar ones have l ~ 0
    assert torch.isfinite(loss) and loss.item() == pytest.approx(640.0, rel=1e-6)
    loss_fn = HybridHashLoss(2, 2, 4)
    loss = loss_fn(torch.zeros(2, 4), torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(math.log(2.0))     # only similar pairs, theta = 0


def test_loss_rejects_bad_shapes():
    loss_fn = HybridHashLoss(5, 3, 8)
    with pytest.raises(ValueError, match="outputs"):
        loss_fn(torch.zeros(2, 4), torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        loss_fn(torch.zeros(2, 8), torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_train"):
        HybridHashLoss(0, 3, 8)


# ---------------------------------------------------------------------------------------------- NesT weights
# A few names and shapes of the public NesT-Base checkpoint (ImageNet, 20 layers in the last level).
NEST_BASE_KEYS = {
    "patch_embed.proj.weight": (128, 3, 4, 4),
    "levels.0.pos_embed": (1, 16, 196, 128),
    "levels.0.transformer_encoder.1.attn.qkv.weight": (384, 128),
    "levels.1.pool.conv.weight": (256, 128, 3, 3),
    "levels.1.pool.norm.bias": (256,),
    "levels.1.pos_embed": (1, 4, 196, 256),
    "levels.2.pool.conv.bias": (512,),
    "levels.2.transformer_encoder.14.mlp.fc2.weight": (512, 2048),
    "norm.weight": (512,),
}


def test_nest_names_map_onto_the_paper_model_with_the_same_shapes():
    own = {k: tuple(v.shape) for k, v in HybridHashNet(config_for("paper"), bits=64).state_dict().items()}
    for key, shape in NEST_BASE_KEYS.items():
        assert own[nest_key_to_ours(key)] == shape, key
    # extra tensors of NesT-Base stay visible as "unexpected" instead of being dropped
    assert nest_key_to_ours("levels.2.transformer_encoder.19.norm1.weight") not in own
    assert nest_key_to_ours("head.weight") == "head.weight"
    assert nest_key_to_ours("module.norm.bias") == "norm.bias"
    for key in own:
        nest = ours_key_to_nest(key)
        if nest is not None:
            assert nest_key_to_ours(nest) == key
        else:
            assert "global_branch" in key or key.startswith("hash_layer.")


def test_pretrained_loading_reports_loaded_missing_and_unexpected(tmp_path):
    torch.manual_seed(0)
    source = HybridHashNet(config_for("small"), bits=16)
    state = {ours_key_to_nest(k): v for k, v in source.state_dict().items() if ours_key_to_nest(k) is not None}
    dropped = "levels.1.transformer_encoder.0.mlp.fc1.weight"
    del state[dropped]
    state["head.weight"] = torch.zeros(10, config_for("small").embed_dims[-1])
    torch.save({"state_dict": state}, tmp_path / "nest.pth")

    torch.manual_seed(1)
    target = HybridHashNet(config_for("small"), bits=16)
    before = target.stages[1].layers[0].mlp.fc1.weight.detach().clone()
    report = load_nest_weights(target, tmp_path / "nest.pth")
    assert len(report.loaded) == len(state) - 1
    assert report.unexpected == ["head.weight"]
    assert "stages.1.layers.0.mlp.fc1.weight" in report.missing
    assert not report.shape_mismatch
    assert all("global_branch" in k or k.startswith("hash_layer.") or k == "stages.1.layers.0.mlp.fc1.weight"
               for k in report.missing)
    for key in report.loaded:
        assert torch.equal(target.state_dict()[key], source.state_dict()[key]), key
    assert torch.equal(target.stages[1].layers[0].mlp.fc1.weight, before)   # left as initialised
    with pytest.raises(ValueError, match="mlp.fc1.weight"):
        load_nest_weights(HybridHashNet(config_for("small"), bits=16), tmp_path / "nest.pth", require_all=True)
    # a complete file passes require_all although the global branches and the hash layer are NesT-less
    state[dropped] = source.state_dict()["stages.1.layers.0.mlp.fc1.weight"]
    torch.save(state, tmp_path / "full.pth")
    assert load_nest_weights(HybridHashNet(config_for("small"), bits=16), tmp_path / "full.pth",
                             require_all=True).missing


# ---------------------------------------------------------------------------------------------- images
def test_crop_resize_centre_matches_resize_then_crop():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8)
    out = method.crop_resize(images, out_size=12, resize=14, train=False)
    ref = F.interpolate(images.permute(0, 3, 1, 2).float() / 255, size=(14, 14), mode="bilinear",
                        align_corners=False)[:, :, 1:13, 1:13]
    mean = torch.tensor(method.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(method.IMAGENET_STD).view(1, 3, 1, 1)
    assert out.shape == (3, 3, 12, 12)
    assert torch.allclose(out, (ref - mean) / std, atol=1e-5)
    # no resizing at all: the normalised input comes back
    same = method.crop_resize(images, out_size=8, resize=8, train=False)
    assert torch.allclose(same, (images.permute(0, 3, 1, 2).float() / 255 - mean) / std, atol=1e-5)


@pytest.mark.parametrize("size", [32, 224])
def test_crop_resize_agrees_with_the_torchvision_pipeline_on_cifar_sized_images(size):
    from hashlib_core.data.images import default_transform

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    reference = default_transform(size, train=False)(Image.fromarray(image))       # PIL resize + centre crop
    ours = method.crop_resize(torch.from_numpy(image)[None], out_size=size, resize=method.resize_for(size),
                              train=False)[0]
    assert ours.shape == reference.shape
    # PIL rounds the resized image to uint8; one grey level is 1 / (255 * 0.225) = 0.017 after normalisation
    assert (ours - reference).abs().max() < 0.02


def test_crop_resize_random_crops_and_flips_like_the_reference():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (16, 8, 8, 3), dtype=torch.uint8)
    out = method.crop_resize(images, out_size=10, resize=14, train=True, generator=torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    offsets = torch.randint(0, 5, (16, 2), generator=replay)
    flips = torch.rand(16, generator=replay) < 0.5
    big = F.interpolate(images.permute(0, 3, 1, 2).float() / 255, size=(14, 14), mode="bilinear",
                        align_corners=False)
    mean = torch.tensor(method.IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(method.IMAGENET_STD).view(3, 1, 1)
    for i in range(16):
        y, x = offsets[i].tolist()
        crop = big[i, :, y:y + 10, x:x + 10]
        if flips[i]:
            crop = crop.flip(-1)
        assert torch.allclose(out[i], (crop - mean) / std, atol=1e-5), i
    assert 0 < int(flips.sum()) < 16


class _ListSource:
    """A minimal image source: len() and [i] -> PIL RGB."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays)

    def __getitem__(self, i):
        return Image.fromarray(self.arrays[i])


def test_image_feed_keeps_small_square_images_native_and_resizes_large_ones():
    rng = np.random.default_rng(0)
    small = _ListSource([rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(5)])
    feed = method.ImageFeed(small, np.array([1, 3, 4]), resize=9, device=torch.device("cpu"))
    assert feed.store_size == 8 and feed.in_memory
    chunks = list(feed.batches(np.array([2, 0, 1]), batch_size=2))
    assert [c.tolist() for c, _ in chunks] == [[2, 0], [1]]
    assert np.array_equal(chunks[0][1][0].numpy(), small.arrays[4]) and np.array_equal(chunks[1][1][0].numpy(),
                                                                                       small.arrays[3])
    wide = _ListSource([rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(3)])
    streamed = method.ImageFeed(wide, np.arange(3), resize=10, device=torch.device("cpu"), in_memory_limit=0)
    assert streamed.store_size == 10 and not streamed.in_memory
    (positions, images), = list(streamed.batches(np.arange(3), batch_size=4))
    assert images.shape == (3, 10, 10, 3) and images.dtype == torch.uint8


# ---------------------------------------------------------------------------------------------- settings, training
def test_settings_merge_profile_and_reject_bad_values():
    settings = method.resolve_settings("paper", {"eval_every": 5}, None)
    assert settings["lr"] == 2.5e-5 and settings["weight_decay"] == 1e-5 and settings["model_size"] == "paper"
    assert settings["eval_every"] == 5 and settings["epochs"] == method.PROFILES["paper"]["epochs"]
    assert method.resolve_settings("smoke", {"batch_size": None}, 3)["epochs"] == 3
    with pytest.raises(ValueError, match="unknown parameter"):
        method.resolve_settings("smoke", {"learning_rate": 1}, None)
    with pytest.raises(ValueError, match="epochs"):
        method.resolve_settings("smoke", {}, 0)
    with pytest.raises(ValueError, match="profile"):
        method.resolve_settings("fast", {}, None)
    with pytest.raises(ValueError, match="pretrained"):
        method.resolve_settings("smoke", {"pretrained": "/nonexistent/nest.pth"}, None)
    assert set(method.PARAMETERS) >= {"model_size", "image_size", "pretrained", "eval_every"}
    for profile, specs in method.GRID.items():
        assert profile in method.PROFILES and specs
        for spec in specs:
            assert set(spec["params"]) <= set(method.PARAMETERS)


def _train_twice(seed):
    rng = np.random.default_rng(0)
    source = _ListSource([rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(24)])
    labels = torch.nn.functional.one_hot(torch.arange(24) % 3, 3).float()
    config = HybridHashConfig(image_size=8, patch_size=1, embed_dims=(8, 16, 16), depths=(1, 1, 1),
                              num_heads=(2, 2, 2), num_blocks=(4, 1, 1), drop_path=0.2)
    torch.manual_seed(seed)
    model = HybridHashNet(config, bits=8)
    loss_fn = HybridHashLoss(24, 3, 8)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, weight_decay=1e-5)
    feed = method.ImageFeed(source, np.arange(24), resize=9, device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    losses = [method.train_epoch(model, loss_fn, optimizer, feed, np.arange(24), labels, batch_size=10,
                                 generator=generator, device=torch.device("cpu")) for _ in range(2)]
    codes = method.encode(model, feed, np.arange(24), batch_size=7, device=torch.device("cpu"))
    return losses, codes, [p.detach().clone() for p in model.parameters()]


def test_training_is_reproducible_on_cpu_with_a_seed():
    losses_a, codes_a, params_a = _train_twice(0)
    losses_b, codes_b, params_b = _train_twice(0)
    losses_c, _, params_c = _train_twice(1)
    assert losses_a == losses_b
    assert torch.equal(codes_a, codes_b) and set(codes_a.unique().tolist()) <= {-1.0, 1.0}
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert losses_a != losses_c and not all(torch.equal(a, c) for a, c in zip(params_a, params_c))
    assert all(math.isfinite(v) for v in losses_a)
