"""Training-loop pieces shared by every method: seeding, devices, progress bars, timing, divergence checks."""

from .seeding import seed_everything, torch_generator
from .devices import resolve_device, describe_device, autocast_for
from .progress import progress
from .threads import torch_threads
from .timing import Stopwatch
from .divergence import TrainingDiverged, check_finite

__all__ = [
    "seed_everything",
    "torch_generator",
    "resolve_device",
    "describe_device",
    "autocast_for",
    "progress",
    "Stopwatch",
    "torch_threads",
    "TrainingDiverged",
    "check_finite",
]
