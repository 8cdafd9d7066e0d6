"""DJSRH on the real Wikipedia set (official split, 32 bits, profile "default", CPU) against the CCA and
random-code baselines computed in the same run. Slow (about a minute); skipped without the data."""

import os
from pathlib import Path

import pytest

from hashlib_core.methods import djsrh

DATA = os.environ.get("HASHLIB_DATA")
WIKI = Path(DATA) / "wikipedia" / "wiki_data.mat" if DATA else None

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(WIKI is None or not WIKI.is_file(),
                                 reason="needs $HASHLIB_DATA/wikipedia/wiki_data.mat")]


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    result = djsrh.run(dataset="wikipedia", bits=32, seed=0, profile="default", device="cpu",
                       out_dir=tmp_path_factory.mktemp("djsrh-wiki32"))
    return result.record


def _also(record, label):
    return next(a["map"] for a in record["also"] if a["label"] == label)


def test_split_and_settings_are_the_papers(record):
    assert record["split"]["sizes"] == {"query": 693, "train": 2173, "retrieval": 2173}
    settings = record["settings"]
    assert (settings["beta"], settings["eta"], settings["mu"], settings["lambda1"]) == (0.3, 0.4, 1.5, 0.3)
    assert record["topk"] == 50 and record["protocol"] == "deephash"


def test_baselines_are_at_their_known_levels(record):
    """Random codes: mAP@50 about 0.17, mAP@all about 0.11; CCA + random projection: about 0.25 / 0.38."""
    random50, random_all = _also(record, "random codes mAP@50 (deephash)"), \
        _also(record, "random codes mAP@all (deephash)")
    for direction in ("image->text", "text->image"):
        assert 0.14 < random50[direction] < 0.20
        assert 0.10 < random_all[direction] < 0.13
    cca = _also(record, "CCA baseline mAP@50 (deephash)")
    assert 0.21 < cca["image->text"] < 0.29 and 0.32 < cca["text->image"] < 0.43


def test_djsrh_beats_cca_text_to_image_and_on_the_whole_ranking(record):
    ours, cca = record["map"], _also(record, "CCA baseline mAP@50 (deephash)")
    assert ours["text->image"] > cca["text->image"] + 0.1
    ours_all, cca_all = _also(record, "mAP@all (deephash)"), _also(record, "CCA baseline mAP@all (deephash)")
    for direction in ("image->text", "text->image"):
        assert ours_all[direction] > cca_all[direction] + 0.02, direction


def test_djsrh_beats_cca_at_50_in_both_directions(record):
    """The issue's target: mAP@50 above the CCA baseline of the same run in both directions. image->text is the
    hard one; measured on this CPU with weight averaging (seeds 0/1/2): 0.280/0.272/0.268 against CCA
    0.248/0.239/0.250 (without averaging seed 0 was level with CCA, 0.246)."""
    ours, cca = record["map"], _also(record, "CCA baseline mAP@50 (deephash)")
    random50 = _also(record, "random codes mAP@50 (deephash)")
    for direction in ("image->text", "text->image"):
        assert ours[direction] > cca[direction] + 0.01, direction
        assert ours[direction] > random50[direction] + 0.05, direction
