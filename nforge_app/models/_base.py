"""The ``EncodingModel`` base class (the value types it makes live in :mod:`nforge_app.values`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nforge_app.errors import UserInputError
from nforge_app.features import FeatureExtractor, FeatureSet, ProgressFn, no_progress
from nforge_app.values import HiddenFeatures, ModelCard, Prediction

if TYPE_CHECKING:
    from nforge_app.config import Settings
    from nforge_app.stimuli import Stimulus


class EncodingModel:
    """Base class of every model: store parameters in ``__init__``, load weights in ``load``.

    Subclasses set ``card``, ``accepted_options`` and ``absent_modality``, and implement ``extractors``, ``transform``
    (features -> :class:`HiddenFeatures`, the trunk) and ``readout`` (hidden features -> :class:`Prediction`);
    ``predict`` is their composition. ``load`` is called once by the engine (under a lock) before the first
    prediction; fitted or loaded state ends in ``_``.

    A modality missing from the ``FeatureSet`` is absent, never zeros: the model fills it in its own way,
    which ``absent_modality`` states in one sentence, and every analysis that removes a modality does so
    with ``FeatureSet.subset`` and lets the model apply that rule.
    """

    card: ModelCard
    weight_files: tuple[str, ...] = ()
    """Files (glob patterns) of a release; empty for a model whose weights ship with NForge."""
    accepted_options: dict[str, str] = {}
    """The options the model takes (keyword arguments of ``__init__``): ``{name: what it does}``. Any other
    option is refused with this list."""
    absent_modality: str = ""
    """What "modality absent" means for this model, in one sentence (shown by the analyses)."""

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
        from nforge_app.checks import check_options

        self.settings = settings
        self.variant = variant
        self.device = device
        self.options = check_options(self.card.model_id, options, self.accepted_options)

    def load(self) -> None:
        """Load weights and extractors; raise ``ModelUnavailableError`` when they cannot be had."""

    def extractors(self) -> list[FeatureExtractor]:
        """The feature extractors this model reads, one per modality."""
        raise NotImplementedError

    def transform(self, features: FeatureSet, stimulus: Stimulus, subject=None,
                  progress: ProgressFn = no_progress) -> HiddenFeatures:
        """The model's last hidden features for one stimulus (its trunk), one row per output time step.

        ``subject`` matters only to models whose trunk depends on it (Text2fMRI); modalities missing from
        ``features`` are absent (see ``absent_modality``).
        """
        raise NotImplementedError

    def readout(self, hidden: HiddenFeatures, subject=None, indices: np.ndarray | None = None,
                progress: ProgressFn = no_progress) -> Prediction:
        """Turn hidden features into the prediction of the selected outputs (all when ``indices`` is None)."""
        raise NotImplementedError

    def _check_hidden(self, hidden: HiddenFeatures, width: int) -> None:
        """Refuse hidden features that another model made (or of another width) before reading them out."""
        if hidden.model_id != self.card.model_id or hidden.data.shape[1] != width:
            raise UserInputError(f"these hidden features come from {hidden.model_id} ({hidden.data.shape[1]} "
                                 f"columns); {self.card.model_id} reads out its own ({width} columns)")

    def predict(self, features: FeatureSet, stimulus: Stimulus, subject=None, indices: np.ndarray | None = None,
                progress: ProgressFn = no_progress) -> Prediction:
        """Predict the selected outputs (all when ``indices`` is None) for one stimulus and subject (the card's
        default when None): the readout of the transform."""
        hidden = self.transform(features, stimulus, subject, lambda f, s: progress(0.9 * f, s))
        return self.readout(hidden, subject, indices, lambda f, s: progress(0.9 + 0.1 * f, s))

    def params(self) -> dict:
        """Everything besides stimulus, subject and selection that changes the output (cache key)."""
        return {"variant": self.variant, **self.options}
