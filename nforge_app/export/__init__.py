"""Exports of a Prediction: npz (lossless, pickle-free), GIF, MP4, GIfTI and CSV."""

from nforge_app.export._npz import NPZ_KEYS, load_npz, save_npz

__all__ = ["NPZ_KEYS", "load_npz", "save_npz"]
