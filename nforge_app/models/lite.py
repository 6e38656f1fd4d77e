"""``nforge-lite``: a knowledge-based baseline that works offline, with no trained weights.

It is not trained on fMRI. Each stimulus feature of the lite extractors (``nforge_app.features.lite``) is
summarised by a few interpretable channels, each channel is standardised over the stimulus (z-scored, so
the prediction shows changes within the stimulus, not absolute levels), convolved with the canonical Glover
haemodynamic response (at the 2-Hz feature rate, then averaged to 1 Hz) and painted on the cortical regions
that the literature associates with it. The convolution starts from rest (every channel at its mean before
the stimulus): the response rises after the haemodynamic delay, peaking 5.5 s after an event, so the first
seconds are near zero and a clip shorter than that gets a nearly flat map (its metadata note says so). Use it to learn the tool and for rough hypotheses, not as a model of a brain.

The channel -> region table is :data:`CHANNELS` below (the one place it lives; ``region_table()`` gives it
as a plain dict). Region names are Glasser HCP-MMP1.0 names (Glasser et al. 2016).

==================  ========  ============================================================================
channel             modality  regions (weight; both hemispheres unless noted)
==================  ========  ============================================================================
``loudness``        audio     A1, LBelt, MBelt, PBelt, RI, A4 (1.0); A5, STGa (0.5)
``spectral_flux``   audio     the same auditory regions
``mel_energy``      audio     the same auditory regions (mean of the mel-band energies)
``word_rate``       text      STSdp, STSda, STSvp, STSva, TE1a, 44, 45, 55b, PSL, TPOJ1 (1.0 left,
                              0.7 right)
``text_novelty``    text      the same language regions (1 - cosine of a step's context embedding to the
                              last step with words; 0 where there are no words)
``luminance``       video     V1, V2, V3, V4
``contrast``        video     V1, V2, V3, V4
``motion``          video     MT, MST, FST, V3CD, LO3
``colourfulness``   video     V4, V8, VVC, FFC, PIT, LO1, LO2
==================  ========  ============================================================================

Each region paints weight 1 (times its table weight) on its own vertices, decaying as a Gaussian of the
distance to the region (sigma :data:`SIGMA_MM`, cut at 3 sigma) within the same hemisphere, so that maps
are not blocky; where regions of one channel overlap, the larger weight wins. Distances are Euclidean on
the inflated fsaverage5 surface, whose area (about 63,000 mm2 per hemisphere) is close to the white
surface's, so they approximate distances along the cortex in mm without shortcuts across sulci.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from nforge_app.checks import check_indices, check_subject
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureExtractor, FeatureSet, ProgressFn, n_steps, no_progress
from nforge_app.features.lite import RATE_HZ, LiteAudioExtractor, LiteTextExtractor, LiteVideoExtractor
from nforge_app.models._base import EncodingModel
from nforge_app.stimuli import Stimulus
from nforge_app.values import HiddenFeatures, ModelCard, Prediction

SIGMA_MM = 8.0
HRF_LENGTH_S = 32.0
_RIGHT_LANGUAGE = 0.7

# Auditory core and belt (Glasser 2016; Moerel et al. 2014): respond to sound level and spectral change.
_AUDITORY = MappingProxyType({"A1": 1.0, "LBelt": 1.0, "MBelt": 1.0, "PBelt": 1.0, "RI": 1.0, "A4": 1.0,
                              "A5": 0.5, "STGa": 0.5})
# Superior temporal sulcus, anterior temporal and inferior frontal language areas (Fedorenko et al. 2010;
# Huth et al. 2016), stronger on the left.
_LANGUAGE = MappingProxyType({"STSdp": 1.0, "STSda": 1.0, "STSvp": 1.0, "STSva": 1.0, "TE1a": 1.0, "44": 1.0,
                              "45": 1.0, "55b": 1.0, "PSL": 1.0, "TPOJ1": 1.0})
# Early visual cortex tracks luminance and contrast.
_EARLY_VISUAL = MappingProxyType({"V1": 1.0, "V2": 1.0, "V3": 1.0, "V4": 1.0})
# The MT+ complex and its neighbours respond to visual motion (Tootell et al. 1995; Glasser 2016).
_MOTION = MappingProxyType({"MT": 1.0, "MST": 1.0, "FST": 1.0, "V3CD": 1.0, "LO3": 1.0})
# Ventral colour-biased regions (Lafer-Sousa et al. 2016) and lateral occipital cortex.
_COLOUR = MappingProxyType({"V4": 1.0, "V8": 1.0, "VVC": 1.0, "FFC": 1.0, "PIT": 1.0, "LO1": 1.0, "LO2": 1.0})


@dataclass(frozen=True)
class Channel:
    """One interpretable summary of a lite feature and where on the cortex it is painted.

    Attributes
    ----------
    name : str
        Channel name (also the name of the feature channel it reads, except the text summaries).
    modality : str
        The modality whose features it reads.
    regions : mapping
        ``{Glasser region name: weight}``.
    right_weight : float
        Factor on the right hemisphere (1 for bilateral, below 1 for left-lateralised channels).
    min_std : float
        Standard deviation, in the feature's own units, below which the channel counts as constant: its
        standardised value is divided by at least this, so that rounding noise is not blown up to unit
        variance.
    """

    name: str
    modality: str
    regions: Mapping[str, float]
    right_weight: float = 1.0
    min_std: float = 1e-3


CHANNELS: tuple[Channel, ...] = (
    Channel("loudness", "audio", _AUDITORY, min_std=0.01),
    Channel("spectral_flux", "audio", _AUDITORY, min_std=1e-3),
    Channel("mel_energy", "audio", _AUDITORY, min_std=0.01),
    Channel("word_rate", "text", _LANGUAGE, right_weight=_RIGHT_LANGUAGE, min_std=0.1),
    Channel("text_novelty", "text", _LANGUAGE, right_weight=_RIGHT_LANGUAGE, min_std=0.01),
    Channel("luminance", "video", _EARLY_VISUAL, min_std=0.005),
    Channel("contrast", "video", _EARLY_VISUAL, min_std=0.005),
    Channel("motion", "video", _MOTION, min_std=0.001),
    Channel("colourfulness", "video", _COLOUR, min_std=0.005),
)


def region_table() -> dict[str, dict]:
    """The channel -> region table as JSON-ready data.

    Returns
    -------
    dict
        ``{channel: {"modality", "regions": {name: weight}, "right_weight"}}`` in :data:`CHANNELS` order.
    """
    return {c.name: {"modality": c.modality, "regions": dict(c.regions), "right_weight": c.right_weight}
            for c in CHANNELS}


def _novelty(embeddings: np.ndarray) -> np.ndarray:
    """1 - cosine of each step's embedding (D, T) to the last earlier step with words; 0 without words."""
    norms = np.linalg.norm(embeddings, axis=0)
    novelty = np.zeros(embeddings.shape[1])
    previous = None
    for t in np.flatnonzero(norms > 0):
        unit = embeddings[:, t] / norms[t]
        novelty[t] = 1.0 if previous is None else 1.0 - float(unit @ previous)
        previous = unit
    return novelty


