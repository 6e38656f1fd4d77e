"""Scores of predictions against measured responses: the field's metric, Pearson r over time per output.

TRIBE v2 and the Algonauts 2025 ranking score a model by correlating, for every output (vertex or parcel),
its predicted time course with the measured one, then averaging over outputs. :func:`voxelwise_pearson` is
that correlation (:func:`pearson_defined` also says where it is defined), :func:`mean_pearson` averages it as
the Algonauts 2025 authors do, and :func:`nforge_app.analysis.evaluate` aligns a prediction with measured
data in time before calling them. Numpy only.
"""

from __future__ import annotations

import numpy as np


def varies_over_time(data: np.ndarray) -> np.ndarray:
    """Whether each output's series is not constant: ``(..., T, V)`` -> bool ``(..., V)`` (exact, no tolerance)."""
    data = np.asarray(data)
    return data.max(axis=-2) != data.min(axis=-2)


def pearson_defined(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r over time per output, and where it is defined: ``(..., T, V)`` -> two ``(..., V)`` arrays.

    Returns
    -------
    (r, defined)
        float64 r (0 where undefined) and bool: both series vary over time (:func:`varies_over_time`).
    """
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape or pred.ndim < 2:
        raise ValueError(f"pred and true must have the same shape (..., T, V); got {pred.shape} and {true.shape}")
    defined = varies_over_time(pred) & varies_over_time(true)
    pred, true = np.array(pred, dtype=np.float64), np.array(true, dtype=np.float64)  # copies, centred in place
    pred -= pred.mean(axis=-2, keepdims=True)
    true -= true.mean(axis=-2, keepdims=True)
    covariance = np.einsum("...tv,...tv->...v", pred, true)
    scale = np.sqrt(np.einsum("...tv,...tv->...v", pred, pred) * np.einsum("...tv,...tv->...v", true, true))
    r = np.divide(covariance, scale, out=np.zeros_like(covariance), where=defined & (scale > 0))
    return np.clip(r, -1.0, 1.0), defined


def voxelwise_pearson(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pearson r over time for every output: arrays ``(..., T, V)`` -> ``(..., V)``.

    Parameters
    ----------
    pred, true : array-like (..., T, V)
        Predicted and measured time courses, one column per output; computed in float64.

    Returns
    -------
    ndarray, float64 (..., V)
        The correlation of each column pair. Outputs that are constant in either array get r = 0 (see
        :func:`pearson_defined` to tell them apart).
    """
    return pearson_defined(pred, true)[0]


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


__all__ = ["mean_pearson", "pearson_defined", "varies_over_time", "voxelwise_pearson"]
