"""The value types that travel between the layers: ``ModelCard``, ``Prediction``, ``HiddenFeatures``,
``MeasuredRun``, ``Evaluation``, ``Attribution``, ``RoiAttention``, ``Events`` and ``ContrastMap``.

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


@dataclass(frozen=True, eq=False)
class MeasuredRun:
    """One run of measured fMRI, as read from a user's file (``nforge_app.analysis.read_measured``).

    Evaluation and subject adaptation read these; the readers check them (finite, two-dimensional, enough
    time points), so that the analyses only align them in time and pick their columns.

    Attributes
    ----------
    data : ndarray, float32 (T, V)
        One row per acquired volume (BOLD time: row ``i`` at ``i * tr_s`` from the stimulus onset), one column
        per output: every output of a space (20,484 fsaverage5 vertices, 1000 Schaefer parcels) or the
        outputs a prediction selected.
    tr_s : float or None
        Sampling period, when the file says it (or the user gave it); None when unknown.
    source : str
        Where it comes from (file names, and the run's name inside an HDF5 file).
    notes : tuple of str
        What the reader did or assumed (a transposed table, a TR taken from the file's convention).
    """

    data: np.ndarray
    tr_s: float | None
    source: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise ValueError(f"measured data must be (time, outputs), got shape {self.data.shape}")
        if self.tr_s is not None and not self.tr_s > 0:
            raise ValueError(f"tr_s must be positive, got {self.tr_s}")


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A prediction scored against measured fMRI: Pearson r over time per output, as the field scores it.

    Attributes
    ----------
    r : ndarray, float64 (V,)
        Pearson correlation over time of each output, in the order of ``indices`` (the prediction's); NaN
        where the measured or the predicted series is constant (e.g. the medial wall).
    indices : ndarray of int64 (V,)
        Which outputs of the space the values are.
    space_id : str
        The output space.
    n_timepoints : int
        How many measured time points were compared (after trimming to the overlap).
    lag_s : float
        Shift applied to the prediction (positive: the measured response comes later); 0 unless searched.
    alignment : str
        The time alignment applied, in words (axes, TRs, resampling, trimming, lag).
    roi_names : tuple of str
        Regions summarised (the space's regions and networks, or those asked for).
    roi_r : ndarray, float64 (R,)
        Mean r over each region's outputs (NaN outputs left out).
    roi_n : ndarray of int64 (R,)
        Number of outputs with a finite r in each region.
    noise_ceiling : ndarray, float64 (V,) or None
        With repeated runs of the same stimulus: the highest r a perfect prediction could reach against the
        average of the runs, ``sqrt`` of their Spearman-Brown split-half reliability (NaN where that is not
        positive). None with a single run.
    lag_curve : ndarray, float64 (L, 2) or None
        With a lag search: each lag tried (s) and the mean r it gave.
    metadata : dict
        JSON-serialisable facts: model, subject, TRs, sources, number of runs, constant outputs.
    """

    r: np.ndarray
    indices: np.ndarray
    space_id: str
    n_timepoints: int
    lag_s: float
    alignment: str
    roi_names: tuple[str, ...] = ()
    roi_r: np.ndarray = field(default_factory=lambda: np.zeros(0))
    roi_n: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    noise_ceiling: np.ndarray | None = None
    lag_curve: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.r.shape != (len(self.indices),):
            raise ValueError(f"r has shape {self.r.shape} for {len(self.indices)} indices")
        if not len(self.roi_names) == len(self.roi_r) == len(self.roi_n):
            raise ValueError("roi_names, roi_r and roi_n must have the same length")
        if self.noise_ceiling is not None and self.noise_ceiling.shape != self.r.shape:
            raise ValueError(f"noise_ceiling has shape {self.noise_ceiling.shape}, r {self.r.shape}")

    @property
    def mean_r(self) -> float:
        """Mean r over the outputs with a finite r (the Algonauts 2025 score, over parcels)."""
        return _finite_mean(self.r)

    @property
    def median_r(self) -> float:
        """Median r over the outputs with a finite r."""
        finite = self.r[np.isfinite(self.r)]
        return float(np.median(finite)) if finite.size else float("nan")

    def best_regions(self, n: int = 5, min_outputs: int = 10) -> list[tuple[str, float, int]]:
        """The ``n`` regions with the highest mean r, as ``(name, mean r, outputs)``.

        Regions with fewer than ``min_outputs`` outputs (whose mean is noisy) are left out, unless no region
        has that many.
        """
        order = np.argsort(-self.roi_r, kind="stable")
        large = [i for i in order if self.roi_n[i] >= min_outputs]
        return [(self.roi_names[i], float(self.roi_r[i]), int(self.roi_n[i])) for i in (large or list(order))[:n]]

    @property
    def mean_noise_ceiling(self) -> float | None:
        """Mean noise ceiling over the outputs where it is defined (None without repeated runs)."""
        return None if self.noise_ceiling is None else _finite_mean(self.noise_ceiling)

    @property
    def r_over_ceiling(self) -> np.ndarray | None:
        """r / noise ceiling per output (NaN where the ceiling is not defined); None without repeated runs."""
        if self.noise_ceiling is None:
            return None
        ceiling = self.noise_ceiling
        return np.divide(self.r, ceiling, out=np.full_like(self.r, np.nan), where=np.isfinite(ceiling) & (ceiling > 0))

    @property
    def mean_r_over_ceiling(self) -> float | None:
        """Mean r over mean noise ceiling, on the outputs where both are defined (None without repeats)."""
        if self.noise_ceiling is None:
            return None
        both = np.isfinite(self.r) & np.isfinite(self.noise_ceiling) & (self.noise_ceiling > 0)
        return float(self.r[both].mean() / self.noise_ceiling[both].mean()) if both.any() else float("nan")


ATTRIBUTION_METHODS = ("shapley", "integrated-gradients", "ablation")
"""How a prediction is split over modalities (``nforge_app.analysis.attribute``)."""


@dataclass(frozen=True, eq=False)
class RoiAttention:
    """Which stimulus moments drove each region: ROI temporal attention of one prediction.

    Attributes
    ----------
    roi_names : tuple of str (R,)
        The regions, in the order asked for.
    attention : ndarray, float32 (R, T_out, T_in)
        For region r and output time t, the share of the region's predicted response (mean over its outputs)
        that comes from each stimulus moment s: signed contributions divided by the sum of their absolute
        values over s (so ``abs(attention).sum(-1)`` is 1 where the response is not zero).
    times_s : ndarray (T_out,)
        Output times, as the prediction's ``times_s``.
    stimulus_times_s : ndarray (T_in,)
        Start of each stimulus moment in seconds from the stimulus onset.
    method : str
        How it was computed, in words a user reads (``"exact (HRF kernel per channel)"``,
        ``"occlusion of 1-s stimulus chunks"``, ``"gradient x input at the projected embeddings"`` ...).
    modalities : tuple of str (M,)
        Modalities of ``by_modality``; empty when not computed.
    by_modality : ndarray, float32 (R, M, T_out, T_in) or None
        The same shares split by modality where that is cheap (they sum over M to ``attention``).
    rollout : ndarray, float32 (T_out, T_in) or None
        For TRIBE v2: attention rollout over its layers, "where the model looks" (not an ROI measure).
    metadata : dict
        JSON-serialisable facts (chunk length, steps, what absent means).
    """

    roi_names: tuple[str, ...]
    attention: np.ndarray
    times_s: np.ndarray
    stimulus_times_s: np.ndarray
    method: str
    modalities: tuple[str, ...] = ()
    by_modality: np.ndarray | None = None
    rollout: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.roi_names), len(self.times_s), len(self.stimulus_times_s))
        if self.attention.shape != shape:
            raise ValueError(f"attention has shape {self.attention.shape}, expected (R, T_out, T_in) = {shape}")
        if self.by_modality is not None and self.by_modality.shape != (shape[0], len(self.modalities), *shape[1:]):
            raise ValueError(f"by_modality has shape {self.by_modality.shape} for {len(self.modalities)} "
                             f"modalities and attention {shape}")