def _channel_series(features: FeatureSet) -> dict[str, np.ndarray]:
    """The raw (unstandardised) series (T,) of every channel whose modality is in ``features``."""
    series = {}
    if "audio" in features.features:
        audio = features.features["audio"][0]
        names = LiteAudioExtractor(n_mel_bands=audio.shape[0] - 2).channels
        series["loudness"] = audio[names.index("loudness")]
        series["spectral_flux"] = audio[names.index("spectral_flux")]
        series["mel_energy"] = audio[2:].mean(axis=0)
    if "text" in features.features:
        text = features.features["text"][0]
        series["word_rate"] = text[-1]
        series["text_novelty"] = _novelty(text[:-1].astype(np.float64))
    if "video" in features.features:
        video = features.features["video"][0]
        for index, name in enumerate(LiteVideoExtractor.channels):
            series[name] = video[index]
    return series


def standardised_channels(features: FeatureSet) -> tuple[list[Channel], np.ndarray]:
    """The channels of the modalities present and their standardised series, float64 ``(C, T)``.

    Each series is z-scored over the stimulus (divided by at least the channel's ``min_std``): the value that
    the HRF convolves, so the response is the sum over steps of ``hrf[t - s] * z[s]`` (used by the exact ROI
    temporal attention of ``nforge_app.analysis``).
    """
    series = _channel_series(features)
    used = [channel for channel in CHANNELS if channel.name in series]
    rows = np.zeros((len(used), features.n_steps))
    for row, channel in zip(rows, used, strict=True):
        x = np.asarray(series[channel.name], dtype=np.float64)
        row[:] = (x - x.mean()) / max(x.std(), channel.min_std)
    return used, rows


def hrf_kernel() -> np.ndarray:
    """A copy of the Glover HRF the model convolves with, at the 2-Hz feature rate (sums to 1)."""
    return _hrf().copy()


def channel_weights(space):
    """Sparse CSC ``(len(CHANNELS), n_vertices)``: how much each channel paints on each vertex of ``space``."""
    return _cached_weights(space)


