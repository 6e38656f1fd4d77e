"""Analyses of models and predictions: pure functions over ``(model, features, stimulus)`` (and measured data).

Built so far: modality attribution (:func:`attribute`: Shapley values, integrated gradients or ablation
over the modalities present, with each model's absent-modality rule); ROI temporal attention
(:func:`roi_attention`: which stimulus moments drove each region, exact for the lite model, occlusion for
TRIBE v2 and Text2fMRI, with TRIBE's attention rollout); subject adaptation (:func:`adapt`: a ridge readout cross-validated by run on a model's hidden
features, kept as an :class:`AdaptedSubject` by :func:`save_subject` / :func:`load_subject`); streaming
prediction (:class:`StreamingPredictor`: one row per TR as a stimulus arrives); evaluation against measured fMRI (:func:`evaluate`, with measured runs read by
:func:`read_measured` / :func:`read_runs`, numpy only); in-silico experiments (block designs, :func:`contrast`,
and event designs, :func:`glm`: the stimuli played as one sequence, predicted once and analysed by a
first-level GLM with nilearn's design matrices and a permutation test; :data:`TEACHING_EXPERIMENTS` to try
offline); the scores of predictions against measured responses (:func:`voxelwise_pearson`,
:func:`mean_pearson`) and the training of the flow-matching encoder (:func:`train_stage1`,
:func:`train_stage2`). Analyses read the models' seams (``EncodingModel.transform`` / ``readout``,
``FeatureSet.subset`` and each model's absent-modality rule) and are run and cached by the engine; with
``models/`` and ``features/`` they are the only place that may import torch. Importing this package is
cheap: each name loads its module on first use.
"""

from __future__ import annotations

import importlib

_ADAPT = "nforge_app.analysis._adapt"
_ATTRIBUTION = "nforge_app.analysis._attribution"
_BLOCKS = "nforge_app.analysis._blocks"
_EVALUATE = "nforge_app.analysis._evaluate"
_EXPERIMENTS = "nforge_app.analysis._experiments"
_GLM = "nforge_app.analysis._glm"
_MEASURED = "nforge_app.analysis._measured"
_METRICS = "nforge_app.analysis.metrics"
_SUBJECTS = "nforge_app.analysis._subjects"
_EXPORTS = {
    "DEFAULT_ALPHAS": _ADAPT,
    "adapt": _ADAPT,
    "attribute": _ATTRIBUTION,
    "single_modality_sentence": _ATTRIBUTION,
    "tribe_window_attribution": _ATTRIBUTION,
    "fit_ridge": _ADAPT,
    "AdaptedSubject": _SUBJECTS,
    "adapted_names": _SUBJECTS,
    "check_subject_name": _SUBJECTS,
    "delete_subject": _SUBJECTS,
    "list_subjects": _SUBJECTS,
    "load_subject": _SUBJECTS,
    "save_subject": _SUBJECTS,
    "subjects_dir": _SUBJECTS,
    "LAG_RANGE_S": _EVALUATE,
    "bold_times": _EVALUATE,
    "evaluate": _EVALUATE,
    "resample_rows": _EVALUATE,
    "roi_summaries": _EVALUATE,
    "MEASURED_SUFFIXES": _MEASURED,
    "MIN_TIMEPOINTS": _MEASURED,
    "measured_columns": _MEASURED,
    "read_measured": _MEASURED,
    "read_runs": _MEASURED,
    "mean_pearson": _METRICS,
    "pearson_defined": _METRICS,
    "varies_over_time": _METRICS,
    "DEFAULT_REST_S": _BLOCKS,
    "BlockDesign": _BLOCKS,
    "block_design": _BLOCKS,
    "contrast": _BLOCKS,
    "glm": _BLOCKS,
    "TEACHING_EXPERIMENTS": _EXPERIMENTS,
    "TeachingExperiment": _EXPERIMENTS,
    "get_teaching_experiment": _EXPERIMENTS,
    "DEFAULT_PERMUTATIONS": _GLM,
    "EVENT_COLUMNS": _GLM,
    "check_events": _GLM,
    "contrast_vector": _GLM,
    "design_matrix": _GLM,
    "fit_contrast": _GLM,
    "frame_times": _GLM,
    "read_events": _GLM,
    "relabellings": _GLM,
    "voxelwise_pearson": _METRICS,
    "roi_attention": "nforge_app.analysis._attention",
    "StreamingPredictor": "nforge_app.analysis._streaming",
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
