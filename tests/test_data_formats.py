"""Loaders read every published layout, built here in the exact format (see tests/fixtures_data.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hashlib_core.data import (ArrayImageSource, DatasetError, HDF5ImageSource, ZipImageSource, dataset_status,
                               list_datasets, load_dataset, protocols_for)
from hashlib_core.data import fashion_mnist as fashion_module
from hashlib_core.data.matlab import MatFile, mat_version

from fixtures_data import (cifar_colour, make_cifar_batches, make_cifar_zip, make_dcmh, make_fashion_mnist,
                           make_image_lists, make_iapr, make_labels_annotation, make_mfeat_uci, make_mscoco,
                           make_multiview_mat, make_wikipedia_canonical, make_wikipedia_roph, make_wikipedia_svcl,
                           make_xmedia, snapshot, write_mat_v5, write_mat_v73)


# ----------------------------------------------------------------------------------------------- MATLAB
def test_mat_versions_and_column_major_transpose(tmp_path):
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    write_mat_v5(tmp_path / "a5.mat", {"A": a})
    write_mat_v73(tmp_path / "a73.mat", {"A": a, "C": [a, a[:, :2]]})
    assert mat_version(tmp_path / "a5.mat") == "5"
    assert mat_version(tmp_path / "a73.mat") == "7.3"
    with MatFile(tmp_path / "a5.mat", "t") as mat:
        assert np.array_equal(mat.array("A"), a)
    with MatFile(tmp_path / "a73.mat", "t") as mat:
        assert mat.column_major
        assert np.array_equal(mat.array("A"), a)          # stored (4, 3) in HDF5, read back as MATLAB's (3, 4)
        cells = mat.cells("C")
        assert [c.shape for c in cells] == [(3, 4), (3, 2)] and np.array_equal(cells[1], a[:, :2])
        assert mat.lazy("A").shape == (4, 3)


# -------------------------------------------------------------------------------------------- Wikipedia
@pytest.mark.parametrize("v73", [False, True])
def test_wikipedia_canonical_v5_and_transposed_v73(tmp_path, v73):
    arrays = make_wikipedia_canonical(tmp_path, v73_transposed=v73)
    ds = load_dataset("wikipedia", root=tmp_path)
    assert ds.protocol == "official" and ds.n == 42 and ds.labels.shape == (42, 10)
    assert ds.views["image"].dtype == np.float32 and ds.views["image"].shape == (42, 128)
    assert np.allclose(ds.views["image"][:30], arrays["I_tr"]) and np.allclose(ds.views["text"][30:], arrays["T_te"])
    assert np.array_equal(ds.labels, np.concatenate([arrays["L_train"], arrays["L_test"]]))
    assert np.array_equal(ds.splits["query"], np.arange(30, 42))
    assert np.array_equal(ds.splits["train"], np.arange(30)) and np.array_equal(ds.splits["retrieval"], np.arange(30))
    assert ds.class_names[0] == "art & architecture" and list(ds.files) == ["wiki_data.mat"]


def test_wikipedia_class_id_labels_when_one_hot_absent(tmp_path):
    arrays = make_wikipedia_canonical(tmp_path)
    del arrays["L_train"], arrays["L_test"]
    write_mat_v5(tmp_path / "wikipedia" / "wiki_data.mat", arrays)
    ds = load_dataset("wikipedia", root=tmp_path)
    assert np.array_equal(ds.labels.argmax(1)[:30] + 1, arrays["L_tr"][:, 0])


def test_wikipedia_svcl_release_layout_features_and_raw_images(tmp_path):
    made = make_wikipedia_svcl(tmp_path)
    ds = load_dataset("wikipedia", root=tmp_path)                      # no wiki_data.mat: raw_features.mat
    assert ds.n == 30 and ds.view_dims() == {"image": 128, "text": 10}
    assert np.allclose(ds.views["text"][:20], made["features"]["T_tr"])
    classes = [int(line.split("\t")[2]) for line in made["lists"]["trainset"] + made["lists"]["testset"]]
    assert np.array_equal(ds.labels.argmax(1) + 1, classes)
    raw = load_dataset("wikipedia", root=tmp_path, features="raw")
    assert len(raw.views["image"]) == 30 and raw.views["image"][0].mode == "RGB"
    pixel = np.asarray(raw.views["image"][21]).reshape(-1, 3).mean(0)
    assert np.allclose(pixel, made["colours"][("testset", 1)], atol=4)
    assert np.array_equal(raw.splits["query"], np.arange(20, 30))


def test_wikipedia_roph_features_and_split(tmp_path):
    made = make_wikipedia_roph(tmp_path)
    ds = load_dataset("wikipedia", root=tmp_path, features="roph", protocol="roph")
    assert ds.view_dims() == {"image": 5, "text": 4} and ds.n == 2866
    assert np.allclose(ds.views["image"], made["X1"].T)
    assert np.array_equal(ds.labels.argmax(1), made["ids"])
    assert np.array_equal(ds.splits["query"], made["split"]["ind_test"][0].astype(np.int64) - 1)
    assert ds.split_record()["sizes"] == {"query": 693, "train": 2173, "retrieval": 2173}
    official = load_dataset("wikipedia", root=tmp_path, features="roph")
    assert np.array_equal(official.splits["query"], np.arange(2173, 2866))
    with pytest.raises(DatasetError, match="features='roph'"):
        make_wikipedia_canonical(tmp_path)
        load_dataset("wikipedia", root=tmp_path, protocol="roph")


# ------------------------------------------------------------------------------------------ DCMH family
@pytest.mark.parametrize("layout", [
    {"subfolders": False},
    {"subfolders": True},
    {"variant": "-rand"},
    {"v73": ("labels", "text", "image")},
    {"v73": ("text",), "transposed": ("text", "image")},
    {"subfolders": True, "v73": ("labels", "text", "image"), "transposed": ("labels", "text", "image")},
])
def test_mirflickr_dcmh_layouts(tmp_path, layout):
    made = make_dcmh(tmp_path, **layout)
    ds = load_dataset("mirflickr25k", root=tmp_path)
    assert np.array_equal(ds.labels, made["labels"])
    assert np.array_equal(ds.views["text"], made["text"].astype(np.float32))
    assert np.allclose(ds.views["image"], made["image"])
    assert ds.options["variant"] == ("rand" if layout.get("variant") else "plain")
    assert dataset_status("mirflickr25k", tmp_path)["status"] == "present"
    assert ds.class_names[0] == "animals" and len(ds.class_names) == 24


def test_mirflickr_text_only_and_missing_image_message(tmp_path):
    make_dcmh(tmp_path, with_image=False)
    ds = load_dataset("mirflickr25k", root=tmp_path, views=("text",))
    assert list(ds.views) == ["text"] and ds.n == 12500
    with pytest.raises(DatasetError) as error:
        load_dataset("mirflickr25k", root=tmp_path)
    message = str(error.value)
    assert "mirflickr25k-iall-vgg.mat" in message and "views=('text',)" in message
    assert str(tmp_path / "mirflickr25k") in message and "Where to get them" in message
    assert dataset_status("mirflickr25k", tmp_path)["status"] == "partial"


def test_mirflickr_raw_images_read_lazily_from_v73_iall(tmp_path):
    made = make_dcmh(tmp_path, raw_images=True, with_image=False)
    ds = load_dataset("mirflickr25k", root=tmp_path, features="raw")
    source = ds.views["image"]
    assert isinstance(source, HDF5ImageSource) and len(source) == 12500
    for i in (0, 7, 12499):
        assert np.array_equal(np.asarray(source[i]), made["pixels"][i])


def test_nus_wide_tc10_v73_text_and_djsrh_default(tmp_path):
    made = make_dcmh(tmp_path, name="nus_wide_tc10", c=10, v73=("text",))
    ds = load_dataset("nus_wide_tc10", root=tmp_path)
    assert ds.protocol == "djsrh" and np.array_equal(ds.labels, made["labels"])
    assert ds.split_record()["sizes"] == {"query": 2000, "train": 5000, "retrieval": 10500}
    assert np.array_equal(ds.views["text"], made["text"].astype(np.float32))


# ----------------------------------------------------------------------------------- IAPR / COCO / XMedia
def test_iapr_keys_and_protocols(tmp_path):
    arrays = make_iapr(tmp_path)
    ds = load_dataset("iapr_tc12", root=tmp_path, protocol="official")
    assert ds.n == 100 and np.allclose(ds.views["image"][:20], arrays["VTest"])
    assert np.array_equal(ds.labels[20:], arrays["databaseL"])
    assert np.array_equal(ds.splits["query"], np.arange(20))
    assert np.array_equal(ds.splits["retrieval"], np.arange(20, 100))
    dchn = load_dataset("iapr_tc12", root=tmp_path)     # DCHN: train = the first 10,000 database rows (all 80 here)
    assert np.array_equal(dchn.splits["train"], np.arange(20, 100))


def test_mscoco_dchn_hdf5_rows_and_ranges(tmp_path):
    arrays = make_mscoco(tmp_path)
    ds = load_dataset("mscoco", root=tmp_path, protocol="official")
    assert ds.n == 15500 and np.allclose(ds.views["text"][:14000], arrays["train_text"])
    assert np.array_equal(ds.labels[14000:], arrays["test_imgs_labels"])
    assert np.array_equal(ds.splits["query"], np.arange(14000, 15500))
    dchn = load_dataset("mscoco", root=tmp_path)             # rows 0-4,999 query, next 10,000 train
    assert np.array_equal(dchn.splits["query"], np.arange(5000))
    assert np.array_equal(dchn.splits["train"], np.arange(5000, 15000))
    assert np.array_equal(dchn.splits["retrieval"], np.arange(5000, 15500))


def test_xmedia_paired_views_and_unpaired_error(tmp_path):
    arrays = make_xmedia(tmp_path)
    ds = load_dataset("xmedia", root=tmp_path)
    assert ds.view_dims() == {"image": 9, "text": 5} and ds.n == 32
    assert np.array_equal(ds.splits["query"], np.arange(8))
    assert np.array_equal(ds.labels.argmax(1), np.r_[arrays["teImgCat"][:, 0], arrays["trImgCat"][:, 0]] - 1)
    audio = load_dataset("xmedia", root=tmp_path, views=("audio",))
    assert audio.n == 12
    with pytest.raises(DatasetError, match="not paired"):
        load_dataset("xmedia", root=tmp_path, views=("image", "audio"))


# ---------------------------------------------------------------------------------------------- CIFAR
def test_cifar_zip_members_in_official_order_read_lazily(tmp_path):
    from hashlib_core.data import cifar

    make_cifar_zip(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(DatasetError, match="needs 100 query"):
        load_dataset("cifar10", root=tmp_path)              # 3 + 2 images per class cannot hold 100 + 500
    kind, path = cifar._find(tmp_path / "cifar10", "auto")
    assert kind == "zip"
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members, ids, is_test = cifar._parse_names(archive.namelist(), str(path))
    assert members[:3] == ["train/airplane/0000.jpg", "train/airplane/0001.jpg", "train/airplane/0002.jpg"]
    assert members[30] == "test/airplane/0000.jpg" and ids.tolist()[:6] == [0, 0, 0, 1, 1, 1]
    assert is_test.sum() == 20 and not is_test[:30].any()
    source = ZipImageSource(path, members, dataset="cifar10")
    image = source[31]
    assert image.size == (32, 32) and image.mode == "RGB"
    assert np.allclose(np.asarray(image).reshape(-1, 3).mean(0), cifar_colour("test", 0, 1), atol=3)
    assert snapshot(tmp_path) == before                      # nothing extracted or written


def test_cifar_zip_loader_with_small_protocol_counts(tmp_path, monkeypatch):
    from hashlib_core.data import cifar

    make_cifar_zip(tmp_path, train_per_class=4, test_per_class=2)
    monkeypatch.setitem(cifar.PROTOCOLS, "cifar10", (1, 2, "rest"))
    ds = load_dataset("cifar10", root=tmp_path, seed=3)
    assert ds.n == 60 and ds.labels.sum(0).tolist() == [6] * 10
    assert ds.split_record()["sizes"] == {"query": 10, "train": 20, "retrieval": 30}
    assert "JPEG q75" in " ".join(ds.info["notes"])
    decoded = load_dataset("cifar10", root=tmp_path, seed=3, decode=True)
    assert isinstance(decoded.views["image"], ArrayImageSource)
    assert np.array_equal(np.asarray(decoded.views["image"][17]), np.asarray(ds.views["image"][17]))
    assert all(np.array_equal(decoded.splits[k], ds.splits[k]) for k in ds.splits)


def test_cifar_python_batches_pixels_and_order(tmp_path, monkeypatch):
    from hashlib_core.data import cifar

    made = make_cifar_batches(tmp_path, per_batch=20)
    monkeypatch.setitem(cifar.PROTOCOLS, "cifar10-1", (1, 1, "non_query"))
    ds = load_dataset("cifar10", root=tmp_path, protocol="cifar10-1")
    assert ds.options["format"] == "batches" and ds.n == 120
    assert np.array_equal(ds.labels.argmax(1), made["labels"])
    for i in (0, 45, 119):
        assert np.array_equal(np.asarray(ds.views["image"][i]), made["images"][i])
    assert len(ds.files) == 6


# -------------------------------------------------------------------------------------------- image lists
def test_image_lists_resolve_against_root_not_cwd(tmp_path, monkeypatch):
    made = make_image_lists(tmp_path / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ds = load_dataset("imagenet100", root=tmp_path / "data")
    assert ds.n == 19 and ds.protocol == "deephash"
    assert np.array_equal(ds.splits["train"], np.arange(6)) and np.array_equal(ds.splits["query"], np.arange(6, 9))
    assert np.array_equal(ds.splits["retrieval"], np.arange(9, 19))
    assert np.array_equal(ds.labels[9:], made["database"])
    assert ds.views["image"][10].size == (10, 8)


def test_image_lists_relative_to_data_root_and_image_root(tmp_path):
    make_image_lists(tmp_path, name="nus_wide_81")
    folder = tmp_path / "nus_wide_81"
    for part in ("train", "test", "database"):          # rewrite paths as <dataset>/images/... (root-relative)
        lines = (folder / f"{part}.txt").read_text().splitlines()
        (folder / f"{part}.txt").write_text("\n".join("nus_wide_81/" + line for line in lines) + "\n")
    ds = load_dataset("nus_wide_81", root=tmp_path)
    assert ds.views["image"].paths[0] == tmp_path / "nus_wide_81/images/train/img_000.png"
    ds2 = load_dataset("nus_wide_81", root=tmp_path, image_root=tmp_path)
    assert ds2.views["image"].paths == ds.views["image"].paths
    with pytest.raises(DatasetError, match="image_root"):
        load_dataset("nus_wide_81", root=tmp_path, image_root=tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------ Fashion-MNIST
@pytest.mark.parametrize("where,gz", [("fashion_mnist", True), ("fashion_mnist", False),
                                      ("FashionMNIST/raw", False), ("fashion_mnist/FashionMNIST/raw", True)])
def test_fashion_mnist_idx_layouts(tmp_path, monkeypatch, where, gz):
    monkeypatch.setattr(fashion_module, "SYSTEM_DIRS", [])
    made = make_fashion_mnist(tmp_path / where, gz=gz)
    ds = load_dataset("fashion_mnist", root=tmp_path, protocol="official")
    assert ds.n == 900 and ds.class_names[9] == "Ankle boot"
    assert np.array_equal(np.asarray(ds.views["image"][701])[..., 0], made["t10k"][0][1])
    assert np.array_equal(ds.splits["query"], np.arange(700, 900))
    pixels = load_dataset("fashion_mnist", root=tmp_path, protocol="official", features="pixels")
    assert pixels.views["image"].shape == (900, 784) and pixels.views["image"].max() <= 1.0
    assert np.allclose(pixels.views["image"][3] * 255, made["train"][0][3].ravel())


# ------------------------------------------------------------------------------------------ multi-view
@pytest.mark.parametrize("name", ["scene15", "msrc_v1", "pie_face"])
@pytest.mark.parametrize("v73", [False, True])
def test_multiview_mat_files_oriented_by_gt(tmp_path, name, v73):
    made = make_multiview_mat(tmp_path, name, v73=v73)
    ds = load_dataset(name, root=tmp_path)
    assert len(ds.views) == len(made["views"])
    for (view, data), expected in zip(ds.views.items(), made["views"]):
        assert data.dtype == np.float32 and np.allclose(data, expected)
    assert np.array_equal(ds.labels.argmax(1) + 1, made["gt"])
    assert any("unverified" in note for note in ds.info["notes"])


def test_mfeat_from_uci_files_in_root(tmp_path):
    made = make_mfeat_uci(tmp_path)
    ds = load_dataset("mfeat", root=tmp_path)
    assert list(ds.views) == ["fou", "fac", "kar", "pix", "zer", "mor"]
    assert np.allclose(ds.views["zer"], made["zer"], atol=1e-4)
    assert np.array_equal(ds.labels.argmax(1), np.repeat(np.arange(10), 200))
    assert "mfeat-fou" in ds.files


def test_mfeat_view_selection(tmp_path):
    make_mfeat_uci(tmp_path)
    ds = load_dataset("mfeat", root=tmp_path, views=("pix", "fou"))
    assert list(ds.views) == ["pix", "fou"]


# ------------------------------------------------------------------------------------------- labels only
def test_labels_only_annotations(tmp_path):
    make_labels_annotation(tmp_path, "mscoco", ["person,dining table", "", "cat", "person", "TV,cat"] * 3800)
    ds = load_dataset("mscoco_labels", root=tmp_path, seed=1)
    assert ds.views == {} and ds.n == 15200 and ds.class_names == ["TV", "cat", "dining table", "person"]
    assert ds.labels[0].tolist() == [0, 0, 1, 1] and ds.labels.sum(0).tolist() == [3800, 7600, 3800, 7600]
    assert ds.split_record()["sizes"] == {"query": 5000, "train": 10000, "retrieval": 10200}
    kept = load_dataset("mscoco_labels", root=tmp_path, drop_empty=False)
    assert kept.n == 19000 and kept.labels[1].sum() == 0


# --------------------------------------------------------------------------------------------- registry
def test_registry_lists_every_design_name():
    design = ["mirflickr25k", "nus_wide_tc10", "nus_wide_tc21", "iapr_tc12", "mscoco", "xmedia", "wikipedia",
              "cifar10", "imagenet100", "nus_wide_81", "fashion_mnist", "mfeat", "scene15", "msrc_v1", "pie_face"]
    assert set(design) <= set(list_datasets())
    assert protocols_for("wikipedia")[0] == "official" and protocols_for("mirflickr25k")[0] == "dchn"
    assert protocols_for("cifar10") == ("cifar10", "cifar10-1", "cifar10-2")
    assert protocols_for("mfeat") == ("multiview",)


def test_loading_never_writes_into_the_data_root(tmp_path):
    make_wikipedia_canonical(tmp_path)
    make_dcmh(tmp_path, v73=("labels", "text", "image"))
    make_multiview_mat(tmp_path, "scene15", v73=True)
    before = snapshot(tmp_path)
    load_dataset("wikipedia", root=tmp_path).file_hashes()
    load_dataset("mirflickr25k", root=tmp_path, protocol="djsrh", subset=100)
    load_dataset("scene15", root=tmp_path)
    assert snapshot(tmp_path) == before
