"""Exports of a Prediction: npz (lossless, pickle-free), GIF, MP4, GIfTI, CSV and metadata JSON; and the npz of
an Evaluation."""

from nforge_app.export._evaluation import EVALUATION_KEYS, is_evaluation_npz, load_evaluation, save_evaluation
from nforge_app.export._media import gif_frame_duration_ms, write_gif, write_glass_brain_gif, write_mp4
from nforge_app.export._npz import NPZ_KEYS, load_npz, save_npz
from nforge_app.export._tables import metadata_dict, save_gifti, save_metadata_json, save_roi_csv

__all__ = ["NPZ_KEYS", "gif_frame_duration_ms", "load_npz", "metadata_dict", "save_gifti", "save_metadata_json",
           "save_npz", "save_roi_csv", "write_gif", "write_glass_brain_gif", "write_mp4",
           "EVALUATION_KEYS", "is_evaluation_npz", "load_evaluation", "save_evaluation"]
