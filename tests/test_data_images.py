"""Lazy image sources and the torch adapter (ImageDataset, default_transform)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from hashlib_core.data import (ArrayImageSource, DatasetError, ImageDataset, ImageSource, ZipImageSource,
                               default_transform, is_image_source, load_dataset)
from hashlib_core.data import cifar

from fixtures_data import cifar_colour, make_cifar_zip, make_dcmh


def test_sources_satisfy_the_protocol_and_arrays_do_not_count():
    source = ArrayImageSource(np.zeros((3, 4, 5), np.uint8))
    assert isinstance(source, ImageSource) and is_image_source(source)
    assert not is_image_source(np.zeros((3, 4)))
    assert source[1].mode == "RGB" and source[1].size == (5, 4)
    assert source.to_array().shape == (3, 4, 5, 3)


def test_zip_source_pickles_and_decodes_once_on_request(tmp_path, monkeypatch):
    make_cifar_zip(tmp_path, train_per_class=4, test_per_class=2)
    monkeypatch.setitem(cifar.PROTOCOLS, "cifar10", (1, 2, "rest"))
    ds = load_dataset("cifar10", root=tmp_path)
    source = ds.views["image"]
    assert isinstance(source, ZipImageSource)
    first = np.asarray(source[5])
    clone = pickle.loads(pickle.dumps(source))              # what a DataLoader worker receives
    assert clone._handle is None and np.array_equal(np.asarray(clone[5]), first)
    array = source.to_array(progress=False)
    assert array.shape == (60, 32, 32, 3) and array is source.to_array()
    assert np.array_equal(array[5], first)
    assert np.allclose(array[41].reshape(-1, 3).mean(0), cifar_colour("test", 0, 1), atol=3)


def test_hdf5_source_pickles(tmp_path):
    made = make_dcmh(tmp_path, raw_images=True, with_image=False)
    source = load_dataset("mirflickr25k", root=tmp_path, features="raw").views["image"]
    clone = pickle.loads(pickle.dumps(source))
    assert np.array_equal(np.asarray(clone[3]), made["pixels"][3])
    with pytest.raises(IndexError):
        source[12500]


def test_image_dataset_items_and_loader(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    labels = np.eye(10, 4, dtype=np.uint8)
    data = ImageDataset(ArrayImageSource(images), indices=[7, 2, 5], labels=labels)
    assert len(data) == 3
    image, label, position = data[1]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    assert torch.allclose(image, torch.from_numpy(images[2]).permute(2, 0, 1).float() / 255)
    assert label.tolist() == [0, 0, 1, 0] and position == 1
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=3)))
    assert batch[0].shape == (3, 3, 8, 8) and batch[2].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="indices must lie"):
        ImageDataset(ArrayImageSource(images), indices=[10])
    with pytest.raises(ValueError, match="labels have 4 rows"):
        ImageDataset(ArrayImageSource(images), labels=labels[:4])


def test_default_transform_shapes_and_normalisation():
    from PIL import Image

    image = Image.new("RGB", (40, 30), (124, 116, 104))       # ~ the ImageNet mean colour
    evaluation = default_transform(32, train=False)(image)
    assert evaluation.shape == (3, 32, 32) and evaluation.abs().max() < 0.05
    torch.manual_seed(0)
    training = default_transform(32, train=True)(image)
    assert training.shape == (3, 32, 32)


def test_dataset_take_and_validation_errors(tmp_path):
    from hashlib_core.data import Dataset

    labels = np.eye(4, dtype=np.uint8)
    good = dict(name="toy", protocol="p", seed=0, views={"a": np.zeros((4, 2), np.float32)}, labels=labels,
                splits={"query": np.array([0]), "train": np.array([1, 2]), "retrieval": np.array([1, 2, 3])},
                class_names=None, files={})
    good["splits"] = {k: v.astype(np.int64) for k, v in good["splits"].items()}
    ds = Dataset(**good)
    assert ds.take("retrieval", "a").shape == (3, 2) and ds.take("query").tolist() == [[1, 0, 0, 0]]
    with pytest.raises(DatasetError, match="unknown view"):
        ds.take("query", "b")
    bad_views = {**good, "views": {"a": np.zeros((3, 2), np.float32)}}
    with pytest.raises(DatasetError, match="view 'a' has 3 rows but there are 4 label rows"):
        Dataset(**bad_views)
    bad_split = {**good, "splits": {**good["splits"], "query": np.array([4], np.int64)}}
    with pytest.raises(DatasetError, match="outside"):
        Dataset(**bad_split)
    with pytest.raises(DatasetError, match="float32"):
        Dataset(**{**good, "views": {"a": np.zeros((4, 2))}})
