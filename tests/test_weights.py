"""models/weights.py: local weight loading reports loaded / missing / unexpected / mismatched tensors."""

import pytest
import torch
from torch import nn

from hashlib_core.models import load_weights


def _net(width=3):
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))


def test_full_checkpoint_loads_everything(tmp_path):
    source, target = _net(), _net()
    torch.save(source.state_dict(), tmp_path / "w.pth")
    report = load_weights(target, tmp_path / "w.pth", require_all=True)
    assert report.complete and len(report.loaded) == 4
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def test_report_names_missing_unexpected_and_mismatched(tmp_path):
    source = _net(width=5)  # layer 0 and 2 weights differ in shape from the target's
    state = source.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["2.bias"]
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    target = _net(width=3)
    before = target.state_dict()["0.weight"].clone()
    report = load_weights(target, tmp_path / "w.pth")
    assert report.unexpected == ["extra.weight"]
    assert report.missing == ["2.bias"]
    assert report.shape_mismatch == ["0.bias", "0.weight", "2.weight"]
    assert torch.equal(target.state_dict()["0.weight"], before)  # mismatched tensors are left untouched
    assert "3 shape mismatches" in report.summary()
    with pytest.raises(ValueError, match="missing"):
        load_weights(_net(width=3), tmp_path / "w.pth", require_all=True)


def test_rename_maps_file_keys(tmp_path):
    source = _net()
    torch.save({f"backbone.{k}": v for k, v in source.state_dict().items()}, tmp_path / "w.pth")
    report = load_weights(_net(), tmp_path / "w.pth", rename=lambda k: k.removeprefix("backbone."),
                          require_all=True)
    assert len(report.loaded) == 4


def test_missing_or_corrupt_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_weights(_net(), tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pth"):
        load_weights(_net(), bad)
