"""Training-free baseline ``pca_rotation``.

PCA, a seeded random orthogonal rotation, sign (the Hashing-Baseline recipe, Moummad et al. 2025); across views the
same in the CCA / generalised-CCA common space.

The run itself (data, frozen image features, split, evaluation, run folder) is shared by every baseline:
:mod:`hashlib_core.methods.training_free`, which documents applicability, seeds and the evaluation.
"""

from __future__ import annotations

from . import training_free

METHOD = "pca_rotation"
#: PARAMETERS (defaults; None: the profile's, or chosen on a hold-out of the training rows), PARAMETER_HELP (one
#: line each, ``python -m hashlib_core run pca_rotation --help``), PROFILES, GRID (every spec runs
#: ``notebooks/baseline.ipynb`` with ``method="pca_rotation"``) and ``run`` (the standard signature)
PARAMETERS, PARAMETER_HELP, PROFILES, GRID, run = training_free.method_entry(METHOD)
#: the grid calls run() in its own process (a fit of a second or less; see grid.runner.runs_in_process)
IN_PROCESS = True
