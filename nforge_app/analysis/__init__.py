"""Analyses of predictions: in-silico experiments (block and event designs analysed by a first-level GLM).

Planned, not built yet: modality attribution, temporal attention, subject adaptation, evaluation (the web
app's panels say so in a sentence). Analyses read ``Prediction`` values and call models through the engine;
they are the only place besides ``models/`` and ``features/`` that may import torch.
"""

from nforge_app.analysis._blocks import DEFAULT_REST_S, BlockDesign, block_design, contrast, glm
from nforge_app.analysis._experiments import TEACHING_EXPERIMENTS, TeachingExperiment, get_teaching_experiment
from nforge_app.analysis._glm import (
    DEFAULT_PERMUTATIONS,
    EVENT_COLUMNS,
    check_events,
    contrast_vector,
    design_matrix,
    fit_contrast,
    frame_times,
    read_events,
    relabellings,
)
from nforge_app.values import ContrastMap, Events

__all__ = ["DEFAULT_PERMUTATIONS", "DEFAULT_REST_S", "EVENT_COLUMNS", "TEACHING_EXPERIMENTS", "BlockDesign",
           "ContrastMap", "Events", "TeachingExperiment", "block_design", "check_events", "contrast", "contrast_vector",
           "design_matrix", "fit_contrast", "frame_times", "get_teaching_experiment", "glm", "read_events",
           "relabellings"]
