"""Feature extractors: the protocol, the value they produce, and the one registry of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from nforge_app.checks import check_all_in
from nforge_app.stimuli import Stimulus

ProgressFn = Callable[[float, str], None]
"""A progress callback: ``fn(fraction_done_0_to_1, stage_description)``."""


def no_progress(fraction: float, stage: str) -> None:
    """The progress callback that does nothing."""


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Features of one stimulus on one time grid: ``{modality: float32 (L, D, T)}``.

    ``L`` is the number of layer groups, ``D`` the feature size and ``T`` the number of steps at
    ``rate_hz`` (step ``k`` covers ``[k / rate_hz, (k + 1) / rate_hz)``). A missing modality is absent
    from the dict, never an array of zeros.
    """

    features: dict[str, np.ndarray]
    rate_hz: float
    n_steps: int
    duration_s: float
    extractor_ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for modality, array in self.features.items():
            if array.ndim != 3 or array.shape[-1] != self.n_steps:
                raise ValueError(f"feature {modality!r} has shape {array.shape}, expected (L, D, {self.n_steps})")

    @property
    def times_s(self) -> np.ndarray:
        """Start time of each step, in seconds."""
        return np.arange(self.n_steps) / self.rate_hz

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities present, in the order they were extracted."""
        return tuple(self.features)

    def subset(self, modalities) -> FeatureSet:
        """The same features with only ``modalities`` present (the others absent, as if never extracted).

        Parameters
        ----------
        modalities : iterable of str
            Modalities to keep; each must be present. An empty selection is allowed (every modality absent:
            the model's all-absent baseline).

        Returns
        -------
        FeatureSet
            Shares the arrays of this one (no copy).
        """
        keep = list(dict.fromkeys(modalities))
        if keep:
            check_all_in("modalities to keep", keep, self.features)
        return FeatureSet(features={m: a for m, a in self.features.items() if m in keep}, rate_hz=self.rate_hz,
                          n_steps=self.n_steps, duration_s=self.duration_s,
                          extractor_ids={m: i for m, i in self.extractor_ids.items() if m in keep})


@runtime_checkable
class FeatureExtractor(Protocol):
    """What every extractor offers.

    ``extractor_id`` and ``params()`` together name its output in the feature cache, so any setting
    that changes the numbers must appear in ``params()``.
    """

    extractor_id: str
    modality: str
    rate_hz: float

    def params(self) -> dict: ...

    def extract(self, stimulus: Stimulus, progress: ProgressFn = no_progress) -> np.ndarray:
        """Return float32 (L, D, T) with T = ``n_steps(stimulus.duration_s, rate_hz)``."""
        ...


def n_steps(duration_s: float, rate_hz: float) -> int:
    """Number of steps of a grid at ``rate_hz`` covering ``duration_s`` (at least one)."""
    return max(1, int(np.ceil(duration_s * rate_hz - 1e-9)))
