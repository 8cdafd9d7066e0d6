"""Non-deep references computed in the same run as a method, on the same split: CCA hashing and random codes
(DJSRH), ridge regression (DCHN)."""

from .cca import CCA, CCAHash
from .random_codes import random_codes
from .ridge import RidgeHasher, fit_ridge_hasher
