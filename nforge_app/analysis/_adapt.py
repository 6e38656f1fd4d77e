"""Subject adaptation: a ridge readout fitted on a model's own hidden features to a user's measured fMRI.

For each stimulus the model's trunk gives its hidden features (``EncodingModel.transform``: TRIBE v2's encoder
before its low-rank head, Text2fMRI's and flow-matching's last hidden layer, the lite model's channel series),
one row per output time step. They are aligned to the measured run as :func:`~nforge_app.analysis.evaluate`
aligns a prediction (moved onto BOLD time by the haemodynamic offset, resampled onto the measured volumes'
times, trimmed to the overlap), and a ridge regression maps them to every measured output:

- the hidden columns are standardised with the training time points' mean and standard deviation (kept with
  the subject, so a new stimulus is read out with the same numbers, causally); the measured series are
  z-scored per run (the adapted prediction is in standard deviations of the subject's response);
- the regularisation is chosen per output by cross-validation grouped by run (each training run is a fold;
  with a single training run, five contiguous blocks of it), over :data:`DEFAULT_ALPHAS`, with himalaya's
  ``RidgeCV`` (its ``KernelRidgeCV`` with a linear kernel, the same solution, when there are fewer time points
  than hidden columns; with at most :data:`FEW_COLUMNS` columns, the same criterion solved in their space, much
  faster: :func:`_few_columns_ridge_cv`) or, with ``banded=True``, ``BandedRidgeCV`` with one band per modality;
- one run (the last by default) is left out: the fit on the others predicts it, and its Pearson r per output
  is reported (:class:`~nforge_app.values.Evaluation`), beside the r of the model's own default subject on
  that run; the importance of each modality is the held-out R^2 of its part of the prediction (himalaya's
  ``r2_score_split``). The saved weights are then refitted on every run with the same cross-validation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace as replace_fields
from typing import NamedTuple, Protocol

import numpy as np

from nforge_app._version import __version__
from nforge_app.analysis._evaluate import bold_times, evaluate, resample_rows
from nforge_app.analysis._measured import MIN_TIMEPOINTS, _checked, _with_tr, measured_columns, read_measured
from nforge_app.analysis._subjects import (
    AdaptedSubject,
    adapted_names,
    check_subject_name,
    save_subject,
    subjects_dir,
)
from nforge_app.analysis.metrics import varies_over_time
from nforge_app.checks import check_range
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet, ProgressFn, no_progress
from nforge_app.spaces import get_space
from nforge_app.stimuli import Stimulus, load_stimulus
from nforge_app.values import HiddenFeatures, MeasuredRun

DEFAULT_ALPHAS = np.logspace(-2, 7, 10)
"""Ridge regularisations tried by the cross-validation (one decade apart)."""
N_BLOCKS = 5
"""Cross-validation folds (contiguous blocks) when a single run is left for training."""
BANDED_ITERATIONS = 20
"""Band weightings tried by ``BandedRidgeCV``'s random search."""
FEW_COLUMNS = 32
"""Hidden columns up to which the ridge is solved in the columns' space (:func:`_few_columns_ridge_cv`)."""
_MIN_SCALE = 1e-8
_FEATURES_SHARE, _FIT_SHARE = 0.6, 0.9


class FeatureSource(Protocol):
    """What adaptation needs of the engine: settings, a loaded model, and (cached) features."""

    settings: Settings

    def load_model(self, model_id: str, variant: str | None = None, **options): ...

    def extract_features(self, model, stimulus: Stimulus, progress: ProgressFn = ...) -> FeatureSet: ...


class RidgeFit(NamedTuple):
    """A ridge readout fitted on standardised hidden columns (see the module docstring)."""

    mean: np.ndarray
    """(H,) mean of the training hidden columns."""
    scale: np.ndarray
    """(H,) their standard deviation (1 where a column is constant)."""
    weights: np.ndarray
    """float32 (H, V) weights on the standardised columns."""
    alphas: np.ndarray
    """(V,) the regularisation chosen per output."""
    solver: str
    """What fitted it, in words."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(T, V) prediction from raw hidden rows (T, H)."""
        return (((x - self.mean) / self.scale) @ self.weights).astype(np.float32)