@dataclass(frozen=True, eq=False)
class Attribution:
    """A prediction split over its input modalities (or, for the flow model, its feature streams).

    ``scores.sum(0) + baseline`` is the prediction (exactly for Shapley values and for the lite model; up to
    ``completeness_error`` for integrated gradients; ablation leaves the interaction out, see ``metadata``).

    Attributes
    ----------
    modalities : tuple of str (M,)
        The modalities (or streams) the prediction is split over.
    scores : ndarray, float32 (M, T, V)
        Each modality's part of the prediction, in the prediction's units.
    baseline : ndarray, float32 (T, V)
        The prediction with every modality absent (as the model defines absent).
    times_s : ndarray (T,)
        As the prediction's ``times_s``.
    tr_s : float
        Sampling period.
    indices : ndarray of int64 (V,)
        Which outputs of the space the columns are.
    space_id : str
        The output space.
    method : str
        One of :data:`ATTRIBUTION_METHODS`.
    model_id, subject : str
        Model and subject.
    hrf_offset_s, time_axis :
        As in :class:`Prediction`.
    completeness_error : float
        ``max |scores.sum(0) + baseline - prediction| / max |prediction - baseline|`` (0 for exact methods).
    roi_attention : RoiAttention or None
        Temporal attention of the regions asked for, when regions were given.
    metadata : dict
        JSON-serialisable facts: what absent means for the model, steps, the exactness of the method.
    """

    modalities: tuple[str, ...]
    scores: np.ndarray
    baseline: np.ndarray
    times_s: np.ndarray
    tr_s: float
    indices: np.ndarray
    space_id: str
    method: str
    model_id: str
    subject: str
    hrf_offset_s: float
    time_axis: str
    completeness_error: float = 0.0
    roi_attention: RoiAttention | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.modalities), len(self.times_s), len(self.indices))
        if self.scores.shape != shape:
            raise ValueError(f"scores has shape {self.scores.shape}, expected (M, T, V) = {shape}")
        if self.baseline.shape != shape[1:]:
            raise ValueError(f"baseline has shape {self.baseline.shape}, expected (T, V) = {shape[1:]}")
        if self.method not in ATTRIBUTION_METHODS:
            raise ValueError(f"unknown attribution method {self.method!r}; one of {ATTRIBUTION_METHODS}")
        _check_time_axis(self.time_axis)

    def prediction(self) -> np.ndarray:
        """The prediction the scores explain, ``scores.sum(0) + baseline`` (T, V)."""
        return self.scores.sum(0) + self.baseline

    def shares(self) -> np.ndarray:
        """Each modality's share of the explained magnitude, ``|scores| / sum_m |scores|`` (M, T, V), 0 where
        nothing is explained."""
        magnitude = np.abs(self.scores)
        total = magnitude.sum(0, keepdims=True)
        return np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)


