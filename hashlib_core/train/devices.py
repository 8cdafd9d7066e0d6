"""Device selection and mixed precision."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` / ``None`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / a ``torch.device`` into a device.

    ``"auto"`` (and ``None``) picks CUDA when available, else the CPU. Asking for CUDA on a machine without it is
    an error (rather than a silent CPU run that takes hours).
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: cannot parse {device!r} (use 'auto', 'cpu', 'cuda' or 'cuda:N')") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine")
    return resolved


def describe_device(device: str | torch.device | None = "auto") -> str:
    """A human-readable device name for records, e.g. ``"cpu"`` or ``"cuda (NVIDIA H100 80GB HBM3)"``."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        return f"cuda ({torch.cuda.get_device_name(index)})"
    return resolved.type


def autocast_for(device: torch.device, enabled: bool = True):
    """Mixed-precision context: bfloat16 autocast on CUDA when ``enabled`` (no loss scaler needed), a no-op on
    the CPU (where runs stay in float32 so that they are exactly repeatable)."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
