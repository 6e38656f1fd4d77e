"""Evaluation of a prediction against measured fMRI: Pearson r over time per output, aligned in time first.

The score is the field's (TRIBE v2, Algonauts 2025): for every output, the correlation over time between
the predicted and the measured time course; then its mean and median over outputs and per region. What
makes it honest is the alignment, which is applied in this order and stated in words in the result:

1. BOLD time. A prediction on the stimulus axis (TRIBE v2: BOLD shifted back by ``hrf_offset_s``) has its
   rows moved forward by that offset; measured row ``i`` is at ``i * TR`` seconds from the stimulus onset.
2. The measured grid. The prediction is resampled onto the measured volumes' times by linear interpolation
   (exactly its own rows when the grids coincide, e.g. a 1.49-s model against 1.49-s data).
3. The overlap. Measured volumes outside the prediction's span are left out, and the result says how many.
4. The lag. None by default; ``lag_search`` tries shifts from -5 to +10 s (whole prediction samples) and
   keeps the one with the highest mean r, reporting it and the mean r of every lag tried.

With repeated runs of the same stimulus, r is computed against their average, and the noise ceiling (the r a
perfect prediction would reach against that average) is ``sqrt`` of the split-half reliability stepped up by
Spearman-Brown: with two runs, the correlation between them ``rho`` gives ``2 rho / (1 + rho)``; with ``k``
runs, the mean correlation over pairs of runs gives ``k rho / (1 + (k - 1) rho)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nforge_app.analysis._measured import MIN_TIMEPOINTS, _checked, _with_tr, measured_columns
from nforge_app.analysis.metrics import pearson_defined, varies_over_time, voxelwise_pearson
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import NETWORKS, OutputSpace, get_space
from nforge_app.values import Evaluation, HiddenFeatures, MeasuredRun, Prediction

LAG_RANGE_S = (-5.0, 10.0)
_ON_GRID = 1e-6  # fractional sample positions this close to a whole sample are that sample


def _as_runs(measured, tr_s: float | None) -> list[MeasuredRun]:
    """One or more runs from arrays and MeasuredRun values (a 3-D array is a stack of runs)."""
    if isinstance(measured, MeasuredRun) or (isinstance(measured, np.ndarray) and measured.ndim == 2):
        items = [measured]
    elif isinstance(measured, np.ndarray) and measured.ndim == 3:
        items = list(measured)
    elif isinstance(measured, Sequence) and not isinstance(measured, str) and len(measured):
        items = list(measured)
    else:
        raise UserInputError("measured data must be an array (time points x outputs), a MeasuredRun or a list of "
                             f"them (repeated runs); got {type(measured).__name__}")
    runs = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, MeasuredRun):
            runs.append(MeasuredRun(_checked(item.data, item.source), _with_tr(item.tr_s, tr_s, item.source),
                                    item.source, item.notes))
        else:
            source = "measured data" if len(items) == 1 else f"measured run {number}"
            runs.append(MeasuredRun(_checked(item, source), _with_tr(None, tr_s, source), source))
    return runs


def bold_times(prediction: Prediction | HiddenFeatures) -> np.ndarray:
    """The BOLD time (s) of each row of a prediction (or of hidden features): ``times_s``, plus ``hrf_offset_s``
    on the stimulus axis."""
    offset = prediction.hrf_offset_s if prediction.time_axis == "stimulus" else 0.0
    return np.asarray(prediction.times_s, dtype=np.float64) + offset


def resample_rows(data: np.ndarray, times: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, bool]:
    """Rows of ``data`` at other times, by linear interpolation (the rows themselves where the times coincide).

    Parameters
    ----------
    data : ndarray (T, ...)
        One row per time of ``times``.
    times : ndarray (T,)
        Increasing times (s) of the rows.
    targets : ndarray (N,)
        Times wanted, within ``times[0] .. times[-1]``.

    Returns
    -------
    (rows, on_grid)
        ``(N, ...)`` rows, and whether every target fell on a row (then they are ``data``'s own, untouched; a
        view when consecutive).
    """
    if len(times) == 1:
        return np.repeat(data, len(targets), axis=0), True
    position = np.interp(targets, times, np.arange(len(times), dtype=np.float64))
    nearest = np.rint(position)
    position = np.where(np.abs(position - nearest) < _ON_GRID, nearest, position)
    low = np.minimum(np.floor(position).astype(np.int64), len(times) - 2)
    weight = (position - low).astype(np.float32)[:, None]
    if not (weight % 1).any():
        rows = low + weight[:, 0].astype(np.int64)
        if (np.diff(rows) == 1).all():  # consecutive rows: a view, no copy
            return data[rows[0]:rows[-1] + 1], True
        return data[rows], True
    return data[low] * (1 - weight) + data[low + 1] * weight, False


def _overlap(prediction_times: np.ndarray, measured_times: np.ndarray, lag_s: float) -> np.ndarray:
    """Measured rows whose time, moved back by ``lag_s``, lies within the prediction's span."""
    shifted = measured_times - lag_s
    return np.flatnonzero((shifted >= prediction_times[0] - _ON_GRID) & (shifted <= prediction_times[-1] + _ON_GRID))


