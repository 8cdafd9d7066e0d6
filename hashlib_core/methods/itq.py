"""Training-free baseline ``itq``.

Iterative Quantization (Gong & Lazebnik, CVPR 2011): PCA to ``bits`` dimensions, then 50 alternations of ``B = sgn(V
R)`` and the orthogonal Procrustes ``R``; across views CCA-ITQ (CCA or generalised CCA first, one rotation learned
on every view's training projections).

The run itself (data, frozen image features, split, evaluation, run folder) is shared by every baseline:
:mod:`hashlib_core.methods.training_free`, which documents applicability, seeds and the evaluation.
"""

from __future__ import annotations

from . import training_free

METHOD = "itq"
#: PARAMETERS (defaults; None: the profile's, or chosen on a hold-out of the training rows), PARAMETER_HELP (one
#: line each, ``python -m hashlib_core run itq --help``), PROFILES, GRID (every spec runs
#: ``notebooks/baseline.ipynb`` with ``method="itq"``) and ``run`` (the standard signature)
PARAMETERS, PARAMETER_HELP, PROFILES, GRID, run = training_free.method_entry(METHOD)
#: the grid calls run() in its own process (a fit of a second or less; see grid.runner.runs_in_process)
IN_PROCESS = True
