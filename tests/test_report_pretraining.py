"""report.hybridhash.pretraining_table on fabricated HybridHash records (no training), and the backbone parameter
of the method and network (meta-free, random weights, a few images)."""

import pytest
import torch

from hashlib_core.methods import hybridhash as method
from hashlib_core.methods.hybridhash import BEST_LABEL
from hashlib_core.models.hybridhash import PRESETS, HashLayer, PretrainedFrontHashNet, pretrained_front_config
from hashlib_core.report import chapter as chapter_module
from hashlib_core.report import hybridhash
from test_report_chapter import fabricate


def _run(root, *, backbone=None, label=None, last=0.3, best=0.35, profile="default", seed=0, image_size=32,
         trainable=1000, seconds=100.0, **kw):
    settings = {"model_size": "small", "model_config": {"image_size": image_size}, "trainable_parameters": trainable}
    if backbone is not None:
        settings["backbone"] = backbone
    also = [{"label": BEST_LABEL, "protocol": "deephash", "topk": None, "ties": "index",
             "map": {"image->image": best}, "epoch": 6}]
    return fabricate(root, method="hybridhash", dataset="cifar10", bits=64, seed=seed, profile=profile,
                     protocol="deephash", map={"image->image": last}, also=also, settings=settings, label=label,
                     record={"train_seconds": seconds, "epochs": 18}, **kw)


def _table(tmp_path, profile="default"):
    chapter = chapter_module.ChapterRuns("hybridhash", profile, tmp_path / "runs", tmp_path / "records")
    return hybridhash.pretraining_table(chapter.ok)


def test_table_puts_scratch_frozen_and_finetuned_side_by_side(tmp_path):
    records = tmp_path / "records"
    _run(records, last=0.31, best=0.33, seconds=95.4)                       # before the parameter: from scratch
    _run(records, backbone="efficientnet_lite0_finetune", label="pretrained-finetune", last=0.72, best=0.74,
         image_size=64, trainable=3_800_000, seconds=500.0)
    _run(records, backbone="efficientnet_lite0_frozen", label="pretrained-frozen", last=0.61, best=0.62,
         image_size=64, trainable=666_304, seconds=150.0)
    _run(records, profile="paper", device="cuda")   # another profile without a pretrained run: left out
    table = _table(tmp_path).data
    assert list(table["weights"]) == ["none: from scratch", "ImageNet, frozen", "ImageNet, fine-tuned"]
    assert list(table["network"]) == ["HybridHash small (hybrid conv + attention)", "EfficientNet-Lite0",
                                      "EfficientNet-Lite0"]
    assert list(table["mAP@all"]) == [0.31, 0.61, 0.72]
    assert list(table["mAP at paper cutoff"]) == [0.31, 0.61, 0.72]   # CIFAR-10: the paper's cutoff is all
    assert set(table["paper cutoff"]) == {"all"}
    assert list(table["best on test (selected on test queries)"]) == [0.33, 0.62, 0.74]
    assert list(table["input px"]) == [32, 64, 64]
    assert list(table["trainable parameters"]) == ["1,000", "666,304", "3,800,000"]
    assert list(table["train seconds"]) == ["95", "150", "500"]
    assert set(table["profile"]) == {"default"} and set(table["epochs"]) == {18}
    assert set(table["dataset"]) == {"CIFAR-10 (JPEG q75 copy)"} and set(table["device"]) == {"cpu"}
    assert set(table["date"]) == {"2026-01-02"} and set(table["source"]) == {"committed"}


def test_fresh_pretrained_runs_replace_the_committed_group_and_no_pretrained_run_is_a_note(tmp_path):
    assert "No HybridHash run with a pretrained front" in _table(tmp_path).data
    _run(tmp_path / "records")
    assert "No HybridHash run with a pretrained front" in _table(tmp_path).data  # scratch only: nothing to compare
    _run(tmp_path / "records", backbone="efficientnet_lite0_frozen", label="pretrained-frozen", last=0.6)
    _run(tmp_path / "runs", last=0.2)
    _run(tmp_path / "runs", backbone="efficientnet_lite0_frozen", label="pretrained-frozen", last=0.5)
    table = _table(tmp_path).data
    assert list(table["source"]) == ["fresh", "fresh"] and list(table["mAP@all"]) == [0.2, 0.5]


