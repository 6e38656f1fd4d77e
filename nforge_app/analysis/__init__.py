"""Analyses of predictions (evaluation against measured fMRI; modality attribution, temporal attention and
subject adaptation are planned).

Analyses read ``Prediction`` values and call models through the engine; they are the only place besides
``models/`` and ``features/`` that may import torch. Evaluation is numpy only:
:func:`evaluate` scores a prediction against measured runs read by :func:`read_measured` /
:func:`read_runs`, with the field's metric (:func:`voxelwise_pearson`).
"""

from nforge_app.analysis._evaluate import LAG_RANGE_S, bold_times, evaluate, resample_rows, roi_summaries
from nforge_app.analysis._measured import (
    MEASURED_SUFFIXES,
    MIN_TIMEPOINTS,
    measured_columns,
    read_measured,
    read_runs,
)
from nforge_app.analysis.metrics import pearson_defined, varies_over_time, voxelwise_pearson

__all__ = ["LAG_RANGE_S", "MEASURED_SUFFIXES", "MIN_TIMEPOINTS", "bold_times", "evaluate", "measured_columns",
           "pearson_defined", "read_measured", "read_runs", "resample_rows", "roi_summaries", "varies_over_time",
           "voxelwise_pearson"]
