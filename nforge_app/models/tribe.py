"""TRIBE v2 (d'Ascoli et al. 2026, Meta FAIR): video, audio and text -> fMRI on fsaverage5 at 1 Hz.

Public surface: :func:`from_pretrained` and :func:`load_encoder` give the encoder module (features ->
predicted fMRI); :class:`TribeModel` is the registered :class:`EncodingModel` that the engine runs.

How a stimulus is cut (as the reference does): features at 2 Hz go through the encoder in windows of
100 s (200 steps), stride 100 s, no overlap; the last window is padded with zeros (no stimulus there,
exactly what the reference's feature extractors give past the end). Each window gives 100 pooled outputs
(1 Hz); windows are stitched end to end and the seconds past the stimulus end are dropped, keeping
``ceil(duration_s)`` rows: the reference keeps every 1-s segment that overlaps the stimulus. Row ``t``
is BOLD at ``t + 5 s`` reported at stimulus time ``t`` (``hrf_offset_s = 5``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nforge_app._device import resolve_device
from nforge_app.checks import check_all_in, check_indices, check_range, check_subject
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureExtractor, FeatureSet, ProgressFn, n_steps, no_progress
from nforge_app.models._base import EncodingModel
from nforge_app.models._tribe_release import (
    RELEASE_REPO,
    extractor_config,
    from_pretrained,
    load_encoder,
    load_release,
    release_files,
    window_from_config,
)
from nforge_app.stimuli import Stimulus
from nforge_app.values import HiddenFeatures, ModelCard, Prediction

if TYPE_CHECKING:
    from nforge_app.models._tribe_net import TribeEncoder

__all__ = ["TribeModel", "from_pretrained", "load_encoder"]

HRF_OFFSET_S = 5.0
SPACE_ID = "fsaverage5"
BATCH_WINDOWS = 8


class TribeModel(EncodingModel):
    """TRIBE v2 as an :class:`EncodingModel`.

    Options (keyword arguments): ``precision`` (``"fp32"``, the exact default; ``"bf16"``, ``"int8"`` or
    ``"fast"``: opt-in fast encoder paths, see :func:`load_encoder`; ``NFORGE_TRIBE_PRECISION`` sets it
    too), ``fast`` (older bool form of it), ``token`` (Hugging Face token), ``low_mem_use``, ``extractor_dtype`` and
    ``video_batch_size`` (passed to the feature extractors: see
    ``nforge_app.features.tribe.extractors_from_config``), ``batch_windows`` (windows per encoder call,
    default 8). ``variant`` is a hub repository id or a local release folder (default ``facebook/tribev2``,
    or ``<NFORGE_WEIGHTS_DIR>/tribe-v2`` when present).
    """

    weight_files = ("config.yaml", "best.ckpt")
    absent_modality = ("a modality the stimulus lacks is zeros after its projector (the projector's bias is not "
                       "added), as TRIBE v2 was trained with modality dropout")
    accepted_options = {
        "fast": "older form of precision: True is 'fast', False 'fp32'",
        "precision": "encoder precision: fp32 (exact, default), bf16, int8 or fast (opt-in, not exact)",
        "token": "Hugging Face token for gated weights",
        "low_mem_use": "load one feature model at a time and free it after use",
        "extractor_dtype": "dtype of the feature models (float32, bfloat16, float16)",
        "video_batch_size": "64-frame clips per V-JEPA2 pass",
        "batch_windows": "100-s windows per encoder call (default 8)",
        "modalities": "run only these of text, audio, video (e.g. audio and text for a video on a CPU; the rest "
                      "is absent)",
        "text_mode": "text features: fast (one causal pass per 1024 words, default) or reference (a pass per word)",
    }
    card = ModelCard(
        model_id="tribe-v2",
        name="TRIBE v2 (Meta FAIR)",
        aliases=("fmri-dascoli_2026-tribe_v2", "fmri-multi_study-tribe_v2"),
        modalities=("text", "audio", "video"),
        space_id=SPACE_ID,
        subjects=("average",),
        tr_s=1.0,
        hrf_offset_s=HRF_OFFSET_S,
        time_axis="stimulus",
        licence="CC-BY-NC-4.0",
        weights=RELEASE_REPO,
        variants=(RELEASE_REPO,),
        capabilities=frozenset({"attribution", "attention", "attention-rollout", "adaptation", "streaming"}),
        description=(
            "TRIBE v2: a tri-modal transformer from Meta FAIR trained on hundreds of hours of naturalistic fMRI "
            "(movies, podcasts, silent videos). Llama-3.2-3B text, w2v-BERT 2.0 audio and V-JEPA2 video features "
            "at 2 Hz feed an 8-layer transformer over 100-s windows that predicts the average subject's BOLD "
            "response on the 20,484 fsaverage5 vertices at 1 Hz, shifted back 5 s onto stimulus time. Weights "
            "are non-commercial (CC-BY-NC-4.0) and Llama-3.2-3B is gated on Hugging Face."),
        citation=(
            "d'Ascoli, S., et al. (2026). A foundation model of vision, audition, and language for in-silico "
            "neuroscience. Meta FAIR. https://ai.meta.com/research/publications/"
            "a-foundation-model-of-vision-audition-and-language-for-in-silico-neuroscience/"),
    )

    def load(self) -> None:
        """Find the release (local folder given as variant, weights folder, or hub) and load the encoder."""
        self.device_ = resolve_device(self.device)
        config_path, checkpoint_path = release_files(self.variant or RELEASE_REPO, token=self.options.get("token"),
                                                     settings=self.settings)
        self.encoder_, self.config_ = load_release(config_path, checkpoint_path, self.device_,
                                                   precision=self._precision_option())
        self.release_path_ = str(checkpoint_path.parent)

    def _loaded(self) -> TribeEncoder:
        if not hasattr(self, "encoder_"):
            self.load()
        return self.encoder_

    def extractors(self) -> list[FeatureExtractor]:
        """Llama-3.2-3B, w2v-BERT 2.0 and V-JEPA2 extractors as the release configures them, on our device.

        Their dtype is the ``extractor_dtype`` option, by default float32 on the CPU and bfloat16
        on a GPU (see ``nforge_app.features.tribe.extractors_from_config``).
        """
        from nforge_app.features.tribe import extractors_from_config

        self._loaded()
        if not hasattr(self, "extractors_"):  # built once: each keeps its loaded model between predictions
            self.extractors_ = extractors_from_config(
                extractor_config(self.config_, self.device_), device=self.device_,
                dtype=self.options.get("extractor_dtype"), low_mem_use=bool(self.options.get("low_mem_use", False)),
                video_batch_size=self.options.get("video_batch_size"),
                **({"text_mode": self.options["text_mode"]} if "text_mode" in self.options else {}))
        keep = self.options.get("modalities")
        if keep:
            keep = check_all_in("modalities", [keep] if isinstance(keep, str) else keep, self.card.modalities)
            return [extractor for extractor in self.extractors_ if extractor.modality in keep]
        return self.extractors_

    def params(self) -> dict:
        device = resolve_device(self.device)
        from nforge_app.models._tribe_net import resolve_precision

        params = {key: value for key, value in super().params().items() if key not in ("fast", "precision")}
        return {**params, "precision": resolve_precision(self._precision_option(), device)}

    def _precision_option(self):
        """The ``precision`` option, else the older ``fast`` one, else None (``NFORGE_TRIBE_PRECISION``/fp32)."""
        precision = self.options.get("precision")
        return self.options.get("fast") if precision is None else precision

    def transform(self, features: FeatureSet, stimulus: Stimulus, subject=None,
                  progress: ProgressFn = no_progress) -> HiddenFeatures:
        """The encoder's last hidden features (after the final norm), one row per second like the prediction.

        Parameters
        ----------
        features : FeatureSet
            ``{modality: (L, D, T)}`` at the release's feature rate (2 Hz); a missing modality is absent
            (:attr:`absent_modality`).
        stimulus : Stimulus
            The stimulus the features came from (for its duration and metadata).
        subject : str or None
            ``"average"`` (or None); the trunk does not depend on it.
        progress : callable
            ``progress(fraction, stage)``, once per batch of windows.

        Returns
        -------
        HiddenFeatures
            float32 ``(ceil(duration_s), hidden)``: each 100-s window's pooled 1-Hz steps, stitched end to end.
        """
        import torch

        encoder = self._loaded()
        self._check_subject(subject)
        geometry = self.windows(features, stimulus.duration_s)
        window_s, rate_hz, tr_s = geometry.window_s, geometry.rate_hz, geometry.tr_s
        n_windows, n_rows = geometry.n_windows, geometry.n_rows
        windows = stack_windows(features.features, n_windows, geometry.steps)
        batch = self._batch_windows()
        outputs = []
        for start in range(0, n_windows, batch):
            progress(start / n_windows, f"TRIBE v2 encoder: windows {start + 1}-{min(start + batch, n_windows)} "
                                        f"of {n_windows}")
            chunk = {modality: torch.from_numpy(array[start:start + batch]) for modality, array in windows.items()}
            outputs.append(encoder.hidden(chunk, pool_outputs=True, fast=self._precision_option()).cpu().numpy())
        data = stitch_windows(np.concatenate(outputs).transpose(0, 2, 1), n_rows)
        present = [m for m in encoder.spec.feature_dims if m in features.features]
        return HiddenFeatures(
            data=data, times_s=np.arange(n_rows) * tr_s, tr_s=tr_s, model_id=self.card.model_id, subject=None,
            columns=tuple(f"hidden {i}" for i in range(data.shape[1])), column_modalities=("mixed",) * data.shape[1],
            hrf_offset_s=HRF_OFFSET_S, time_axis="stimulus",
            metadata={
                "model": self.card.name, "licence": self.card.licence, "release": self.release_path_,
                "variant": self.variant or RELEASE_REPO, "device": str(self.device_),
                "precision": encoder.precision(self._precision_option()), "n_windows": n_windows,
                "window_s": window_s, "feature_rate_hz": rate_hz, "modalities": present,
                "zero_modalities": [m for m in encoder.spec.feature_dims if m not in present],
                "absent_modality": self.absent_modality,
                "extractor_ids": dict(features.extractor_ids), "word_timing": stimulus.word_timing,
                "stimulus": stimulus.source, "duration_s": stimulus.duration_s,
            },
        )

    def windows(self, features: FeatureSet, duration_s: float) -> WindowGeometry:
        """How ``features`` of a ``duration_s`` stimulus are cut into the encoder's windows (their rate checked).

        Raises
        ------
        UserInputError
            When the features are not at the release's rate.
        """
        window_s, rate_hz = window_from_config(self.config_)
        if not math.isclose(features.rate_hz, rate_hz):
            raise UserInputError(f"TRIBE v2 reads features at {rate_hz:g} Hz; got {features.rate_hz:g} Hz")
        steps = round(window_s * rate_hz)
        tr_s = window_s / self._loaded().spec.n_output_timesteps
        return WindowGeometry(window_s, rate_hz, steps, tr_s, max(1, math.ceil(features.n_steps / steps)),
                              n_steps(duration_s, 1.0 / tr_s))

    def readout(self, hidden: HiddenFeatures, subject=None, indices: np.ndarray | None = None,
                progress: ProgressFn = no_progress) -> Prediction:
        """The fused head and predictor (an affine map) on hidden features: the selected fsaverage5 vertices.

        The rows are cut back into the 100-s windows they came from and go through the head in the same
        batches as in :meth:`transform`, so the prediction is the one the encoder's forward pass gives.

        Returns
        -------
        Prediction
            (ceil(duration_s), V) at 1 Hz on stimulus time, BOLD shifted back 5 s.
        """
        import torch

        encoder = self._loaded()
        self._check_subject(subject)
        self._check_hidden(hidden, encoder.spec.hidden)
        indices = check_indices(indices, encoder.spec.n_outputs, "vertex")
        per_window = encoder.spec.n_output_timesteps
        n_rows = len(hidden.data)
        n_windows = max(1, math.ceil(n_rows / per_window))
        windows = np.zeros((n_windows * per_window, hidden.data.shape[1]), dtype=np.float32)
        windows[:n_rows] = hidden.data
        windows = windows.reshape(n_windows, per_window, -1)
        selection = None if indices is None else torch.as_tensor(indices)
        batch = self._batch_windows()
        outputs = []
        for start in range(0, n_windows, batch):
            progress(start / n_windows, "TRIBE v2 encoder: head")
            outputs.append(encoder.readout(torch.from_numpy(windows[start:start + batch]), selection,
                                           self._precision_option()).cpu().numpy())
        progress(1.0, "TRIBE v2 encoder: done")
        return Prediction(
            data=stitch_windows(np.concatenate(outputs), n_rows), times_s=hidden.times_s, tr_s=hidden.tr_s,
            space_id=SPACE_ID, indices=np.arange(encoder.spec.n_outputs) if indices is None else indices,
            model_id=self.card.model_id, subject="average", hrf_offset_s=HRF_OFFSET_S, time_axis="stimulus",
            metadata=dict(hidden.metadata))

    def _check_subject(self, subject) -> None:
        check_subject(self.card.model_id, subject, self.card.subjects, self.card.default_subject)

    def _batch_windows(self) -> int:
        return check_range("batch_windows", self.options.get("batch_windows", BATCH_WINDOWS), 1, math.inf,
                           integer=True)


@dataclass(frozen=True)
class WindowGeometry:
    """The encoder's windows over one stimulus: window length and feature rate of the release, feature steps
    per window, output TR, number of windows, and the prediction's rows (``ceil(duration_s / tr_s)``)."""

    window_s: float
    rate_hz: float
    steps: int
    tr_s: float
    n_windows: int
    n_rows: int


def stack_windows(features: dict[str, np.ndarray], n_windows: int, steps: int) -> dict[str, np.ndarray]:
    """Cut ``{modality: (L, D, T)}`` into float32 ``(n_windows, L, D, steps)``, zero-padding the last window."""
    stacked = {}
    for modality, array in features.items():
        n_layers, dim, n_in = array.shape
        padded = np.zeros((n_layers, dim, n_windows * steps), dtype=np.float32)
        padded[..., :n_in] = array
        stacked[modality] = np.ascontiguousarray(padded.reshape(n_layers, dim, n_windows, steps).transpose(2, 0, 1, 3))
    return stacked


def stitch_windows(outputs: np.ndarray, n_rows: int) -> np.ndarray:
    """Join per-window outputs ``(n_windows, V, per_window)`` into ``(n_rows, V)``, dropping the tail."""
    n_windows, n_outputs, per_window = outputs.shape
    joined = outputs.transpose(0, 2, 1).reshape(n_windows * per_window, n_outputs)
    if n_rows > len(joined):
        raise ValueError(f"{n_rows} rows asked from {len(joined)} stitched outputs")
    return np.ascontiguousarray(joined[:n_rows], dtype=np.float32)
