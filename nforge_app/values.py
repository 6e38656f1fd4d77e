"""The value types that travel between the layers: ``ModelCard``, ``Prediction``, ``HiddenFeatures``.

This module imports only numpy (and the standard library), so that every layer, ``viz`` and ``export``
included, can read the values without loading models, features or stimuli. One type per concept, passed
whole: a ``Prediction`` carries its own times, TR, space, model, subject and haemodynamic offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TIME_AXES = ("stimulus", "bold")
CAPABILITIES = ("attribution", "attention", "attention-rollout", "adaptation", "streaming")
"""What a model offers beyond prediction (``ModelCard.capabilities``); the faces read these, never model ids:

- ``attribution``: its prediction splits over input modalities (or feature streams);
- ``attention``: per-ROI temporal attention (which stimulus moments drove each region);
- ``attention-rollout``: attention weights of its own layers ("where the model looks");
- ``adaptation``: a ridge readout can be fitted on its hidden features for a new subject;
- ``streaming``: it can predict TR by TR as a stimulus arrives.
"""


def _check_time_axis(time_axis: str) -> None:
    if time_axis not in TIME_AXES:
        raise ValueError(f"time_axis must be one of {TIME_AXES}, got {time_axis!r}")


def time_label(time_axis: str, hrf_offset_s: float) -> str:
    """What a time axis means, for every plot, player and table."""
    if time_axis == "stimulus" and hrf_offset_s:
        return f"stimulus time (s); BOLD shifted back {hrf_offset_s:g} s"
    return "BOLD time (s), haemodynamic delay included"


@dataclass(frozen=True)
class ModelCard:
    """What a model is, known without loading it (the BERG ``get_model_metadata`` reads this).

    Attributes
    ----------
    model_id : str
        Our id (``"nforge-lite"``, ``"tribe-v2"``, ``"text2fmri"``, ``"flow-matching"``).
    name : str
        Human name.
    aliases : tuple of str
        Other ids that name it (the BERG ids).
    modalities : tuple of str
        Input modalities it reads.
    space_id : str
        Its output space (``"fsaverage5"`` or ``"schaefer1000"``).
    subjects : tuple
        Valid subjects; ``default_subject`` is used when none is given.
    tr_s : float
        Sampling period of the output.
    hrf_offset_s : float
        How far BOLD is shifted back onto stimulus time (0 when the axis is BOLD time).
    time_axis : str
        ``"stimulus"`` (BOLD shifted back by ``hrf_offset_s``) or ``"bold"``.
    licence : str
        Licence of the weights.
    weights : str
        Where the weights come from (hub repo id), or ``"embedded"``.
    baseline : bool
        True for a model that is not trained on fMRI (the lite model); every face says so.
    description : str
        One paragraph for the UI and ``nforge models``.
    variants : tuple of str
        Known weight variants (hub repo ids), default first.
    citation : str
        How to cite the model.
    capabilities : frozenset of str
        What it offers beyond prediction, among :data:`CAPABILITIES`.
    """

    model_id: str
    name: str
    modalities: tuple[str, ...]
    space_id: str
    tr_s: float
    hrf_offset_s: float
    time_axis: str
    licence: str
    weights: str
    description: str
    aliases: tuple[str, ...] = ()
    subjects: tuple = ("average",)
    default_subject: object = "average"
    baseline: bool = False
    variants: tuple[str, ...] = ()
    citation: str = ""
    capabilities: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _check_time_axis(self.time_axis)
        unknown = sorted(set(self.capabilities) - set(CAPABILITIES))
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}; known: {CAPABILITIES}")


@dataclass(frozen=True, eq=False)
class Prediction:
    """Predicted brain activity with everything needed to read it.

    Attributes
    ----------
    data : ndarray, float32 (T, V)
        One row per time step; ``V`` = number of selected outputs (``indices``).
    times_s : ndarray (T,)
        Time of each row in seconds, on the axis named by ``time_axis``.
    tr_s : float
        Sampling period.
    space_id : str
        The output space (``"fsaverage5"``, ``"schaefer1000"``).
    indices : ndarray of int (V,)
        Which outputs of the space the columns are.
    model_id, subject :
        Which model and subject produced it.
    hrf_offset_s : float
        BOLD at ``t + hrf_offset_s`` is reported at ``t`` (0 when ``time_axis == "bold"``).
    time_axis : str
        ``"stimulus"`` or ``"bold"``.
    metadata : dict
        JSON-serialisable facts: model card fields, stimulus, word timing, variant, device, notes.
    spread : ndarray (T, V) or None
        Per-output standard deviation over samples, for stochastic models.
    """

    data: np.ndarray
    times_s: np.ndarray
    tr_s: float
    space_id: str
    indices: np.ndarray
    model_id: str
    subject: str
    hrf_offset_s: float
    time_axis: str
    metadata: dict = field(default_factory=dict)
    spread: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape != (len(self.times_s), len(self.indices)):
            raise ValueError(
                f"data shape {self.data.shape} does not match times ({len(self.times_s)}) x indices ({len(self.indices)})"
            )
        _check_time_axis(self.time_axis)

    @property
    def time_label(self) -> str:
        """What the time axis means, for every plot and player."""
        return time_label(self.time_axis, self.hrf_offset_s)



@dataclass(frozen=True, eq=False)
class HiddenFeatures:
    """A model's last hidden features of one stimulus, one row per output time step (its "trunk").

    ``EncodingModel.transform`` makes them and ``EncodingModel.readout`` turns them into a
    :class:`Prediction`; the analyses (attribution, adaptation, streaming) work on this seam.

    Attributes
    ----------
    data : ndarray, float32 (T, H)
        One row per output time step, on the same grid as the prediction (float64 for the lite model, whose
        readout works in float64).
    times_s : ndarray (T,)
        Time of each row in seconds, on the axis named by ``time_axis``.
    tr_s : float
        Sampling period.
    model_id : str
        The model that made them.
    subject : str or None
        The subject they were computed for, when the trunk depends on it (Text2fMRI); None otherwise.
    columns : tuple of str (H,)
        What each column is (``"hidden 0"``..., or a channel name for the lite model).
    column_modalities : tuple of str (H,)
        The modality each column comes from, or ``"mixed"`` where the trunk mixes them.
    hrf_offset_s, time_axis :
        As in :class:`Prediction`.
    metadata : dict
        JSON-serialisable facts (modalities present, absent rule applied, precision ...).
    """

    data: np.ndarray
    times_s: np.ndarray
    tr_s: float
    model_id: str
    subject: str | None
    columns: tuple[str, ...]
    column_modalities: tuple[str, ...]
    hrf_offset_s: float
    time_axis: str
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or len(self.data) != len(self.times_s):
            raise ValueError(f"data shape {self.data.shape} does not match times ({len(self.times_s)}) x H")
        if not len(self.columns) == len(self.column_modalities) == self.data.shape[1]:
            raise ValueError(f"{len(self.columns)} column names and {len(self.column_modalities)} column "
                             f"modalities for {self.data.shape[1]} columns")
        _check_time_axis(self.time_axis)
