"""Analyses of models and predictions: pure functions over ``(model, features, stimulus)`` (and measured data).

Built so far: the scores of predictions against measured responses (:func:`voxelwise_pearson`,
:func:`mean_pearson`) and the training of the flow-matching encoder (:func:`train_stage1`,
:func:`train_stage2`). Planned: modality attribution, temporal attention, subject adaptation, evaluation; the
web app's attribution and attention panels say so in a sentence. Analyses read the models' seams
(``EncodingModel.transform`` / ``readout``, ``FeatureSet.subset`` and each model's absent-modality rule) and
are run and cached by the engine; with ``models/`` and ``features/`` they are the only place that may import
torch. Importing this package is cheap: each name loads its module on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "mean_pearson": "nforge_app.analysis.metrics",
    "voxelwise_pearson": "nforge_app.analysis.metrics",
    "train_stage1": "nforge_app.analysis._flow_training",
    "train_stage2": "nforge_app.analysis._flow_training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
