"""studies/tie_order_per_class.py on a fabricated run folder (hand-computed per-class mAP) and
report.protocols.tie_order_section on its output: note, table, figure; absent and malformed output."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from hashlib_core.report import protocols

SCRIPT = Path(__file__).resolve().parents[1] / "studies" / "tie_order_per_class.py"
CLASS1_INDEX = (1 / 4 + 2 / 5 + 3 / 6) / 3  # relevant items at ranks 4, 5, 6 of 6 tied items


@pytest.fixture(scope="module")
def study_module():
    spec = importlib.util.spec_from_file_location("tie_order_per_class", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fabricated_run(folder: Path) -> Path:
    """All codes equal (the ranking is pure tie order), retrieval stored sorted by class: 0,0,0,1,1,1."""
    folder.mkdir(parents=True)
    eye = np.eye(2, dtype=np.uint8)
    np.savez(folder / "codes.npz", image_query=np.ones((2, 4), np.int8), image_retrieval=np.ones((6, 4), np.int8),
             query_labels=eye[[0, 1]], retrieval_labels=eye[[0, 0, 0, 1, 1, 1]])
    (folder / "metrics.json").write_text(json.dumps({
        "method": "fabricated", "dataset": "no_such_dataset", "bits": 4, "seed": 0, "profile": "smoke",
        "device": "cpu", "date": "2026-01-02T03:04:05+00:00", "protocol": "deephash", "topk": None}))
    return folder


@pytest.fixture()
def results(tmp_path, study_module):
    run = fabricated_run(tmp_path / "run")
    out = tmp_path / "results" / "tie_order_per_class.md"
    study_module.main([str(run), "--permutations", "3", "--out", str(out)])
    return out.parent


def test_study_numbers_by_hand(results):
    study = json.loads((results / "tie_order_per_class.json").read_text())
    c0, c1 = study["per_class"]
    assert (c0["index"], c1["index"]) == pytest.approx((1.0, CLASS1_INDEX), abs=1e-12)
    assert c0["expected"] == pytest.approx(c1["expected"], abs=1e-12)          # 3 relevant among 6 tied, both
    assert c0["reversed - expected"] == pytest.approx(c1["index - expected"], abs=1e-12)  # reversing swaps classes
    assert study["overall"]["index"] == pytest.approx((1 + CLASS1_INDEX) / 2, abs=1e-12)
    order = study["sortedness"]
    assert order["neighbours same class"] == pytest.approx(4 / 5) and order["same-class blocks"] == 2
    assert order["neighbours same class, random order"] == pytest.approx(0.5)
    assert order["mean position per class"] == pytest.approx([0.2, 0.8])     # rows 0-2 and 3-5 of 0..5, over 5
    assert study["ties"] == {"distinct distances per query": 1.0, "mean bucket size": 6.0}
    assert [row["name"] for row in study["per_class"]] == ["class 0", "class 1"]  # the dataset does not load
    assert "| 1 class 1 | 1 | 0.80 |" in (results / "tie_order_per_class.md").read_text()


def test_section_shows_note_table_figure(results):
    about, table, figure, closing = protocols.tie_order_section(results)
    assert "fabricated on no_such_dataset, 4 bits" in about.data and "2 same-class blocks" in about.data
    frame = table.data
    assert list(frame["class"]) == ["0 class 0", "1 class 1", "all"]
    assert frame["index - expected"].iloc[0] == pytest.approx(1.0 - frame["mAP, expected ties"].iloc[0])
    assert frame["mAP, index ties"].iloc[2] == pytest.approx((1 + CLASS1_INDEX) / 2)
    assert len(figure.axes) == 1 and len(figure.axes[0].patches) == 4   # 2 classes x (stored, shuffled)
    assert np.isclose(figure.axes[0].patches[0].get_height(), frame["index - expected"].iloc[0])
    assert "class 0" in closing.data                                      # the class with the largest shift


def test_section_without_output_is_a_note(tmp_path):
    (only,) = protocols.tie_order_section(tmp_path)
    assert "No committed output" in only.data


def test_malformed_output_names_the_file(tmp_path):
    (tmp_path / "tie_order_per_class.json").write_text(json.dumps({"run": {}}))
    with pytest.raises(ValueError, match="tie_order_per_class.json.*missing"):
        protocols.tie_order_section(tmp_path)


def test_study_rejects_a_folder_without_codes(tmp_path, study_module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study_module.main([str(tmp_path)])
    assert exit_info.value.code == 2 and "metrics.json: missing" in capsys.readouterr().err


def test_committed_output_is_shown():
    """The committed study output renders (the section the protocols chapter shows)."""
    items = protocols.tie_order_section()
    if len(items) == 1:
        pytest.skip("no committed studies/results/tie_order_per_class.json")
    assert items[1].data["class"].iloc[-1] == "all"
