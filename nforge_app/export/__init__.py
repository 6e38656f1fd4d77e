"""Exports of a Prediction: npz (lossless, pickle-free), GIF, MP4, GIfTI, CSV and metadata JSON; of an
Evaluation (``eval.npz``); of an Attribution (``attr.npz``); and of a ContrastMap (an in-silico experiment): npz, GIfTI maps of effect and t,
a CSV of regions, PNG pictures.

:func:`export_prediction` writes any of a prediction's formats from one base path; every face (the page, the
Python API, ``nforge export``) uses it, so the same prediction gives the same files.
"""

from nforge_app.export._attribution import (
    ATTRIBUTION_EXPORT_FORMATS,
    ATTRIBUTION_KEYS,
    export_attribution,
    is_attribution_npz,
    is_roi_attention_npz,
    load_attribution,
    load_roi_attention,
    save_attribution,
    save_attribution_csv,
    save_roi_attention,
)
from nforge_app.export._contrast import (
    CONTRAST_NPZ_KEYS,
    load_contrast_npz,
    map_prediction,
    save_contrast_gifti,
    save_contrast_npz,
    save_contrast_png,
    save_region_csv,
)
from nforge_app.export._evaluation import EVALUATION_KEYS, is_evaluation_npz, load_evaluation, save_evaluation
from nforge_app.export._media import gif_frame_duration_ms, write_gif, write_mp4
from nforge_app.export._npz import NPZ_KEYS, load_npz, save_npz
from nforge_app.export._prediction import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS, SUFFIXES, export_prediction
from nforge_app.export._tables import metadata_dict, save_gifti, save_metadata_json, save_roi_csv

__all__ = ["ATTRIBUTION_EXPORT_FORMATS", "ATTRIBUTION_KEYS", "export_attribution", "save_attribution_csv", "CONTRAST_NPZ_KEYS", "DEFAULT_EXPORT_FORMATS", "EVALUATION_KEYS", "EXPORT_FORMATS", "NPZ_KEYS", "SUFFIXES", "export_prediction", "gif_frame_duration_ms", "is_attribution_npz", "is_roi_attention_npz", "load_roi_attention", "save_roi_attention", "is_evaluation_npz", "load_attribution", "load_contrast_npz", "load_evaluation", "load_npz", "map_prediction", "metadata_dict", "save_attribution", "save_contrast_gifti", "save_contrast_npz", "save_contrast_png", "save_evaluation", "save_gifti", "save_metadata_json", "save_npz", "save_region_csv", "save_roi_csv", "write_gif", "write_mp4"]