def test_backbone_parameter_is_validated_and_declared():
    assert method.PARAMETERS["backbone"] == "hybrid" and "backbone" in method.PARAMETER_HELP
    settings = method.resolve_settings("default", {"backbone": "efficientnet_lite0_frozen"}, None)
    assert settings["backbone"] == "efficientnet_lite0_frozen"
    with pytest.raises(ValueError, match="backbone: unknown backbone 'resnet'"):
        method.resolve_settings("default", {"backbone": "resnet"}, None)
    with pytest.raises(ValueError, match="pretrained: NesT weights apply to backbone 'hybrid' only"):
        method.resolve_settings("default", {"backbone": "efficientnet_lite0_finetune", "pretrained": "x.pth"}, None)
    specs = method.GRID["default"] + method.PRETRAINING_SPECS  # the pretrained runs are committed records
    labels = {spec.get("label"): spec for spec in specs if spec["dataset"] == "cifar10"}
    assert {labels[k]["params"].get("backbone", "hybrid") for k in labels} == {
        "hybrid", "efficientnet_lite0_frozen", "efficientnet_lite0_finetune"}
    assert {labels[k].get("epochs") for k in labels} == {None}        # the same epochs: the profile's


def test_pretrained_front_net_has_the_presets_hash_layer_and_trains_only_what_it_should():
    torch.manual_seed(0)
    frozen = PretrainedFrontHashNet(pretrained_front_config("efficientnet_lite0_frozen", "small"), 16)
    tuned = PretrainedFrontHashNet(pretrained_front_config("efficientnet_lite0_finetune", "small"), 16)
    small = PRESETS["small"]
    reference = HashLayer(small.embed_dims[-1], 16, small.num_heads[-1], small.hash_pool_grid)
    assert {k: v.shape for k, v in frozen.hash_layer.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    assert frozen.front_parameters() == [] and len(method.parameter_groups(frozen, 1e-3)) == 1
    groups = method.parameter_groups(tuned, 1e-3)
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-3 * method.BACKBONE_LR_FACTOR)]
    # every trainable parameter sits in exactly one group; the unused ImageNet classifier in none
    grouped = {id(p) for g in groups for p in g["params"]}
    assert grouped == {id(p) for p in tuned.parameters() if p.requires_grad}
    assert id(tuned.front_map.net._fc.weight) not in grouped
    x = torch.randn(2, 3, 64, 64)
    frozen.train()
    assert not frozen.front.training                   # a frozen front stays in eval mode (batch norm fixed)
    before = {k: v.clone() for k, v in frozen.front.state_dict().items()}   # batch-norm statistics included
    optimizer = torch.optim.RMSprop(method.parameter_groups(frozen, 1e-2)[0]["params"], lr=1e-2)
    u = frozen(x)
    assert u.shape == (2, 16) and bool((u.abs() < 1).all())
    u.sum().backward()
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in frozen.front.state_dict().items())
    assert all(p.grad is None for p in frozen.front.parameters())
    assert frozen.neck[0].weight.grad is not None
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 3, 64, 64\)"):
        frozen(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 32"):
        pretrained_front_config("efficientnet_lite0_frozen", "small", image_size=48)


def test_input_normalisation_follows_the_front():
    net = PretrainedFrontHashNet(pretrained_front_config("efficientnet_lite0_frozen", "tiny"), 8)
    norm = method.input_normalisation(net)
    assert norm["mean"] == pytest.approx((127 / 255,) * 3) and norm["std"] == pytest.approx((128 / 255,) * 3)
    images = torch.full((1, 4, 4, 3), 127, dtype=torch.uint8)
    x = method.crop_resize(images, out_size=4, resize=4, train=False, **norm)
    assert torch.allclose(x, torch.zeros_like(x), atol=1e-6)          # (127 - 127) / 128 = 0
    from hashlib_core.models.hybridhash import HybridHashNet

    assert method.input_normalisation(HybridHashNet(PRESETS["tiny"], 8))["mean"] == method.IMAGENET_MEAN
