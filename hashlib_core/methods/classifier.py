"""Training-free baseline ``classifier``.

"Classify, then look up the class code": a linear (logistic) classifier per view trained on the training rows; an
item's code is the SHAM target code of its predicted label vector.

The run itself (data, frozen image features, split, evaluation, run folder) is shared by every baseline:
:mod:`hashlib_core.methods.training_free`, which documents applicability, seeds and the evaluation.
"""

from __future__ import annotations

from . import training_free

METHOD = "classifier"
#: PARAMETERS (defaults; None: the profile's, or chosen on a hold-out of the training rows), PARAMETER_HELP (one
#: line each, ``python -m hashlib_core run classifier --help``), PROFILES, GRID (every spec runs
#: ``notebooks/baseline.ipynb`` with ``method="classifier"``) and ``run`` (the standard signature)
PARAMETERS, PARAMETER_HELP, PROFILES, GRID, run = training_free.method_entry(METHOD)
#: the grid calls run() in its own process (a fit of a second or less; see grid.runner.runs_in_process)
IN_PROCESS = True
