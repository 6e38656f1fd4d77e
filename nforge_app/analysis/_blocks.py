"""In-silico experiments: block designs (condition A vs B) and event designs, run on the predicted brain.

The stimuli of an experiment are put in one sequence, predicted once (the engine caches it like any
stimulus) and analysed with a first-level GLM (:func:`~nforge_app.analysis.fit_contrast`). One sequence,
not one prediction per stimulus: some models (nforge-lite) standardise every output within a stimulus, so
the means of separate predictions would say nothing about the conditions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np

from nforge_app.analysis._glm import DEFAULT_PERMUTATIONS, check_events, fit_contrast, read_events
from nforge_app.checks import check_range
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.features import ProgressFn, no_progress
from nforge_app.stimuli import Stimulus, concatenate, load_stimulus
from nforge_app.values import ContrastMap, Events, Prediction

DEFAULT_REST_S = 12.0
"""Rest between blocks (and before the first, after the last): long enough for the HRF to come down."""
_PREDICT_SHARE = 0.7  # of the progress bar


class Predictor(Protocol):
    """What the experiments need of the engine: its settings and a (cached) ``predict``."""

    settings: Settings

    def predict(self, stimulus, model: str = ..., *, subject=None, roi=None, progress=None) -> Prediction: ...


class BlockDesign(NamedTuple):
    """A block experiment as one stimulus and its events (one event per block)."""

    stimulus: Stimulus
    events: Events


def _loaded(sources, settings: Settings, role: str) -> list[Stimulus]:
    """The stimuli of a condition, each file loaded once."""
    if isinstance(sources, (str, os.PathLike, Stimulus)):
        sources = [sources]
    if not len(sources):
        raise UserInputError(f"condition {role} has no stimulus: give at least one file")
    loaded: dict[str, Stimulus] = {}
    for source in sources:
        if not isinstance(source, Stimulus) and os.fspath(source) not in loaded:
            loaded[os.fspath(source)] = load_stimulus(source, settings)
    return [source if isinstance(source, Stimulus) else loaded[os.fspath(source)] for source in sources]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise UserInputError(f"condition name {name!r}: use letters, digits and _ (not starting with a digit), "
                             "e.g. speech, reversed_speech")
    return name


def block_design(a: Sequence, b: Sequence, *, names: tuple[str, str] = ("A", "B"), block_s: float | None = None,
                 rest_s: float = DEFAULT_REST_S, seed: int = 0, settings: Settings | None = None) -> BlockDesign:
    """Put the stimuli of two conditions in one sequence: blocks in a seeded random order, rests between.

    Parameters
    ----------
    a, b : sequence of path or Stimulus
        The stimuli of each condition; each is one block (a file may appear more than once).
    names : (str, str)
        The names of the two conditions (trial types of the events, names in the contrast).
    block_s : float, optional
        Longest block: longer stimuli are cut there. By default each stimulus plays whole.
    rest_s : float
        Silence and a grey screen before, between and after the blocks.
    seed : int
        Seed of the block order.
    settings : Settings, optional
        Limits on the stimuli and on the sequence's length.

    Returns
    -------
    BlockDesign
        The sequence (its content hash follows the parts, their order and the block and rest lengths) and
        one event per block.
    """
    settings = settings or Settings.from_env()
    names = (_check_name(names[0]), _check_name(names[1]))
    if names[0] == names[1]:
        raise UserInputError(f"the two conditions need different names, got {names[0]!r} twice")
    rest_s = check_range("rest_s", rest_s, 0.0, settings.max_duration_s)
    block_s = None if block_s is None else check_range("block_s", block_s, 0.1, settings.max_duration_s)
    parts_a, parts_b = _loaded(a, settings, names[0]), _loaded(b, settings, names[1])
    parts = parts_a + parts_b
    labels = [names[0]] * len(parts_a) + [names[1]] * len(parts_b)
    order = np.random.default_rng(int(seed)).permutation(len(parts))
    items: list[Stimulus | float] = [rest_s]
    for index in order:
        items += [parts[index], rest_s]
    sequence = concatenate(items, max_part_s=block_s)
    if sequence.stimulus.duration_s > settings.max_duration_s:
        raise UserInputError(f"the experiment lasts {sequence.stimulus.duration_s:.0f} s ({len(parts)} blocks and "
                             f"{len(parts) + 1} rests of {rest_s:g} s), more than the limit of "
                             f"{settings.max_duration_s:g} s (setting max_duration_s, environment variable "
                             "NFORGE_MAX_DURATION_S); use fewer or shorter blocks (block_s) or shorter rests")
    events = Events(np.asarray(sequence.onsets_s), np.asarray(sequence.durations_s),
                    tuple(labels[index] for index in order))
    return BlockDesign(sequence.stimulus, events)


def contrast(a: Sequence, b: Sequence, *, engine: Predictor, model: str = "nforge-lite", subject=None, roi=None,
             names: tuple[str, str] = ("A", "B"), block_s: float | None = None, rest_s: float = DEFAULT_REST_S,
             seed: int = 0, n_permutations: int = DEFAULT_PERMUTATIONS,
             progress: ProgressFn | None = None) -> ContrastMap:
    """A block experiment, condition A vs B, run on a model's predicted brain.

    The stimuli go in one sequence (:func:`block_design`), predicted once through ``engine`` (cached), and
    a first-level GLM tests ``A - B`` by relabelling the blocks (:func:`~nforge_app.analysis.fit_contrast`).

    Parameters
    ----------
    a, b : sequence of path or Stimulus
        The stimuli of each condition (any kinds, mixed: text spoken by espeak-ng, sound, video).
    engine : Engine
        Predicts (and caches) the sequence: ``nforge_app.Engine()``.
    model, subject, roi :
        As in ``Engine.predict``; with ``roi`` the correction covers the selected outputs only.
    names, block_s, rest_s, seed :
        As in :func:`block_design`.
    n_permutations : int
        Most relabellings (every distinct one when fewer: 70 for 4 + 4 blocks).
    progress : callable, optional
        ``progress(fraction, stage)``.

    Returns
    -------
    ContrastMap
        Effect (A - B beta), t and corrected p per output and per region; ``n_a``, ``n_b`` blocks.

    Examples
    --------
    >>> from nforge_app import Engine
    >>> result = contrast(["s1.txt", "s2.txt"], ["r1.wav", "r2.wav"], engine=Engine())  # doctest: +SKIP
    """
    progress = progress or no_progress
    design = block_design(a, b, names=names, block_s=block_s, rest_s=rest_s, seed=seed, settings=engine.settings)
    prediction = engine.predict(design.stimulus, model, subject=subject, roi=roi,
                                progress=lambda f, s: progress(_PREDICT_SHARE * f, s))
    result = fit_contrast(prediction, design.events, f"{names[0]} - {names[1]}", n_permutations=n_permutations,
                          seed=seed, settings=engine.settings,
                          progress=lambda f, s: progress(_PREDICT_SHARE + (1 - _PREDICT_SHARE) * f, s))
    result.metadata["block_design"] = {"block_s": block_s, "rest_s": rest_s, "seed": int(seed),
                                       "duration_s": design.stimulus.duration_s}
    return result


def glm(stimulus, events, contrast: str, *, engine: Predictor, model: str = "nforge-lite", subject=None, roi=None,
        n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0,
        progress: ProgressFn | None = None) -> ContrastMap:
    """An event design on one stimulus: predict it (cached), fit the GLM of its events, test a contrast.

    Parameters
    ----------
    stimulus : path or Stimulus
        The stimulus the events belong to.
    events : path or Events
        A BIDS ``events.tsv`` (onset, duration, trial_type; optional modulation) or :class:`Events`.
    contrast : str
        As nilearn writes contrasts (``"speech - music"``).
    engine, model, subject, roi, n_permutations, seed, progress :
        As in :func:`contrast`; the events of the contrasted conditions are relabelled.

    Returns
    -------
    ContrastMap
    """
    progress = progress or no_progress
    if not isinstance(stimulus, Stimulus):
        stimulus = load_stimulus(stimulus, engine.settings)
    if isinstance(events, Events):
        events = check_events(events.onsets_s, events.durations_s, events.trial_types, stimulus.duration_s,
                              events.modulation)
    else:
        events = read_events(events, stimulus.duration_s)
    prediction = engine.predict(stimulus, model, subject=subject, roi=roi,
                                progress=lambda f, s: progress(_PREDICT_SHARE * f, s))
    return fit_contrast(prediction, events, contrast, n_permutations=n_permutations, seed=seed,
                        settings=engine.settings,
                        progress=lambda f, s: progress(_PREDICT_SHARE + (1 - _PREDICT_SHARE) * f, s))