@functools.lru_cache(maxsize=1)
def _hrf() -> np.ndarray:
    """The Glover HRF sampled at the feature rate (nilearn's, normalised to sum 1)."""
    from nilearn.glm.first_level.hemodynamic_models import glover_hrf

    return glover_hrf(t_r=1.0 / RATE_HZ, oversampling=1, time_length=HRF_LENGTH_S)


def hrf_peak_s() -> float:
    """Seconds from an event to the peak of the HRF the model convolves with (5.5 s)."""
    return float(np.argmax(_hrf())) / RATE_HZ


@functools.lru_cache(maxsize=2)
def _cached_weights(space):
    """Sparse CSC (len(CHANNELS), n_vertices) weights of each channel on the fsaverage5 vertices."""
    from scipy import sparse
    from scipy.spatial import cKDTree

    from nforge_app.spaces import load_fsaverage5

    mesh = load_fsaverage5()
    hemi_slices = {"lh": slice(0, space.n_lh), "rh": slice(space.n_lh, space.n_outputs)}
    label_index = {name: i for i, name in enumerate(space.roi_labels)}
    # Distance-based weight of each region used by some channel, per hemisphere: {(region, hemi): (n_hemi,)}.
    falloff = {}
    for region in sorted({r for c in CHANNELS for r in c.regions}):
        if region not in label_index:
            raise ValueError(f"region {region!r} of the lite table is not a Glasser region of {space.space_id}")
        for hemi, part in hemi_slices.items():
            coords = np.asarray(mesh.hemispheres[hemi]["inflated"][0], dtype=np.float64)
            labels = space.roi_assignment[part]
            distance, _ = cKDTree(coords[labels == label_index[region]]).query(
                coords, distance_upper_bound=3.0 * SIGMA_MM)
            weight = np.exp(-0.5 * (distance / SIGMA_MM) ** 2)  # inf beyond the cut -> 0
            weight[labels < 0] = 0.0  # nothing on the medial wall
            falloff[region, hemi] = weight
    rows = np.zeros((len(CHANNELS), space.n_outputs))
    for row, channel in zip(rows, CHANNELS, strict=True):
        for hemi, part in hemi_slices.items():
            side = 1.0 if hemi == "lh" else channel.right_weight
            for region, weight in channel.regions.items():
                np.maximum(row[part], side * weight * falloff[region, hemi], out=row[part])
    matrix = sparse.csc_matrix(rows.astype(np.float32))
    matrix.eliminate_zeros()
    return matrix