@dataclass(frozen=True, eq=False)
class Events:
    """The events of an experiment on the stimulus timeline, as in a BIDS ``events.tsv``.

    Attributes
    ----------
    onsets_s : ndarray (N,)
        Start of each event in seconds from the stimulus start.
    durations_s : ndarray (N,)
        Length of each event in seconds (0 for an impulse).
    trial_types : tuple of str (N,)
        The condition of each event (a column of the design matrix, a name in contrasts).
    modulation : ndarray (N,) or None
        Amplitude of each event's regressor (nilearn's ``modulation`` column); 1 when None.
    """

    onsets_s: np.ndarray
    durations_s: np.ndarray
    trial_types: tuple[str, ...]
    modulation: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.trial_types)
        if len(self.onsets_s) != n or len(self.durations_s) != n or (
                self.modulation is not None and len(self.modulation) != n):
            raise ValueError("onsets, durations, trial types (and modulation) must have one entry per event")

    @property
    def conditions(self) -> tuple[str, ...]:
        """The distinct trial types, sorted (the order of nilearn's design-matrix columns)."""
        return tuple(sorted(set(self.trial_types)))

    def count(self, condition: str) -> int:
        """How many events have trial type ``condition``."""
        return sum(trial_type == condition for trial_type in self.trial_types)

    def as_dict(self) -> dict:
        """JSON-ready ``{"onsets": [...], "durations": [...], "labels": [...]}`` (and ``"modulation"``)."""
        facts = {"onsets": [float(v) for v in self.onsets_s], "durations": [float(v) for v in self.durations_s],
                 "labels": list(self.trial_types)}
        if self.modulation is not None:
            facts["modulation"] = [float(v) for v in self.modulation]
        return facts


