"""Features: extractors per modality, the ``FeatureSet`` they fill, and the on-disk feature cache."""

from nforge_app.features._base import FeatureExtractor, FeatureSet, ProgressFn, n_steps, no_progress

__all__ = ["FeatureExtractor", "FeatureSet", "ProgressFn", "n_steps", "no_progress"]
