"""Frozen features of raw-image views, computed once and cached with their provenance (outside the data root).

>>> from hashlib_core.features import image_view_features
>>> feats, provenance = image_view_features(ds, "image", rows, extractor="efficientnet_lite0", image_size=224)
"""

from .cache import (CACHE_VERSION, EXTRACTORS, FeatureCache, feature_cache_dir, image_view_features,
                    pixel_matrix)

__all__ = ["CACHE_VERSION", "EXTRACTORS", "FeatureCache", "feature_cache_dir", "image_view_features",
           "pixel_matrix"]
