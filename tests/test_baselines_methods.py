"""The training-free baselines as methods: registry, grids, the shared notebook, run folders, errors, and the
frozen-feature cache (hashlib_core.features)."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from hashlib_core.data import ArrayImageSource, Dataset
from hashlib_core.features import FeatureCache, image_view_features, pixel_matrix
from hashlib_core.methods import METHODS, get_method
from hashlib_core.methods import training_free as tf
from hashlib_core.metrics import evaluate_retrieval

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """SHAM and frozen features cache into the test's folder, never the user's."""
    monkeypatch.setenv("HASHLIB_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------------------ registry, grid

def test_every_baseline_is_a_registered_method_with_the_standard_entry_point():
    for name in tf.BASELINES:
        assert name in METHODS
        module = get_method(name)
        assert module.METHOD == name
        assert set(module.PROFILES) == {"smoke", "default", "paper"}
        assert set(module.GRID) == {"smoke", "default", "paper"}
        assert set(module.PARAMETER_HELP) == set(module.PARAMETERS)
        assert {"views", "features", "image_size", "subset"} <= set(module.PARAMETERS)


def test_grids_are_valid_specs_with_distinct_run_folders(tmp_path):
    from hashlib_core.grid.runner import grid_specs, plan_runs

    kinds = {"wikipedia": "cross-view", "mfeat": "cross-view", "cifar10": "image"}
    for name in tf.BASELINES:
        grid = tf.grid_for(name, kinds=kinds)
        for spec in grid["default"]:
            assert spec["notebook"] == "baseline" and spec["params"]["method"] == name
            assert set(spec["params"]) - {"method"} <= set(tf.parameters_of(name))
        seeds = {(s["dataset"], s["bits"], s.get("label")): set() for s in grid["default"]}
        for s in grid["default"]:
            seeds[(s["dataset"], s["bits"], s.get("label"))].add(s["seed"])
        assert all(found == ({0, 1, 2} if bits in (32, 64) else {0}) for (_, bits, _), found in seeds.items())
        datasets = {s["dataset"] for s in grid["default"]}
        assert datasets == ({"cifar10"} if name == "lsh" else {"wikipedia", "mfeat"} if name == "cca" else
                            {"wikipedia", "mfeat", "cifar10"})
    # every baseline of every profile through the grid runner's own checks: no two specs share a run folder
    for profile in ("smoke", "default"):
        specs = grid_specs(profile, methods=tf.BASELINES)
        assert plan_runs(profile, specs, runs_root=tmp_path)


def test_baseline_notebook_declares_and_passes_every_parameter():
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / "baseline.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    declared = set(re.findall(r"^(\w+)\s*=", cell.source, flags=re.MULTILINE))
    assert not [line for line in cell.source.splitlines() if line.count("=") > 1]
    body = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c is not cell)
    assert {"method", "dataset", "bits", "seed", "epochs", "device", "data_root", "out_dir", "profile"} <= declared
    for name in tf.BASELINES:
        parameters = tf.parameters_of(name)
        assert set(parameters) <= declared, f"baseline.ipynb does not declare {set(parameters) - declared}"
        assert all(re.search(rf"\b{p}={p}\b", body) for p in parameters)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


# ------------------------------------------------------------------------------------------------ runs

def _rescored(run_dir, record):
    codes = np.load(Path(run_dir) / "codes.npz")
    pairs = [tuple(d.split("->")) for d in record["map"]]
    return evaluate_retrieval({q: codes[f"{q}_query"] for q, _ in pairs},
                              {r: codes[f"{r}_retrieval"] for _, r in pairs}, codes["query_labels"],
                              codes["retrieval_labels"], pairs=pairs, protocol=record["protocol"],
                              topk=record["topk"], ties=record["ties"], curves=False)["map"]


@pytest.mark.parametrize("method", ["cca", "itq", "pca_rotation", "ridge", "classifier"])
def test_cross_view_runs_write_a_complete_rescorable_record(tmp_path, method):
    result = tf.run(method, dataset="mfeat", bits=16, seed=0, out_dir=tmp_path / "run", profile="smoke",
                    views=["fou", "kar", "pix"])
    record = result.record
    assert record["method"] == method and record["epochs"] is None and record["profile"] == "smoke"
    assert (record["protocol"], record["topk"], record["ties"]) == ("deephash", None, "expected")
    assert set(record["map"]) == {f"{a}->{b}" for a in ("fou", "kar", "pix") for b in ("fou", "kar", "pix")
                                  if a != b}
    assert [a["label"] for a in record["also"]] == ["deephash mAP@all, index ties", "dchn mAP@all"]
    settings = record["settings"]
    assert settings["mode"] == "cross-view" and settings["variant"] == "base" and settings["baseline"] == method
    assert settings["parameters"]["views"] == ["fou", "kar", "pix"]
    assert (method in tf.SUPERVISED) == ("sham" in settings)
    for name in ("metrics.json", "codes.npz", "curves.json", "history.json", "split.json"):
        assert (tmp_path / "run" / name).is_file()
    assert _rescored(tmp_path / "run", record) == pytest.approx(record["map"], abs=1e-12)
    # well above chance (10 balanced classes: about 0.1) on this easy set
    assert np.mean(list(record["map"].values())) > 0.2
    if method == "itq":
        losses = [row["quantization loss"] for row in result.history]
        assert len(losses) == 50 and np.all(np.diff(losses) <= 1e-6)


def test_single_view_run_is_seeded_and_reproducible(tmp_path):
    first = tf.run("lsh", dataset="mfeat", bits=32, seed=3, out_dir=tmp_path / "a", profile="smoke", views="pix")
    again = tf.run("lsh", dataset="mfeat", bits=32, seed=3, out_dir=tmp_path / "b", profile="smoke", views="pix")
    other = tf.run("lsh", dataset="mfeat", bits=32, seed=4, out_dir=tmp_path / "c", profile="smoke", views="pix")
    assert list(first.record["map"]) == ["pix->pix"] and first.record["settings"]["mode"] == "single-view"
    np.testing.assert_array_equal(first.codes["pix_query"], again.codes["pix_query"])
    assert first.record["map"] == again.record["map"]
    assert first.record["split"]["sha256"] != other.record["split"]["sha256"]   # the seed moves the split too


def test_inputs_that_do_not_apply_are_refused_with_a_clear_error(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="cca"):
        tf.run("lsh", dataset="mfeat", bits=16, out_dir=out, profile="smoke")
    with pytest.raises(ValueError, match="at least two views"):
        tf.run("cca", dataset="mfeat", bits=16, out_dir=out, profile="smoke", views="pix")
    with pytest.raises(ValueError, match="training-free"):
        tf.run("itq", dataset="mfeat", bits=16, epochs=5, out_dir=out, profile="smoke")
    with pytest.raises(ValueError, match="no parameter"):
        tf.run("lsh", dataset="mfeat", bits=16, out_dir=out, profile="smoke", ridge=1.0)
    with pytest.raises(ValueError, match="no raw-image view"):
        tf.run("itq", dataset="mfeat", bits=16, out_dir=out, profile="smoke", features="pixels")
    with pytest.raises(ValueError, match="features must be one of"):
        tf.run("itq", dataset="mfeat_digits", bits=16, out_dir=out, profile="smoke", features="sift")
    with pytest.raises(ValueError, match="cross-view runs only"):
        tf.run("itq", dataset="mfeat", bits=16, out_dir=out, profile="smoke", views="pix", reg=0.1)
    with pytest.raises(ValueError, match="profile"):
        tf.run("itq", dataset="mfeat", bits=16, out_dir=out, profile="quick")
    with pytest.raises(ValueError, match="set them to None"):
        tf.run_baseline("lsh", dataset="mfeat", bits=16, out_dir=out, profile="smoke", views="pix", ridge=1.0)
    assert not (out / "metrics.json").exists()


def test_run_baseline_drops_the_parameters_a_method_leaves_at_none(tmp_path):
    result = tf.run_baseline("lsh", dataset="mfeat", bits=16, seed=0, epochs=None, device="cpu", data_root=None,
                             out_dir=tmp_path / "run", profile="smoke", views="pix", features=None, ridge=None,
                             l2=None, reg=None, iterations=None, available_num=None, gamma=None, image_size=None,
                             subset=None)
    assert result.record["method"] == "lsh"


def test_image_set_runs_on_pixels_and_on_cached_frozen_features(tmp_path):
    pixels = tf.run("pca_rotation", dataset="mfeat_digits", bits=16, out_dir=tmp_path / "p", profile="smoke",
                    features="pixels")
    settings = pixels.record["settings"]
    assert list(pixels.record["map"]) == ["image->image"] and settings["variant"] == "pixels"
    assert settings["view_dims"] == {"image": 16 * 15}                   # grey: one channel
    assert pixels.record["split"]["subset"] == 600                        # the smoke profile's subset
    first = tf.run("ridge", dataset="mfeat_digits", bits=16, out_dir=tmp_path / "e", profile="smoke",
                   image_size=32, subset=200)
    info = first.record["settings"]["features"]["image"]
    assert info["computed"] == 200 and info["cached"] == 0
    provenance = info["provenance"]
    assert provenance["extractor"] == "efficientnet_lite0" and provenance["image_size"] == 32
    assert len(provenance["weights_sha256"]) == 64 and "Resize((32, 32))" in provenance["preprocessing"]
    assert first.record["settings"]["view_dims"] == {"image": 1280}
    again = tf.run("classifier", dataset="mfeat_digits", bits=16, out_dir=tmp_path / "f", profile="smoke",
                   image_size=32, subset=200)
    assert again.record["settings"]["features"]["image"]["cached"] == 200
    assert again.record["settings"]["features"]["image"]["computed"] == 0
    assert Path(info["path"]).parent == tmp_path / "cache" / "features"


def test_baseline_notebook_executes(tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "run"
    papermill.execute_notebook(str(REPO / "notebooks" / "baseline.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters={"method": "cca", "dataset": "mfeat", "bits": 16, "out_dir": str(out),
                                           "profile": "smoke", "views": ["fou", "pix"]},
                               kernel_name="python3", progress_bar=False, cwd=str(REPO))
    assert (out / "metrics.json").is_file() and (out / "codes.npz").is_file()


# ------------------------------------------------------------------------------------------------ feature cache

def test_feature_cache_computes_only_missing_rows_and_checks_provenance(tmp_path):
    calls = []

    def compute(rows):
        calls.append(rows.tolist())
        return np.stack([rows * 1.0, rows * 2.0], axis=1)

    cache = FeatureCache(tmp_path, {"dataset": "toy", "view": "image", "extractor": "x", "version": 1})
    values, info = cache.get(np.array([5, 1, 5]), compute)
    np.testing.assert_array_equal(values, [[5, 10], [1, 2], [5, 10]])
    assert calls == [[1, 5]] and info["computed"] == 2
    values, info = cache.get(np.array([1, 3]), compute)
    assert calls[-1] == [3] and info == {"path": str(cache.path), "cached": 1, "computed": 1}
    np.testing.assert_array_equal(values, [[1, 2], [3, 6]])
    # another provenance is another file; a corrupt file is rebuilt with a warning
    other = FeatureCache(tmp_path, {"dataset": "toy", "view": "image", "extractor": "x", "version": 2})
    assert other.path != cache.path
    cache.path.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable"):
        values, info = cache.get(np.array([1]), compute)
    assert info["computed"] == 1


def test_pixel_matrix_keeps_one_channel_for_grey_images():
    grey = np.repeat(np.array([[0, 255], [51, 102]], np.uint8)[None, :, :, None], 3, axis=-1).reshape(1, -1)
    values, layout = pixel_matrix(grey, (2, 2))
    np.testing.assert_allclose(values, [[0.0, 1.0, 0.2, 0.4]])
    assert layout.startswith("grey")
    colour = grey.copy()
    colour[0, 0] = 7
    assert pixel_matrix(colour, (2, 2))[0].shape == (1, 12)


def test_image_view_features_pixels_on_a_tiny_dataset(tmp_path):
    images = np.arange(4 * 3 * 2 * 3, dtype=np.uint8).reshape(4, 3, 2, 3)
    ds = Dataset(name="toy", protocol="test", seed=0, views={"image": ArrayImageSource(images)},
                 labels=np.eye(2, dtype=np.uint8)[[0, 1, 0, 1]],
                 splits={"query": np.array([0]), "train": np.array([1, 2]), "retrieval": np.array([1, 2, 3])},
                 class_names=None, files={})
    values, info = image_view_features(ds, "image", np.array([3, 0]), extractor="pixels", cache_dir=tmp_path)
    np.testing.assert_allclose(values, images[[3, 0]].reshape(2, -1) / 255.0, rtol=1e-6)
    assert info["provenance"]["image_shape"] == [3, 2, 3] and info["computed"] == 2
    with pytest.raises(ValueError, match="features must be one of"):
        image_view_features(ds, "image", np.array([0]), extractor="sift", cache_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info = image_view_features(ds, "image", np.array([0, 3]), extractor="pixels", cache_dir=tmp_path)
    assert info["cached"] == 2 and info["computed"] == 0
