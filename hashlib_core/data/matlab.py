"""Read MATLAB ``.mat`` files as their authors ship them: v5 (scipy) and v7.3 (HDF5, via h5py), lazily.

MATLAB stores arrays column-major. In a v7.3 file an (N, d) MATLAB matrix therefore appears to h5py as (d, N);
:meth:`MatFile.array` transposes it back to MATLAB's order. Some published files are additionally stored
transposed (features x samples); :func:`orient_rows` puts the item axis first using the known row count.
Plain HDF5 files written from Python (e.g. DCHN's ``*.h5py``) are row-major and read without a transpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .dataset import DatasetError

MAT73_MAGIC = b"MATLAB 7.3 MAT-file"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def mat_version(path: Path) -> str:
    """``"7.3"`` (MATLAB HDF5), ``"hdf5"`` (plain HDF5, row-major) or ``"5"`` (scipy-readable v4/v5/v6/v7)."""
    with open(path, "rb") as handle:
        head = handle.read(520)
    if head.startswith(MAT73_MAGIC):
        return "7.3"
    if head.startswith(HDF5_SIGNATURE) or head[512:520] == HDF5_SIGNATURE:
        return "hdf5"
    return "5"


class MatFile:
    """A ``.mat``/HDF5 file opened for reading; ``dataset`` names the dataset in error messages.

    v5 variables are read on first access (only the ones asked for); v7.3/HDF5 variables stay on disk until
    read, and :meth:`lazy` hands out the h5py dataset itself (for 3 GB image arrays). Use as a context manager.
    """

    def __init__(self, path: str | Path, dataset: str):
        self.path = Path(path)
        self.dataset = dataset
        if not self.path.is_file():
            raise DatasetError(f"{dataset}: {self.path} does not exist")
        try:
            self.version = mat_version(self.path)
        except OSError as exc:
            raise DatasetError(f"{dataset}: cannot read {self.path}: {exc}") from None
        self._h5 = None
        self._v5: dict[str, Any] = {}
        self._v5_names: list[str] | None = None
        if self.version != "5":
            import h5py

            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as exc:
                raise DatasetError(f"{dataset}: {self.path} is not a readable HDF5/MATLAB 7.3 file "
                                   f"(truncated or corrupt?): {exc}") from None

    # ------------------------------------------------------------------------------------------- plumbing
    def __enter__(self) -> "MatFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    @property
    def column_major(self) -> bool:
        """Whether arrays need MATLAB's column-major transpose (MATLAB 7.3 files only)."""
        return self.version == "7.3"

    def _error(self, problem: str) -> DatasetError:
        return DatasetError(f"{self.dataset}: {self.path.name} ({self.path.parent}): {problem}")

    def keys(self) -> list[str]:
        """Variable names in the file (MATLAB's ``#refs#`` and ``__header__``-style entries left out)."""
        if self._h5 is not None:
            return [key for key in self._h5.keys() if not key.startswith("#")]
        if self._v5_names is None:
            import scipy.io

            try:
                self._v5_names = [name for name, _, _ in scipy.io.whosmat(self.path)]
            except Exception as exc:  # scipy raises many types on a corrupt file
                raise self._error(f"not a readable MATLAB file (truncated or corrupt?): {exc}") from None
        return list(self._v5_names)

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def require(self, *keys: str) -> None:
        """Raise naming the missing keys (and the ones present) unless every key is in the file."""
        missing = [key for key in keys if key not in self]
        if missing:
            raise self._error(f"missing variable(s) {missing}; the file has {self.keys()}")

    def _load_v5(self, key: str):
        if key not in self._v5:
            import scipy.io

            self.require(key)
            try:
                self._v5.update(scipy.io.loadmat(self.path, variable_names=[key]))
            except Exception as exc:
                raise self._error(f"cannot read variable {key!r} (truncated or corrupt?): {exc}") from None
            if key not in self._v5:
                raise self._error(f"cannot read variable {key!r}")
        return self._v5[key]

    # ---------------------------------------------------------------------------------------------- access
    def array(self, key: str) -> np.ndarray:
        """Variable ``key`` as a dense array in MATLAB's axis order (sparse matrices are densified)."""
        if self._h5 is None:
            value = self._load_v5(key)
            if hasattr(value, "toarray"):
                value = value.toarray()
            return np.asarray(value)
        self.require(key)
        node = self._h5[key]
        if not hasattr(node, "shape"):
            raise self._error(f"variable {key!r} is a group/struct, not an array")
        if node.attrs.get("MATLAB_sparse") is not None:
            return self._sparse_h5(key, node)
        try:
            value = node[()]
        except (OSError, KeyError, ValueError) as exc:
            raise self._error(f"cannot read variable {key!r} (truncated or corrupt?): {exc}") from None
        value = np.asarray(value)
        return value.T if self.column_major else value

    def _sparse_h5(self, key: str, group) -> np.ndarray:
        from scipy.sparse import csc_matrix

        try:
            rows = int(group.attrs["MATLAB_sparse"])
            data, ir, jc = group["data"][()], group["ir"][()], group["jc"][()]
        except (KeyError, OSError) as exc:
            raise self._error(f"sparse variable {key!r} is malformed: {exc}") from None
        return csc_matrix((data, ir, jc), shape=(rows, len(jc) - 1)).toarray()

    def cells(self, key: str) -> list[np.ndarray]:
        """A MATLAB cell array as a list of dense arrays (in MATLAB's axis order), in column-major cell order."""
        if self._h5 is None:
            value = self._load_v5(key)
            if not (isinstance(value, np.ndarray) and value.dtype == object):
                raise self._error(f"variable {key!r} is not a cell array")
            out = []
            for item in value.ravel(order="F"):
                out.append(np.asarray(item.toarray() if hasattr(item, "toarray") else item))
            return out
        self.require(key)
        node = self._h5[key]
        try:
            refs = np.asarray(node[()]).T.ravel(order="F")
            values = [np.asarray(self._h5[ref][()]) for ref in refs]
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise self._error(f"variable {key!r} is not a readable cell array: {exc}") from None
        return [value.T if self.column_major else value for value in values]

    def lazy(self, key: str):
        """The h5py dataset behind ``key`` (v7.3/HDF5 only), for row-by-row reads of very large arrays."""
        if self._h5 is None:
            raise self._error(f"variable {key!r}: lazy access needs a MATLAB 7.3/HDF5 file, this one is v5")
        self.require(key)
        return self._h5[key]


def orient_rows(array: np.ndarray, n_rows: int | None, *, what: str, dataset: str) -> np.ndarray:
    """Return the 2-D ``array`` with its item axis first.

    With ``n_rows`` known, the axis of that length becomes axis 0 (a square matrix is kept as stored); without it,
    a 2-D array keeps its orientation. A 1-D array becomes a column. Mismatches raise naming ``what``.
    """
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DatasetError(f"{dataset}: {what} must be a 2-D matrix, got shape {array.shape}")
    if n_rows is None or array.shape[0] == n_rows:
        return array
    if array.shape[1] == n_rows:
        return array.T
    raise DatasetError(f"{dataset}: {what} has shape {array.shape}, but {n_rows} rows (items) were expected "
                       "(row counts differ between files/views)")


def orient_labels(array: np.ndarray, n_rows: int | None, *, what: str, dataset: str) -> np.ndarray:
    """Like :func:`orient_rows`, but without ``n_rows`` the longer axis is taken as the item axis (labels have
    fewer classes than items), which undoes a transposed (C, N) label matrix."""
    array = np.asarray(array)
    if n_rows is None and array.ndim == 2 and array.shape[1] > array.shape[0]:
        array = array.T
    return orient_rows(array, n_rows, what=what, dataset=dataset)
