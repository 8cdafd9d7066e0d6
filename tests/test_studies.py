"""The training-fold study script's arithmetic (studies/djsrh_training_folds.py): paired differences by hand."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "studies" / "djsrh_training_folds.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("djsrh_training_folds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(i, fold, seed, i2t, t2i, cca=(0.25, 0.35)):
    return {"setting_index": i, "fold": fold, "seed": seed, "map": {"image->text": i2t, "text->image": t2i},
            "cca": {"image->text": cca[0], "text->image": cca[1]}}


def test_parse_setting_reads_json_values(study):
    assert study.parse_setting("ema_decay=0.999,center_features=false,input_norm=none") == \
        {"ema_decay": 0.999, "center_features": False, "input_norm": "none"}
    with pytest.raises(SystemExit, match="name=value"):
        study.parse_setting("ema_decay")


def test_summary_pairs_runs_by_fold_and_seed(study):
    settings = [{"ema_decay": 0.0}, {"ema_decay": 0.999}]
    results = [_run(0, 0, 0, 0.20, 0.60), _run(1, 0, 0, 0.26, 0.61),
               _run(0, 1, 0, 0.30, 0.50), _run(1, 1, 0, 0.32, 0.50),
               _run(1, 2, 0, 0.99, 0.99)]                      # no partner for setting 0: left out of both
    means, diffs = study.summarise(results, settings)
    assert [row["n"] for row in means] == [2, 2]
    assert means[0]["image->text mAP@50"] == pytest.approx(0.25)
    assert means[1]["image->text mAP@50"] == pytest.approx(0.29)
    assert means[0]["image->text wins over CCA"] == "1/2" and means[1]["text->image wins over CCA"] == "2/2"
    (diff,) = diffs
    assert diff["image->text mean difference"] == pytest.approx(0.04)       # (0.06 + 0.02) / 2
    assert diff["image->text standard error"] == pytest.approx(0.02)        # std(ddof=1) 0.0283 / sqrt(2)
    assert diff["text->image mean difference"] == pytest.approx(0.005)
    text = study.to_markdown(["# t"], means, diffs)
    assert "| ema_decay=0.999 | ema_decay=0.0 | +0.0400 +- 0.0200 |" in text
