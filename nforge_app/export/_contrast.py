"""Exports of a ContrastMap (an in-silico experiment): npz, GIfTI maps, a CSV of regions, a PNG of the map.

The npz holds plain arrays only (it loads with ``allow_pickle=False``):

========================  ====================================================================================
key                       content
========================  ====================================================================================
``effect``                float32 (V,) contrast of the betas (A - B) per selected output
``t``                     float32 (V,) its t statistic (OLS)
``p_corrected``           float64 (V,) permutation p, max-|t| corrected over the outputs (NaN: not testable)
``indices``               int64 (V,) which outputs of the space the values belong to
``n_a``, ``n_b``          int64 scalars, events (blocks) weighed positively and negatively by the contrast
``n_permutations``        int64 scalar, relabellings the p values come from (the true one included)
``design``                str scalar, JSON ``{"onsets": [...], "durations": [...], "labels": [...]}``
``design_onsets``         float64 (N,) the same design as arrays (seconds on the stimulus timeline) ...
``design_durations``      float64 (N,)
``design_labels``         str (N,)
``contrast``              str scalar, as nilearn writes it
``space``, ``model_id``,  str scalars
``subject``
``conditions``, ``betas`` str (C,) and float32 (C, V): the beta of each condition
``exhaustive``            bool scalar, all distinct relabellings (else random ones)
``smallest_p``            float64 scalar, the smallest p the relabellings can give
``design_matrix``         float64 (T, K) nilearn's design matrix, with ``design_columns`` str (K,) and
                          ``frame_times_s`` float64 (T,) (the BOLD time of each row)
``regions``               str (R,) and ``region_effect``, ``region_t``, ``region_p_corrected`` (R,)
``metadata_json``         str scalar, JSON: HRF, time axis, noise model, permutations, stimulus
========================  ====================================================================================
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.checks import check_in
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export._npz import _jsonable, open_npz, write_arrays
from nforge_app.export._tables import save_gifti
from nforge_app.spaces import get_space
from nforge_app.values import ContrastMap, Events, Prediction
from nforge_app.viz import (
    PICTURES,
    VIEWER_COLORMAPS,
    plot_glass_brain,
    render_surface,
    value_stats,
    viewer_limits,
)

CONTRAST_NPZ_KEYS = ("effect", "t", "p_corrected", "indices", "n_a", "n_b", "n_permutations", "design")
MAP_VALUES = ("effect", "t")
MAP_UNITS = {"effect": "effect (contrast of the betas)", "t": "t statistic"}
_WHAT_IT_IS = "an NForge contrast is the .npz file that `nforge contrast`, `nforge glm` or the page's Compare tab writes"


def save_contrast_npz(result: ContrastMap, path: str | os.PathLike) -> str:
    """Write ``result`` to ``path`` (atomically, no pickles; see the module docstring) and return the path."""
    design = result.design
    arrays = {
        "effect": np.asarray(result.effect, dtype=np.float32), "t": np.asarray(result.t, dtype=np.float32),
        "p_corrected": np.asarray(result.p_corrected, dtype=np.float64),
        "indices": np.asarray(result.indices, dtype=np.int64), "n_a": np.int64(result.n_a),
        "n_b": np.int64(result.n_b), "n_permutations": np.int64(result.n_permutations),
        "design": np.str_(json.dumps(design.as_dict())),
        "design_onsets": np.asarray(design.onsets_s, dtype=np.float64),
        "design_durations": np.asarray(design.durations_s, dtype=np.float64),
        "design_labels": np.asarray(design.trial_types, dtype=np.str_),
        "contrast": np.str_(result.contrast), "space": np.str_(result.space_id), "model_id": np.str_(result.model_id),
        "subject": np.str_(result.subject), "conditions": np.asarray(result.conditions, dtype=np.str_),
        "betas": np.asarray(result.betas, dtype=np.float32), "exhaustive": np.bool_(result.exhaustive),
        "smallest_p": np.float64(result.smallest_p), "design_matrix": np.asarray(result.design_matrix, np.float64),
        "design_columns": np.asarray(result.design_columns, dtype=np.str_),
        "frame_times_s": np.asarray(result.frame_times_s, dtype=np.float64),
        "regions": np.asarray(result.regions, dtype=np.str_),
        "region_effect": np.asarray(result.region_effect, np.float32),
        "region_t": np.asarray(result.region_t, np.float32),
        "region_p_corrected": np.asarray(result.region_p_corrected, np.float64),
        "metadata_json": np.str_(json.dumps(result.metadata, default=_jsonable, sort_keys=True)),
    }
    if design.modulation is not None:
        arrays["design_modulation"] = np.asarray(design.modulation, dtype=np.float64)
    return write_arrays(arrays, path)


def load_contrast_npz(path: str | os.PathLike) -> ContrastMap:
    """Read a ContrastMap written by :func:`save_contrast_npz` (no pickles are read).

    Raises
    ------
    UserInputError
        When the file is missing, not an npz, or not a contrast.
    """
    with open_npz(path, (*CONTRAST_NPZ_KEYS, "metadata_json", "betas", "contrast", "design_onsets"),
                  "NForge contrast", _WHAT_IT_IS) as npz:
        design = Events(npz["design_onsets"], npz["design_durations"], tuple(npz["design_labels"].tolist()),
                        npz["design_modulation"] if "design_modulation" in npz.files else None)
        return ContrastMap(
            contrast=str(npz["contrast"]), effect=npz["effect"], t=npz["t"], p_corrected=npz["p_corrected"],
            indices=npz["indices"], space_id=str(npz["space"]), model_id=str(npz["model_id"]),
            subject=str(npz["subject"]), conditions=tuple(npz["conditions"].tolist()), betas=npz["betas"],
            n_a=int(npz["n_a"]), n_b=int(npz["n_b"]), n_permutations=int(npz["n_permutations"]),
            exhaustive=bool(npz["exhaustive"]), smallest_p=float(npz["smallest_p"]), design=design,
            design_matrix=npz["design_matrix"], design_columns=tuple(npz["design_columns"].tolist()),
            frame_times_s=npz["frame_times_s"], regions=tuple(npz["regions"].tolist()),
            region_effect=npz["region_effect"], region_t=npz["region_t"],
            region_p_corrected=npz["region_p_corrected"], metadata=json.loads(str(npz["metadata_json"])))


def map_prediction(result: ContrastMap, values: str = "effect", keep: np.ndarray | None = None) -> Prediction:
    """One map of a contrast as a one-row :class:`Prediction`, for the viewers and the prediction exports.

    Parameters
    ----------
    result : ContrastMap
    values : str
        ``"effect"`` or ``"t"``.
    keep : ndarray of bool (V,), optional
        The outputs to show (those passing a threshold, see ``ContrastMap.passing``); all by default.
    """
    check_in("map", values, MAP_VALUES)
    keep = np.ones(len(result.indices), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    data = np.asarray(getattr(result, values), dtype=np.float32)[keep][None, :]
    return Prediction(data=data, times_s=np.zeros(1), tr_s=1.0, space_id=result.space_id,
                      indices=np.asarray(result.indices)[keep], model_id=result.model_id, subject=result.subject,
                      hrf_offset_s=0.0, time_axis="bold",
                      metadata={"map": values, "contrast": result.contrast, "unit": MAP_UNITS[values],
                                "baseline": bool(result.metadata.get("baseline", False))})


def save_contrast_gifti(result: ContrastMap, stem: str | os.PathLike, settings: Settings | None = None) -> list[Path]:
    """GIfTI func files of the effect and t maps: ``<stem>.effect_hemi-L.func.gii`` ... (unselected outputs NaN)."""
    return [path for values in MAP_VALUES
            for path in save_gifti(map_prediction(result, values), f"{os.fspath(stem)}.{values}", settings=settings)]


def save_region_csv(result: ContrastMap, path: str | os.PathLike) -> Path:
    """The region table as CSV: ``region, effect, t, p_corrected`` (smallest p first, then largest effect)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["region", "effect", "t", "p_corrected"])
            for region, effect, t, p in result.region_rows():
                writer.writerow([region, f"{effect:.6g}", f"{t:.6g}", f"{p:.6g}"])
    return path