def _lags(step_s: float, lag_range_s: tuple[float, float]) -> np.ndarray:
    low, high = lag_range_s
    steps = np.arange(np.ceil(low / step_s - _ON_GRID), np.floor(high / step_s + _ON_GRID) + 1)
    return steps * step_s


def _score(prediction: Prediction, times: np.ndarray, measured: np.ndarray, measured_times: np.ndarray,
           lag_s: float, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(r per output, rows compared, whether on the prediction's grid) at one lag; NaN r where an output does
    not vary."""
    rows = _overlap(times, measured_times, lag_s)
    if len(rows) < MIN_TIMEPOINTS:
        return np.full(measured.shape[1], np.nan), rows, True
    predicted, on_grid = resample_rows(np.asarray(prediction.data), times, measured_times[rows] - lag_s)
    r, defined = pearson_defined(predicted, measured[rows[0]:rows[-1] + 1])  # the overlap is one stretch
    r[~(valid & defined)] = np.nan
    return r, rows, on_grid


def _noise_ceiling(runs: list[np.ndarray]) -> np.ndarray:
    """sqrt of the Spearman-Brown reliability of the average of ``runs`` (k of (T, V)); NaN where not positive."""
    k = len(runs)
    pairs = [voxelwise_pearson(runs[a], runs[b]) for a in range(k) for b in range(a + 1, k)]
    rho = np.mean(pairs, axis=0)
    reliability = k * rho / (1 + (k - 1) * rho)
    return np.sqrt(reliability, out=np.full_like(reliability, np.nan), where=reliability > 0)


def roi_summaries(r: np.ndarray, indices: np.ndarray, space: OutputSpace, roi=None
                  ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Mean r per region: ``roi`` names (each a row), or the space's regions (surface) and its networks.

    Returns
    -------
    (names, mean r, number of outputs with a finite r), regions without such outputs left out.
    """
    indices = np.asarray(indices)
    if roi:
        groups = [(name, np.isin(indices, space.select(name))) for name in ([roi] if isinstance(roi, str) else roi)]
    else:
        groups = []
        if space.kind == "surface":
            assigned = space.roi_assignment[indices]
            groups = [(space.roi_labels[label], assigned == label) for label in np.unique(assigned[assigned >= 0])]
        groups += [(name, space.networks[name][indices]) for name in NETWORKS]
    finite = np.isfinite(r)
    rows = [(name, float(r[members & finite].mean()), int((members & finite).sum()))
            for name, members in groups if (members & finite).any()]
    return (tuple(name for name, _, _ in rows), np.array([m for _, m, _ in rows], dtype=np.float64),
            np.array([n for _, _, n in rows], dtype=np.int64))


def _alignment(prediction: Prediction, measured_tr: float, tr_note: str, n_measured: int, rows: np.ndarray,
               on_grid: bool, lag_s: float, lag_searched: bool, notes: list[str]) -> str:
    parts = []
    if prediction.time_axis == "stimulus" and prediction.hrf_offset_s:
        parts.append(f"prediction on stimulus time, moved {prediction.hrf_offset_s:g} s later onto BOLD time "
                     "(its haemodynamic offset)")
    else:
        parts.append("prediction on BOLD time")
    parts.append(f"measured volume i at i x {measured_tr:g} s{tr_note}; "
                 + ("on the prediction's own time points, no resampling" if on_grid
                    else f"prediction (TR {prediction.tr_s:g} s) resampled onto the measured times by linear "
                         "interpolation"))
    dropped = n_measured - len(rows)
    parts.append(f"{len(rows)} of {n_measured} measured time points overlap the prediction"
                 + (f" ({int(rows[0])} left out before, {n_measured - 1 - int(rows[-1])} after)" if dropped else ""))
    if lag_searched:
        parts.append(f"lag searched from {LAG_RANGE_S[0]:g} to +{LAG_RANGE_S[1]:g} s in steps of "
                     f"{prediction.tr_s:g} s: best {lag_s:+g} s (positive: the measured response comes later)")
    else:
        parts.append("no lag applied (a lag search tries -5 to +10 s)")
    return "; ".join(parts + notes) + "."


def evaluate(prediction: Prediction, measured, *, tr_s: float | None = None, roi=None, lag_search: bool = False,
             settings: Settings | None = None) -> Evaluation:
    """Score a prediction against measured fMRI: Pearson r over time per output, aligned in time first.

    Parameters
    ----------
    prediction : Prediction
        Any prediction (fsaverage5 vertices or Schaefer parcels, any selection).
    measured : ndarray (T, V), MeasuredRun, or a list of them
        The measured responses to the same stimulus (see :func:`~nforge_app.analysis.read_measured`), with
        every output of the space or exactly the prediction's outputs as columns. Several runs are repeats of
        the stimulus: r is computed against their average, and they give the noise ceiling.
    tr_s : float, optional
        TR of the measured data in seconds, where the data do not say it (the prediction's TR otherwise,
        which the alignment then states).
    roi : str or list of str, optional
        Regions to summarise (names, wildcards, networks; one row each). By default the space's regions
        (fsaverage5: 180 Glasser regions) and the seven Yeo networks.
    lag_search : bool
        Try lags from -5 to +10 s (in steps of the prediction's TR) and keep the one with the highest mean r.
    settings : Settings, optional
        Where the atlases are (read from the environment by default).

    Returns
    -------
    Evaluation
        r per output in the order of ``prediction.indices``, its mean and median, region summaries, the
        noise ceiling with repeated runs, the lag and the alignment, in words.

    Raises
    ------
    UserInputError
        Measured data with NaN or inf, a number of outputs that matches neither the space nor the
        prediction, repeated runs of different lengths or TRs, fewer than 10 time points in the overlap, or
        outputs that are all constant.

    Examples
    --------
    >>> evaluation = evaluate(prediction, read_measured("sub-01.npz"), lag_search=True)  # doctest: +SKIP
    >>> round(evaluation.mean_r, 3), evaluation.lag_s  # doctest: +SKIP
    (0.214, 0.0)
    """
    runs = _as_runs(measured, tr_s)
    space = get_space(prediction.space_id, settings)
    indices = np.asarray(prediction.indices, dtype=np.int64)
    columns, notes = [], []
    for run in runs:
        data, turned = measured_columns(run, indices, space.n_outputs, space.space_id)
        columns.append(data)
        notes += turned + list(run.notes)
    lengths, trs = {len(c) for c in columns}, {run.tr_s for run in runs}
    if len(lengths) > 1 or len(trs) > 1:
        raise UserInputError(f"repeated runs must have the same length and TR; got lengths {sorted(lengths)} and "
                             f"TRs {sorted(trs, key=str)}")
    measured_tr = trs.pop()
    tr_note = ""
    if measured_tr is None:
        measured_tr = float(prediction.tr_s)
        tr_note = " (the data do not give their TR: the prediction's is assumed; give it if it differs)"
    average = columns[0] if len(columns) == 1 else np.mean(columns, axis=0, dtype=np.float32)
    times = bold_times(prediction)
    measured_times = np.arange(len(average)) * measured_tr
    valid = np.logical_and.reduce([varies_over_time(c) for c in columns])
    if not valid.any():
        raise UserInputError(f"every measured output is constant over time in {runs[0].source}: there is nothing "
                             "to correlate (is it the right file?)")
    lags = _lags(float(prediction.tr_s), LAG_RANGE_S) if lag_search else np.zeros(1)
    scored = [_score(prediction, times, average, measured_times, float(lag), valid) for lag in lags]
    mean_r = np.array([np.nanmean(r) if np.isfinite(r).any() else -np.inf for r, _, _ in scored])
    if not np.isfinite(mean_r).any():
        span = f"{times[0]:g} to {times[-1]:g} s of BOLD time"
        raise UserInputError(f"the measured data ({len(average)} volumes at TR {measured_tr:g} s) overlap the "
                             f"prediction ({span}) on fewer than {MIN_TIMEPOINTS} time points, or every output "
                             "is constant there; check the TR and that both are of the same stimulus")
    best = int(np.argmax(mean_r))
    r, rows, on_grid = scored[best]
    ceiling = _noise_ceiling([c[rows[0]:rows[-1] + 1] for c in columns]) if len(columns) > 1 else None
    names, roi_r, roi_n = roi_summaries(r, indices, space, roi)
    n_constant = int((~np.isfinite(r)).sum())
    if n_constant:
        notes.append(f"{n_constant:,} output{'s' * (n_constant != 1)} constant in the measured or predicted data "
                     "(e.g. the medial wall): r undefined there, left out of the means")
    lag_s = float(lags[best])
    return Evaluation(
        r=r, indices=indices, space_id=space.space_id, n_timepoints=len(rows), lag_s=lag_s,
        alignment=_alignment(prediction, measured_tr, tr_note, len(average), rows, on_grid, lag_s, lag_search,
                             notes),
        roi_names=names, roi_r=roi_r, roi_n=roi_n, noise_ceiling=ceiling,
        lag_curve=np.column_stack([lags, np.where(np.isfinite(mean_r), mean_r, np.nan)]) if lag_search else None,
        metadata={"model_id": prediction.model_id, "subject": str(prediction.subject),
                  "prediction_tr_s": float(prediction.tr_s), "measured_tr_s": float(measured_tr),
                  "time_axis": prediction.time_axis, "hrf_offset_s": float(prediction.hrf_offset_s),
                  "n_runs": len(runs), "sources": [run.source for run in runs], "n_undefined": n_constant,
                  "metric": "Pearson r over time per output"},
    )


__all__ = ["LAG_RANGE_S", "bold_times", "evaluate", "resample_rows", "roi_summaries"]
