"""What the page's two analysis panels download: one payload per explanation (see :func:`attribution_payload`).

* The modality-attribution layer of the viewer: every vertex coloured as :func:`~nforge_app.viz.attribution_rgb`
  colours it (R text, G audio, B video; the mix is the hue, the magnitude the brightness), every time step.
* Each region's modality shares over time (:func:`~nforge_app.viz.roi_modality_scores`), for the stacked area
  charts.
* The ROI temporal attention (region x output time x stimulus time) with the words of the stimulus, for the
  heat map.

Everything here is numpy: the analysis (``nforge_app.analysis``) made the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nforge_app.config import Settings
from nforge_app.spaces import OutputSpace
from nforge_app.values import Attribution, Prediction, RoiAttention
from nforge_app.viz._attribution import RGB_MODALITIES, attribution_rgb, roi_modality_scores
from nforge_app.viz._colors import DIVERGING_DEFAULT, get_colormap
from nforge_app.viz._viewer import pack_payload

MAX_DEFAULT_REGIONS = 8
"""How many regions the panels show when none were asked for."""
HEAT_PERCENTILE = 99.5
"""The heat map's colours span +- this percentile of ``|attention|``."""


def default_regions(prediction: Prediction, space: OutputSpace, n: int = MAX_DEFAULT_REGIONS) -> list[str]:
    """The regions of a prediction with the largest responses (largest ``|mean|`` over time steps), at most
    ``n``, in the order of the space's labels: what the panels show when no region was asked for."""
    names, means = space.roi_time_series(prediction.data, prediction.indices)
    if not names:
        return []
    strength = np.nanmax(np.abs(np.asarray(means, dtype=np.float64)), axis=0)
    keep = np.sort(np.argsort(-strength, kind="stable")[:n])
    return [names[i] for i in keep]


def _attention_part(attention: RoiAttention, words: Sequence) -> tuple[dict, dict]:
    """The heat map's facts and its int8 array (value = byte * scale)."""
    values = np.nan_to_num(np.asarray(attention.attention, dtype=np.float32))
    top = float(np.abs(values).max()) if values.size else 0.0
    scale = top / 127 if top > 0 else 1.0
    quantised = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
    bound = float(np.percentile(np.abs(values), HEAT_PERCENTILE)) if values.size else 0.0
    meta = {"roi_names": list(attention.roi_names), "times_s": [float(t) for t in attention.times_s],
            "stimulus_times_s": [float(t) for t in attention.stimulus_times_s], "method": attention.method,
            "scale": scale, "bound": bound if bound > 0 else max(top, 1e-9),
            "words": [[float(start), float(end), str(text)] for start, end, text in words],
            "lut": get_colormap(DIVERGING_DEFAULT).lut.ravel().tolist()}
    return meta, {"attention": quantised}


def attribution_payload(attribution: Attribution, space: OutputSpace, regions: Sequence[str] = (),
                        attention: RoiAttention | None = None, words: Sequence = (),
                        settings: Settings | None = None) -> bytes:
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
        The ROI temporal attention of the heat map (another selection's, when the attribution has none).
    words : sequence of (start_s, end_s, text)
        The words of the stimulus, on the heat map's stimulus-time axis.
    settings : Settings, optional
        Where the atlases are.

    Returns
    -------
    bytes
        A payload (:func:`~nforge_app.viz.pack_payload`). Arrays: ``rgb`` uint8 (T, 20484, 3) (the layer),
        ``selected`` uint8 (20484,) (1 where the attribution has a value; elsewhere the anatomy shows),
        ``shares`` float32 (R, M, T), and with attention ``attention`` int8 (R', T_out, T_in) (value = byte *
        ``meta["attention"]["scale"]``). ``meta``: modalities and their channels (0 red, 1 green, 2 blue, -1
        not drawn), the method, times, the brightness scale, the regions, and ``attention`` (None without it).
    """
    rgb, scale = attribution_rgb(attribution.scores, attribution.modalities)
    on_surface = space.to_surface(np.moveaxis(rgb, -1, 1), attribution.indices)  # (T, 3, 20484)
    selected = np.isfinite(on_surface[0, 0]).astype(np.uint8)
    layer = np.rint(np.nan_to_num(np.moveaxis(on_surface, 1, -1)) * 255).astype(np.uint8)
    names, shares = (), np.zeros((0, len(attribution.modalities), len(attribution.times_s)), np.float32)
    if len(regions):
        names, _, parts = roi_modality_scores(attribution, list(regions), settings)
        shares = np.ascontiguousarray(np.transpose(parts, (2, 0, 1)), dtype=np.float32)  # (R, M, T)
    attention = attention if attention is not None else attribution.roi_attention
    meta = {"modalities": list(attribution.modalities),
            "channels": [RGB_MODALITIES.index(m) if m in RGB_MODALITIES else -1 for m in attribution.modalities],
            "rgb_modalities": list(RGB_MODALITIES), "method": attribution.method, "model_id": attribution.model_id,
            "n_frames": int(len(attribution.times_s)), "n_vertices": int(layer.shape[1]),
            "times_s": [float(t) for t in attribution.times_s], "brightness_bound": scale,
            "regions": list(names), "attention": None}
    arrays = {"rgb": layer, "selected": selected, "shares": shares}
    if attention is not None:
        meta["attention"], more = _attention_part(attention, words)
        arrays.update(more)
    return pack_payload(meta, arrays)


def attention_payload(attention: RoiAttention, model_id: str, words: Sequence = ()) -> bytes:
    """The analysis panels' payload of an ROI temporal attention alone (a single-modality model such as
    Text2fMRI: nothing to split over modalities, so no layer and no charts).

    Parameters
    ----------
    attention : RoiAttention
        The heat map's attention.
    model_id : str
        The model explained.
    words : sequence of (start_s, end_s, text)
        The words of the stimulus, on the heat map's stimulus-time axis.

    Returns
    -------
    bytes
        A payload with the keys of :func:`attribution_payload`'s ``meta`` (no modalities, no regions, no layer)
        and the ``attention`` array.
    """
    meta = {"modalities": [], "channels": [], "rgb_modalities": list(RGB_MODALITIES), "method": attention.method,
            "model_id": model_id, "n_frames": int(len(attention.times_s)), "n_vertices": 0,
            "times_s": [float(t) for t in attention.times_s], "brightness_bound": 0.0, "regions": []}
    meta["attention"], arrays = _attention_part(attention, words)
    return pack_payload(meta, arrays)
