"""Hamming-ranking evaluation: mAP under three protocols and two tie rules, precision/recall curves (CPU + CUDA).

Modules, each with one job: ``codes`` (validation, +-1, packing, Hamming distance), ``labels`` (relevance),
``engine`` (the chunked scan: histograms and exact rank terms; the reference and fallback), ``cpu_kernel`` (the
same scan compiled with numba, the default CPU path when numba is installed), ``cuda_kernel`` (the same scan as
fused Triton kernels, the default CUDA path when Triton is there), ``expected`` (closed forms of the
``"expected"`` tie rule), ``average_precision`` (protocols x tie rules), ``curves`` and ``evaluate``
(``evaluate_retrieval``).
"""

from .average_precision import (PROTOCOLS, TIES, average_precision_per_query, mean_average_precision,
                                mean_average_precision_grid)
from .codes import hamming_distance, pack_codes
from .curves import (default_pr_grid, default_precision_grid, precision_at_n, precision_recall_curve,
                     precision_recall_within_radius)
from .evaluate import evaluate_retrieval
from .per_class import class_membership, per_class_average_precision

__all__ = [
    "PROTOCOLS", "TIES", "mean_average_precision", "average_precision_per_query", "mean_average_precision_grid",
    "precision_recall_within_radius", "precision_at_n", "precision_recall_curve", "default_precision_grid",
    "default_pr_grid", "hamming_distance", "pack_codes", "evaluate_retrieval",
    "per_class_average_precision", "class_membership",
]
