"""Exports of a Prediction: npz (lossless, pickle-free), GIF, MP4, GIfTI and CSV."""

from nforge_app.export._media import gif_frame_duration_ms, write_gif, write_glass_brain_gif, write_mp4
from nforge_app.export._npz import NPZ_KEYS, load_npz, save_npz

__all__ = ["NPZ_KEYS", "gif_frame_duration_ms", "load_npz", "save_npz", "write_gif", "write_glass_brain_gif",
           "write_mp4"]
