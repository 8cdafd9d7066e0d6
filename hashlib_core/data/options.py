"""Checking the ``**options`` a loader accepts, so a misspelt option is an error rather than silently ignored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .dataset import DatasetError


def take_options(dataset: str, options: Mapping[str, Any], defaults: Mapping[str, Any],
                 choices: Mapping[str, tuple] | None = None) -> dict[str, Any]:
    """``defaults`` updated with ``options``; ``DatasetError`` on an unknown option or a value outside ``choices``."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise DatasetError(f"{dataset}: unknown option(s) {unknown}; this dataset accepts {sorted(defaults)}")
    merged = {**defaults, **options}
    for key, allowed in (choices or {}).items():
        if merged[key] not in allowed:
            raise DatasetError(f"{dataset}: {key}={merged[key]!r} is not one of {list(allowed)}")
    return merged
