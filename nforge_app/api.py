"""A Python API with the BERG conventions (Brain Encoding Response Generator).

The functions mirror BERG's: ``get_encoding_model``, ``encode``, ``get_model_metadata``,
``get_model_variants``, ``list_models``; the class :class:`BERG` offers the same as methods, so the example
usage of the BERG model cards runs as written after ``from nforge_app.api import BERG``. Responses are
numpy arrays of shape (n_timepoints, n_outputs). Weights come from the hub, or from local folders named by
``NFORGE_WEIGHTS_DIR`` (``<dir>/<model id>/``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nforge_app.checks import check_all_in
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.models import Prediction, get_card, get_model_class, list_model_ids, resolve_model_id
from nforge_app.progress import stderr_progress
from nforge_app.spaces import get_space

_engine: Engine | None = None


def _default_engine(device: str = "auto") -> Engine:
    """One engine per process, made anew when the settings (environment) or the device change."""
    global _engine
    settings = Settings.from_env()
    if _engine is None or _engine.settings != settings or (device != "auto" and _engine.device != device):
        _engine = Engine(settings, device=device)
    return _engine


@dataclass
class EncodingModelHandle:
    """A loaded encoding model with its subject and selection, as ``get_encoding_model`` returns it."""

    model_id: str
    subject: object
    selection: np.ndarray | None
    variant: str | None
    low_mem_use: bool
    engine: Engine

    @property
    def card(self):
        return get_card(self.model_id)

    def get_pretrained_variants(self) -> list[str]:
        """The weight variants of this model (see :func:`get_model_variants`)."""
        return get_model_variants(self.model_id)

    def generate_glass_brain_animation(self, responses, out_path: str = "brain_activation.gif") -> str:
        """Save an animated glass brain of ``responses`` (n_timepoints, n_outputs) as a GIF; return its path.

        Each frame lasts exactly one TR, coloured as the web viewer and every export colours them (global
        limits over the whole run), with the colour bar's unit and the model's time axis. A path without
        ``.gif`` gets it. Other formats and pictures: :func:`nforge_app.export.export_prediction`.
        """
        from nforge_app.export import export_prediction
        from nforge_app.viz import picture_title

        responses = np.asarray(responses, dtype=np.float32)
        card = self.card
        space = get_space(card.space_id, self.engine.settings)
        indices = self.selection if self.selection is not None else np.arange(space.n_outputs)
        if responses.ndim != 2 or responses.shape[1] != len(indices):
            raise UserInputError(f"responses must have shape (n_timepoints, {len(indices)}) for this model's "
                                 f"selection; got {responses.shape}")
        prediction = Prediction(data=responses, times_s=np.arange(len(responses)) * card.tr_s, tr_s=card.tr_s,
                                space_id=card.space_id, indices=np.asarray(indices), model_id=card.model_id,
                                subject=str(self.subject), hrf_offset_s=card.hrf_offset_s, time_axis=card.time_axis,
                                metadata={"baseline": card.baseline})
        base = out_path[:-len(".gif")] if out_path.lower().endswith(".gif") else out_path
        (gif,), _ = export_prediction(prediction, ["gif"], base, picture="glass",
                                      title=picture_title(prediction, "responses"), settings=self.engine.settings)
        return str(gif)


def list_models() -> list[str]:
    """All model ids: ours and the BERG ids (aliases)."""
    ids = []
    for model_id in list_model_ids():
        ids.append(model_id)
        ids.extend(get_card(model_id).aliases)
    return ids


def get_model_variants(model_id: str) -> list[str]:
    """The weight variants of a model, default first (from the hub when online, else a built-in list)."""
    model_class = get_model_class(model_id)
    lister = getattr(model_class, "list_variants", None)
    return list(lister()) if lister else list(model_class.card.variants)


def get_model_metadata(model_id: str, subject=None) -> dict:
    """The model's metadata (output space, ROIs, TR, subjects) without loading its weights."""
    card = get_card(model_id)
    engine = _default_engine()
    subject = engine.check_subject(model_id, subject)
    space = get_space(card.space_id, engine.settings)
    metadata = space.metadata()
    metadata["fmri"].update(subject_id=str(subject), output_frequency_hz=1.0 / card.tr_s)
    metadata["model"] = {
        "model_id": card.model_id, "aliases": list(card.aliases), "name": card.name, "subject": subject,
        "subjects": list(card.subjects), "modalities": list(card.modalities), "tr_s": card.tr_s,
        "output_frequency_hz": 1.0 / card.tr_s, "hrf_offset_s": card.hrf_offset_s, "time_axis": card.time_axis,
        "baseline": card.baseline, "licence": card.licence, "weights": card.weights,
        "description": card.description,
    }
    return metadata


