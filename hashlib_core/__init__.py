"""hashlib_core: deep hashing retrieval (DCHN, DJSRH, HybridHash) on current PyTorch.

Sub-packages, each with one job (data flows one way):
``data`` -> ``models`` / ``losses`` / ``train`` -> codes -> ``metrics`` -> ``records`` -> book.
``methods`` ties them together into one ``run()`` per paper, the function the notebooks and the CLI call.
"""

__version__ = "0.1.0"