@dataclass(frozen=True, eq=False)
class ContrastMap:
    """A contrast of a first-level GLM fitted to a predicted series, per output and per region.

    Attributes
    ----------
    contrast : str
        The contrast as nilearn writes it (``"A - B"``, ``"speech - music"``).
    effect, t : ndarray (V,)
        Contrast of the betas, and its t statistic (OLS), per selected output.
    p_corrected : ndarray (V,)
        Permutation p over relabellings of the events of the contrasted conditions, corrected for the
        family of outputs by the maximum statistic (two-sided, ``|t|``); NaN when no relabelling exists.
    indices : ndarray of int (V,)
        Which outputs of the space the values belong to.
    space_id, model_id, subject :
        Where the values live and what predicted the series.
    conditions : tuple of str (C,)
        The conditions of the design, in design-matrix order.
    betas : ndarray (C, V)
        The beta of every condition, per output.
    n_a, n_b : int
        How many events the contrast weighs positively (condition A) and negatively (condition B).
    n_permutations : int
        How many relabellings the p values come from (the true labelling included).
    exhaustive : bool
        True when those are all the distinct relabellings; False when drawn at random.
    smallest_p : float
        The smallest p the relabellings can give (1 / n_permutations, or 2 / n_permutations when the set
        holds the swap of A and B, whose ``|t|`` is the same).
    design : Events
        The events the GLM was built from.
    design_matrix : ndarray (T, K)
        The design matrix of the true labelling (nilearn's), with ``design_columns`` and ``frame_times_s``.
    design_columns : tuple of str (K,)
    frame_times_s : ndarray (T,)
        The time of each row of the predicted series on the BOLD clock (where the regressors are evaluated).
    regions : tuple of str (R,)
        Regions of the space with selected outputs; the region values come from a GLM of each region's mean
        series, corrected over the family of regions.
    region_effect, region_t, region_p_corrected : ndarray (R,)
    metadata : dict
        JSON-ready facts: HRF and time axis handling, noise model, drift model, stimulus, and
        ``null_max_abs_t``, the largest ``|t|`` over outputs of each relabelling (the true one first).
    """

    contrast: str
    effect: np.ndarray
    t: np.ndarray
    p_corrected: np.ndarray
    indices: np.ndarray
    space_id: str
    model_id: str
    subject: str
    conditions: tuple[str, ...]
    betas: np.ndarray
    n_a: int
    n_b: int
    n_permutations: int
    exhaustive: bool
    smallest_p: float
    design: Events
    design_matrix: np.ndarray
    design_columns: tuple[str, ...]
    frame_times_s: np.ndarray
    regions: tuple[str, ...] = ()
    region_effect: np.ndarray = field(default_factory=lambda: np.zeros(0))
    region_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    region_p_corrected: np.ndarray = field(default_factory=lambda: np.zeros(0))
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.indices)
        if not len(self.effect) == len(self.t) == len(self.p_corrected) == n:
            raise ValueError(f"effect, t and p_corrected must have one value per output ({n})")
        if self.betas.shape != (len(self.conditions), n):
            raise ValueError(f"betas must be (conditions, outputs) = ({len(self.conditions)}, {n}), "
                             f"got {self.betas.shape}")
        if not len(self.region_effect) == len(self.region_t) == len(self.region_p_corrected) == len(self.regions):
            raise ValueError("region_effect, region_t and region_p_corrected must have one value per region")

    def passing(self, p_below: float | None = None, abs_t_from: float | None = None) -> np.ndarray:
        """Which outputs pass a threshold: ``p_corrected < p_below`` and/or ``|t| >= abs_t_from`` (bool, (V,))."""
        keep = np.ones(len(self.indices), dtype=bool)
        if p_below is not None:
            keep &= np.nan_to_num(np.asarray(self.p_corrected, dtype=np.float64), nan=1.0) < p_below
        if abs_t_from is not None:
            keep &= np.abs(self.t) >= abs_t_from
        return keep

    def region_rows(self) -> list[tuple[str, float, float, float]]:
        """``(region, effect, t, p_corrected)`` per region, smallest p first, then largest ``|effect|``.

        In a prediction without noise, every output one feature drives gets the same ``|t|`` however weakly
        it is driven; the effect says how much.
        """
        order = sorted(range(len(self.regions)), key=lambda i: (
            np.nan_to_num(self.region_p_corrected[i], nan=2.0), -abs(float(self.region_effect[i])), self.regions[i]))
        return [(self.regions[i], float(self.region_effect[i]), float(self.region_t[i]),
                 float(self.region_p_corrected[i])) for i in order]

