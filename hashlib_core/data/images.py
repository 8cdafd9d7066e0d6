"""Lazy image sources (zip members, image files, HDF5 rows, in-memory arrays) and the torch adapter.

Every source implements :class:`~hashlib_core.data.dataset.ImageSource`: ``len(src)`` and ``src[i]`` -> a
``PIL.Image.Image`` in RGB, decoded on access. Sources are picklable (file handles are reopened in each
process), so they work in ``torch.utils.data.DataLoader`` workers. Nothing is ever written to the data root.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .dataset import DatasetError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _rgb_from_array(item: np.ndarray) -> Image.Image:
    """(H, W), (H, W, 1|3) or (1|3, H, W) array -> RGB PIL image; floats in [0, 1] are scaled to [0, 255]."""
    item = np.asarray(item)
    if item.ndim == 3 and item.shape[-1] not in (1, 3) and item.shape[0] in (1, 3):
        item = np.moveaxis(item, 0, -1)
    if item.ndim == 3 and item.shape[-1] == 1:
        item = item[..., 0]
    if item.dtype != np.uint8:
        item = item.astype(np.float64)
        if item.size and item.max() <= 1.0:
            item = item * 255.0
        item = np.clip(np.rint(item), 0, 255).astype(np.uint8)
    if item.ndim == 2:
        return Image.fromarray(item).convert("RGB")
    if item.ndim == 3 and item.shape[-1] == 3:
        return Image.fromarray(np.ascontiguousarray(item))
    raise ValueError(f"cannot turn an array of shape {item.shape} into an image")


class ArrayImageSource:
    """Images held in memory: a uint8 array (N, H, W) (grey) or (N, H, W, 3) (RGB)."""

    def __init__(self, array: np.ndarray):
        array = np.asarray(array)
        if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] != 3):
            raise ValueError(f"image array must be (N, H, W) or (N, H, W, 3), got {array.shape}")
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __getitem__(self, index: int) -> Image.Image:
        return _rgb_from_array(self.array[index])

    def to_array(self) -> np.ndarray:
        """The images as a uint8 (N, H, W, 3) array."""
        array = self.array
        return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 3 else array

    def __repr__(self) -> str:
        return f"ArrayImageSource({self.array.shape}, {self.array.dtype})"


class _ReopenPerProcess:
    """Keeps one open handle per process (DataLoader workers fork or spawn) and drops it when pickled."""

    _handle = None
    _pid = None

    def _open(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def handle(self):
        if self._handle is None or self._pid != os.getpid():
            self._handle = self._open()
            self._pid = os.getpid()
        return self._handle

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_pid"] = None
        return state


class ZipImageSource(_ReopenPerProcess):
    """Images stored as members of a zip archive, decoded on access (never extracted to disk).

    ``members`` are the archive names in item order. :meth:`to_array` decodes everything once (with a progress
    bar) and caches the uint8 (N, H, W, 3) result in memory, for code that wants plain arrays.
    """

    def __init__(self, path: str | os.PathLike, members: Sequence[str], *, dataset: str = "dataset"):
        self.path = Path(path)
        self.members = list(members)
        self.dataset = dataset
        self._array: np.ndarray | None = None

    def _open(self):
        try:
            return zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{self.dataset}: cannot open zip archive {self.path}: {exc}") from None

    def __len__(self) -> int:
        return len(self.members)

    def read_bytes(self, index: int) -> bytes:
        name = self.members[index]
        try:
            return self.handle().read(name)
        except (KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetError(f"{self.dataset}: cannot read member {name!r} of {self.path}: {exc}") from None

    def __getitem__(self, index: int) -> Image.Image:
        if self._array is not None:
            return Image.fromarray(self._array[index])
        data = self.read_bytes(index)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{self.dataset}: member {self.members[index]!r} of {self.path} is not a "
                               f"readable image: {exc}") from None

    def to_array(self, *, progress: bool = True) -> np.ndarray:
        """All images decoded to one uint8 (N, H, W, 3) array (same-size images required); cached in memory."""
        if self._array is None:
            from ..train.progress import progress as bar

            items = range(len(self))
            images = [np.asarray(self[i]) for i in (bar(items, desc=f"decode {self.path.name}") if progress
                                                    else items)]
            shapes = {image.shape for image in images}
            if len(shapes) > 1:
                raise DatasetError(f"{self.dataset}: images in {self.path} differ in size {sorted(shapes)[:3]}; "
                                   "cannot stack them into one array")
            self._array = np.stack(images) if images else np.empty((0, 0, 0, 3), np.uint8)
        return self._array

    def __repr__(self) -> str:
        return f"ZipImageSource({str(self.path)!r}, {len(self)} images)"


class FileImageSource:
    """Images stored as individual files (any format PIL reads), opened on access."""

    def __init__(self, paths: Sequence[str | os.PathLike], *, dataset: str = "dataset"):
        self.paths = [Path(p) for p in paths]
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Image.Image:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise DatasetError(f"{self.dataset}: image file {path} (item {index}) does not exist") from None
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{self.dataset}: image file {path} (item {index}) is not readable: {exc}") from None

    def __repr__(self) -> str:
        return f"FileImageSource({len(self)} files)"


class HDF5ImageSource(_ReopenPerProcess):
    """Rows of an image array inside a MATLAB 7.3 / HDF5 file (e.g. MIRFLICKR's ``IAll``), read one at a time.

    ``item_axis`` is the HDF5 axis that indexes items (0, or the last axis for a transposed file).
    ``column_major`` (MATLAB 7.3) reverses each item's axes: MATLAB's H x W x C image appears to h5py as
    C x W x H. The result is returned as RGB whatever the channel position.
    """

    def __init__(self, path: str | os.PathLike, key: str, *, item_axis: int, length: int, column_major: bool,
                 dataset: str = "dataset"):
        self.path = Path(path)
        self.key = key
        self.item_axis = item_axis
        self.length = int(length)
        self.column_major = column_major
        self.dataset = dataset

    def _open(self):
        import h5py

        try:
            return h5py.File(self.path, "r")[self.key]
        except (OSError, KeyError) as exc:
            raise DatasetError(f"{self.dataset}: cannot open {self.key!r} in {self.path}: {exc}") from None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Image.Image:
        if not -self.length <= index < self.length:
            raise IndexError(index)
        index = index % self.length
        data = self.handle()
        try:
            item = data[index] if self.item_axis == 0 else data[..., index]
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{self.dataset}: cannot read item {index} of {self.key!r} in {self.path}: "
                               f"{exc}") from None
        item = np.asarray(item)
        if self.column_major:
            item = item.T
        return _rgb_from_array(item)

    def __repr__(self) -> str:
        return f"HDF5ImageSource({str(self.path)!r}, {self.key!r}, {self.length} images)"


# --------------------------------------------------------------------------------------------- torch adapter
def default_transform(image_size: int = 224, train: bool = False):
    """torchvision transform for ImageNet-pretrained backbones: resize to ``image_size * 256 / 224``, then a random
    (``train``) or centre crop of ``image_size``, a random horizontal flip when training, ``ToTensor`` (values in
    [0, 1], (3, H, W)) and normalisation with the ImageNet mean/std (the DeepHash-pytorch / HybridHash recipe)."""
    from torchvision import transforms

    resize = int(round(image_size * 256 / 224))
    steps = [transforms.Resize(resize)]
    if train:
        steps += [transforms.RandomCrop(image_size), transforms.RandomHorizontalFlip()]
    else:
        steps += [transforms.CenterCrop(image_size)]
    steps += [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return transforms.Compose(steps)


def _torch_dataset_base():
    from torch.utils.data import Dataset as TorchDataset

    return TorchDataset


class ImageDataset(_torch_dataset_base()):
    """A ``torch.utils.data.Dataset`` over ``source`` rows ``indices`` (e.g. ``ds.splits["train"]``).

    Item ``k`` is ``(image, label, k)``: ``transform(source[indices[k]])`` (default: ``ToTensor``, float (3, H, W)
    in [0, 1]), ``labels[indices[k]]`` as a float32 multi-hot tensor (an empty tensor when ``labels`` is None)
    and the position ``k`` in ``indices`` (for per-sample buffers; ``self.rows[k]`` is the dataset row).
    """

    def __init__(self, source, indices=None, labels=None, transform=None):
        import torch

        self.source = source
        self.rows = np.arange(len(source), dtype=np.int64) if indices is None else np.asarray(indices, np.int64)
        if self.rows.size and (self.rows.min() < 0 or self.rows.max() >= len(source)):
            raise ValueError(f"indices must lie in [0, {len(source)}), got range "
                             f"[{self.rows.min()}, {self.rows.max()}]")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape[0] != len(source):
                raise ValueError(f"labels have {labels.shape[0]} rows, the source has {len(source)} images")
            self._labels = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))
        else:
            self._labels = None
        if transform is None:
            from torchvision import transforms

            transform = transforms.ToTensor()
        self.transform = transform

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, k: int):
        import torch

        row = int(self.rows[k])
        image = self.transform(self.source[row])
        label = self._labels[row] if self._labels is not None else torch.zeros(0)
        return image, label, k
