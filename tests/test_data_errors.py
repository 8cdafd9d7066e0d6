"""Every user-facing data error is a DatasetError (a ValueError) naming the dataset, the file and the problem."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from hashlib_core.data import DatasetError, dataset_status, load_dataset
from hashlib_core.data import fashion_mnist as fashion_module

from fixtures_data import (make_cifar_batches, make_cifar_zip, make_dcmh, make_fashion_mnist, make_image_lists,
                           make_multiview_mat, make_wikipedia_canonical, truncate, write_mat_v5, write_mat_v73)


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


@pytest.mark.parametrize("name,expected", [
    ("wikipedia", ["wiki_data.mat", "raw_features.mat", "svcl"]),
    ("mirflickr25k", ["mirflickr25k-lall.mat", "LAll"]),
    ("nus_wide_tc21", ["nus-wide-tc21-lall-clean.mat"]),
    ("iapr_tc12", ["iapr-tc12.mat"]),
    ("mscoco", ["MSCOCO_deep_doc2vec_data.h5py", "mscoco_labels"]),
    ("xmedia", ["XMediaFeatures.mat"]),
    ("cifar10", ["cifar10_jpeg_q75.zip", "data_batch_1", "cifar.html"]),
    ("imagenet100", ["train.txt", "test.txt", "database.txt"]),
    ("scene15", ["scene15_mtv.mat"]),
    ("nus_wide_labels", ["labels_annotation.txt"]),
])
def test_missing_dataset_names_files_folder_and_source(tmp_path, name, expected):
    with pytest.raises(DatasetError) as error:
        load_dataset(name, root=tmp_path)
    message = str(error.value)
    assert message.startswith(f"{name}:") and str(tmp_path) in message and "Where to get them" in message
    for text in expected:
        assert text.lower() in message.lower(), text
    assert dataset_status(name, tmp_path)["status"] == "missing"


def test_missing_fashion_mnist_lists_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_module, "SYSTEM_DIRS", [])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte") as error:
        load_dataset("fashion_mnist", root=tmp_path)
    assert "FashionMNIST" in str(error.value) and "apt-get install dataset-fashion-mnist" in str(error.value)


def test_unknown_dataset_protocol_option_and_view(tmp_path):
    make_wikipedia_canonical(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'wiki'"):
        load_dataset("wiki", root=tmp_path)
    with pytest.raises(DatasetError, match="unknown protocol 'cifar10'.*official"):
        load_dataset("wikipedia", root=tmp_path, protocol="cifar10")
    with pytest.raises(DatasetError, match="unknown option.*'featuers'"):
        load_dataset("wikipedia", root=tmp_path, featuers="roph")
    with pytest.raises(DatasetError, match="features='sift' is not one of"):
        load_dataset("wikipedia", root=tmp_path, features="sift")
    with pytest.raises(DatasetError, match="unknown view.*'audio'"):
        load_dataset("wikipedia", root=tmp_path, views=("audio",))
    with pytest.raises(DatasetError, match="seed"):
        load_dataset("wikipedia", root=tmp_path, seed=-1)


@pytest.mark.parametrize("v73", [False, True])
def test_truncated_mat_file(tmp_path, v73):
    make_dcmh(tmp_path, v73=("labels", "text", "image") if v73 else ())
    truncate(tmp_path / "mirflickr25k" / "mirflickr25k-yall.mat", 0.3)
    with pytest.raises(DatasetError, match="mirflickr25k-yall.mat") as error:
        load_dataset("mirflickr25k", root=tmp_path)
    assert "truncated or corrupt" in str(error.value)


def test_wrong_keys_are_named(tmp_path):
    arrays = make_wikipedia_canonical(tmp_path)
    del arrays["T_te"]
    write_mat_v5(tmp_path / "wikipedia" / "wiki_data.mat", arrays)
    with pytest.raises(DatasetError, match=r"wiki_data.mat.*missing variable\(s\) \['T_te'\]"):
        load_dataset("wikipedia", root=tmp_path)
    make_multiview_mat(tmp_path, "scene15")
    write_mat_v5(tmp_path / "scene15" / "scene15_mtv.mat", {"features": np.zeros((3, 3)), "gt": np.ones((3, 1))})
    with pytest.raises(DatasetError, match=r"scene15_mtv.mat.*\['X'\].*features"):
        load_dataset("scene15", root=tmp_path)


def test_row_counts_differing_between_views(tmp_path):
    made = make_dcmh(tmp_path)
    write_mat_v5(tmp_path / "mirflickr25k" / "mirflickr25k-yall.mat", {"YAll": made["text"][:-3]})
    with pytest.raises(DatasetError, match=r"mirflickr25k-yall.mat:YAll has shape \(12497, 40\).*12500 rows"):
        load_dataset("mirflickr25k", root=tmp_path)
    arrays = make_wikipedia_canonical(tmp_path)
    arrays["I_te"] = arrays["I_te"][:-1]
    write_mat_v5(tmp_path / "wikipedia" / "wiki_data.mat", arrays)
    with pytest.raises(DatasetError, match="I_te.*12 rows"):
        load_dataset("wikipedia", root=tmp_path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_features(tmp_path, bad):
    made = make_dcmh(tmp_path, v73=("image",))
    image = made["image"].copy()
    image[17, 3] = bad
    write_mat_v73(tmp_path / "mirflickr25k" / "mirflickr25k-iall-vgg.mat", {"XAll": image})
    with pytest.raises(DatasetError, match=r"mirflickr25k-iall-vgg.mat:XAll contains 1 NaN/inf.*row 17"):
        load_dataset("mirflickr25k", root=tmp_path)


def test_bad_labels(tmp_path):
    made = make_dcmh(tmp_path)
    labels = made["labels"].astype(np.float64) * 2
    write_mat_v5(tmp_path / "mirflickr25k" / "mirflickr25k-lall.mat", {"LAll": labels})
    with pytest.raises(DatasetError, match="LAll must be a 0/1 label matrix"):
        load_dataset("mirflickr25k", root=tmp_path)


def test_corrupt_cifar_zip_and_batches(tmp_path):
    path = make_cifar_zip(tmp_path)
    truncate(path, 0.5)
    with pytest.raises(DatasetError, match="not a readable zip archive"):
        load_dataset("cifar10", root=tmp_path)
    path.unlink()
    make_cifar_batches(tmp_path)
    truncate(tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3", 0.4)
    with pytest.raises(DatasetError, match="data_batch_3 is not a readable CIFAR python batch"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar_batch_refuses_arbitrary_pickles(tmp_path):
    import pickle

    make_cifar_batches(tmp_path)
    with open(tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch", "wb") as handle:
        pickle.dump({b"data": __import__("os").getcwd, b"labels": []}, handle)
    with pytest.raises(DatasetError, match="refusing to load"):
        load_dataset("cifar10", root=tmp_path)


def test_corrupt_idx_files(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_module, "SYSTEM_DIRS", [])
    make_fashion_mnist(tmp_path / "fashion_mnist", gz=True)
    path = tmp_path / "fashion_mnist" / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path) as handle:
        raw = handle.read()
    with gzip.open(path, "wb") as handle:
        handle.write(raw[:-100])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz declares shape.*truncated"):
        load_dataset("fashion_mnist", root=tmp_path, protocol="official")
    truncate(path, 0.5)
    with pytest.raises(DatasetError, match="cannot read .*t10k-images-idx3-ubyte.gz"):
        load_dataset("fashion_mnist", root=tmp_path, protocol="official")


def test_bad_list_file_line(tmp_path):
    make_image_lists(tmp_path)
    path = tmp_path / "imagenet100" / "test.txt"
    path.write_text(path.read_text() + "images/x.png 0 1\n")
    with pytest.raises(DatasetError, match=r"test.txt line 4: expected a path and 5 0/1 labels"):
        load_dataset("imagenet100", root=tmp_path)


def test_missing_image_file_named_on_access(tmp_path):
    make_image_lists(tmp_path)
    ds = load_dataset("imagenet100", root=tmp_path)
    ds.views["image"].paths[3].unlink()
    with pytest.raises(DatasetError, match="img_003.png \\(item 3\\) does not exist"):
        ds.views["image"][3]


def test_unreadable_mfeat_file(tmp_path):
    from fixtures_data import make_mfeat_uci

    make_mfeat_uci(tmp_path)
    path = tmp_path / "mfeat" / "mfeat-kar"
    path.write_text(path.read_text().replace("\n", "\nnot-a-number\n", 1))
    with pytest.raises(DatasetError, match="mfeat-kar"):
        load_dataset("mfeat", root=tmp_path)
