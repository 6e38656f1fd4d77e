"""Scores of predictions against measured responses (numpy only).

:func:`voxelwise_pearson` is the encoding field's usual score: the correlation over time of the predicted
and the measured response of each output; :func:`mean_pearson` averages it as the Algonauts 2025 authors do.
"""

from __future__ import annotations

import numpy as np


def voxelwise_pearson(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pearson r over time for every output: arrays ``(..., T, V)`` -> ``(..., V)``.

    Outputs that are constant in either array get r = 0.
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim < 2:
        raise ValueError(f"pred and true must have the same shape (..., T, V); got {pred.shape} and {true.shape}")
    pred = pred - pred.mean(axis=-2, keepdims=True)
    true = true - true.mean(axis=-2, keepdims=True)
    denominator = np.sqrt((pred**2).sum(axis=-2) * (true**2).sum(axis=-2))
    numerator = (pred * true).sum(axis=-2)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def mean_pearson(pred: np.ndarray, true: np.ndarray) -> float:
    """The score of the authors: voxel-wise r averaged over voxels and subjects.

    ``pred`` and ``true`` are ``(N, S, T, V)``; the ``N`` windows of a subject are joined in time first.
    """
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.ndim != 4:
        raise ValueError(f"expected (N, S, T, V) arrays, got shape {pred.shape}")
    n, s, t, v = pred.shape
    joined = [a.transpose(1, 0, 2, 3).reshape(s, n * t, v) for a in (pred, true)]
    return float(voxelwise_pearson(*joined).mean())
