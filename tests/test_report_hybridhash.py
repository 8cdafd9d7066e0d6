"""report/hybridhash.py on fabricated HybridHash records and the tiny preset (no training)."""

from types import SimpleNamespace

import numpy as np
import pytest

from hashlib_core.methods.hybridhash import BEST_LABEL
from hashlib_core.records.io import atomic_write_npz
from hashlib_core.records.references import load_references
from hashlib_core.report import chapter as chapter_module
from hashlib_core.report import hybridhash
from test_report_chapter import fabricate, fail


def _run(root, *, dataset="cifar10", bits=16, best=0.62, last=0.6, epoch=3, sizes=(50, 10, 40), **kw):
    also = [{"label": BEST_LABEL, "protocol": "deephash", "topk": None, "ties": "index",
             "map": {"image->image": best}, "epoch": epoch}]
    settings = {"model_size": "tiny", "train_images_per_s": 123.4, "encode_images_per_s": 456.7}
    history = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5, "test_map": 0.5}, {"epoch": 3, "loss": 1.0,
                                                                                      "test_map": 0.62}]
    return fabricate(root, method="hybridhash", dataset=dataset, bits=bits, protocol="deephash", map={
        "image->image": last}, also=also, settings=settings, history=history,
        record={"split": {"protocol": "cifar10", "seed": 0, "sizes": dict(zip(("train", "query", "retrieval"), sizes))}},
        **kw)


def _chapter(tmp_path):
    return chapter_module.ChapterRuns("hybridhash", "smoke", tmp_path / "runs", tmp_path / "records")


def test_describe_counts_every_parameter_of_the_preset():
    import torch

    from hashlib_core.models.hybridhash import PRESETS, HybridHashNet

    model, parts, flops = hybridhash.describe("tiny", bits=16)
    real = HybridHashNet(PRESETS["tiny"], 16)
    assert parts["parameters"].sum() == sum(p.numel() for p in real.parameters())
    assert parts["part"].iloc[0] == "patch_embed" and parts["part"].iloc[-1] == "hash layer"
    assert parts["output (C, H, W)"].iloc[-1] == "(16,)" and flops > 0
    assert sum(float(s.rstrip("%")) for s in parts["share"]) == pytest.approx(100, abs=0.5)
    assert next(model.parameters()).device == torch.device("meta")
    shown, frames = hybridhash.architecture(["tiny"])  # 64 bits
    assert len(shown) == 2 and f"**{frames['tiny']['parameters'].sum():,} parameters**" in shown[0].data
    grown = frames["tiny"]["parameters"] - parts["parameters"]  # only the hash layer depends on the bits
    assert (grown.iloc[:-1] == 0).all() and grown.iloc[-1] > 0
    fig = hybridhash.parameters_figure(frames["tiny"])
    assert len(fig.axes[0].patches) == len(frames["tiny"])


def test_results_table_and_log_comparison(tmp_path):
    _run(tmp_path / "runs")
    chapter = _chapter(tmp_path)
    row = hybridhash.results_table(chapter.ok).iloc[0]
    assert row["dataset"] == "CIFAR-10 (JPEG q75 copy)" and row["train / query / retrieval"] == "50 / 10 / 40"
    assert row["mAP (last epoch)"] == 0.6 and row["best on test (selected on test queries)"] == 0.62
    assert row["best epoch"] == 3 and row["train images/s"] == "123" and row["encode images/s"] == "457"
    table = hybridhash.log_comparison(chapter.runs, load_references("hybridhash")).data
    mine = table[table["ours (best on test)"] != ""]
    assert set(mine["dataset"]) == {"CIFAR-10 (JPEG q75 copy)"} and mine["ours (best on test)"].iloc[0].startswith(
        "0.620")


def test_runs_section_lists_failures(tmp_path):
    fail(tmp_path / "runs", method="hybridhash", dataset="imagenet100", message="no list files")
    shown = hybridhash.runs_section(_chapter(tmp_path))
    assert shown[0].data == "No finished HybridHash run for profile `smoke` and no committed record."
    assert "`imagenet100-16b-s0` (smoke): ValueError: no list files" in shown[1].data


def test_history_and_precision_figures_share_one_caption(tmp_path):
    _run(tmp_path / "runs")
    _run(tmp_path / "records", bits=32, profile="paper", device="cuda")
    chapter = _chapter(tmp_path)
    history = hybridhash.history_figure(chapter)
    loss, test_map = history.figure.axes
    assert len(loss.lines) == 2 and list(test_map.lines[0].get_xdata()) == [2, 3]
    assert history.about == hybridhash.runs_about(chapter) == (
        "CIFAR-10 (JPEG q75 copy) 32 bits, profile paper (committed), device cuda, 2026-01-02; "
        "CIFAR-10 (JPEG q75 copy) 16 bits, profile smoke (fresh), device cpu, 2026-01-02")
    precision = hybridhash.precision_figure(chapter)
    assert [line.get_label() for line in precision.figure.axes[1].lines] == ["CIFAR-10 (JPEG q75) 32b paper",
                                                                             "CIFAR-10 (JPEG q75) 16b smoke"]
    empty = _chapter(tmp_path / "none")
    assert hybridhash.history_figure(empty).data == hybridhash.precision_figure(empty).data == "No run to plot."


def test_examples_need_codes_and_images(tmp_path, monkeypatch):
    run_dir = _run(tmp_path / "runs", bits=4, sizes=(5, 2, 3))
    assert hybridhash.examples_figure(_chapter(tmp_path)).data.startswith("No CIFAR-10 run with codes")
    codes = np.array([[1, 1, 1, 1], [-1, -1, -1, -1]], dtype=np.int8)
    retrieval = np.array([[1, 1, 1, -1], [-1, -1, -1, 1], [1, 1, 1, 1]], dtype=np.int8)
    atomic_write_npz(run_dir / "codes.npz", image_query=codes, image_retrieval=retrieval,
                     query_labels=np.eye(2, dtype=np.uint8), retrieval_labels=np.eye(2, dtype=np.uint8)[[0, 1, 1]])
    atomic_write_npz(run_dir / "splits.npz", query=np.array([0, 1]), retrieval=np.array([2, 3, 4]))
    monkeypatch.setenv("HASHLIB_DATA", str(tmp_path / "no-data"))
    assert hybridhash.examples_figure(_chapter(tmp_path)).data.startswith("Retrieval examples need the CIFAR-10 images")

    images = [np.full((4, 4, 3), i * 40, dtype=np.uint8) for i in range(5)]
    fake = SimpleNamespace(views={"image": images}, class_names=["cat", "dog"])
    import hashlib_core.data

    monkeypatch.setattr(hashlib_core.data, "load_dataset", lambda *a, **k: fake)
    captioned = hybridhash.examples_figure(_chapter(tmp_path))
    axes = np.array(captioned.figure.axes).reshape(2, 10 + 1)  # top 10 columns, of which 3 are filled here
    # query 0 (cat): retrieval items at distances 1, 3, 0 -> order 2, 0, 1; item 0 is the only cat
    colours = [axes[0, col].spines["left"].get_edgecolor() for col in range(1, 4)]
    from matplotlib.colors import to_rgba

    assert colours == [to_rgba("tab:red"), to_rgba("tab:green"), to_rgba("tab:red")]
    assert axes[0, 0].get_ylabel() == "cat" and captioned.about.startswith("4 bits, profile smoke (fresh)")
