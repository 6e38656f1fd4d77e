"""Features: extractors per modality, the ``FeatureSet`` they fill, and the on-disk feature cache.

Every extractor is registered once in ``_REGISTRY`` (id -> "module:Class"); models build theirs with
:func:`get_extractor`, so adding an extractor means adding its class and one line here.
"""

from __future__ import annotations

import importlib

from nforge_app.checks import check_in
from nforge_app.features._base import FeatureExtractor, FeatureSet, ProgressFn, n_steps, no_progress
from nforge_app.features._cache import FeatureCache

_REGISTRY: dict[str, str] = {
    "lite-text": "nforge_app.features.lite:LiteTextExtractor",
    "lite-audio": "nforge_app.features.lite:LiteAudioExtractor",
    "lite-video": "nforge_app.features.lite:LiteVideoExtractor",
    "lm-per-tr": "nforge_app.features.lm_tr:LMPerTRExtractor",
    "tribev2-text": "nforge_app.features.tribe:TribeTextExtractor",
    "tribev2-audio": "nforge_app.features.tribe:TribeAudioExtractor",
    "tribev2-video": "nforge_app.features.tribe:TribeVideoExtractor",
}


def get_extractor(extractor_id: str, **params) -> FeatureExtractor:
    """Build the extractor registered as ``extractor_id`` with ``params``."""
    check_in("feature extractor", extractor_id, _REGISTRY)
    module_name, class_name = _REGISTRY[extractor_id].split(":")
    return getattr(importlib.import_module(module_name), class_name)(**params)


def list_extractor_ids() -> list[str]:
    """The registered extractor ids."""
    return list(_REGISTRY)


__all__ = ["FeatureCache", "FeatureExtractor", "FeatureSet", "ProgressFn", "get_extractor", "list_extractor_ids",
           "n_steps", "no_progress"]
