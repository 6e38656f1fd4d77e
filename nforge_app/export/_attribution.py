"""The npz format of an Attribution (``nforge attribute --out``): plain arrays only (``allow_pickle=False``).

======================  =======================================================================================
key                     content
======================  =======================================================================================
``kind``                str scalar ``"nforge-attribution"`` (what ``nforge info`` looks for)
``modalities``          str (M,) the modalities (or streams) the prediction is split over
``scores``              float32 (M, T, V) each modality's part, in the prediction's units
``baseline``            float32 (T, V) the all-absent prediction: ``scores.sum(0) + baseline`` is the prediction
``times_s``             float64 (T,) time of each row, on the axis ``time_axis``
``indices``             int64 (V,) which outputs of the space the columns are
``method``              str scalar, ``shapley``, ``integrated-gradients`` or ``ablation``
``tr_s``, ``hrf_offset_s``, ``completeness_error``: float64 scalars
``model_id``, ``space``, ``subject``, ``time_axis``: str scalars
``metadata_json``       str scalar, JSON: what absent means, steps, exactness, stimulus
``roi_names``           str (R,), only with ROI temporal attention, as the next keys
``attention``           float32 (R, T_out, T_in) share of each region's response from each stimulus moment
``stimulus_times_s``    float64 (T_in,) start of each stimulus moment
``attention_times_s``   float64 (T_out,) output times of ``attention``
``attention_method``    str scalar, how it was computed, in words
``attention_modalities``, ``attention_by_modality`` (R, M, T_out, T_in), ``attention_rollout`` (T_out, T_in):
                        only where computed
``attention_metadata_json``  str scalar, JSON
======================  =======================================================================================

A single-modality model's ROI temporal attention alone (``nforge attribute --model text2fmri --roi ...``) is
written by :func:`save_roi_attention` with ``kind`` ``"nforge-roi-attention"``, the attention keys above and
``method`` (the attention's method, in words).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.checks import check_all_in
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export._media import write_gif
from nforge_app.export._npz import _jsonable, npz_kind, open_npz, write_arrays
from nforge_app.values import Attribution, RoiAttention
from nforge_app.viz import attribution_frames, roi_modality_scores

KIND = "nforge-attribution"
ATTRIBUTION_KEYS = ("kind", "modalities", "scores", "baseline", "times_s", "indices", "method", "tr_s", "hrf_offset_s",
                    "completeness_error", "model_id", "space", "subject", "time_axis", "metadata_json")
_WHAT_IT_IS = "an NForge attribution is the .npz file that `nforge attribute --out` writes"


def _json(value: dict) -> np.str_:
    return np.str_(json.dumps(value, default=_jsonable, sort_keys=True))


def save_attribution(attribution: Attribution, path: str | os.PathLike) -> str:
    """Write ``attribution`` (and its ROI temporal attention, if any) to ``path`` atomically; return the path.

    Parameters
    ----------
    attribution : Attribution
        What to save.
    path : str or PathLike
        Target file (``.npz``).

    Returns
    -------
    str
        The path written.
    """
    a = attribution
    arrays = {
        "kind": np.str_(KIND), "modalities": np.array(a.modalities, dtype=np.str_),
        "scores": np.asarray(a.scores, dtype=np.float32), "baseline": np.asarray(a.baseline, dtype=np.float32),
        "times_s": np.asarray(a.times_s, dtype=np.float64), "indices": np.asarray(a.indices, dtype=np.int64),
        "method": np.str_(a.method), "tr_s": np.float64(a.tr_s), "hrf_offset_s": np.float64(a.hrf_offset_s),
        "completeness_error": np.float64(a.completeness_error), "model_id": np.str_(a.model_id),
        "space": np.str_(a.space_id), "subject": np.str_(a.subject), "time_axis": np.str_(a.time_axis),
        "metadata_json": _json(a.metadata),
    }
    if a.roi_attention is not None:
        arrays.update(_attention_arrays(a.roi_attention))
    return write_arrays(arrays, path)


def _attention_arrays(attention: RoiAttention) -> dict[str, np.ndarray]:
    """The npz arrays of a RoiAttention (the ``roi_names`` ... ``attention_metadata_json`` keys)."""
    arrays = {
        "roi_names": np.array(attention.roi_names, dtype=np.str_),
        "attention": np.asarray(attention.attention, dtype=np.float32),
        "stimulus_times_s": np.asarray(attention.stimulus_times_s, dtype=np.float64),
        "attention_times_s": np.asarray(attention.times_s, dtype=np.float64),
        "attention_method": np.str_(attention.method),
        "attention_modalities": np.array(attention.modalities, dtype=np.str_),
        "attention_metadata_json": _json(attention.metadata),
    }
    if attention.by_modality is not None:
        arrays["attention_by_modality"] = np.asarray(attention.by_modality, dtype=np.float32)
    if attention.rollout is not None:
        arrays["attention_rollout"] = np.asarray(attention.rollout, dtype=np.float32)
    return arrays


def _read_attention(npz) -> RoiAttention:
    """The RoiAttention stored by :func:`_attention_arrays` in an open npz."""
    return RoiAttention(
        roi_names=tuple(str(n) for n in npz["roi_names"]), attention=npz["attention"],
        times_s=npz["attention_times_s"], stimulus_times_s=npz["stimulus_times_s"],
        method=str(npz["attention_method"]),
        modalities=tuple(str(m) for m in npz["attention_modalities"]),
        by_modality=npz["attention_by_modality"] if "attention_by_modality" in npz.files else None,
        rollout=npz["attention_rollout"] if "attention_rollout" in npz.files else None,
        metadata=json.loads(str(npz["attention_metadata_json"])))


ROI_ATTENTION_KIND = "nforge-roi-attention"
ROI_ATTENTION_KEYS = ("kind", "roi_names", "attention", "stimulus_times_s", "attention_times_s", "attention_method",
                      "attention_modalities", "attention_metadata_json", "method")
_WHAT_ATTENTION_IS = ("an NForge ROI attention is the .npz file that `nforge attribute --roi ... --out` writes for a "
                      "single-modality model (Text2fMRI)")


def save_roi_attention(attention: RoiAttention, path: str | os.PathLike) -> str:
    """Write a RoiAttention on its own (a single-modality model's, with nothing to split over modalities) to
    ``path`` atomically; return the path.

    The keys are those of the attention in an attribution npz (``roi_names``, ``attention`` (R, T_out, T_in),
    ``stimulus_times_s``, ``attention_times_s``, ``attention_method`` ...), with ``kind`` =
    ``"nforge-roi-attention"`` and ``method`` (the same words as ``attention_method``).
    """
    arrays = {"kind": np.str_(ROI_ATTENTION_KIND), "method": np.str_(attention.method),
              **_attention_arrays(attention)}
    return write_arrays(arrays, path)


def is_roi_attention_npz(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an npz written by :func:`save_roi_attention` (False for anything else)."""
    return npz_kind(path) == ROI_ATTENTION_KIND


def load_roi_attention(path: str | os.PathLike) -> RoiAttention:
    """Read a RoiAttention written by :func:`save_roi_attention` (no pickles are read).

    Raises
    ------
    UserInputError
        When the file is missing, not an npz, or not an ROI attention, in words that say so.
    """
    with open_npz(path, ROI_ATTENTION_KEYS, "NForge ROI attention", _WHAT_ATTENTION_IS) as npz:
        return _read_attention(npz)


def is_attribution_npz(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an npz written by :func:`save_attribution` (False for anything else)."""
    return npz_kind(path) == KIND


def load_attribution(path: str | os.PathLike) -> Attribution:
    """Read an Attribution written by :func:`save_attribution` (no pickles are read).

    Raises
    ------
    UserInputError
        When the file is missing, not an npz, or not an attribution, in words that say so.
    """
    with open_npz(path, ATTRIBUTION_KEYS, "NForge attribution", _WHAT_IT_IS) as npz:
        attention = _read_attention(npz) if "roi_names" in npz.files else None
        return Attribution(
            modalities=tuple(str(m) for m in npz["modalities"]), scores=npz["scores"], baseline=npz["baseline"],
            times_s=npz["times_s"], tr_s=float(npz["tr_s"]), indices=npz["indices"], space_id=str(npz["space"]),
            method=str(npz["method"]), model_id=str(npz["model_id"]), subject=str(npz["subject"]),
            hrf_offset_s=float(npz["hrf_offset_s"]), time_axis=str(npz["time_axis"]),
            completeness_error=float(npz["completeness_error"]), roi_attention=attention,
            metadata=json.loads(str(npz["metadata_json"])))


ATTRIBUTION_EXPORT_FORMATS = ("npz", "png", "gif", "csv")
ATTRIBUTION_SUFFIXES = {"npz": ".npz", "png": ".png", "gif": ".gif", "csv": ".csv"}


def save_attribution_csv(attribution: Attribution, path: str | os.PathLike, names=None,
                         settings: Settings | None = None) -> Path:
    """Write each region's modality parts over time as CSV (one row per time step and region).

    Columns: ``time_s``, ``region``, then per modality ``share_<m>`` (its share of the region's explained
    magnitude, 0 to 1) and ``score_<m>`` (its part of the region's mean response, in the prediction's units).
    Regions: ``names``, else those of the ROI temporal attention, else every region with a selected output.
    """
    regions, scores, shares = roi_modality_scores(attribution, names, settings)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time_s", "region", *(f"share_{m}" for m in attribution.modalities),
                             *(f"score_{m}" for m in attribution.modalities)])
            for t, time_s in enumerate(attribution.times_s):
                for r, region in enumerate(regions):
                    writer.writerow([f"{float(time_s):g}", region, *(f"{float(v):.4f}" for v in shares[:, t, r]),
                                     *(f"{float(v):.6g}" for v in scores[:, t, r])])
    return path


def export_attribution(attribution: Attribution, formats: Sequence[str], out_base: str | os.PathLike, *,
                       views: str | Sequence[str] | None = None, surface: str = "inflated", size_px: int = 400,
                       threshold_pct: float = 10.0, title: str | None = None, roi: Sequence[str] | None = None,
                       settings: Settings | None = None) -> tuple[list[Path], list[str]]:
    """Write an attribution in the chosen formats: npz, PNG (the RGB map of the whole run), GIF (one RGB
    frame per time step), CSV (each region's modality shares over time).

    Parameters
    ----------
    attribution : Attribution
        What to export.
    formats : sequence of str
        Any of :data:`ATTRIBUTION_EXPORT_FORMATS`.
    out_base : str or PathLike
        Path without suffix (``<out_base>.png``...); its folder is made when missing.
    views, surface, size_px, threshold_pct, title :
        As in :func:`nforge_app.viz.attribution_frames`.
    roi : sequence of str, optional
        Regions of the CSV.
    settings : Settings, optional
        Where the atlases are.

    Returns
    -------
    (files, notes) : (list of Path, list of str)
        The files written, and one sentence per format that could not be written.
    """
    formats = check_all_in("export formats", formats, ATTRIBUTION_EXPORT_FORMATS)
    base = Path(out_base)
    base.parent.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    notes: list[str] = []
    for fmt in formats:
        path = base.with_name(base.name + ATTRIBUTION_SUFFIXES[fmt])
        try:
            if fmt == "npz":
                files.append(Path(save_attribution(attribution, path)))
            elif fmt == "csv":
                files.append(save_attribution_csv(attribution, path, names=list(roi or ()) or None,
                                                  settings=settings))
            else:
                frames = attribution_frames(attribution, views=views, surface=surface, size_px=size_px,
                                            threshold_pct=threshold_pct, title=title, over_time=fmt == "gif",
                                            settings=settings)
                if fmt == "gif":
                    files.append(write_gif(frames, path, attribution.tr_s))
                else:
                    with atomic_path(path, suffix=".png") as tmp:
                        frames[0].save(tmp, format="PNG")
                    files.append(path)
        except UserInputError as error:
            if len(formats) == 1:
                raise
            notes.append(f"{fmt}: {error}")
    return files, notes
