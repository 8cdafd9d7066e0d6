"""Atomic file writes, file hashes and the git commit: the small I/O every record needs.

Every writer here writes to a temporary file in the destination folder and renames it into place, so a reader
never sees a half-written file and an interrupted run leaves the previous version (or nothing) behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; creates parent folders."""
    return _atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def to_json(obj: Any, *, compact: bool = False) -> str:
    """JSON text with NumPy scalars/arrays and paths converted; NaN is refused (it is not valid JSON).
    Indented for reading, or ``compact`` (no whitespace) for long numeric series such as curves."""
    layout = {"separators": (",", ":")} if compact else {"indent": 2}
    return json.dumps(obj, sort_keys=False, default=_json_default, allow_nan=False, **layout) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any, *, compact: bool = False) -> Path:
    """Write ``obj`` as JSON (indented, or ``compact``) to ``path`` atomically."""
    return atomic_write_text(path, to_json(obj, compact=compact))


def atomic_write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write a compressed ``.npz`` of ``arrays`` to ``path`` atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return _atomic_write_bytes(path, buffer.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, with an error that names the file when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_array(array: np.ndarray) -> str:
    """Hex SHA-256 of an array's dtype, shape and bytes (C order): a fingerprint for split index arrays."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def git_commit(repo: str | os.PathLike | None = None) -> str | None:
    """The current commit of the repository holding ``repo`` (default: this package), with ``+dirty`` when the
    work tree has uncommitted changes. Outside a git checkout (an installed wheel, a copy of the tree sent to a
    GPU machine) it is ``$HASHLIB_GIT_COMMIT`` when set (the sender states the commit it sent), else ``None``."""
    fallback = os.environ.get("HASHLIB_GIT_COMMIT") or None
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return fallback
    return commit + ("+dirty" if dirty else "")
