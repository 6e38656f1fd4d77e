"""Exports of a Prediction for other tools: GIfTI func files per hemisphere, a CSV of ROI means, JSON metadata.

* :func:`save_gifti`: ``<stem>_hemi-L.func.gii`` and ``<stem>_hemi-R.func.gii``, one float32 data array
  per time step (intent ``NIFTI_INTENT_TIME_SERIES``), the TR in ms as ``TimeStep``; vertices outside the
  selection are NaN. Workbench, FreeSurfer and nilearn read them.
* :func:`save_roi_csv`: one row per time step, a ``time_s`` column then one column per region.
* :func:`save_metadata_json`: the prediction's metadata with what its axes mean.

Every file is written atomically (a failure leaves no partial file).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export._npz import _jsonable
from nforge_app.spaces import OutputSpace, get_space
from nforge_app.values import Prediction
from nforge_app.viz import value_unit

# GIfTI names each hemisphere's structure (Connectome Workbench reads these).
_STRUCTURES = {"L": "CortexLeft", "R": "CortexRight"}


def _space(prediction: Prediction, space: OutputSpace | None, settings: Settings | None) -> OutputSpace:
    space = space if space is not None else get_space(prediction.space_id, settings)
    if space.space_id != prediction.space_id:
        raise UserInputError(f"the prediction is in {prediction.space_id} but the space given is {space.space_id}")
    return space


def save_gifti(prediction: Prediction, stem: str | os.PathLike, space: OutputSpace | None = None,
               settings: Settings | None = None) -> tuple[Path, Path]:
    """Write a surface prediction as one GIfTI func file per hemisphere.

    Parameters
    ----------
    prediction : Prediction
        A prediction on the fsaverage5 surface (any selection; unselected vertices are NaN).
    stem : str or PathLike
        Path without suffix: ``<stem>_hemi-L.func.gii`` and ``<stem>_hemi-R.func.gii`` are written.
    space : OutputSpace, optional
        The prediction's space (looked up when omitted).
    settings : Settings, optional
        Where the atlases are, when ``space`` is looked up.

    Returns
    -------
    (Path, Path)
        The left and right files.

    Raises
    ------
    UserInputError
        For parcel predictions: GIfTI holds surface data; export those as CSV or npz.
    """
    import nibabel as nib

    space = _space(prediction, space, settings)
    if space.kind != "surface":
        raise UserInputError(f"GIfTI export holds values per surface vertex; {prediction.model_id} predicts "
                             f"{space.space_id} parcels: export them as CSV or npz instead")
    full = space.to_surface(np.asarray(prediction.data, dtype=np.float32), prediction.indices)
    paths = []
    for hemi, part in (("L", slice(0, space.n_lh)), ("R", slice(space.n_lh, space.n_outputs))):
        meta = {"AnatomicalStructurePrimary": _STRUCTURES[hemi], "TimeStep": f"{prediction.tr_s * 1000:g}",
                "Space": space.space_id, "ModelId": prediction.model_id, "TimeAxis": prediction.time_label}
        arrays = [nib.gifti.GiftiDataArray(np.ascontiguousarray(row[part], dtype=np.float32),
                                           intent="NIFTI_INTENT_TIME_SERIES", datatype="NIFTI_TYPE_FLOAT32")
                  for row in full]
        image = nib.gifti.GiftiImage(darrays=arrays, meta=nib.gifti.GiftiMetaData(meta))
        path = Path(f"{os.fspath(stem)}_hemi-{hemi}.func.gii")
        with atomic_path(path, suffix=".gii") as tmp:
            nib.save(image, tmp)
        paths.append(path)
    return paths[0], paths[1]


def save_roi_csv(prediction: Prediction, path: str | os.PathLike, names=None, space: OutputSpace | None = None,
                 settings: Settings | None = None) -> Path:
    """Write the mean time course of each region as CSV.

    Parameters
    ----------
    prediction : Prediction
        Any prediction.
    path : str or PathLike
        Target ``.csv`` file.
    names : str or list of str, optional
        Regions (names, wildcards, networks; one column each). By default every region of the space with
        at least one selected output, in the space's order (every parcel for parcel models).
    space, settings :
        As in :func:`save_gifti`.

    Returns
    -------
    Path
        ``path``. The first column is ``time_s`` (on the prediction's time axis, see the metadata JSON).
    """
    space = _space(prediction, space, settings)
    regions, means = space.roi_time_series(prediction.data, prediction.indices, names=names or None)
    if not regions:
        raise UserInputError("no region of the space has a selected output: nothing to write")
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time_s", *regions])
            for time_s, row in zip(prediction.times_s, means, strict=True):
                writer.writerow([f"{float(time_s):g}", *(f"{float(v):.6g}" for v in row)])
    return path


def metadata_dict(prediction: Prediction, extra: dict | None = None) -> dict:
    """The JSON-ready metadata of a prediction: its own metadata plus what the axes and columns are.

    Parameters
    ----------
    prediction : Prediction
        Any prediction.
    extra : dict, optional
        More facts to record (e.g. the regions asked for); they win over the prediction's own keys.
    """
    indices = np.asarray(prediction.indices)
    facts = {
        "model_id": prediction.model_id, "subject": str(prediction.subject), "space": prediction.space_id,
        "n_time_steps": int(len(prediction.times_s)), "n_outputs": int(len(indices)),
        "tr_s": float(prediction.tr_s), "hrf_offset_s": float(prediction.hrf_offset_s),
        "time_axis": prediction.time_axis, "time_label": prediction.time_label,
        "times_s": [float(t) for t in prediction.times_s], "indices": indices.tolist(),
        "stochastic": prediction.spread is not None, "unit": value_unit(prediction),
    }
    return {**prediction.metadata, **facts, **(extra or {})}


def save_metadata_json(prediction: Prediction, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write :func:`metadata_dict` of ``prediction`` as indented UTF-8 JSON and return ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metadata_dict(prediction, extra), indent=2, ensure_ascii=False, sort_keys=True,
                                  default=_jsonable) + "\n", encoding="utf-8")
    return path
