"""Pictures and tables of an Attribution: the RGB map (R text, G audio, B video; brightness = magnitude) and
each region's modality parts over time. numpy and Pillow only, like the rest of ``viz``.

The colour of an output at a time step: each modality's ``|score|`` on its channel, scaled so the largest
channel is the brightness, ``min(1, sum of |scores| / robust maximum)`` (the 99th percentile over the whole
run, so frames share one scale). Pure red is text alone, green audio, blue video; yellow is text and audio,
cyan audio and video, white all three alike. Outputs whose brightness is under the threshold show the anatomy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import get_space
from nforge_app.values import Attribution, time_label
from nforge_app.viz._canvas import check_size, frame_times, pack_rgb
from nforge_app.viz._colors import Colormap, _lut_from_anchors
from nforge_app.viz.surface import (
    _DATA_DARKEST,
    _LIGHT_LEVELS,
    DEFAULT_VIEWS,
    _mesh,
    _SurfacePainter,
    check_views,
)

RGB_MODALITIES = ("text", "audio", "video")
"""The modality on each colour channel: R, G, B."""
RGB_LEGEND = "R text, G audio, B video; brightness = magnitude"
ROBUST_PCT = 99.0
_BRIGHTNESS = Colormap("brightness", _lut_from_anchors(("#000000", "#ffffff")), False)


def attribution_rgb(scores: np.ndarray, modalities: Sequence[str], scale: float | None = None,
                    robust_pct: float = ROBUST_PCT) -> tuple[np.ndarray, float]:
    """The RGB colours of attribution scores: float32 ``(T, V, 3)`` in [0, 1], and the magnitude scale used.

    Parameters
    ----------
    scores : ndarray (M, T, V)
        ``Attribution.scores``.
    modalities : sequence of str (M,)
        Their modalities; text goes on red, audio on green, video on blue (others are not drawn).
    scale : float, optional
        The magnitude of full brightness; by default the ``robust_pct`` percentile of the summed ``|scores|``
        over every output and time step with any.
    robust_pct : float
        Percentile of the default scale.

    Returns
    -------
    (rgb, scale) : (ndarray float32 (T, V, 3), float)
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 3 or len(modalities) != scores.shape[0]:
        raise ValueError(f"scores must be (M, T, V) with one modality each; got {scores.shape} for {modalities}")
    magnitude = np.zeros((3, *scores.shape[1:]), dtype=np.float32)
    for modality, part in zip(modalities, scores, strict=True):
        if modality in RGB_MODALITIES:
            magnitude[RGB_MODALITIES.index(modality)] = np.abs(part)
    total = magnitude.sum(axis=0)
    if scale is None:
        nonzero = total[total > 0]
        scale = float(np.percentile(nonzero, robust_pct)) if nonzero.size else 1.0
    peak = magnitude.max(axis=0)
    brightness = np.clip(total / np.float32(scale if scale > 0 else 1.0), 0.0, 1.0)
    factor = np.divide(brightness, peak, out=np.zeros_like(peak), where=peak > 0)
    return np.ascontiguousarray((magnitude * factor).transpose(1, 2, 0)), float(scale)


class _RgbPainter(_SurfacePainter):
    """A surface painter of per-vertex RGB colours (``frame(rgb)`` with rgb float (20484, 3) in [0, 1])."""

    def colors(self, rgb: np.ndarray) -> np.ndarray:
        (i0, i1, i2), (w0, w1, w2) = self.vertices, self.weights
        at_pixel = rgb[i0] * w0[:, None] + rgb[i1] * w1[:, None] + rgb[i2] * w2[:, None]
        shade = _DATA_DARKEST + (1 - _DATA_DARKEST) * (self.level_rows / 256) / (_LIGHT_LEVELS - 1)
        brightness = np.nan_to_num(at_pixel.max(axis=1), nan=-1.0)  # vertices without scores are NaN
        lit = np.nan_to_num(at_pixel * (255 * shade[:, None]), nan=0.0)
        colors = pack_rgb(np.round(np.clip(lit, 0, 255)).astype(np.uint8))
        return np.where(brightness >= (self.threshold or 0.0), colors, self.background)


def attribution_frames(attribution: Attribution, *, views: str | Sequence[str] | None = None,
                       surface: str = "inflated", size_px: int = 400, threshold_pct: float = 10.0,
                       title: str | None = None, over_time: bool = True,
                       settings: Settings | None = None) -> list[Image.Image]:
    """The RGB attribution map on the fsaverage5 surface: one picture per time step, or one of the whole run.

    Parameters
    ----------
    attribution : Attribution
        Of a surface model, or of a parcel model (painted on its parcels' vertices).
    views, surface, size_px :
        As in :func:`nforge_app.viz.surface_frames`.
    threshold_pct : float
        Outputs whose brightness is under this percentage show the anatomy.
    title : str, optional
        Text at the top left; by default the model, the method and the legend.
    over_time : bool
        True: one frame per time step (with the time axis); False: one picture of the mean ``|scores|`` over
        the run.
    settings : Settings, optional
        Where the atlases are.

    Returns
    -------
    list of PIL.Image.Image
    """
    views = check_views(views or DEFAULT_VIEWS)
    _mesh(surface)
    scores = attribution.scores if over_time else np.abs(attribution.scores).mean(axis=1, keepdims=True)
    rgb, scale = attribution_rgb(scores, attribution.modalities)
    space = get_space(attribution.space_id, settings)
    on_surface = space.to_surface(rgb.transpose(0, 2, 1), attribution.indices).transpose(0, 2, 1)
    if not np.isfinite(on_surface).any():
        raise UserInputError("the attribution holds no finite value to draw")
    title = title or f"{attribution.model_id} · {attribution.method} · {RGB_LEGEND}"
    sheet_text = {"title": title, "unit": "magnitude (brightness)", "header": True}
    if over_time:
        sheet_text["times"] = frame_times(attribution.times_s, len(on_surface),
                                          time_label(attribution.time_axis, attribution.hrf_offset_s))
    painter = _RgbPainter(surface, views, check_size(size_px), _BRIGHTNESS, 0.0, scale, threshold_pct / 100.0,
                          sheet_text)
    if not over_time:
        return [painter.frame(on_surface[0])]
    return painter.frames(on_surface)


def roi_modality_scores(attribution: Attribution, names=None,
                        settings: Settings | None = None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Each region's modality parts over time: the mean score over its selected outputs, and its shares.

    Parameters
    ----------
    attribution : Attribution
        Any attribution.
    names : str or list of str, optional
        Regions (names, wildcards, networks); by default those of its ROI temporal attention, else every
        region with a selected output.
    settings : Settings, optional
        Where the atlases are.

    Returns
    -------
    (regions, scores, shares) : (tuple of str (R,), ndarray (M, T, R), ndarray (M, T, R))
        ``scores`` is each modality's part of the region's mean response (they sum over M to the region's
        response minus its baseline); ``shares`` is ``|scores| / sum over M`` (0 where nothing is explained).
    """
    if names is None and attribution.roi_attention is not None:
        names = list(attribution.roi_attention.roi_names)
    space = get_space(attribution.space_id, settings)
    regions, parts = (), []
    for part in attribution.scores:
        regions, means = space.roi_time_series(part, attribution.indices, names=names or None)
        parts.append(means)
    if not regions:
        raise UserInputError("no region of the space has a selected output: nothing to summarise")
    scores = np.stack(parts).astype(np.float32)
    magnitude = np.abs(scores)
    total = magnitude.sum(axis=0, keepdims=True)
    return tuple(regions), scores, np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)
