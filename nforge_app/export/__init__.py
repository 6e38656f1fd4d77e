"""Exports of a Prediction: npz (lossless, pickle-free), GIF, MP4, GIfTI, CSV and metadata JSON.

:func:`export_prediction` writes any of them from one base path; every face (the page, the Python API,
``nforge export``) uses it, so the same prediction gives the same files.
"""

from nforge_app.export._media import gif_frame_duration_ms, write_gif, write_mp4
from nforge_app.export._npz import NPZ_KEYS, load_npz, save_npz
from nforge_app.export._prediction import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS, SUFFIXES, export_prediction
from nforge_app.export._tables import metadata_dict, save_gifti, save_metadata_json, save_roi_csv

__all__ = ["DEFAULT_EXPORT_FORMATS", "EXPORT_FORMATS", "NPZ_KEYS", "SUFFIXES", "export_prediction", "gif_frame_duration_ms", "load_npz",
           "metadata_dict", "save_gifti", "save_metadata_json", "save_npz", "save_roi_csv", "write_gif", "write_mp4"]
