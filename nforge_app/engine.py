"""The engine: the one object the faces (CLI, web app, Python API) talk to.

It owns the loaded models and the caches and runs the flow stimulus -> features -> model -> Prediction.
``Engine.predict`` is a pure function of its arguments (cached by content hash), and loading a model is
separate from predicting, so a cluster worker can hold one loaded model and map over stimuli.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nforge_app._cache_budget import CacheBudget, touch
from nforge_app._device import resolve_device
from nforge_app._files import text_sha256
from nforge_app._limits import check_roi_count
from nforge_app._version import __version__
from nforge_app.checks import check_subject
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export import (
    load_attribution,
    load_evaluation,
    load_npz,
    load_roi_attention,
    save_attribution,
    save_evaluation,
    save_npz,
    save_roi_attention,
)
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
from nforge_app.values import ATTRIBUTION_METHODS, Attribution, Evaluation, MeasuredRun, RoiAttention

log = logging.getLogger(__name__)

# Share of the progress bar given to each stage.
_DECODE, _FEATURES = 0.1, 0.8


class _Request(NamedTuple):
    """One prediction request, resolved: what ``predict`` needs besides the stimulus, and its cache keys."""

    model_id: str
    subject: object
    indices: np.ndarray | None
    key: str
    """Key of the selection asked for."""
    full_key: str
    """Key of the prediction over all outputs (a selection is served from it when cached)."""


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
        self._evaluation_dir = self.settings.cache_dir / "evaluations"
        self._attribution_dir = self.settings.cache_dir / "attributions"
        self._attributions: OrderedDict[str, Attribution] = OrderedDict()
        self._models: dict[tuple, EncodingModel] = {}
        self._adapted: dict[tuple, object] = {}
        self._memory: OrderedDict[str, Prediction] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[object, threading.Lock] = {}
        self.cache_budget = CacheBudget.from_settings(self.settings)

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
        check_roi_count(roi, self.settings)
        if roi is not None and not list(roi) and mask is None:
            return None
        return get_space(get_card(model_id).space_id, self.settings).select(roi=roi or None, mask=mask)

    def check_subject(self, model_id: str, subject=None):
        """Return the subject to use for ``model_id``: its default, or ``subject`` if valid (``1``, ``"1"`` and
        ``"sub-01"`` name the same subject)."""
        from nforge_app.analysis._subjects import adapted_names

        card = get_card(model_id)
        return check_subject(card.model_id, subject, card.subjects, card.default_subject,
                             adapted=adapted_names(self.settings, card.model_id))

    def adapted_subject(self, model_id: str, subject):
        """The :class:`~nforge_app.analysis.AdaptedSubject` that ``subject`` names (``nforge adapt``), or None
        for one of the model's own subjects."""
        from nforge_app.analysis._subjects import CARD_FILE, load_subject, subjects_dir

        card = get_card(model_id)
        if subject is None or subject in card.subjects:
            return None
        card_file = subjects_dir(self.settings) / card.model_id / str(subject) / CARD_FILE
        stamp = (card.model_id, str(subject), card_file.stat().st_mtime_ns if card_file.exists() else None)
        with self._lock:
            if stamp not in self._adapted:
                self._adapted = {stamp: load_subject(self.settings, card.model_id, str(subject))}  # keep the last
            return self._adapted[stamp]

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
        tr_s = _text_tr_s(stimulus, model_id, tr_s)
        model_id, subject, indices, sel_key, full_key = self._request(
            _stimulus_hash(stimulus, tr_s), model_id, subject, roi, mask, variant, options)
        with self._key_lock(("prediction", sel_key)):
            cached = self._cached_selection(sel_key, full_key, indices)
            if cached is not None:
                progress(1.0, "cached")
                return cached
            stimulus, loaded, features = self._decode_and_extract(stimulus, model_id, tr_s, variant, options,
                                                                  progress)
            progress(_FEATURES, "predicting")
            adapted = self.adapted_subject(model_id, subject)

            def step(f, s):
                progress(_FEATURES + (1 - _FEATURES) * f, s)

            prediction = (loaded.predict(features, stimulus, subject, indices, step) if adapted is None
                          else adapted.predict(loaded, features, stimulus, indices, step))
            prediction.metadata.setdefault("stimulus", {"source": os.path.basename(stimulus.source),
                                                        "kind": stimulus.kind, "duration_s": stimulus.duration_s,
                                                        "word_timing": stimulus.word_timing,
                                                        "notes": list(stimulus.notes)})
            prediction.metadata.setdefault("device", self.device)
            self._store(sel_key, prediction)
            progress(1.0, "done")
        self.cache_budget.maybe_enforce()
        return prediction

    def cached(self, stimulus, model: str = "nforge-lite", *, subject=None, roi=None, mask=None,
               variant: str | None = None, tr_s: float | None = None, **options) -> Prediction | None:
        """The prediction :meth:`predict` would return from its caches for these arguments, or None; decodes
        nothing and loads no model (the page answers cached requests without waiting for a job's slot)."""
        model_id = resolve_model_id(model)
        tr_s = _text_tr_s(stimulus, model_id, tr_s)
        _, _, indices, sel_key, full_key = self._request(_stimulus_hash(stimulus, tr_s), model_id, subject, roi,
                                                         mask, variant, options)
        return self._cached_selection(sel_key, full_key, indices)

    def prediction_key(self, stimulus_hash: str, model: str = "nforge-lite", *, subject=None, roi=None, mask=None,
                       variant: str | None = None, **options) -> str:
        """The key of the prediction that ``predict`` makes with these arguments, without decoding anything.

        It names the engine's cached predictions and the outputs of a batch; it changes with the stimulus, the
        model, its weights and options, the subject, the selection and the NForge version.

        Parameters
        ----------
        stimulus_hash : str
            The stimulus's content hash: ``stimulus_key(...)`` or ``Stimulus.content_hash``.
        model, subject, roi, mask, variant, **options
            As for :meth:`predict`.

        Returns
        -------
        str
            A hex key.
        """
        return self._request(stimulus_hash, model, subject, roi, mask, variant, options).key

    def predict_many(self, stimuli: Iterable, model: str = "nforge-lite", *, subject=None, roi=None, mask=None,
                     variant: str | None = None, tr_s: float | None = None, return_exceptions: bool = False,
                     **options) -> Iterator[Prediction | Exception]:
        """Predict brain activity for many stimuli, one after another, with the model loaded once.

        While the model runs on one stimulus, the next one is decoded and its features extracted in a
        background thread, so that decoding (ffmpeg) and the feature models overlap with the encoder.

        Parameters
        ----------
        stimuli : iterable
            What :meth:`predict` accepts (files, per-TR lists, Stimulus), or callables that return a
            ``Stimulus`` (called in the background thread: a custom loader overlaps too).
        model, subject, roi, mask, variant, tr_s, **options
            As for :meth:`predict`, the same for every stimulus.
        return_exceptions : bool
            False: the first failure raises. True: a stimulus that fails yields its exception in place of its
            prediction, and the others go on.

        Yields
        ------
        Prediction or Exception
            One per stimulus, in order.

        Examples
        --------
        >>> for pred in engine.predict_many(["a.mp4", "b.mp4"], roi=["V1"]):  # doctest: +SKIP
        ...     print(pred.data.shape)
        """
        loaded = self.load_model(model, variant, **options)
        model_id = loaded.card.model_id
        self.check_subject(model_id, subject)  # the arguments are checked once, before any stimulus
        self.select(model_id, roi, mask)
        kwargs = dict(subject=subject, roi=roi, mask=mask, variant=variant, tr_s=tr_s, **options)

        def prepare(item) -> Stimulus:
            stimulus = item() if callable(item) else item
            if not isinstance(stimulus, Stimulus):
                stimulus = load_stimulus(stimulus, self.settings, tr_s=_text_tr_s(stimulus, model_id, tr_s))
            if self._cached(self._request(stimulus.content_hash, model_id, subject, roi, mask, variant,
                                          options).key) is None:
                self.extract_features(loaded, stimulus)
            return stimulus

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nforge-prefetch") as pool:
            items = iter(stimuli)
            ahead = _submit_next(pool, prepare, items)
            while ahead is not None:
                current, ahead = ahead, _submit_next(pool, prepare, items)
                try:
                    yield self.predict(current.result(), model, **kwargs)
                except Exception as error:  # noqa: BLE001 (a batch records any failure of one stimulus and goes on)
                    if not return_exceptions:
                        raise
                    yield error

    def _request(self, key_stimulus: str, model: str, subject, roi, mask, variant: str | None,
                 options: dict) -> _Request:
        """Resolve a request for the stimulus with content hash ``key_stimulus``: model id, subject, selected
        outputs, and its cache keys."""
        model_id = resolve_model_id(model)
        subject = self.check_subject(model_id, subject)
        indices = self.select(model_id, roi, mask)
        model_class = get_model_class(model_id)
        weights = model_class.weights_fingerprint(self.settings, variant)
        # params() of an unloaded instance (cheap): the options as the model reads them, and what they resolve
        # to here (e.g. the TRIBE v2 encoder's precision); the package version stands for the model code.
        params = model_class(self.settings, variant=variant, device=self.device, **options).params()
        adapted = self.adapted_subject(model_id, subject)  # a refitted subject of the same name has another hash
        base_key = text_sha256(key_stimulus, model_id, str(variant), weights, str(subject), __version__,
                               json.dumps(params, sort_keys=True, default=str),
                               *(() if adapted is None else (adapted.content_hash,)))
        full_key = f"{base_key}-all"
        sel_key = full_key if indices is None else f"{base_key}-{text_sha256(indices.tobytes().hex())[:16]}"
        return _Request(model_id, subject, indices, sel_key, full_key)

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

    # -- attribution ------------------------------------------------------------------------------
    def attribute(self, stimulus, model: str = "nforge-lite", *, subject=None, roi=None, mask=None,
                  method: str | None = None, steps: int = 32, progress: ProgressFn | None = None,
                  use_cache: bool = True, variant: str | None = None, tr_s: float | None = None,
                  modalities: Sequence[str] | None = None, **options) -> Attribution:
        """Split a prediction over its input modalities, and with ``roi``, say which stimulus moments drove each
        region (ROI temporal attention); cached like predictions.

        Parameters
        ----------
        stimulus, model, subject, variant, tr_s, **options
            As for :meth:`predict`.
        roi : str or list of str, optional
            Regions: the outputs explained are theirs (with ``mask``, a union), and each entry is one region of
            the ROI temporal attention (``Attribution.roi_attention``).
        mask : array-like, optional
            Binary mask over the outputs of the space.
        method : str, optional
            ``"shapley"`` (default), ``"integrated-gradients"`` or ``"ablation"``
            (see :func:`nforge_app.analysis.attribute`).
        steps : int
            Points of the integrated-gradients path, 2 to 512.
        progress : callable, optional
            ``progress(fraction, stage)``.
        use_cache : bool
            Read and write the attribution cache (keyed by the prediction's key, method, steps, regions).
        modalities : list of str, optional
            Use only these of the modalities present (the others absent).

        Returns
        -------
        Attribution
        """
        from nforge_app.analysis._attribution import STEPS_RANGE, single_modality_sentence
        from nforge_app.checks import check_in, check_range

        progress = progress or no_progress
        model_id = resolve_model_id(model)
        card = get_card(model_id)
        if len(card.modalities) < 2:
            raise UserInputError(single_modality_sentence(card))
        method = "shapley" if method is None else check_in("attribution method", method, ATTRIBUTION_METHODS)
        steps = check_range("steps", steps, *STEPS_RANGE, integer=True)
        tr_s = _text_tr_s(stimulus, model_id, tr_s)
        key_stimulus = stimulus.content_hash if isinstance(stimulus, Stimulus) else stimulus_key(stimulus, tr_s)
        request = self._request(key_stimulus, model_id, subject, roi, mask, variant, options)
        if self.adapted_subject(model_id, request.subject) is not None:
            raise UserInputError(f"attribution explains {model_id} for its own subjects "
                                 f"({', '.join(map(str, card.subjects))}); {request.subject} is an adapted subject")
        regions = self._attention_regions(model_id, roi)
        key = text_sha256(request.key, "attribution", method, str(steps), json.dumps(list(regions)),
                          json.dumps(None if modalities is None else list(modalities)))
        with self._key_lock(("attribution", key)):
            cached = self._cached_attribution(key) if use_cache else None
            if cached is not None:
                progress(1.0, "cached")
                return cached
            stimulus, loaded, features = self._decode_and_extract(stimulus, model_id, tr_s, variant, options,
                                                                  progress)
            attribution = self._attribute(loaded, features, stimulus, method, steps, request, regions, modalities,
                                          progress)
            attribution.metadata.setdefault("stimulus", {"source": os.path.basename(stimulus.source),
                                                         "kind": stimulus.kind, "duration_s": stimulus.duration_s,
                                                         "word_timing": stimulus.word_timing})
            attribution.metadata.setdefault("device", self.device)
            if use_cache:
                save_attribution(attribution, self._attribution_dir / f"{key}.npz")
                self._remember_attribution(key, attribution)
            progress(1.0, "done")
        self.cache_budget.maybe_enforce()
        return attribution

    def roi_attention(self, stimulus, model: str = "nforge-lite", *, subject=None, roi, variant: str | None = None,
                      tr_s: float | None = None, progress: ProgressFn | None = None, use_cache: bool = True,
                      **options) -> RoiAttention:
        """ROI temporal attention on its own: which stimulus moments drove each region, for any model (for
        single-modality models such as Text2fMRI, which :meth:`attribute` refuses, this is the explanation:
        which earlier TRs' text drove each region at TR t). Cached in memory and on disk like attributions.

        Parameters
        ----------
        stimulus, model, subject, variant, tr_s, **options
            As for :meth:`predict`.
        roi : str or list of str
            Regions, one row of the attention each.
        progress : callable, optional
            ``progress(fraction, stage)``.
        use_cache : bool
            Read and write the cache (keyed by the prediction's key and the regions).

        Returns
        -------
        RoiAttention
            Its ``metadata`` also holds ``model_id``, ``subject`` and ``stimulus``.
        """
        from dataclasses import replace

        from nforge_app.analysis import roi_attention

        progress = progress or no_progress
        if roi is None or (not isinstance(roi, str) and not list(roi)):
            raise UserInputError("ROI attention needs regions: give roi (names, wildcards or networks; "
                                 "nforge regions lists them)")
        model_id = resolve_model_id(model)
        tr_s = _text_tr_s(stimulus, model_id, tr_s)
        key_stimulus = stimulus.content_hash if isinstance(stimulus, Stimulus) else stimulus_key(stimulus, tr_s)
        request = self._request(key_stimulus, model_id, subject, None, None, variant, options)
        regions = self._attention_regions(model_id, roi)
        key = text_sha256(request.key, "roi-attention", json.dumps(list(regions)))
        with self._key_lock(("roi-attention", key)):
            cached = (self._recall(self._attributions, self._attribution_dir, key, load_roi_attention,
                                   "ROI attention") if use_cache else None)
            if cached is not None:
                progress(1.0, "cached")
                return cached
            stimulus, loaded, features = self._decode_and_extract(stimulus, model_id, tr_s, variant, options,
                                                                  progress)

            def step(f, s):
                progress(_FEATURES + (1 - _FEATURES) * f, s)

            attention = roi_attention(loaded, features, stimulus, regions, subject=request.subject, progress=step)
            metadata = {**attention.metadata, "model_id": model_id, "subject": str(request.subject),
                        "stimulus": {"source": os.path.basename(stimulus.source), "kind": stimulus.kind,
                                     "duration_s": stimulus.duration_s}}
            attention = replace(attention, metadata=metadata)
            if use_cache:
                save_roi_attention(attention, self._attribution_dir / f"{key}.npz")
                self._keep(self._attributions, key, attention)
            progress(1.0, "done")
        self.cache_budget.maybe_enforce()
        return attention

    def _attribute(self, loaded: EncodingModel, features: FeatureSet, stimulus: Stimulus, method: str, steps: int,
                   request: _Request, regions: dict, modalities, progress: ProgressFn) -> Attribution:
        """Run the attribution (and the ROI temporal attention of ``regions``) on extracted features."""
        from dataclasses import replace

        from nforge_app.analysis import attribute

        share = 0.5 if regions else 1.0

        def step(f, s):
            progress(_FEATURES + (1 - _FEATURES) * share * f, s)

        attribution = attribute(loaded, features, stimulus, method, request.indices, steps, request.subject, step,
                                modalities=modalities)
        if not regions:
            return attribution
        from nforge_app.analysis import roi_attention

        def attention_step(f, s):
            progress(_FEATURES + (1 - _FEATURES) * (0.5 + 0.5 * f), s)

        attention = roi_attention(loaded, features, stimulus, regions, subject=request.subject,
                                  progress=attention_step)
        return replace(attribution, roi_attention=attention)

    def _attention_regions(self, model_id: str, roi) -> dict[str, np.ndarray]:
        """``{name: output indices}`` of each region of ``roi`` (one per entry); an entry that selects nothing is
        refused."""
        if roi is None:
            return {}
        names = [roi] if isinstance(roi, str) else list(roi)
        space = get_space(get_card(model_id).space_id, self.settings)
        regions = {}
        for name in dict.fromkeys(names):
            indices = space.select(roi=[name])
            if indices is None or not len(indices):
                raise UserInputError(f"region {name!r} selects no output of {space.space_id}; give a region name, "
                                     f"wildcard or network that names some (nforge regions lists them)")
            regions[name] = indices
        return regions

    def _decode_and_extract(self, stimulus, model_id: str, tr_s, variant, options: dict, progress):
        """Decode the stimulus, check the model reads it (before any weights are looked for), load the model
        and extract its features: ``(stimulus, model, features)``."""
        progress(0.0, "decoding stimulus")
        if not isinstance(stimulus, Stimulus):
            stimulus = load_stimulus(stimulus, self.settings, tr_s=tr_s)
        _check_reads(get_model_class(model_id).card, stimulus)
        loaded = self.load_model(model_id, variant, **options)
        return stimulus, loaded, self.extract_features(loaded, stimulus, progress)

    def _cached_attribution(self, key: str) -> Attribution | None:
        return self._recall(self._attributions, self._attribution_dir, key, load_attribution, "attribution")

    def _remember_attribution(self, key: str, attribution: Attribution) -> None:
        self._keep(self._attributions, key, attribution)

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, prediction: Prediction | str | os.PathLike, measured, *, run: str | None = None,
                 tr_s: float | None = None, roi=None, lag_search: bool = False) -> Evaluation:
        """Score a prediction against measured fMRI (Pearson r over time per output), cached by content.

        Parameters
        ----------
        prediction : Prediction or path
            A prediction, or an npz written by ``nforge predict`` / :func:`~nforge_app.export.save_npz`.
        measured : path, list of paths, ndarray, MeasuredRun or a list of them
            The measured runs (files as :func:`~nforge_app.analysis.read_runs` reads them: two GIfTI
            hemisphere files in a row make one run); several runs are repeats of the stimulus.
        run : str, optional
            The run's name in HDF5 files with several runs.
        tr_s, roi, lag_search :
            As in :func:`nforge_app.analysis.evaluate`.

        Returns
        -------
        Evaluation
        """
        from nforge_app.analysis import evaluate, read_runs

        if not isinstance(prediction, Prediction):
            prediction = load_npz(prediction)
        if isinstance(measured, (str, os.PathLike)) or (
                isinstance(measured, (list, tuple)) and measured and all(isinstance(m, (str, os.PathLike))
                                                                         for m in measured)):
            measured = read_runs([measured] if isinstance(measured, (str, os.PathLike)) else measured, run=run,
                                 tr_s=tr_s)
        digest = hashlib.sha256()
        for array in (prediction.data, prediction.times_s, prediction.indices):
            digest.update(np.ascontiguousarray(array).tobytes())
        runs = measured if isinstance(measured, (list, tuple)) else [measured]
        for item in runs:
            data = item.data if isinstance(item, MeasuredRun) else np.asarray(item)
            facts = (data.dtype, data.shape, getattr(item, "tr_s", None), getattr(item, "source", ""))
            digest.update(repr(facts).encode())
            digest.update(np.ascontiguousarray(data).tobytes())
        facts = (prediction.space_id, prediction.time_axis, prediction.tr_s, prediction.hrf_offset_s,
                 prediction.model_id, str(prediction.subject), tr_s, roi, lag_search, __version__)
        digest.update(json.dumps(facts, default=str).encode())
        path = self._evaluation_dir / f"{digest.hexdigest()}.npz"
        with self._key_lock(("evaluation", path.name)):
            if path.exists():
                try:
                    return load_evaluation(path)
                except UserInputError:
                    log.warning("ignoring unreadable cached evaluation %s", path)
            evaluation = evaluate(prediction, measured, tr_s=tr_s, roi=roi, lag_search=lag_search,
                                  settings=self.settings)
            save_evaluation(evaluation, path)
            return evaluation

    # -- caches -------------------------------------------------------------------------------------
    def _key_lock(self, key) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _cached(self, key: str) -> Prediction | None:
        return self._recall(self._memory, self._prediction_dir, key, load_npz, "prediction")

    def _recall(self, memory: OrderedDict, folder: Path, key: str, load, what: str):
        """A cached result: from memory, else from its ``.npz`` in ``folder`` (kept in memory), else None."""
        with self._lock:
            if key in memory:
                memory.move_to_end(key)
                return memory[key]
        path = folder / f"{key}.npz"
        if not path.exists():
            return None
        try:
            value = load(path)
        except UserInputError:
            log.warning("ignoring unreadable cached %s %s", what, path)
            return None
        touch(path)
        self._keep(memory, key, value)
        return value

    def _keep(self, memory: OrderedDict, key: str, value) -> None:
        """Keep ``value`` in ``memory``, the least recently used beyond ``memory_items`` dropped."""
        with self._lock:
            keep_recent(memory, key, value, self.memory_items)

    def _cached_selection(self, sel_key: str, full_key: str, indices) -> Prediction | None:
        """The cached prediction of the selection, or its columns of the cached prediction over all outputs."""
        for key in dict.fromkeys((sel_key, full_key)):
            cached = self._cached(key)
            if cached is not None:
                return cached if key == sel_key else _subset(cached, indices)
        return None

    def _store(self, key: str, prediction: Prediction) -> None:
        self._remember(key, prediction)
        save_npz(prediction, self._prediction_dir / f"{key}.npz")

    def _remember(self, key: str, prediction: Prediction) -> None:
        self._keep(self._memory, key, prediction)

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir


def keep_recent(memory: OrderedDict, key, value, limit: int) -> None:
    """Put ``value`` under ``key`` as the most recent entry of ``memory``; drop the least recent beyond
    ``limit`` (the caller holds its lock)."""
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)


def _text_tr_s(stimulus, model_id: str, tr_s: float | None) -> float | None:
    """The TR of per-TR text (``tr_s``, else the model's); files and Stimulus objects have none to give."""
    if isinstance(stimulus, Stimulus | str | os.PathLike):
        return tr_s
    return tr_s or get_card(model_id).tr_s


def _stimulus_hash(stimulus, tr_s: float | None) -> str:
    """The content hash of what ``predict`` accepts as a stimulus, without decoding it."""
    return stimulus.content_hash if isinstance(stimulus, Stimulus) else stimulus_key(stimulus, tr_s)


def _submit_next(pool: ThreadPoolExecutor, prepare: Callable, items: Iterator) -> Future | None:
    """Start preparing the next item of ``items`` in ``pool``; None when there is none."""
    for item in items:
        return pool.submit(prepare, item)
    return None


def _subset(prediction: Prediction, indices: np.ndarray) -> Prediction:
    """The columns ``indices`` of a prediction over all outputs."""
    return Prediction(
        data=np.ascontiguousarray(prediction.data[:, indices]), times_s=prediction.times_s, tr_s=prediction.tr_s,
        space_id=prediction.space_id, indices=indices, model_id=prediction.model_id, subject=prediction.subject,
        hrf_offset_s=prediction.hrf_offset_s, time_axis=prediction.time_axis, metadata=dict(prediction.metadata),
        spread=None if prediction.spread is None else np.ascontiguousarray(prediction.spread[:, indices]),
    )


def _check_reads(card, stimulus: Stimulus) -> None:
    """Refuse a stimulus that carries none of the model's inputs, saying what the model reads."""
    if set(card.modalities) & set(stimulus.modalities):
        return
    carries = ", ".join(stimulus.modalities) or "nothing usable"
    if tuple(card.modalities) == ("text",):
        raise UserInputError(
            f"{card.model_id} reads text only: its input must be text (a .txt file, a transcript .srt, .vtt or "
            f".tsv, or a video or audio file with its transcript beside it), but the stimulus ({stimulus.kind}) "
            f"carries {carries}")
    raise UserInputError(f"{card.model_id} reads {', '.join(card.modalities)}, but the stimulus ({stimulus.kind}) "
                         f"carries {carries}; give it a stimulus with {' or '.join(card.modalities)}")