def save_contrast_png(result: ContrastMap, path: str | os.PathLike, values: str = "effect",
                      keep: np.ndarray | None = None, picture: str = "surface", title: str | None = None,
                      size_px: int = 360, settings: Settings | None = None) -> Path:
    """A picture of one map, coloured as the page's viewer colours it; outputs not in ``keep`` show the anatomy.

    Parameters
    ----------
    result : ContrastMap
    path : str or PathLike
        The ``.png`` file (written atomically).
    values : str
        ``"effect"`` or ``"t"``.
    keep : ndarray of bool (V,), optional
        The outputs to draw (those passing a threshold); all by default.
    picture : str
        ``"surface"`` (four views of the inflated surface) or ``"glass"`` (a glass brain, four views).
    title : str, optional
        By default the contrast and the map.
    size_px : int
        Size of each view.
    settings : Settings, optional
        Where the atlases are.
    """
    check_in("picture", picture, PICTURES)
    single = map_prediction(result, values, keep)
    space = get_space(result.space_id, settings)
    if picture == "surface":
        full = space.to_surface(single.data, single.indices)[0]
    else:
        full = np.full(space.n_outputs, np.nan, dtype=np.float32)
        full[single.indices] = single.data[0]
    if not np.isfinite(full).any():
        raise UserInputError("no output passes the threshold: there is nothing to draw")
    vmin, vmax, _ = viewer_limits(value_stats(full), "symmetric", 0.0)
    draw = render_surface if picture == "surface" else plot_glass_brain
    image = draw(full, vmin=vmin, vmax=vmax, cmap=VIEWER_COLORMAPS["symmetric"], size_px=size_px,
                 title=title or f"{result.contrast} · {result.model_id}", unit=single.metadata["unit"])
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path
