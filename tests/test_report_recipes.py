"""report/recipes.py on fabricated records: recipe x image-feature tables and the measured paragraph."""

import pandas as pd
import pytest

from hashlib_core.records.runs import load_runs
from hashlib_core.report import recipes


def _refs():
    return pd.DataFrame([("P", "2", "DJSRH", "wikipedia", "image->text", 32, "mAP@50", 0.403),
                         ("P", "2", "DJSRH", "wikipedia", "text->image", 32, "mAP@50", 0.635)],
                        columns=["source", "table", "method", "dataset", "direction", "bits", "metric", "value"])


@pytest.fixture
def ok(tmp_path, run_record):
    values = {("wikipedia", "authors"): 0.23, ("wikipedia", "hashbook"): 0.27,
              ("wikipedia_roph", "authors"): 0.40, ("wikipedia_roph", "hashbook"): 0.41}
    for (dataset, recipe), value in values.items():
        for seed in (0, 1):
            run_record(tmp_path / "runs", method="djsrh", dataset=dataset, bits=32, seed=seed, profile="paper",
                       label=None if recipe == "authors" else "hashbook-recipe", settings={"recipe": recipe},
                       map={"image->text": value + seed / 100, "text->image": 0.6})
    run_record(tmp_path / "runs", method="djsrh", dataset="wikipedia", bits=32, profile="paper",
               label="ablation-1-S_I", settings={"recipe": "hashbook"})  # not a recipe row
    return load_runs(roots={"fresh": tmp_path / "runs"}).query("status == 'ok'")


def test_table_has_the_paper_row_then_one_row_per_feature_set_and_recipe(ok):
    selected = recipes.select(ok, method="djsrh", profile="paper", labels=(None, "hashbook-recipe"))
    table = recipes.recipe_feature_table(selected, _refs(), paper_method="DJSRH")
    assert list(table.index) == ["paper (mAP@50)",
                                 "ours: SIFT image features, authors recipe (paper)",
                                 "ours: SIFT image features, hashbook recipe (paper)",
                                 "ours: RoPH image features, authors recipe (paper)",
                                 "ours: RoPH image features, hashbook recipe (paper)"]
    assert table.loc["paper (mAP@50)", ("image->text", 32)] == "0.403"
    assert table.loc["ours: RoPH image features, authors recipe (paper)", ("image->text", 32)] == \
        "0.405 ± 0.007 (n=2)"


def test_the_paragraph_separates_the_feature_effect_from_the_recipe_effect(ok):
    selected = recipes.select(ok, method="djsrh", profile="paper", labels=(None, "hashbook-recipe"))
    found = recipes.moves(selected)
    assert found["features"]["authors"] == pytest.approx(0.17)
    assert found["recipe"]["wikipedia"] == pytest.approx(0.04)
    text = recipes.moves_note(selected, paper=0.403).data
    assert "+0.170" in text and "+0.040" in text and "The paper reports 0.403" in text


def test_a_book_without_these_runs_says_so(ok):
    shown = recipes.section(ok, method="dchn", profile="default", labels=("authors-recipe",))
    assert "No dchn run" in shown[0].data