class LiteModel(EncodingModel):
    """The offline baseline: lite features, a canonical HRF and a region table (see the module docstring).

    ``extractors()`` returns the three lite extractors (text, audio, video); the engine runs only those
    whose modality the stimulus has. :meth:`transform` gives the channel series of the modalities present
    in the ``FeatureSet`` (a missing modality's channels are dropped), :meth:`readout` paints them.
    """

    accepted_options: dict[str, str] = {}
    absent_modality = "the channels of a modality the stimulus lacks are dropped: they paint nothing"

    card = ModelCard(
        model_id="nforge-lite",
        name="NForge lite baseline",
        modalities=("text", "audio", "video"),
        space_id="fsaverage5",
        tr_s=1.0,
        hrf_offset_s=0.0,
        time_axis="bold",
        licence="BSD-3-Clause (code); no trained weights",
        weights="embedded",
        baseline=True,
        capabilities=frozenset({"attribution", "attention", "adaptation", "streaming"}),
        subjects=("average",),
        default_subject="average",
        description=(
            "A knowledge-based baseline, NOT trained on fMRI. A few interpretable stimulus features "
            "(loudness, spectral change, word rate, how new each phrase is, luminance, contrast, motion, "
            "colourfulness) are standardised, convolved with the canonical Glover haemodynamic response and "
            "painted on the cortical regions the literature links to them (auditory cortex, language areas, "
            "early visual, motion and colour regions). Works offline on any stimulus. Use it to learn the "
            "tool and for rough hypotheses, not as a model of a brain."
        ),
    )

    def extractors(self) -> list[FeatureExtractor]:
        """The lite text, audio and video extractors."""
        return [LiteTextExtractor(), LiteAudioExtractor(), LiteVideoExtractor()]

    def transform(self, features: FeatureSet, stimulus: Stimulus, subject=None,
                  progress: ProgressFn = no_progress) -> HiddenFeatures:
        """The channel series: standardised, convolved with the HRF from rest, one row per second of BOLD time.

        Parameters
        ----------
        features : FeatureSet
            Output of the lite extractors at 2 Hz, for the modalities the stimulus has; the channels of a
            missing modality are dropped (:attr:`absent_modality`).
        stimulus : Stimulus
            The stimulus (for its duration and source).
        subject : str
            Only ``"average"`` (None means the same).
        progress : callable
            Progress callback.

        Returns
        -------
        HiddenFeatures
            float64 ``(ceil(duration_s), n_channels)``, one column per channel of the modalities present (in
            :data:`CHANNELS` order), named after it.
        """
        from scipy import signal

        self._check_subject(subject)
        if features.rate_hz != RATE_HZ:
            raise ValueError(f"nforge-lite reads features at {RATE_HZ} Hz, got {features.rate_hz} Hz")
        progress(0.0, "nforge-lite: channels")
        used, standardised = standardised_channels(features)
        n_seconds = n_steps(features.duration_s, 1.0)
        response = np.zeros((len(used), 2 * n_seconds))
        for row, z in enumerate(standardised):
            # Causal convolution, cut at the end of the stimulus (BOLD after it is not reported), from rest:
            # before the stimulus every channel sat at its mean, so the response rises after the delay.
            response[row, : len(z)] = signal.lfilter(_hrf(), 1.0, z)
        # 2 Hz -> 1 Hz: each second is the mean of its two steps (the last one may have only one).
        counts = np.minimum(2, features.n_steps - 2 * np.arange(n_seconds))
        per_second = response.reshape(len(used), n_seconds, 2).sum(axis=2) / counts
        note = "knowledge-based baseline, not trained on fMRI"
        peak_s = hrf_peak_s()
        if features.duration_s < peak_s:
            note += (f"; the stimulus ({features.duration_s:g} s) ends before the haemodynamic response peaks "
                     f"({peak_s:g} s after an event), and the response starts from rest, so the map is nearly flat")
        return HiddenFeatures(
            data=np.ascontiguousarray(per_second.T), times_s=np.arange(n_seconds) * 1.0, tr_s=self.card.tr_s,
            model_id=self.card.model_id, subject=None, columns=tuple(c.name for c in used),
            column_modalities=tuple(c.modality for c in used), hrf_offset_s=0.0, time_axis="bold",
            metadata={"baseline": True, "note": note, "hrf": "Glover (nilearn), from rest",
                      "channels": [c.name for c in used], "absent_modality": self.absent_modality})

    def readout(self, hidden: HiddenFeatures, subject=None, indices: np.ndarray | None = None,
                progress: ProgressFn = no_progress) -> Prediction:
        """Paint the channels on the cortex: a linear map of the channel series, with the region weights.

        Parameters
        ----------
        hidden : HiddenFeatures
            From :meth:`transform` (any subset of the channels, in any order).
        subject : str
            Only ``"average"`` (None means the same).
        indices : ndarray of int, optional
            fsaverage5 vertices to predict (all 20484 when None); only these columns are computed.
        progress : callable
            Progress callback.

        Returns
        -------
        Prediction
            float32 ``(ceil(duration_s), len(indices))`` on BOLD time (delay included), ``tr_s`` 1 s.
        """
        from nforge_app.spaces import get_space

        self._check_subject(subject)
        names = [c.name for c in CHANNELS]
        if hidden.model_id != self.card.model_id or not set(hidden.columns) <= set(names):
            raise UserInputError(f"these hidden features come from {hidden.model_id} with columns "
                                 f"{list(hidden.columns)[:5]}...; nforge-lite reads out its channels {names}")
        space = get_space(self.card.space_id, self.settings)
        indices = check_indices(indices, space.n_outputs, "vertex")
        indices = np.arange(space.n_outputs, dtype=np.int64) if indices is None else indices
        progress(0.0, "nforge-lite: painting regions")
        rows = [names.index(name) for name in hidden.columns]
        weights = _cached_weights(space)[rows][:, indices]
        data = np.asarray((weights.T @ hidden.data.T).T, dtype=np.float32)
        progress(1.0, "nforge-lite: done")
        return Prediction(
            data=data, times_s=hidden.times_s, tr_s=hidden.tr_s, space_id=space.space_id, indices=indices,
            model_id=self.card.model_id, subject="average", hrf_offset_s=0.0, time_axis="bold",
            metadata={**hidden.metadata,
                      "region_table": {name: sorted(CHANNELS[row].regions) for name, row in zip(hidden.columns, rows)},
                      "spatial_sigma_mm": SIGMA_MM},
        )

    def _check_subject(self, subject) -> None:
        check_subject(self.card.model_id, subject, self.card.subjects, self.card.default_subject)