def _selection_indices(model_id: str, selection: dict | None, engine: Engine) -> np.ndarray | None:
    if selection is None:
        return None
    if not isinstance(selection, dict):
        raise UserInputError("selection must be a dict with keys 'roi' and/or 'vertices' / 'voxel_index'")
    if selection:
        check_all_in("selection keys", selection, ("roi", "vertices", "voxel_index"))
    masks = [selection[k] for k in ("vertices", "voxel_index") if selection.get(k) is not None]
    mask = None
    if masks:
        arrays = [np.asarray(m) for m in masks]
        try:
            mask = np.logical_or.reduce([a.astype(bool) for a in arrays]) if len(arrays) > 1 else arrays[0]
        except ValueError:
            raise UserInputError("the 'vertices' and 'voxel_index' masks must have the same length") from None
    return engine.select(model_id, roi=selection.get("roi"), mask=mask)


def get_encoding_model(model_id: str, subject=None, selection: dict | None = None, device: str = "auto",
                       model_variant: str | None = None, low_mem_use: bool = False) -> EncodingModelHandle:
    """Load an encoding model for one subject and an optional output selection.

    Parameters
    ----------
    model_id : str
        Our id or a BERG id (``list_models()``).
    subject : optional
        One of the model's subjects (Text2fMRI: 1, 2, 3, 5); the model's default when None.
    selection : dict, optional
        ``{"roi": [names], "vertices" or "voxel_index": binary mask}``; the union is kept.
    device : {"auto", "cpu", "cuda"}
        Where to run.
    model_variant : str, optional
        A weight variant (hub repo id or local folder).
    low_mem_use : bool
        Load one feature extractor at a time and free it after use.

    Returns
    -------
    EncodingModelHandle
    """
    engine = _default_engine(device)
    model_id = resolve_model_id(model_id)
    subject = engine.check_subject(model_id, subject)
    indices = _selection_indices(model_id, selection, engine)
    options = {"low_mem_use": True} if low_mem_use else {}
    engine.load_model(model_id, model_variant, **options)
    return EncodingModelHandle(model_id, subject, indices, model_variant, low_mem_use, engine)


def encode(model: EncodingModelHandle, stimulus: str | os.PathLike | Sequence[str], return_metadata: bool = False,
           show_progress: bool = False, low_mem_use: bool | None = None):
    """Predict responses of a loaded model to one stimulus.

    Parameters
    ----------
    model : EncodingModelHandle
        From :func:`get_encoding_model`.
    stimulus : str, PathLike or list of str
        A stimulus file, or one string per TR.
    return_metadata : bool
        Also return the metadata dict.
    show_progress : bool
        Show a progress bar on stderr.
    low_mem_use : bool, optional
        Accepted for BERG compatibility; the setting given to ``get_encoding_model`` applies.

    Returns
    -------
    ndarray (n_timepoints, n_outputs), or (ndarray, dict) with ``return_metadata``
    """
    if not isinstance(model, EncodingModelHandle):
        raise UserInputError("model must come from get_encoding_model(...)")
    options = {"low_mem_use": True} if model.low_mem_use else {}
    with stderr_progress(enabled=show_progress) as progress:
        prediction: Prediction = model.engine.predict(
            stimulus, model.model_id, subject=model.subject, mask=_mask_of(model), variant=model.variant,
            progress=progress, **options)
    responses = prediction.data
    if not return_metadata:
        return responses
    metadata = get_model_metadata(model.model_id, model.subject)
    metadata["prediction"] = {"times_s": prediction.times_s, "indices": prediction.indices,
                              "time_label": prediction.time_label, **prediction.metadata}
    return responses, metadata


def _mask_of(model: EncodingModelHandle) -> np.ndarray | None:
    if model.selection is None:
        return None
    mask = np.zeros(get_space(model.card.space_id, model.engine.settings).n_outputs, dtype=bool)
    mask[model.selection] = True
    return mask


class BERG:
    """The BERG entry object; ``berg_dir`` is accepted for compatibility (weights: ``NFORGE_WEIGHTS_DIR``)."""

    def __init__(self, berg_dir: str | None = None) -> None:
        self.berg_dir = berg_dir

    list_models = staticmethod(list_models)
    get_model_variants = staticmethod(get_model_variants)
    get_model_metadata = staticmethod(get_model_metadata)
    get_encoding_model = staticmethod(get_encoding_model)
    encode = staticmethod(encode)


__all__ = ["BERG", "EncodingModelHandle", "encode", "get_encoding_model", "get_model_metadata",
           "get_model_variants", "list_models"]
