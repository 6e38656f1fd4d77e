"""The npz format of an Evaluation: plain arrays only, so it loads with ``allow_pickle=False``.

==================  ==========================================================================
key                 content
==================  ==========================================================================
``kind``            str scalar ``"nforge-evaluation"`` (what ``nforge info`` looks for)
``r``               float64 (V,) Pearson r per output, in the order of ``indices`` (NaN: undefined)
``indices``         int64 (V,) which outputs of the space (the prediction's)
``mean_r``          float64 scalar, mean of the finite r
``median_r``        float64 scalar
``lag_s``           float64 scalar, shift applied to the prediction (positive: measured later)
``n_timepoints``    int64 scalar, measured time points compared
``space``           str scalar
``alignment``       str scalar, the time alignment in words
``roi_names``       str (R,), ``roi_r`` float64 (R,), ``roi_n`` int64 (R,): mean r per region
``noise_ceiling``   float64 (V,), only with repeated runs (with ``mean_noise_ceiling``)
``lag_curve``       float64 (L, 2) lag (s) and mean r, only after a lag search
``metadata_json``   str scalar, JSON: model, subject, TRs, sources, runs
==================  ==========================================================================
"""

from __future__ import annotations

import json
import os

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.export._npz import npz_kind, open_npz
from nforge_app.values import Evaluation

KIND = "nforge-evaluation"
_WHAT_IT_IS = "an NForge evaluation is the .npz file that `nforge evaluate --out` writes"
EVALUATION_KEYS = ("kind", "r", "indices", "mean_r", "median_r", "lag_s", "n_timepoints", "space", "alignment",
                   "roi_names", "roi_r", "roi_n", "metadata_json")


def save_evaluation(evaluation: Evaluation, path: str | os.PathLike) -> str:
    """Write ``evaluation`` to ``path`` (atomically, ``.npz``) and return the path."""
    arrays = {
        "kind": np.str_(KIND), "r": np.asarray(evaluation.r, dtype=np.float64),
        "indices": np.asarray(evaluation.indices, dtype=np.int64), "mean_r": np.float64(evaluation.mean_r),
        "median_r": np.float64(evaluation.median_r), "lag_s": np.float64(evaluation.lag_s),
        "n_timepoints": np.int64(evaluation.n_timepoints), "space": np.str_(evaluation.space_id),
        "alignment": np.str_(evaluation.alignment), "roi_names": np.array(evaluation.roi_names, dtype=np.str_),
        "roi_r": np.asarray(evaluation.roi_r, dtype=np.float64), "roi_n": np.asarray(evaluation.roi_n, np.int64),
        "metadata_json": np.str_(json.dumps(evaluation.metadata, sort_keys=True, default=str)),
    }
    if evaluation.noise_ceiling is not None:
        arrays["noise_ceiling"] = np.asarray(evaluation.noise_ceiling, dtype=np.float64)
        arrays["mean_noise_ceiling"] = np.float64(evaluation.mean_noise_ceiling)
    if evaluation.lag_curve is not None:
        arrays["lag_curve"] = np.asarray(evaluation.lag_curve, dtype=np.float64)
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return os.fspath(path)


def is_evaluation_npz(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an npz written by :func:`save_evaluation` (False for anything else)."""
    return npz_kind(path) == KIND


def load_evaluation(path: str | os.PathLike) -> Evaluation:
    """Read an Evaluation written by :func:`save_evaluation` (no pickles are read).

    Raises
    ------
    UserInputError
        When the file is missing, not an npz, or not an evaluation.
    """
    with open_npz(path, EVALUATION_KEYS, "NForge evaluation", _WHAT_IT_IS) as npz:
        return Evaluation(
            r=npz["r"], indices=npz["indices"], space_id=str(npz["space"]), n_timepoints=int(npz["n_timepoints"]),
            lag_s=float(npz["lag_s"]), alignment=str(npz["alignment"]),
            roi_names=tuple(str(name) for name in npz["roi_names"]), roi_r=npz["roi_r"], roi_n=npz["roi_n"],
            noise_ceiling=npz["noise_ceiling"] if "noise_ceiling" in npz.files else None,
            lag_curve=npz["lag_curve"] if "lag_curve" in npz.files else None,
            metadata=json.loads(str(npz["metadata_json"])),
        )
