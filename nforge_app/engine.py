"""The engine: the one object the faces (CLI, web app, Python API) talk to.

It owns the loaded models and the caches and runs the flow stimulus -> features -> model -> Prediction.
``Engine.predict`` is a pure function of its arguments (cached by content hash), and loading a model is
separate from predicting, so a cluster worker can hold one loaded model and map over stimuli.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nforge_app._device import resolve_device
from nforge_app._files import text_sha256
from nforge_app._version import __version__
from nforge_app.checks import check_subject
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export import load_npz, save_npz
from nforge_app.features import FeatureSet, ProgressFn, n_steps, no_progress
from nforge_app.features._cache import FeatureCache
from nforge_app.models import (
    EncodingModel,
    ModelCard,
    Prediction,
    get_card,
    get_model_class,
    resolve_model_id,
)
from nforge_app.spaces import get_space
from nforge_app.stimuli import Stimulus, load_stimulus, stimulus_key

log = logging.getLogger(__name__)

# Share of the progress bar given to each stage.
_DECODE, _FEATURES = 0.1, 0.8


class Engine:
    """Load models once, cache features and predictions, predict brain activity.

    Parameters
    ----------
    settings : Settings, optional
        Where caches live and which limits apply; read from the environment by default.
    device : str, optional
        ``"auto"``, ``"cpu"`` or ``"cuda"``; defaults to ``settings.device``.
    memory_items : int
        How many predictions to keep in memory (the disk cache keeps all).

    Examples
    --------
    >>> engine = Engine()
    >>> pred = engine.predict("clip.mp4", model="nforge-lite", roi=["V1", "MT"])  # doctest: +SKIP
    >>> pred.data.shape  # doctest: +SKIP
    (60, 1034)
    """

    def __init__(self, settings: Settings | None = None, device: str | None = None, memory_items: int = 32) -> None:
        self.settings = settings or Settings.from_env()
        self.device = resolve_device(device or self.settings.device)
        self.memory_items = memory_items
        self.feature_cache = FeatureCache(self.settings.cache_dir / "features")
        self._prediction_dir = self.settings.cache_dir / "predictions"
        self._models: dict[tuple, EncodingModel] = {}
        self._memory: OrderedDict[str, Prediction] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[object, threading.Lock] = {}

    # -- models ---------------------------------------------------------------------------------
    def card(self, model_id: str) -> ModelCard:
        """The card of ``model_id`` (a BERG alias works too), without loading weights."""
        return get_card(model_id)

    def load_model(self, model_id: str, variant: str | None = None, **options) -> EncodingModel:
        """Return the loaded model, loading it on first use (once, even with concurrent callers)."""
        model_id = resolve_model_id(model_id)
        key = (model_id, variant, json.dumps(options, sort_keys=True, default=str))
        with self._key_lock(("model", key)):
            if key not in self._models:
                model = get_model_class(model_id)(self.settings, variant=variant, device=self.device, **options)
                model.load()
                self._models[key] = model
            return self._models[key]

    def unload(self) -> None:
        """Forget every loaded model (frees memory; the caches stay)."""
        with self._lock:
            self._models.clear()

    # -- prediction -------------------------------------------------------------------------------
    def select(self, model_id: str, roi: str | Sequence[str] | None = None, mask=None) -> np.ndarray | None:
        """Indices of the outputs named by ``roi`` and/or ``mask`` (union); None means all outputs."""
        if roi is None and mask is None:
            return None
        if isinstance(roi, str):
            roi = [roi]
        if roi is not None and not list(roi) and mask is None:
            return None
        return get_space(get_card(model_id).space_id, self.settings).select(roi=roi or None, mask=mask)

    def check_subject(self, model_id: str, subject=None):
        """Return the subject to use for ``model_id``: its default, or ``subject`` if valid (``1``, ``"1"`` and
        ``"sub-01"`` name the same subject)."""
        card = get_card(model_id)
        return check_subject(card.model_id, subject, card.subjects, card.default_subject)

    def predict(self, stimulus, model: str = "nforge-lite", *, subject=None, roi=None, mask=None,
                variant: str | None = None, tr_s: float | None = None, progress: ProgressFn | None = None,
                **options) -> Prediction:
        """Predict brain activity for one stimulus.

        Parameters
        ----------
        stimulus : str, PathLike, list of str or Stimulus
            A video, audio, text or transcript file, a list of per-TR strings, or a loaded Stimulus.
        model : str
            Model id or BERG alias (``nforge models`` lists them).
        subject : optional
            One of the model's subjects; its default when None.
        roi : str or list of str, optional
            Region names, wildcards or network names of the model's output space.
        mask : array-like, optional
            Binary mask over the outputs of the space; combined with ``roi`` as a union.
        variant : str, optional
            Weight variant (hub repo id or local folder).
        tr_s : float, optional
            TR of a list of per-TR strings (the model's TR by default).
        progress : callable, optional
            ``progress(fraction, stage)``; tqdm and Gradio adapters fit.
        **options
            Model options (e.g. ``n_samples`` for flow-matching).

        Returns
        -------
        Prediction
        """
        progress = progress or no_progress
        model_id = resolve_model_id(model)
        card = get_card(model_id)
        subject = self.check_subject(model_id, subject)
        indices = self.select(model_id, roi, mask)
        if not isinstance(stimulus, Stimulus) and not isinstance(stimulus, (str, os.PathLike)):
            tr_s = tr_s or card.tr_s
        key_stimulus = stimulus.content_hash if isinstance(stimulus, Stimulus) else stimulus_key(stimulus, tr_s)
        model_class = get_model_class(model_id)
        weights = model_class.weights_fingerprint(self.settings, variant)
        # params() of an unloaded instance (cheap): the options as the model reads them, and what they resolve
        # to here (e.g. the TRIBE v2 encoder's precision); the package version stands for the model code.
        params = model_class(self.settings, variant=variant, device=self.device, **options).params()
        base_key = text_sha256(key_stimulus, model_id, str(variant), weights, str(subject), __version__,
                               json.dumps(params, sort_keys=True, default=str))
        full_key = f"{base_key}-all"
        sel_key = full_key if indices is None else f"{base_key}-{text_sha256(indices.tobytes().hex())[:16]}"

        with self._key_lock(("prediction", sel_key)):
            for key in dict.fromkeys((sel_key, full_key)):
                cached = self._cached(key)
                if cached is not None:
                    progress(1.0, "cached")
                    return cached if key == sel_key else _subset(cached, indices)
            progress(0.0, "decoding stimulus")
            if not isinstance(stimulus, Stimulus):
                stimulus = load_stimulus(stimulus, self.settings, tr_s=tr_s)
            loaded = self.load_model(model_id, variant, **options)
            features = self.extract_features(loaded, stimulus, progress)
            progress(_FEATURES, "predicting")
            prediction = loaded.predict(features, stimulus, subject, indices,
                                        lambda f, s: progress(_FEATURES + (1 - _FEATURES) * f, s))
            prediction.metadata.setdefault("stimulus", {"source": os.path.basename(stimulus.source),
                                                        "kind": stimulus.kind, "duration_s": stimulus.duration_s,
                                                        "word_timing": stimulus.word_timing,
                                                        "notes": list(stimulus.notes)})
            prediction.metadata.setdefault("device", self.device)
            self._store(sel_key, prediction)
            progress(1.0, "done")
            return prediction

    def extract_features(self, model: EncodingModel, stimulus: Stimulus,
                         progress: ProgressFn = no_progress) -> FeatureSet:
        """Run (or read from the cache) each of the model's extractors that the stimulus has input for."""
        extractors = [e for e in model.extractors() if e.modality in stimulus.modalities]
        if not extractors:
            wanted = sorted({e.modality for e in model.extractors()})
            raise UserInputError(
                f"{model.card.model_id} reads {', '.join(wanted)}, but the stimulus ({stimulus.kind}) carries "
                f"{', '.join(stimulus.modalities) or 'nothing usable'}; give it a stimulus with "
                f"{' or '.join(wanted)}")
        rates = {e.rate_hz for e in extractors}
        if len(rates) != 1:
            raise RuntimeError(f"extractors of {model.card.model_id} disagree on the rate: {rates}")
        rate_hz = rates.pop()
        features, ids = {}, {}
        span = _FEATURES - _DECODE
        for i, extractor in enumerate(extractors):
            start = _DECODE + span * i / len(extractors)
            progress(start, f"{extractor.modality} features")

            def sub_progress(fraction, stage, start=start):
                progress(start + span * fraction / len(extractors), stage)

            features[extractor.modality] = self.feature_cache.get_or_compute(
                stimulus.content_hash, extractor, lambda extractor=extractor: extractor.extract(stimulus, sub_progress))
            ids[extractor.modality] = extractor.extractor_id
        return FeatureSet(features=features, rate_hz=rate_hz, n_steps=n_steps(stimulus.duration_s, rate_hz),
                          duration_s=stimulus.duration_s, extractor_ids=ids)

    # -- caches -------------------------------------------------------------------------------------
    def _key_lock(self, key) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _cached(self, key: str) -> Prediction | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._prediction_dir / f"{key}.npz"
        if not path.exists():
            return None
        try:
            prediction = load_npz(path)
        except UserInputError:
            log.warning("ignoring unreadable cached prediction %s", path)
            return None
        self._remember(key, prediction)
        return prediction

    def _store(self, key: str, prediction: Prediction) -> None:
        self._remember(key, prediction)
        save_npz(prediction, self._prediction_dir / f"{key}.npz")

    def _remember(self, key: str, prediction: Prediction) -> None:
        with self._lock:
            self._memory[key] = prediction
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir


def _subset(prediction: Prediction, indices: np.ndarray) -> Prediction:
    """The columns ``indices`` of a prediction over all outputs."""
    return Prediction(
        data=np.ascontiguousarray(prediction.data[:, indices]), times_s=prediction.times_s, tr_s=prediction.tr_s,
        space_id=prediction.space_id, indices=indices, model_id=prediction.model_id, subject=prediction.subject,
        hrf_offset_s=prediction.hrf_offset_s, time_axis=prediction.time_axis, metadata=dict(prediction.metadata),
        spread=None if prediction.spread is None else np.ascontiguousarray(prediction.spread[:, indices]),
    )
