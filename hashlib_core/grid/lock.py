"""One grid per runs folder: ``<runs_root>/.grid.lock``, held with ``flock`` for as long as a grid writes there.

The file names its holder (``pid``, ``host``, ``started``, ``command``) so a second grid can say whom it waits for.
The lock itself is the kernel's ``flock`` on the open file, so it is free the moment its holder dies, however it
dies (a stale file of a dead pid is simply taken over). Within one process the lock is re-entrant (a book build
that holds it may call the grid). Where ``fcntl`` is missing, an exclusive create is used instead and a lock file
whose pid is no longer running is taken over.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

from ..records import io as rio
from .runner import GridBusy

LOCK_NAME = ".grid.lock"
_HELD: dict[str, list] = {}   # resolved lock path -> [fd, depth] held by this process


def lock_path(runs_root: str | os.PathLike) -> Path:
    """The lock file of a runs folder."""
    return Path(runs_root) / LOCK_NAME


def read_holder(path: str | os.PathLike) -> dict:
    """What the lock file says about its holder (``{}`` when empty or unreadable)."""
    try:
        holder = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict) -> str:
    if not holder:
        return "holder unknown"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started')}: "
            f"{holder.get('command', '')}").rstrip(": ")


def _pid_alive(pid) -> bool:
    try:
        pid = int(pid)
    except (ValueError, TypeError):
        return False
    return rio._pid_alive(pid)


def _holder_text() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                       "command": " ".join(sys.argv)[:300]}) + "\n"


def _try_flock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:  # the file may have been removed and re-created by a holder releasing it: lock the one at the path
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return _try_flock(path)
    return fd


def _try_exclusive(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        holder = read_holder(path)
        if holder.get("host") in (None, socket.gethostname()) and not _pid_alive(holder.get("pid")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a stale lock of a dead grid: take it over
            return _try_exclusive(path)
        return None


@contextlib.contextmanager
def grid_lock(runs_root: str | os.PathLike, *, timeout: float | None = None, poll: float = 1.0) -> Iterator[Path]:
    """Hold the lock of ``runs_root`` for the block. Another live holder: wait for it, saying once whom we wait
    for (``timeout=None``), or raise :class:`GridBusy` naming it after ``timeout`` seconds (0 = refuse at once)."""
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    path = lock_path(runs_root).resolve()
    key = str(path)
    if key in _HELD:  # re-entrant within this process
        _HELD[key][1] += 1
        try:
            yield path
        finally:
            _HELD[key][1] -= 1
        return
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    announced = False
    while True:
        fd = _try_flock(path) if fcntl is not None else _try_exclusive(path)
        if fd is not None:
            break
        holder = describe_holder(read_holder(path))
        if deadline is not None and time.monotonic() >= deadline:
            raise GridBusy(f"{runs_root}: another grid is writing this runs folder ({holder}); wait for it to "
                           f"finish or stop it (its lock: {path})")
        if not announced:
            print(f"waiting for the other grid writing {runs_root} to finish ({holder}; lock {path}) ...",
                  file=sys.stderr, flush=True)
            announced = True
        time.sleep(poll)
    os.ftruncate(fd, 0)
    os.write(fd, _holder_text().encode("utf-8"))
    os.fsync(fd)
    _HELD[key] = [fd, 1]
    try:
        yield path
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)   # the file stays (unlinking it would race with a waiter); empty = free
        os.close(fd)
        if fcntl is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
