"""The attribution's pictures and panels: the RGB map (R text, G audio, B video; brightness = magnitude), each
region's modality parts over time, and the payload of the page's two analysis panels.

* :func:`modality_rgb` colours every output by the modalities that drive it, every time step: the mix gives the
  hue, the magnitude the brightness (one robust scale over the whole run, so frames compare). Pure red is text
  alone, green audio, blue video; yellow text and audio, cyan audio and video, white all three alike.
* :func:`region_parts` splits each region's response (the mean over its outputs) over the modalities.
* :func:`attribution_frames` paints the RGB map on the fsaverage5 surface (GIF/PNG exports);
  :func:`attribution_payload` packs what the page's panels draw (the viewer's RGB layer, the stacked area
  charts, the ROI-attention heat map with the words of the stimulus).

Everything here is numpy (and Pillow): the analysis itself (``nforge_app.analysis``) made the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import OutputSpace, get_space
from nforge_app.values import Attribution, Prediction, RoiAttention, time_label
from nforge_app.viz._canvas import check_size, frame_times, pack_rgb
from nforge_app.viz._colors import DIVERGING_DEFAULT, Colormap, _lut_from_anchors, get_colormap
from nforge_app.viz._viewer import pack_payload
from nforge_app.viz.surface import (
    _DATA_DARKEST,
    _LIGHT_LEVELS,
    DEFAULT_VIEWS,
    _mesh,
    _SurfacePainter,
    check_views,
)

MODALITY_CHANNELS = {"text": 0, "audio": 1, "video": 2}
"""The colour channel of each modality in the RGB layer: red text, green audio, blue video."""
CHANNEL_NAMES = ("red", "green", "blue")
RGB_LEGEND = "R text, G audio, B video; brightness = magnitude"
BRIGHTNESS_PERCENTILE = 99.0
"""The magnitude shown at full brightness: this percentile of the explained magnitude over every step."""
MAX_DEFAULT_REGIONS = 8
_BRIGHTNESS = Colormap("brightness", _lut_from_anchors(("#000000", "#ffffff")), False)


def modality_channels(modalities: Sequence[str]) -> list[int]:
    """The colour channel (0 red, 1 green, 2 blue) of each modality: text, audio and video take theirs
    (:data:`MODALITY_CHANNELS`); other names (the flow model's feature streams) take the free ones in order.

    Raises
    ------
    ValueError
        With more than three modalities (three channels).
    """
    if len(modalities) > 3:
        raise ValueError(f"an RGB layer shows at most 3 modalities, got {len(modalities)}: {list(modalities)}")
    taken = {MODALITY_CHANNELS[m] for m in modalities if m in MODALITY_CHANNELS}
    free = iter(c for c in range(3) if c not in taken)
    return [MODALITY_CHANNELS[m] if m in MODALITY_CHANNELS else next(free) for m in modalities]


def modality_rgb(scores: np.ndarray, modalities: Sequence[str], bound: float | None = None
                 ) -> tuple[np.ndarray, float]:
    """Colour each output by the modalities that drive it.

    The hue is the mix: each modality's ``|score|`` goes to its channel (:func:`modality_channels`) and the
    channels are scaled so that the strongest is full; the brightness is the explained magnitude
    ``sum_m |score_m|`` over ``bound`` (clipped to 1). A region driven by text alone is red, by audio and video
    alike cyan, by all three alike white; a weak one is dark.

    Parameters
    ----------
    scores : ndarray (M, ..., V)
        Each modality's part of the prediction (NaN where there is no output: black).
    modalities : sequence of str (M,)
        Their names.
    bound : float, optional
        The magnitude shown at full brightness; by default the :data:`BRIGHTNESS_PERCENTILE` th percentile of
        the finite magnitudes.

    Returns
    -------
    (rgb, bound)
        uint8 (..., V, 3), and the bound used.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if len(scores) != len(modalities):
        raise ValueError(f"scores has {len(scores)} modalities, names {len(modalities)}")
    magnitude = np.nan_to_num(np.abs(scores))
    channels = np.zeros((3, *scores.shape[1:]), dtype=np.float32)
    for m, channel in enumerate(modality_channels(modalities)):
        channels[channel] += magnitude[m]
    total = magnitude.sum(0)
    if bound is None:
        positive = total[total > 0]
        bound = float(np.percentile(positive, BRIGHTNESS_PERCENTILE)) if positive.size else 1.0
    bound = bound if bound > 0 else 1.0
    strongest = channels.max(0)
    scale = np.divide(np.minimum(total / bound, 1.0), strongest, out=np.zeros_like(total), where=strongest > 0)
    rgb = np.rint(np.clip(channels * scale, 0, 1) * 255).astype(np.uint8)
    return np.moveaxis(rgb, 0, -1), bound


def default_regions(prediction: Prediction, space: OutputSpace, n: int = MAX_DEFAULT_REGIONS) -> list[str]:
    """The regions of a prediction with the largest responses (largest ``|mean|`` over time steps), at most
    ``n``, in the order of the space's labels: what the panels show when no region was asked for."""
    names, means = space.roi_time_series(prediction.data, prediction.indices)
    if not names:
        return []
    strength = np.nanmax(np.abs(np.asarray(means, dtype=np.float64)), axis=0)
    keep = np.sort(np.argsort(-strength, kind="stable")[:n])
    return [names[i] for i in keep]


def region_parts(attribution: Attribution, space: OutputSpace, regions: Sequence[str] | None = None
                 ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Each region's response split over the modalities, per time step.

    The region's response is the mean over its outputs, so its parts are the means of the modalities'
    scores (they sum over the modalities to the region's response minus its baseline); the share of modality
    ``m`` is ``|part_m| / sum_k |part_k|`` (0 where nothing is explained).

    Parameters
    ----------
    attribution : Attribution
        Any attribution.
    space : OutputSpace
        Its output space.
    regions : sequence of str, optional
        Regions (names, wildcards, networks); by default every region with a selected output.

    Returns
    -------
    names : tuple of str (R,)
        The regions that have outputs in the attribution, in the order asked.
    parts, shares : ndarray, float32 (R, M, T)

    Raises
    ------
    UserInputError
        When no region asked for has a selected output.
    """
    scores = np.asarray(attribution.scores, dtype=np.float32)
    n_modalities, n_steps, n_outputs = scores.shape
    names, means = space.roi_time_series(scores.reshape(n_modalities * n_steps, n_outputs), attribution.indices,
                                         names=list(regions) if regions else None)
    if not names:
        raise UserInputError("no region of the space has a selected output: nothing to summarise")
    parts = np.asarray(means, dtype=np.float32).reshape(n_modalities, n_steps, len(names)).transpose(2, 0, 1)
    magnitude = np.abs(parts)
    total = magnitude.sum(1, keepdims=True)
    shares = np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)
    return tuple(names), np.ascontiguousarray(parts), np.ascontiguousarray(shares)


class _RgbPainter(_SurfacePainter):
    """A surface painter of per-vertex RGB colours (``frame(rgb)`` with rgb float (20484, 3) in [0, 1])."""

    def colors(self, rgb: np.ndarray) -> np.ndarray:
        (i0, i1, i2), (w0, w1, w2) = self.vertices, self.weights
        at_pixel = rgb[i0] * w0[:, None] + rgb[i1] * w1[:, None] + rgb[i2] * w2[:, None]
        shade = _DATA_DARKEST + (1 - _DATA_DARKEST) * (self.level_rows / 256) / (_LIGHT_LEVELS - 1)
        colors = pack_rgb(np.round(np.clip(at_pixel * (255 * shade[:, None]), 0, 255)).astype(np.uint8))
        brightness = np.nan_to_num(at_pixel.max(axis=1), nan=-1.0)
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
    colours, scale = modality_rgb(scores, attribution.modalities)
    rgb = colours.astype(np.float32) / 255
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


def _attention_part(attention: RoiAttention, words: Sequence) -> tuple[dict, dict]:
    values = np.nan_to_num(np.asarray(attention.attention, dtype=np.float32))
    top = float(np.abs(values).max()) if values.size else 0.0
    scale = top / 127 if top > 0 else 1.0
    quantised = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
    colour_bound = float(np.percentile(np.abs(values), 99.5)) if values.size else 0.0
    meta = {"roi_names": list(attention.roi_names), "times_s": [float(t) for t in attention.times_s],
            "stimulus_times_s": [float(t) for t in attention.stimulus_times_s], "method": attention.method,
            "scale": scale, "bound": colour_bound if colour_bound > 0 else max(top, 1e-9),
            "words": [[float(start), float(end), str(text)] for start, end, text in words]}
    return meta, {"attention": quantised}


def attribution_payload(attribution: Attribution, space: OutputSpace, regions: Sequence[str] = (),
                        attention: RoiAttention | None = None, words: Sequence = ()) -> bytes:
    """Everything the two analysis panels show for one attribution, every time step at once.

    Parameters
    ----------
    attribution : Attribution
        The prediction split over modalities (its ``roi_attention`` is used when ``attention`` is None).
    space : OutputSpace
        Its output space (parcels are painted on their vertices).
    regions : sequence of str
        The regions of the stacked area charts.
    attention : RoiAttention, optional
        The ROI temporal attention shown in the heat map (another selection's, when the attribution has none).
    words : sequence of (start_s, end_s, text)
        The words of the stimulus, on the heat map's stimulus-time axis.

    Returns
    -------
    bytes
        A payload (:func:`~nforge_app.viz.pack_payload`). Arrays: ``rgb`` uint8 (T, 20484, 3) (the layer),
        ``selected`` uint8 (20484,) (1 where the attribution has a value; elsewhere the anatomy shows),
        ``shares`` float32 (R, M, T), and with attention ``attention`` int8 (R', T_out, T_in) (value = byte *
        ``meta["attention"]["scale"]``). ``meta``: modalities and their channels, the method, times, the
        brightness bound, the regions, and ``attention`` (None without it).
    """
    scores = space.to_surface(np.asarray(attribution.scores, dtype=np.float32), attribution.indices)
    rgb, bound = modality_rgb(scores, attribution.modalities)
    selected = np.isfinite(scores[0, 0]).astype(np.uint8)
    names, _, shares = region_parts(attribution, space, regions) if len(regions) else ((), None, np.zeros(
        (0, 0, 0), np.float32))
    attention = attention if attention is not None else attribution.roi_attention
    meta = {"modalities": list(attribution.modalities), "channels": modality_channels(attribution.modalities),
            "method": attribution.method, "model_id": attribution.model_id,
            "n_frames": int(len(attribution.times_s)), "n_vertices": int(scores.shape[-1]),
            "times_s": [float(t) for t in attribution.times_s], "brightness_bound": bound,
            "regions": list(names), "attention": None}
    arrays = {"rgb": rgb, "selected": selected, "shares": shares.astype(np.float32)}
    if attention is not None:
        meta["attention"], more = _attention_part(attention, words)
        meta["attention"]["lut"] = get_colormap(DIVERGING_DEFAULT).lut.ravel().tolist()
        arrays.update(more)
    return pack_payload(meta, arrays)
