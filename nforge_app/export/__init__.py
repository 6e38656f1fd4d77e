"""Exports of a Prediction: npz (lossless, pickle-free), GIF, MP4, GIfTI, CSV and metadata JSON; and of a
ContrastMap (an in-silico experiment): npz, GIfTI maps, a CSV of regions, a PNG."""

from nforge_app.export._contrast import (
    CONTRAST_NPZ_KEYS,
    load_contrast_npz,
    map_prediction,
    save_contrast_gifti,
    save_contrast_npz,
    save_contrast_png,
    save_region_csv,
)
from nforge_app.export._media import gif_frame_duration_ms, write_gif, write_glass_brain_gif, write_mp4
from nforge_app.export._npz import NPZ_KEYS, load_npz, save_npz
from nforge_app.export._tables import metadata_dict, save_gifti, save_metadata_json, save_roi_csv

__all__ = ["CONTRAST_NPZ_KEYS", "NPZ_KEYS", "gif_frame_duration_ms", "load_contrast_npz", "load_npz", "map_prediction",
           "metadata_dict", "save_contrast_gifti", "save_contrast_npz", "save_contrast_png", "save_gifti",
           "save_metadata_json", "save_npz", "save_region_csv", "save_roi_csv", "write_gif", "write_glass_brain_gif",
           "write_mp4"]
