"""A prediction's pictures, one per time step, coloured as the web viewer colours them.

Every face exports the same pictures (``nforge_app.export.export_prediction`` turns them into GIF and
MP4): the viewer's colour scales and threshold (:func:`~nforge_app.viz.viewer_limits`), a title naming the
stimulus and the model, the unit of the values along the colour bar, and the prediction's own time axis
(stimulus or BOLD time) under the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

import numpy as np
from PIL import Image

from nforge_app.checks import check_in, check_range
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import SURFACES, get_space
from nforge_app.values import Prediction
from nforge_app.viz._canvas import check_size
from nforge_app.viz._viewer import VIEWER_COLORMAPS, value_stats, value_unit, viewer_limits
from nforge_app.viz.glass import check_glass_views, glass_brain_frames
from nforge_app.viz.surface import DEFAULT_VIEWS, check_views, surface_frames

PICTURES = ("surface", "glass")
DEFAULT_GLASS_VIEWS = "lyrz"
def stimulus_name(prediction: Prediction) -> str:
    """A short name for what was predicted: the stimulus file's stem (``"per-TR text"`` for text lines)."""
    stimulus = prediction.metadata.get("stimulus")
    source = stimulus.get("source") if isinstance(stimulus, dict) else None
    if not source:
        return "prediction"
    if str(source).startswith("<"):  # "<per-TR text>": no file
        return str(source).strip("<>")
    return PurePath(str(source)).stem


def picture_title(prediction: Prediction, name: str | None = None) -> str:
    """``"<name> · <model>"``, with ``(baseline)`` for a model not trained on fMRI."""
    baseline = " (baseline)" if prediction.metadata.get("baseline") else ""
    return f"{name or stimulus_name(prediction)} · {prediction.model_id}{baseline}"


def picture_options(picture: str = "surface", views: str | Sequence[str] | None = None, surface: str = "inflated",
                    color_scale: str = "symmetric", threshold_pct: float = 20.0, size_px: int = 400) -> dict:
    """The picture options of :func:`prediction_frames`, checked and completed (views by default, numbers).

    Raises
    ------
    UserInputError
        Any option outside what it accepts, with the accepted values.
    """
    check_in("picture", picture, PICTURES)
    if picture == "surface":
        views = check_views(views or DEFAULT_VIEWS)
        check_in("surface", surface, SURFACES)
    else:
        views = check_glass_views(views or DEFAULT_GLASS_VIEWS)
    check_in("colour scale", color_scale, tuple(VIEWER_COLORMAPS))
    return {"picture": picture, "views": views, "surface": surface, "color_scale": color_scale,
            "threshold_pct": check_range("threshold (% of the robust maximum)", threshold_pct, 0, 100),
            "size_px": check_size(size_px)}


def prediction_frames(prediction: Prediction, *, picture: str = "surface", views: str | Sequence[str] | None = None,
                      surface: str = "inflated", color_scale: str = "symmetric", threshold_pct: float = 20.0,
                      size_px: int = 400, title: str | None = None,
                      settings: Settings | None = None) -> list[Image.Image]:
    """One picture per time step of a prediction, as the viewer colours it.

    Parameters
    ----------
    prediction : Prediction
        Any prediction (surface or parcels, any selection; outputs not selected show the bare anatomy).
    picture : str
        ``"surface"`` (fsaverage5 views; parcels are painted on their vertices) or ``"glass"`` (discs at
        the parcel centroids, or the selected vertices where they lie).
    views : str or sequence of str, optional
        Surface views (names from ``SURFACE_VIEWS``, or ``lateral`` / ``medial``; four by default) or glass
        brain view letters (``"lyrz"`` by default).
    surface : str
        ``"pial"``, ``"half-inflated"`` or ``"inflated"`` (surface pictures).
    color_scale : str
        ``"symmetric"`` (around 0) or ``"one-sided"`` (positive values), as in the viewer.
    threshold_pct : float
        Values below this percentage of the robust maximum show the anatomy, as in the viewer.
    size_px : int
        Size of each view.
    title : str, optional
        Text at the top left; by default the stimulus and the model (:func:`picture_title`).
    settings : Settings, optional
        Where the atlases are (read from the environment when omitted).

    Returns
    -------
    list of PIL.Image.Image
        RGB frames of equal size, with a colour bar in the prediction's unit (:func:`value_unit`) and a
        time axis named by ``prediction.time_label``.
    """
    options = picture_options(picture, views, surface, color_scale, threshold_pct, size_px)
    space = get_space(prediction.space_id, settings)
    if picture == "surface":
        full = space.to_surface(prediction.data, prediction.indices)
    else:  # parcels at their centroids, or surface vertices where they lie
        full = np.full((len(prediction.data), space.n_outputs), np.nan, dtype=np.float32)
        full[:, prediction.indices] = prediction.data
    if not np.isfinite(full).any():
        raise UserInputError("the prediction holds no finite value to draw")
    vmin, vmax, threshold = viewer_limits(value_stats(full), color_scale, options["threshold_pct"])
    common = {"times_s": prediction.times_s, "time_label": prediction.time_label, "unit": value_unit(prediction),
              "title": title or picture_title(prediction), "cmap": VIEWER_COLORMAPS[color_scale], "vmin": vmin,
              "vmax": vmax, "threshold": threshold or None, "size_px": options["size_px"],
              "views": options["views"]}
    if picture == "surface":
        return surface_frames(full, surface=surface, **common)
    return glass_brain_frames(full, **common)
