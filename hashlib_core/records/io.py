"""Atomic file writes, file hashes and the git commit: the small I/O every record needs.

Every writer here writes to a temporary file in the destination folder and renames it into place, so a reader
never sees a half-written file and an interrupted run leaves the previous version (or nothing) behind.
Whole folders go the same way: :func:`staged_dir` assembles a folder in a hidden sibling
(``.<name>.staging-<pid>-<token>``) and :func:`publish_dir` renames it into place in one step (an existing folder is
exchanged atomically with ``renameat2(RENAME_EXCHANGE)`` where the kernel has it, then removed), so a reader sees
the old folder or the new one, never a mixture. Hidden siblings of a dead process are debris:
:func:`remove_stale_siblings` removes them (and puts back a folder a crash left set aside mid-replace).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as _errno
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_and_sync(handle, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _write_and_sync(handle, data: bytes) -> None:
    """Write ``data`` and push it to the disk (the one place file bytes are written: fault tests patch it)."""
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


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


def npz_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Array name -> shape of an ``.npz`` file, read from the array headers only (no data is decompressed beyond
    them). A truncated or foreign file raises ``ValueError`` naming the path."""
    import zipfile

    path = Path(path)
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with archive.open(info) as handle:
                    version = np.lib.format.read_magic(handle)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shapes[name] = tuple(int(n) for n in reader(handle)[0])
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .npz file (truncated or damaged: {exc})") from None
    return shapes


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


# ---------------------------------------------------------------------------------------------- whole folders

_STAGING, _REPLACED, _TMP = "staging", "replaced", "tmp"
_DEBRIS = re.compile(r"^\.(?P<name>.+)\.(?:staging|replaced|tmp)-(?P<pid>\d+)-[^/]*$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _sibling(dest: Path, kind: str, suffix: str = "") -> Path:
    return dest.parent / f".{dest.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def temporary_sibling(dest: str | os.PathLike, suffix: str = "") -> Path:
    """A fresh hidden path beside ``dest`` for a temporary file of this process (e.g. a notebook being executed:
    ``.<name>.tmp-<pid>-<token><suffix>``); never read as a result, removed by :func:`remove_stale_siblings` once
    this process is gone."""
    return _sibling(Path(dest), _TMP, suffix)


def set_aside(dest: str | os.PathLike) -> Path | None:
    """Rename an existing ``dest`` to a hidden sibling of this process and return it (``None`` when there is
    nothing): while this process runs, ``dest`` is free for a new folder; if it dies first,
    :func:`remove_stale_siblings` puts the old folder back (unless a new ``dest`` was finished meanwhile)."""
    dest = Path(dest)
    if not dest.exists():
        return None
    aside = _sibling(dest, _REPLACED)
    os.rename(dest, aside)
    return aside


def restore_or_drop(aside: Path | None, dest: str | os.PathLike) -> None:
    """Undo :func:`set_aside` when ``dest`` did not come back (put the old folder back), else remove it."""
    if aside is None or not aside.exists():
        return
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(aside, dest)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a killed process stays a zombie until its (new) parent reaps it
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _siblings(dest: Path, kind: str) -> list[tuple[Path, int]]:
    """Hidden siblings ``.<dest name>.<kind>-<pid>-<token>`` of ``dest`` with their pids."""
    prefix = f".{dest.name}.{kind}-"
    found = []
    if not dest.parent.is_dir():
        return found
    for entry in dest.parent.iterdir():
        if entry.name.startswith(prefix):
            pid = entry.name[len(prefix):].split("-", 1)[0]
            if pid.isdigit():
                found.append((entry, int(pid)))
    return found


def remove_stale_siblings(dest: str | os.PathLike) -> list[Path]:
    """Remove the debris interrupted writers of ``dest`` left beside it (hidden staging / replaced folders of
    processes that no longer run); a folder set aside by a replace that died before the new one was renamed in is
    first put back as ``dest`` (so no finished run is lost). Returns what was removed."""
    dest = Path(dest)
    removed = []
    if not dest.exists():
        for old, pid in _siblings(dest, _REPLACED):
            if not _pid_alive(pid):
                os.rename(old, dest)
                break
    for kind in (_STAGING, _REPLACED, _TMP):
        for path, pid in _siblings(dest, kind):
            if not _pid_alive(pid) and path.exists():
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def sweep_stale(root: str | os.PathLike) -> list[Path]:
    """:func:`remove_stale_siblings` for every folder below ``root`` that has debris of dead writers beside it
    (what a killed grid leaves); returns what was removed."""
    root = Path(root)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    targets = set()
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            match = _DEBRIS.match(name)
            if match and not _pid_alive(int(match["pid"])):
                targets.add(Path(parent) / match["name"])
        dirs[:] = [d for d in dirs if not d.startswith(".")]
    for dest in sorted(targets):
        removed += remove_stale_siblings(dest)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not available."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (_errno.EINVAL, _errno.ENOSYS, _errno.EOPNOTSUPP, _errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def publish_dir(staging: str | os.PathLike, dest: str | os.PathLike) -> bool:
    """Put the complete folder ``staging`` in place as ``dest`` in one step; return True when it replaced an
    existing ``dest`` (which is then removed). ``staging`` must be a sibling of ``dest`` (same file system)."""
    staging, dest = Path(staging), Path(dest)
    _fsync_dir(staging)
    if not dest.exists():
        try:
            os.rename(staging, dest)
        except OSError as exc:
            if exc.errno not in (_errno.EEXIST, _errno.ENOTEMPTY):
                raise
        else:
            _fsync_dir(dest.parent)
            return False
    if _exchange(staging, dest):  # dest is now the new folder, staging the old one
        old = staging
    else:  # two renames: a crash between them leaves the old folder beside, put back by remove_stale_siblings
        old = _sibling(dest, _REPLACED)
        os.rename(dest, old)
        os.rename(staging, dest)
    _fsync_dir(dest.parent)
    shutil.rmtree(old, ignore_errors=True)
    return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def staged_dir(dest: str | os.PathLike, *, publish: bool = True) -> Iterator[Path]:
    """Yield an empty hidden sibling folder of ``dest`` to assemble a folder in; when the block ends without an
    error it is published as ``dest`` (:func:`publish_dir`; ``publish=False``: left for the caller to publish),
    and on any error (a full disk included) it is removed, leaving ``dest`` as it was."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(dest, _STAGING)
    staging.mkdir()
    try:
        yield staging
        if publish:
            publish_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
