"""Streaming prediction: push a stimulus as it arrives, get one prediction row per TR as soon as it can be had.

:class:`StreamingPredictor` keeps the features of what was pushed on the model's feature grid and reads the
model's own seam (``transform`` then ``readout``) on them, so its rows are the offline prediction of the
stimulus so far:

- ``push_audio`` (the lite model): the lite audio extractor runs on the new samples with one feature step of
  the past before them (its frames reach 16 ms around their centre and the spectral flux compares with the
  frame before), so each step's features are those of the whole track; a step is complete once the samples
  16 ms past its end are in.
- ``push_features``: feature steps of any model, ``{modality: (L, D, n)}`` at its feature rate (what its
  extractors give), computed once per chunk by the caller.

A row (one TR) is emitted once the feature steps it spans are complete. The lite model is causal but for one
thing: it standardises each channel over the stimulus, so an emitted row is standardised with the statistics
of the stimulus up to it (the offline prediction of the stimulus cut there); :meth:`StreamingPredictor.prediction`
gives every row with the statistics of all that was pushed, which after :meth:`~StreamingPredictor.finish`
is the offline prediction of the whole stimulus. TRIBE v2 reads 100-s windows: only the current window goes
through the encoder again (padded with zeros as the offline prediction pads its last window), so the rows of a
completed window are the offline ones and those of the current window are those of the stimulus cut there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np

from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet, n_steps
from nforge_app.stimuli import AudioTrack, Stimulus
from nforge_app.values import HiddenFeatures, Prediction

_AUDIO = "audio"


class StreamingPredictor:
    """Predict TR by TR from stimulus chunks (see the module docstring).

    Parameters
    ----------
    source : Engine or EncodingModel
        An engine (the model is loaded through it, and adapted subjects are found in its store) or a loaded
        model.
    model_id : str
        The model (with an engine); ignored for a loaded model. Its card must offer ``streaming``.
    subject : optional
        One of the model's subjects, or (with an engine) an adapted subject.
    roi : str or list of str, optional
        Outputs to predict (all by default).
    sample_rate_hz : int
        Sample rate of the audio pushed (16 kHz, as the stimuli are decoded, by default).

    Examples
    --------
    >>> stream = StreamingPredictor(Engine(), "nforge-lite")  # doctest: +SKIP
    >>> for chunk in microphone_chunks():  # doctest: +SKIP
    ...     rows = stream.push_audio(chunk)
    ...     if rows is not None:
    ...         draw(rows.data[-1])
    """

    def __init__(self, source, model_id: str = "nforge-lite", *, subject=None, roi=None,
                 sample_rate_hz: int = 16000, variant: str | None = None, **options) -> None:
        if hasattr(source, "load_model"):
            self.model = source.load_model(model_id, variant, **options)
            card = self.model.card
            self.subject = source.check_subject(card.model_id, subject)
            self.adapted = source.adapted_subject(card.model_id, self.subject)
            self.indices = source.select(card.model_id, roi)
        else:
            self.model, card = source, source.card
            self.subject, self.adapted = subject if subject is not None else card.default_subject, None
            if roi is not None:
                from nforge_app.spaces import get_space

                self.indices = get_space(card.space_id, source.settings).select(roi=roi)
            else:
                self.indices = None
        if "streaming" not in card.capabilities:
            raise UserInputError(f"{card.model_id} cannot stream (its card lacks the streaming capability)")
        self.card = card
        self.sample_rate_hz = int(sample_rate_hz)
        self._window = self._window_steps()
        if self._window is None:
            rates = {extractor.rate_hz for extractor in self.model.extractors()}
            self.rate_hz = float(rates.pop())
        self._audio = np.zeros(0, dtype=np.float32)  # the samples from ``_audio_start`` on (what is still read)
        self._audio_start = 0
        self._n_samples = 0
        self._features: dict[str, np.ndarray] = {}
        self._done = 0  # feature steps complete
        self._emitted = 0  # rows emitted
        self._finished = False
        self.latency_s: list[float] = []
        """Compute time (s) of each push that emitted rows."""

    # -- input --------------------------------------------------------------------------------------------
    def push_audio(self, samples) -> Prediction | None:
        """Add mono audio samples (floats in -1..1 at ``sample_rate_hz``); return the rows now complete."""
        self._check_open()
        started = time.perf_counter()
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._audio = np.concatenate([self._audio, samples])
        self._n_samples += len(samples)
        extractor = self._audio_extractor()
        lookahead = extractor_lookahead(extractor, self.sample_rate_hz)
        complete = int(math.floor(max(self._n_samples - lookahead, 0) / self.sample_rate_hz * self.rate_hz + 1e-9))
        self._extend_audio(extractor, complete)
        return self._emit(started)

    def push_features(self, features: Mapping[str, np.ndarray]) -> Prediction | None:
        """Add feature steps ``{modality: (L, D, n)}`` on the model's feature grid; return the rows now complete.

        Every modality of the stream must come with the same number of steps each time.
        """
        self._check_open()
        started = time.perf_counter()
        counts = {np.asarray(array).shape[-1] for array in features.values()}
        if len(counts) != 1 or (self._features and set(features) != set(self._features)):
            raise UserInputError(f"push the same modalities ({', '.join(self._features) or 'any'}) with the same "
                                 f"number of steps each time; got {({m: np.shape(a) for m, a in features.items()})}")
        for modality, array in features.items():
            array = np.asarray(array, dtype=np.float32)
            old = self._features.get(modality)
            self._features[modality] = array if old is None else np.concatenate([old, array], axis=-1)
        self._done += counts.pop()
        return self._emit(started)

    def finish(self) -> Prediction | None:
        """The stimulus is over: complete its last steps (as the offline prediction pads them) and return the
        last rows."""
        self._check_open()
        started = time.perf_counter()
        if self._n_samples:
            extractor = self._audio_extractor()
            self._extend_audio(extractor, n_steps(self._n_samples / self.sample_rate_hz, self.rate_hz))
        self._finished = True
        return self._emit(started)

    # -- output ----------------------------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        """Length of the stimulus so far: the audio pushed, or the feature steps complete."""
        if self._n_samples and self._finished:
            return self._n_samples / self.sample_rate_hz
        return self._done / self.rate_hz

    def _check_open(self) -> None:
        if self._finished:
            raise UserInputError("this stream is finished; start a new StreamingPredictor")

    def _audio_extractor(self):
        extractor = next((e for e in self.model.extractors() if e.modality == _AUDIO), None)
        if extractor is None or not hasattr(extractor, "frame_s"):
            raise UserInputError(f"{self.card.model_id} computes its audio features over long context: push its "
                                 "feature steps (push_features), computed once per chunk")
        if self._features and set(self._features) != {_AUDIO}:
            raise UserInputError("this stream gets feature steps: push_features, not push_audio")
        return extractor

    def _extend_audio(self, extractor, complete: int) -> None:
        """Features of steps ``_done .. complete - 1`` from the samples, with one step of the past before them."""
        if complete <= self._done:
            return
        per_step = self.sample_rate_hz / self.rate_hz
        margin = 1 if self._done else 0
        start = round((self._done - margin) * per_step)
        segment = self._audio[start - self._audio_start:]
        stimulus = Stimulus(kind="audio", source="<stream>", content_hash="stream",
                            duration_s=len(segment) / self.sample_rate_hz,
                            audio=AudioTrack(samples=segment, sample_rate_hz=self.sample_rate_hz))
        steps = extractor.extract(stimulus)[..., margin: margin + complete - self._done]
        old = self._features.get(_AUDIO)
        self._features[_AUDIO] = steps if old is None else np.concatenate([old, steps], axis=-1)
        self._done = complete
        # what the next steps read starts one step before them: the samples before it are let go
        keep = round((self._done - 1) * per_step)
        if keep > self._audio_start:
            self._audio = self._audio[keep - self._audio_start:].copy()
            self._audio_start = keep

    def _window_steps(self) -> int | None:
        """Feature steps of the model's windows (TRIBE v2: 100 s; sets the feature rate), or None for a model
        that reads the whole stimulus."""
        config = getattr(self.model, "config_", None)
        if config is None or not hasattr(self.model, "encoder_"):
            return None
        from nforge_app.models._tribe_release import window_from_config

        window_s, self.rate_hz = window_from_config(config)
        return round(window_s * self.rate_hz)

    def _hidden(self, first_row: int, cut_row: int | None) -> HiddenFeatures:
        """Hidden features of the stimulus cut at the end of row ``cut_row`` (all that was pushed when None),
        from the window holding ``first_row`` (a windowed model) or from the start."""
        steps_per_row = self.rate_hz * self.card.tr_s
        start = 0
        if self._window is not None:
            start = (int(round(first_row * steps_per_row)) // self._window) * self._window
        end = self._done if cut_row is None else min(self._done, int(round(cut_row * steps_per_row)))
        duration_s = self.duration_s if cut_row is None else end / self.rate_hz
        features = FeatureSet({m: a[..., start:end] for m, a in self._features.items()}, rate_hz=self.rate_hz,
                              n_steps=end - start, duration_s=duration_s - start / self.rate_hz,
                              extractor_ids={m: "stream" for m in self._features})
        stimulus = Stimulus(kind="stream", source="<stream>", content_hash="stream", duration_s=features.duration_s)
        trunk = self.adapted.trunk_subject if self.adapted is not None else self.subject
        hidden = self.model.transform(features, stimulus, trunk)
        return _rows(hidden, np.arange(len(hidden.data)), start / self.rate_hz)

    def _readout(self, hidden: HiddenFeatures) -> Prediction:
        if self.adapted is not None:
            return self.adapted.readout(hidden, self.indices)
        return self.model.readout(hidden, self.subject, self.indices)

    def prediction(self) -> Prediction | None:
        """Every row so far, standardised (lite) with the statistics of all that was pushed: after
        :meth:`finish`, the offline prediction of the whole stimulus."""
        if not self._done:
            return None
        hidden = self._hidden(0, None if self._finished else self._complete_rows())
        return self._readout(_rows(hidden, np.arange(min(len(hidden.data), self._complete_rows())), 0.0))

    def _complete_rows(self) -> int:
        """Rows whose feature steps are all in (the last, partial row too once the stream is finished)."""
        steps_per_row = self.rate_hz * self.card.tr_s
        count = self._done / steps_per_row
        return math.ceil(count - 1e-9) if self._finished else math.floor(count + 1e-9)

    def _emit(self, started: float) -> Prediction | None:
        """The rows completed since the last emission: for a model that reads the whole stimulus, each row as
        the stimulus cut at its end gives it; for a windowed one, the rows of its windows as they stand."""
        complete = self._complete_rows()
        if complete <= self._emitted:
            return None
        if self._window is None:
            parts = []
            for row in range(self._emitted, complete):
                last = self._finished and row == complete - 1
                hidden = self._hidden(0, None if last else row + 1)
                parts.append(_rows(hidden, np.array([row]), 0.0))
            hidden = _stack(parts)
        else:
            hidden = self._hidden(self._emitted, None if self._finished else complete)
            number = np.round(hidden.times_s / hidden.tr_s).astype(np.int64)
            hidden = _rows(hidden, np.flatnonzero((number >= self._emitted) & (number < complete)), 0.0)
        rows = self._readout(hidden)
        self._emitted = complete
        self.latency_s.append(time.perf_counter() - started)
        return rows


def _rows(hidden: HiddenFeatures, rows: np.ndarray, offset_s: float) -> HiddenFeatures:
    """Some rows of hidden features, their times moved by ``offset_s``."""
    return HiddenFeatures(data=hidden.data[rows], times_s=hidden.times_s[rows] + offset_s, tr_s=hidden.tr_s,
                          model_id=hidden.model_id, subject=hidden.subject, columns=hidden.columns,
                          column_modalities=hidden.column_modalities, hrf_offset_s=hidden.hrf_offset_s,
                          time_axis=hidden.time_axis, metadata=hidden.metadata)


def _stack(parts: list[HiddenFeatures]) -> HiddenFeatures:
    first = parts[0]
    return HiddenFeatures(data=np.concatenate([p.data for p in parts]),
                          times_s=np.concatenate([p.times_s for p in parts]), tr_s=first.tr_s,
                          model_id=first.model_id, subject=first.subject, columns=first.columns,
                          column_modalities=first.column_modalities, hrf_offset_s=first.hrf_offset_s,
                          time_axis=first.time_axis, metadata=first.metadata)


def extractor_lookahead(extractor, sample_rate_hz: int) -> int:
    """Samples past a step's end that its last frame reads (half an analysis window)."""
    window = round(extractor.frame_s * sample_rate_hz)
    return window - window // 2


__all__ = ["StreamingPredictor"]