def zscore(y: np.ndarray) -> np.ndarray:
    """Each column of ``y`` z-scored over time (a constant column becomes 0)."""
    y = np.asarray(y, dtype=np.float64)
    std = y.std(axis=0)
    return ((y - y.mean(axis=0)) / np.where(std > _MIN_SCALE, std, 1.0)).astype(np.float32)


def _cv_folds(lengths: Sequence[int]) -> tuple[np.ndarray, str]:
    """A fold number per training time point: its run, or with one run a contiguous block of it."""
    if len(lengths) > 1:
        return np.repeat(np.arange(len(lengths)), lengths), f"leave one run out ({len(lengths)} folds)"
    n = lengths[0]
    if n < N_BLOCKS * MIN_TIMEPOINTS:
        raise UserInputError(f"one training run of {n} time points is too short to cross-validate the "
                             f"regularisation: give at least {N_BLOCKS * MIN_TIMEPOINTS} time points, or more runs")
    return (np.arange(n) * N_BLOCKS) // n, f"{N_BLOCKS} contiguous blocks of the single training run"


def fit_ridge(x_runs: Sequence[np.ndarray], y_runs: Sequence[np.ndarray], *, modalities: Sequence[str] | None = None,
              alphas=DEFAULT_ALPHAS, banded: bool = False, random_state: int = 0) -> RidgeFit:
    """Fit a ridge readout from hidden rows to measured rows, the regularisation cross-validated by run.

    Parameters
    ----------
    x_runs : sequence of ndarray (T_i, H)
        Hidden features of each training run, aligned to its measured rows.
    y_runs : sequence of ndarray (T_i, V)
        The measured rows (already z-scored per run, see :func:`zscore`).
    modalities : sequence of str (H,), optional
        The modality of each hidden column: the bands of ``banded``.
    alphas : array-like
        Regularisations to try (:data:`DEFAULT_ALPHAS`).
    banded : bool
        One band per modality (himalaya ``BandedRidgeCV``, random search over the bands' weights); plain
        ``RidgeCV`` otherwise.
    random_state : int
        Seed of the banded random search.

    Returns
    -------
    RidgeFit
    """
    from sklearn.model_selection import PredefinedSplit

    x = np.concatenate([np.asarray(r, dtype=np.float64) for r in x_runs])
    y = np.ascontiguousarray(np.concatenate(y_runs), dtype=np.float32)
    folds, scheme = _cv_folds([len(r) for r in x_runs])
    cv = PredefinedSplit(folds)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > _MIN_SCALE, std, 1.0)
    xs = ((x - mean) / scale).astype(np.float32)
    alphas = np.asarray(alphas, dtype=np.float32)
    bands = sorted(set(modalities)) if modalities is not None else []
    if banded and len(bands) > 1:
        from himalaya.ridge import BandedRidgeCV

        columns = [np.flatnonzero(np.asarray(modalities) == band) for band in bands]
        model = BandedRidgeCV(groups="input", cv=cv, random_state=random_state, solver_params=dict(
            n_iter=BANDED_ITERATIONS, alphas=alphas, progress_bar=False, warn=False))
        model.fit([xs[:, c] for c in columns], y)
        weights = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
        weights[np.concatenate(columns)] = np.asarray(model.coef_)  # coef_ rows follow the bands' order
        chosen, solver = np.asarray(model.best_alphas_), f"himalaya BandedRidgeCV ({', '.join(bands)}), {scheme}"
    elif xs.shape[1] <= FEW_COLUMNS:
        weights, chosen = _few_columns_ridge_cv(xs, y, folds, alphas)
        solver = f"RidgeCV (himalaya's criterion, solved in the space of the {xs.shape[1]} columns), {scheme}"
    elif len(xs) < xs.shape[1]:
        from himalaya.kernel_ridge import KernelRidgeCV

        model = KernelRidgeCV(alphas=alphas, kernel="linear", cv=cv)
        model.fit(xs, y)
        weights = xs.T @ np.asarray(model.dual_coef_, dtype=np.float32)  # linear kernel: the primal weights
        chosen, solver = np.asarray(model.best_alphas_), f"himalaya KernelRidgeCV (linear kernel), {scheme}"
    else:
        from himalaya.ridge import RidgeCV

        model = RidgeCV(alphas=alphas, cv=cv, solver_params=dict(warn=False))
        model.fit(xs, y)
        weights, chosen, solver = np.asarray(model.coef_), np.asarray(model.best_alphas_), f"himalaya RidgeCV, {scheme}"
    return RidgeFit(mean=mean, scale=scale, weights=np.asarray(weights, dtype=np.float32),
                    alphas=chosen.astype(np.float64), solver=solver)


