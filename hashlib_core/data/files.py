"""Finding a dataset's files under the data root, the "missing files" error that says where to get them, and the
absent-file records (:class:`Need`) behind :func:`hashlib_core.data.missing_files`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import DatasetError
from .options import take_options


def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root: ``root`` if given, else ``$HASHLIB_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("HASHLIB_DATA", "").strip()
    return Path(env).expanduser() if env else Path("data")


@dataclass(frozen=True)
class FileRole:
    """One file a loader needs: a short ``role`` (e.g. ``"labels"``), acceptable ``names`` in order of preference,
    optional ``subfolders`` also searched (DCMH's ``LAll/``, ``YAll/`` ...), and a one-line ``what``."""

    role: str
    names: tuple[str, ...]
    what: str = ""
    subfolders: tuple[str, ...] = ()

    def candidates(self, folder: Path) -> list[Path]:
        paths = [folder / name for name in self.names]
        paths += [folder / sub / name for sub in self.subfolders for name in self.names]
        return paths

    def find(self, folder: Path) -> Path | None:
        """The first existing candidate, or None."""
        for path in self.candidates(folder):
            if path.is_file():
                return path
        return None

    def describe(self) -> str:
        names = " or ".join(self.names)
        where = f" (flat or in {'/'.join(self.subfolders)}/)" if self.subfolders else ""
        return f"{names}{where}" + (f": {self.what}" if self.what else "")


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from: shown in ``Dataset.info`` and in missing-file errors."""

    source: str
    citation: str
    obtain: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def missing_error(dataset: str, folder: Path, missing: Sequence[FileRole], source: Source, *,
                  hint: str = "") -> DatasetError:
    """The error for absent files: names every expected file, the folder searched and where to obtain them."""
    lines = "\n".join(f"  - {role.describe()}" for role in missing)
    text = (f"{dataset}: missing file(s) in {folder}:\n{lines}\n"
            f"Where to get them: {source.obtain}")
    if hint:
        text += f"\n{hint}"
    return DatasetError(text)


@dataclass(frozen=True)
class Need:
    """A file (or a set of alternatives) that a load would read and that is absent: what it is, where it was sought."""

    file: str
    looked_in: Path


def absent(folder: Path, roles: Iterable[FileRole]) -> list[Need]:
    """The roles with no file under ``folder`` (existence checks only: nothing is opened)."""
    return [Need(role.describe(), folder) for role in roles if role.find(folder) is None]


def fixed_needs(roles: Sequence[FileRole], defaults: Mapping[str, Any]):
    """A registry ``needs`` function for a loader that reads the same ``roles`` whatever its options; ``defaults``
    are the loader's options (an unknown option is an error, as in the loader)."""
    def needs(entry, root: Path, options: Mapping[str, Any]) -> list[Need]:
        take_options(entry.name, options, defaults)
        return absent(root / entry.folder, roles)

    return needs


def locate(dataset: str, folder: Path, roles: Iterable[FileRole], source: Source, *, hint: str = ""
           ) -> dict[str, Path]:
    """Role -> path for every role; raises :func:`missing_error` listing all roles not found."""
    found, missing = {}, []
    for role in roles:
        path = role.find(folder)
        if path is None:
            missing.append(role)
        else:
            found[role.role] = path
    if missing:
        raise missing_error(dataset, folder, missing, source, hint=hint)
    return found
