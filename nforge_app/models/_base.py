"""The model side's value types: ``ModelCard``, ``Prediction`` and the ``EncodingModel`` base class."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nforge_app.features import FeatureExtractor, FeatureSet, ProgressFn, no_progress

if TYPE_CHECKING:
    from nforge_app.config import Settings
    from nforge_app.stimuli import Stimulus

TIME_AXES = ("stimulus", "bold")


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

    def __post_init__(self) -> None:
        if self.time_axis not in TIME_AXES:
            raise ValueError(f"time_axis must be one of {TIME_AXES}, got {self.time_axis!r}")


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
        if self.time_axis not in TIME_AXES:
            raise ValueError(f"time_axis must be one of {TIME_AXES}, got {self.time_axis!r}")

    @property
    def time_label(self) -> str:
        """What the time axis means, for every plot and player."""
        if self.time_axis == "stimulus" and self.hrf_offset_s:
            return f"stimulus time (s); BOLD shifted back {self.hrf_offset_s:g} s"
        return "BOLD time (s), haemodynamic delay included"


class EncodingModel:
    """Base class of every model: store parameters in ``__init__``, load weights in ``load``.

    Subclasses set ``card`` and implement ``extractors`` and ``predict``. ``load`` is called once by the
    engine (under a lock) before the first ``predict``; fitted or loaded state ends in ``_``.
    """

    card: ModelCard
    weight_files: tuple[str, ...] = ()
    """Files (glob patterns) of a release; empty for a model whose weights ship with NForge."""

    @classmethod
    def weights_status(cls, settings: Settings) -> str:
        """Whether the weights are here: embedded, in ``NFORGE_WEIGHTS_DIR``, in the hub cache, or missing."""
        if not cls.weight_files:
            return "embedded, no download"
        local = settings.weights_dir / cls.card.model_id if settings.weights_dir else None
        if local is not None and all(any(local.glob(pattern)) for pattern in cls.weight_files):
            return f"present in {local}"
        repo = cls.card.weights
        if "/" in repo:
            from huggingface_hub import try_to_load_from_cache

            cached = [try_to_load_from_cache(repo, name, cache_dir=settings.cache_dir / "hub") for name in cls.weight_files]
            if all(isinstance(path, str) for path in cached):
                return "downloaded (hub cache)"
            return f"not downloaded: fetched from the hub ({repo}) on first use"
        where = local if local is not None else f"$NFORGE_WEIGHTS_DIR/{cls.card.model_id}"
        return f"missing: put {', '.join(cls.weight_files)} in {where}"

    @classmethod
    def weights_fingerprint(cls, settings: Settings, variant: str | None = None) -> str:
        """Paths, sizes and modification times of the local weight files: part of every cache key, so
        replacing weights in place never serves a stale prediction ('' when nothing local is found)."""
        folders = []
        if variant and Path(variant).expanduser().is_dir():
            folders.append(Path(variant).expanduser())
        if settings.weights_dir is not None:
            folders.append(settings.weights_dir / cls.card.model_id)
        for folder in folders:
            files = sorted({path for pattern in cls.weight_files for path in folder.rglob(pattern) if path.is_file()})
            if files:
                return ";".join(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}" for path in files)
        return ""

    def __init__(self, settings: Settings, variant: str | None = None, device: str = "cpu", **options) -> None:
        self.settings = settings
        self.variant = variant
        self.device = device
        self.options = options

    def load(self) -> None:
        """Load weights and extractors; raise ``ModelUnavailableError`` when they cannot be had."""

    def extractors(self) -> list[FeatureExtractor]:
        """The feature extractors this model reads, one per modality."""
        raise NotImplementedError

    def predict(self, features: FeatureSet, stimulus: Stimulus, subject, indices: np.ndarray | None,
                progress: ProgressFn = no_progress) -> Prediction:
        """Predict the selected outputs (all when ``indices`` is None) for one stimulus."""
        raise NotImplementedError

    def params(self) -> dict:
        """Everything besides stimulus, subject and selection that changes the output (cache key)."""
        return {"variant": self.variant, **self.options}