def _few_columns_ridge_cv(xs: np.ndarray, y: np.ndarray, folds: np.ndarray,
                          alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """himalaya ``RidgeCV``'s choice and weights for a few columns, computed in the columns' space.

    himalaya predicts each fold through (test x train) matrices, a cost of test x train time points per output
    and alpha; with a few columns (the lite model's channels) the weights ``V diag(s / (s^2 + alpha)) U^T Y``
    cost columns x train time points instead. Same criterion: the mean over folds of minus the mean squared
    error on the fold, the best alpha per output (ties to the larger alpha), then the weights refitted on all
    the time points with each output's alpha.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    scores = np.zeros((len(alphas), y.shape[1]))
    splits = np.unique(folds)
    for fold in splits:
        train, test = folds != fold, folds == fold
        u, sv, vt = np.linalg.svd(xs[train].astype(np.float64), full_matrices=False)
        projected = u.T.astype(np.float32) @ y[train]  # (columns, outputs)
        x_test = xs[test].astype(np.float64) @ vt.T
        for k, alpha in enumerate(alphas):
            error = y[test] - (x_test * (sv / (sv ** 2 + alpha))).astype(np.float32) @ projected
            scores[k] -= np.einsum("tv,tv->v", error, error) / test.sum()
    scores = scores / len(splits) + 1e-10 * np.log(alphas)[:, None]
    best = scores.argmax(axis=0)
    u, sv, vt = np.linalg.svd(xs.astype(np.float64), full_matrices=False)
    projected = (u.T @ y).astype(np.float64)
    weights = np.empty((xs.shape[1], y.shape[1]), dtype=np.float32)
    for k in np.unique(best):
        outputs = best == k
        weights[:, outputs] = vt.T @ ((sv / (sv ** 2 + alphas[k]))[:, None] * projected[:, outputs])
    return weights, alphas[best]


def modality_importance(fit: RidgeFit, x: np.ndarray, y: np.ndarray, modalities: Sequence[str]) -> dict[str, float]:
    """Held-out R^2 of each modality's part of the prediction (himalaya ``r2_score_split``), mean over outputs.

    Empty when the columns do not come from two or more modalities (e.g. TRIBE v2's, which mix them).
    """
    bands = sorted(set(modalities) - {"mixed"})
    if len(bands) < 2 or "mixed" in modalities:
        return {}
    from himalaya.scoring import r2_score_split

    xs = (x - fit.mean) / fit.scale
    parts = np.stack([xs[:, np.asarray(modalities) == band] @ fit.weights[np.asarray(modalities) == band]
                      for band in bands]).astype(np.float32)
    split = np.asarray(r2_score_split(np.asarray(y, dtype=np.float32), parts))
    varies = varies_over_time(y)
    return {band: float(np.mean(split[i][varies])) for i, band in enumerate(bands)}


def _as_run(item, tr_s: float | None, number: int) -> MeasuredRun:
    """One measured run from a file, a (left, right) pair of GIfTI files, an array or a MeasuredRun."""
    if isinstance(item, MeasuredRun):
        return MeasuredRun(_checked(item.data, item.source), _with_tr(item.tr_s, tr_s, item.source), item.source,
                           item.notes)
    if isinstance(item, (str, os.PathLike)):
        return read_measured(item, tr_s=tr_s)
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(p, (str, os.PathLike)) for p in item):
        return read_measured(item[0], item[1], tr_s=tr_s)
    if isinstance(item, np.ndarray):
        source = f"measured run {number}"
        return MeasuredRun(_checked(item, source), _with_tr(None, tr_s, source), source)
    raise UserInputError(f"measured run {number}: give a file, a (left, right) pair of GIfTI files, an array (time "
                         f"points x outputs) or a MeasuredRun; got {type(item).__name__}")


def _varying(data: np.ndarray, run: MeasuredRun) -> None:
    if not varies_over_time(data).any():
        raise UserInputError(f"every output of {run.source} is constant over time: there is nothing to fit (is it "
                             "the right file?)")


class _Aligned(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    notes: list[str]


def _align(hidden: HiddenFeatures, run: MeasuredRun, indices: np.ndarray, n_outputs: int, space_id: str,
           model_tr_s: float) -> _Aligned:
    """The hidden rows at the measured volumes' times (BOLD time), and those volumes, over their overlap."""
    data, notes = measured_columns(run, indices, n_outputs, space_id)
    notes = notes + list(run.notes)
    tr_s = run.tr_s
    if tr_s is None:
        tr_s = model_tr_s
        notes.append(f"{run.source} does not give its TR: the model's ({model_tr_s:g} s) is assumed")
    times = bold_times(hidden)
    measured_times = np.arange(len(data)) * tr_s
    rows = np.flatnonzero((measured_times >= times[0] - 1e-6) & (measured_times <= times[-1] + 1e-6))
    if len(rows) < MIN_TIMEPOINTS:
        raise UserInputError(f"{run.source}: only {len(rows)} of its {len(data)} volumes (TR {tr_s:g} s) fall within "
                             f"the stimulus' hidden features ({times[0]:g} to {times[-1]:g} s of BOLD time); at "
                             f"least {MIN_TIMEPOINTS} are needed (is it the run of this stimulus, with the right TR?)")
    x, _ = resample_rows(np.asarray(hidden.data, dtype=np.float64), times, measured_times[rows])
    if len(rows) < len(data):
        notes.append(f"{run.source}: {len(rows)} of {len(data)} volumes overlap the stimulus, the others left out")
    return _Aligned(np.asarray(x, dtype=np.float64), zscore(data[rows]), notes)


def hidden_features(engine: FeatureSource, model, stimulus: Stimulus, subject=None,
                    progress: ProgressFn = no_progress) -> HiddenFeatures:
    """A stimulus' hidden features of a loaded model, its features read from (or put in) the engine's cache."""
    features = engine.extract_features(model, stimulus, lambda f, s: progress(0.8 * f, s))
    return model.transform(features, stimulus, subject, lambda f, s: progress(0.8 + 0.2 * f, s))


def adapt(model, stimuli: Sequence, measured: Sequence, *, name: str, engine: FeatureSource,
          variant: str | None = None, roi=None, tr_s: float | None = None, test_run: int = -1,
          alphas=DEFAULT_ALPHAS, banded: bool = False, refit: bool = True, save: bool = True, replace: bool = False,
          progress: ProgressFn | None = None, **options) -> AdaptedSubject:
    """Fit a subject: a ridge readout of a model's hidden features to the user's measured runs.

    Parameters
    ----------
    model : str or EncodingModel
        A model id (loaded through ``engine``) or a loaded model; its card must offer ``adaptation``.
    stimuli : sequence of path or Stimulus
        The stimulus of each run (two or more runs: one is left out to report held-out r).
    measured : sequence
        One measured run per stimulus, in the same order: files as
        :func:`~nforge_app.analysis.read_measured` reads them (``.npz`` with ``data`` (T, V) and ``tr_s``, a
        ``(left, right)`` pair of GIfTI files ...), arrays (T, V) or :class:`~nforge_app.values.MeasuredRun`.
        Columns: every output of the model's space, or exactly the outputs ``roi`` selects.
    name : str
        The subject's name (letters, digits, ``_``, ``-``; not one of the model's subjects).
    engine : Engine
        Loads the model and extracts (and caches) the features: ``nforge_app.Engine()``.
    variant : str, optional
        Weight variant of the model.
    roi : str or list of str, optional
        Fit these outputs only (the measured data then have all outputs of the space, or exactly these).
    tr_s : float, optional
        TR of measured data that do not give it (the model's TR otherwise, as the card notes).
    test_run : int
        The run left out for the held-out r (the last by default).
    alphas : array-like
        Regularisations the cross-validation chooses from.
    banded : bool
        One ridge band per modality (``BandedRidgeCV``; slower) when the hidden columns carry modalities.
    refit : bool
        Refit the saved weights on every run, held-out run included (the held-out r is always that of the fit
        without it).
    save : bool
        Write the subject to the store (``<cache>/subjects``), whole or not at all.
    replace : bool
        Replace a saved subject of the same name.
    progress : callable, optional
        ``progress(fraction, stage)``.
    **options
        Model options, as for ``Engine.predict``.

    Returns
    -------
    AdaptedSubject
        With ``evaluation`` (the held-out run scored) and ``default_evaluation`` (the model's default subject
        on it).

    Raises
    ------
    UserInputError
        A bad name (or a subject of that name without ``replace``), fewer than two runs, as many stimuli as
        runs not given, measured data with the wrong number of outputs, NaN, constant series or too few time
        points, a model without the ``adaptation`` capability or whose weights are missing.

    Examples
    --------
    >>> from nforge_app import Engine
    >>> subject = adapt("nforge-lite", ["a.mp4", "b.mp4", "c.mp4"], ["a.npz", "b.npz", "c.npz"], name="mine",
    ...                 engine=Engine())  # doctest: +SKIP
    >>> round(subject.card["held_out_mean_r"], 3)  # doctest: +SKIP
    0.412
    """
    from nforge_app.models import get_card

    progress = progress or no_progress
    card = get_card(model) if isinstance(model, str) else model.card
    name = check_subject_name(name, card.model_id, card.subjects)
    if "adaptation" not in card.capabilities:
        raise UserInputError(f"{card.model_id} cannot be adapted (no hidden features to fit a readout on)")
    if save and not replace and name in adapted_names(engine.settings, card.model_id):
        raise UserInputError(f"an adapted subject {name!r} of {card.model_id} exists already; delete it (nforge "
                             f"subjects delete {name}) or replace it (--replace)")
    stimuli, measured = list(stimuli), list(measured)
    if len(stimuli) != len(measured):
        raise UserInputError(f"{len(stimuli)} stimuli and {len(measured)} measured runs: give one measured run per "
                             "stimulus, in the same order")
    if len(stimuli) < 2:
        raise UserInputError(f"adaptation needs at least 2 runs (stimulus + measured data), one of them left out to "
                             f"report held-out r; got {len(stimuli)}")
    test = check_range("test_run", test_run, -len(stimuli), len(stimuli) - 1, integer=True) % len(stimuli)
    space = get_space(card.space_id, engine.settings)
    indices = space.select(roi=[roi] if isinstance(roi, str) else roi) if roi else np.arange(space.n_outputs)
    runs = [_as_run(item, tr_s, number) for number, item in enumerate(measured, start=1)]
    for run in runs:  # the outputs are checked before any stimulus is decoded
        _varying(measured_columns(run, indices, space.n_outputs, space.space_id)[0], run)
    loaded = engine.load_model(card.model_id, variant, **options) if isinstance(model, str) else model
    trunk_subject = card.default_subject

    hidden, aligned, sources = [], [], []
    for number, (item, run) in enumerate(zip(stimuli, runs, strict=True)):
        share = _FEATURES_SHARE / len(stimuli)
        progress(share * number, f"run {number + 1} of {len(stimuli)}: hidden features")
        stimulus = item if isinstance(item, Stimulus) else load_stimulus(
            item, engine.settings, tr_s=card.tr_s if isinstance(item, (list, tuple)) else None)
        features = hidden_features(engine, loaded, stimulus, trunk_subject,
                                   lambda f, s, n=number, w=share: progress(w * (n + f), s))
        hidden.append(features)
        aligned.append(_align(features, run, indices, space.n_outputs, space.space_id, card.tr_s))
        sources.append(os.path.basename(stimulus.source) if stimulus.source else f"stimulus {number + 1}")
    columns = hidden[0].columns
    for number, features in enumerate(hidden[1:], start=2):
        if features.columns != columns:
            raise UserInputError(f"the stimuli give different hidden columns ({sources[0]}: {', '.join(columns)}; "
                                 f"{sources[number - 1]}: {', '.join(features.columns)}): the lite model's come from "
                                 "the modalities a stimulus has; give stimuli of the same kind")
    modalities = hidden[0].column_modalities

    progress(_FEATURES_SHARE, "fitting the ridge readout (cross-validated by run)")
    train = [i for i in range(len(runs)) if i != test]
    held = fit_ridge([aligned[i].x for i in train], [aligned[i].y for i in train], modalities=modalities,
                     alphas=alphas, banded=banded)
    final = held
    if refit:
        progress(_FEATURES_SHARE + 0.5 * (_FIT_SHARE - _FEATURES_SHARE), "refitting on every run")
        final = fit_ridge([a.x for a in aligned], [a.y for a in aligned], modalities=modalities, alphas=alphas,
                          banded=banded)
    progress(_FIT_SHARE, "scoring the held-out run")

    def subject_of(fit: RidgeFit, held_out_r: np.ndarray, facts: dict) -> AdaptedSubject:
        return AdaptedSubject(
            name=name, model_id=card.model_id, space_id=space.space_id, indices=np.asarray(indices, dtype=np.int64),
            columns=tuple(columns), column_modalities=tuple(modalities), mean=fit.mean, scale=fit.scale,
            weights=fit.weights, intercept=np.zeros(len(indices), dtype=np.float32), alphas=fit.alphas,
            held_out_r=held_out_r, card=facts)

    nan = np.full(len(indices), np.nan)
    probe = subject_of(held, nan, {"trunk_subject": trunk_subject})
    evaluation = evaluate(probe.readout(hidden[test]), runs[test], tr_s=tr_s, settings=engine.settings)
    default = evaluate(loaded.readout(hidden[test], trunk_subject, None if roi is None else indices),
                       runs[test], tr_s=tr_s, settings=engine.settings)
    importance = modality_importance(held, aligned[test].x, aligned[test].y, modalities)
    notes = list(dict.fromkeys(note for a in aligned for note in a.notes))
    at_edge = float(np.mean((final.alphas <= alphas[0]) | (final.alphas >= alphas[-1])))
    if at_edge > 0.25:
        notes.append(f"{at_edge:.0%} of the outputs chose the smallest or largest alpha tried")
    facts = {
        "trunk_subject": trunk_subject, "variant": variant, "options": dict(options),
        "training_stimuli": sources, "measured_sources": [run.source for run in runs],
        "n_timepoints": int(sum(len(a.y) for a in aligned)),
        "n_timepoints_per_run": [int(len(a.y)) for a in aligned],
        "held_out_run": test + 1, "held_out_stimulus": sources[test],
        "held_out_mean_r": evaluation.mean_r, "held_out_median_r": evaluation.median_r,
        "default_subject": str(trunk_subject), "default_subject_mean_r": default.mean_r,
        "alphas_tried": [float(a) for a in alphas],
        "alpha_median": float(np.median(final.alphas)),
        "alpha_range": [float(final.alphas.min()), float(final.alphas.max())],
        "solver": final.solver, "refit_on_all_runs": bool(refit), "banded": bool(banded),
        "modality_importance_r2": importance,
        "tr_s": hidden[0].tr_s, "time_axis": hidden[0].time_axis, "hrf_offset_s": hidden[0].hrf_offset_s,
        "roi": roi, "nforge_version": __version__, "notes": notes,
        "fitted": "ridge on the model's standardised hidden features; the measured series z-scored per run; "
                  + ("weights refitted on every run after scoring" if refit else "weights from the training runs"),
    }
    subject = replace_fields(subject_of(final, np.asarray(evaluation.r, dtype=np.float64), facts),
                             evaluation=evaluation, default_evaluation=default)
    if save:
        folder = save_subject(subject, engine.settings, replace=replace)
        subject.card["folder"] = str(folder)
    progress(1.0, "done")
    return subject


__all__ = ["DEFAULT_ALPHAS", "RidgeFit", "adapt", "fit_ridge", "hidden_features", "modality_importance",
           "subjects_dir", "zscore"]
