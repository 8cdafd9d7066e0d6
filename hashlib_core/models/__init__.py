"""Networks, one module per paper (``dchn``, ``djsrh``, ``hybridhash``) plus shared pretrained fronts
(``backbones``) and local weight loading with an explicit report (``weights``)."""

from .weights import LoadReport, load_weights

__all__ = ["LoadReport", "load_weights"]
