"""First-level GLMs of predicted series, as a scanner study would fit them, with permutation p values.

The design matrix is nilearn's (``make_first_level_design_matrix``: events convolved with the Glover HRF,
cosine drifts with a 0.01-Hz high-pass, a constant), the fit is nilearn's ordinary least squares
(``OLSModel``) and contrasts are written as nilearn writes them (``"speech - music"``, evaluated by
``expression_to_contrast_vector``).

**What p means here.** A predicted series has no scanner noise: the residuals of the fit are what the
design does not capture of the model's own response, not measurement error, so parametric p values would
be meaningless. Instead the labels of the contrasted events are permuted (every distinct relabelling when
there are at most ``n_permutations``, else that many drawn at random, the true labelling always first), the
GLM is refitted for each, and each output's p is the share of relabellings whose largest ``|t|`` over all
outputs reaches its own ``|t|`` (the maximum statistic, which corrects for the family of outputs). So p says
how special the true labelling is among the relabellings; it cannot go below ``1 / n_permutations`` (or
``2 / n_permutations`` when the set holds the swap of the two conditions, whose ``|t|`` is the same: each
such pair is fitted once).
``nilearn.mass_univariate.permuted_ols`` is not used: it permutes the rows (scans), which are not
exchangeable in a time series; the events are.

**Time axis.** Models on BOLD time (nforge-lite, Text2fMRI, flow-matching) report at ``t`` the BOLD of ``t``:
the rows are fitted with HRF-convolved regressors at their own times. A model on stimulus time (TRIBE v2)
reports at ``t`` the BOLD of ``t + hrf_offset_s`` (its training targets were shifted back by that much). Its
rows are put back on the BOLD clock (``t + hrf_offset_s``) and fitted with the same HRF-convolved
regressors: the shift takes out the delay, not the haemodynamic smoothing and undershoot, which the HRF
still models. Unconvolved (boxcar) regressors would treat the shift as the whole HRF.

Region values come from the same GLM fitted to each region's mean series, corrected over the regions.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.features import ProgressFn, no_progress
from nforge_app.spaces import get_space
from nforge_app.values import ContrastMap, Events, Prediction

HRF_MODEL = "glover"
DRIFT_MODEL = "cosine"
HIGH_PASS_HZ = 0.01
NOISE_MODEL = "ols"
DEFAULT_PERMUTATIONS = 1000
EVENT_COLUMNS = ("onset", "duration", "trial_type", "modulation")
"""The columns an events file may have (``modulation`` is optional: nilearn scales each event's regressor)."""
REQUIRED_COLUMNS = ("onset", "duration", "trial_type")
# |t| of a relabelling counts as reaching the true one within this relative tolerance (the swap of two
# conditions gives the same |t| up to rounding).
_TIE = 1e-9
_EVENT_TAG = "#"  # per-event columns are named "#0", "#1"...: never a trial type (those are identifiers)


def frame_times(prediction: Prediction) -> np.ndarray:
    """The time of each row of a prediction on the BOLD clock (``times_s``, plus the HRF offset on stimulus time)."""
    offset_s = prediction.hrf_offset_s if prediction.time_axis == "stimulus" else 0.0
    return np.asarray(prediction.times_s, dtype=np.float64) + float(offset_s)


def time_axis_statement(prediction: Prediction) -> str:
    """One sentence on how the prediction's time axis enters the GLM (shown with every result)."""
    if prediction.time_axis == "stimulus" and prediction.hrf_offset_s:
        return (f"{prediction.model_id} reports at stimulus time t the BOLD of t + {prediction.hrf_offset_s:g} s: "
                f"its rows are fitted at their BOLD times (t + {prediction.hrf_offset_s:g} s) with Glover-convolved "
                "regressors (the shift removes the delay, not the haemodynamic smoothing)")
    return (f"{prediction.model_id} reports BOLD time (haemodynamic delay included): its rows are fitted at their "
            "own times with Glover-convolved regressors")


# -- events ----------------------------------------------------------------------------------------------
def _number(text: str, column: str, row: int, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserInputError(f"{source}, row {row}: {column} {text!r} is not a number (BIDS 'n/a' is not accepted "
                             f"in {column})")
    return value


def check_events(onsets_s, durations_s, trial_types, duration_s: float | None = None, modulation=None,
                 source: str = "events") -> Events:
    """Check events against a stimulus of ``duration_s`` and return them as :class:`Events`.

    Parameters
    ----------
    onsets_s, durations_s : sequence of float
        Start and length of each event, in seconds from the stimulus start.
    trial_types : sequence of str
        Condition of each event: names usable in a contrast (letters, digits and ``_``, not starting with a
        digit).
    duration_s : float, optional
        Length of the stimulus: every onset must fall before it.
    modulation : sequence of float, optional
        Amplitude of each event.
    source : str
        What the events are, for messages (a file name).

    Returns
    -------
    Events

    Raises
    ------
    UserInputError
        With no event, a negative or non-finite onset or duration, an onset at or past the end of the
        stimulus, or a trial type that cannot be named in a contrast.
    """
    onsets = np.asarray(onsets_s, dtype=np.float64).reshape(-1)
    durations = np.asarray(durations_s, dtype=np.float64).reshape(-1)
    types = tuple(str(t) for t in trial_types)
    if not len(types):
        raise UserInputError(f"{source} holds no event; give one row per event (onset, duration, trial_type)")
    for name, values in (("onset", onsets), ("duration", durations)):
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            raise UserInputError(f"{source}: event {bad[0] + 1} has {name} {values[bad[0]]:g}; {name}s must be "
                                 f"0 or more seconds ({bad.size} event(s) are not)")
    if duration_s is not None:
        late = np.flatnonzero(onsets >= duration_s)
        if late.size:
            raise UserInputError(f"{source}: event {late[0] + 1} starts at {onsets[late[0]]:g} s, at or past the end "
                                 f"of the stimulus ({duration_s:.1f} s); {late.size} event(s) do")
    odd = [t for t in dict.fromkeys(types) if not t.isidentifier()]
    if odd:
        raise UserInputError(f"{source}: trial_type {odd[0]!r} cannot be named in a contrast; use letters, digits "
                             "and _ (not starting with a digit), e.g. speech, reversed_speech")
    weights = None if modulation is None else np.asarray(modulation, dtype=np.float64).reshape(-1)
    if weights is not None and not np.isfinite(weights).all():
        raise UserInputError(f"{source}: every modulation must be a finite number")
    return Events(onsets, durations, types, weights)


def read_events(path: str | os.PathLike, duration_s: float | None = None) -> Events:
    """Read a BIDS ``events.tsv`` (tab-separated: ``onset``, ``duration``, ``trial_type``, optional ``modulation``).

    Parameters
    ----------
    path : str or PathLike
        The file.
    duration_s : float, optional
        Length of the stimulus the events belong to: onsets must fall before it.

    Returns
    -------
    Events

    Raises
    ------
    UserInputError
        For a missing or non-UTF-8 file, missing or unknown columns, rows of the wrong length, values that
        are not numbers, negative durations and onsets past the end (see :func:`check_events`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserInputError(f"no events file at {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserInputError(f"cannot read {path.name} as UTF-8 text ({error})") from None
    rows = [row for row in csv.reader(text.splitlines(), delimiter="\t") if any(cell.strip() for cell in row)]
    if not rows:
        raise UserInputError(f"{path.name} is empty; an events file is tab-separated with the header "
                             f"{chr(9).join(REQUIRED_COLUMNS)}")
    header = [cell.strip() for cell in rows[0]]
    unknown = [name for name in header if name not in EVENT_COLUMNS]
    if unknown:
        raise UserInputError(f"{path.name}: unknown column(s) {', '.join(map(repr, unknown))}; accepted columns: "
                             f"{', '.join(EVENT_COLUMNS)} (tab-separated, modulation optional)")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing or len(set(header)) != len(header):
        problem = f"lacks the column(s) {', '.join(missing)}" if missing else "names a column twice"
        raise UserInputError(f"{path.name} {problem}; its header must hold {', '.join(REQUIRED_COLUMNS)} "
                             "(tab-separated), and may add modulation")
    columns: dict[str, list] = {name: [] for name in header}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserInputError(f"{path.name}, row {number}: {len(row)} field(s) for {len(header)} columns "
                                 "(fields are separated by tabs)")
        for name, cell in zip(header, row, strict=True):
            cell = cell.strip()
            columns[name].append(cell if name == "trial_type" else _number(cell, name, number, path.name))
    bad_type = next((i for i, t in enumerate(columns["trial_type"]) if t in ("", "n/a")), None)
    if bad_type is not None:
        raise UserInputError(f"{path.name}, row {bad_type + 2}: the trial_type is empty or n/a; every event needs one")
    return check_events(columns["onset"], columns["duration"], columns["trial_type"], duration_s,
                        columns.get("modulation"), source=path.name)


# -- design ----------------------------------------------------------------------------------------------
def design_matrix(events: Events, frame_times_s: np.ndarray):
    """nilearn's first-level design matrix of ``events`` at ``frame_times_s`` (a pandas DataFrame).

    Columns: the conditions (sorted), ``drift_1``... (cosine, 0.01 Hz high-pass) and ``constant``.
    """
    import pandas as pd
    from nilearn.glm.first_level import make_first_level_design_matrix

    table = pd.DataFrame({"onset": events.onsets_s, "duration": events.durations_s,
                          "trial_type": list(events.trial_types)})
    if events.modulation is not None:
        table["modulation"] = events.modulation
    return make_first_level_design_matrix(np.asarray(frame_times_s, dtype=np.float64), table, hrf_model=HRF_MODEL,
                                          drift_model=DRIFT_MODEL, high_pass=HIGH_PASS_HZ)


def contrast_vector(expression: str, columns) -> np.ndarray:
    """The weights of a contrast written as nilearn writes them (``"speech - music"``) over ``columns``."""
    from nilearn.glm.contrasts import expression_to_contrast_vector

    try:
        return np.asarray(expression_to_contrast_vector(str(expression), list(columns)), dtype=np.float64)
    except (ValueError, SyntaxError, TypeError, NameError) as error:
        said = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise UserInputError(f"the contrast {str(expression)[:80]!r} cannot be read: write it with the condition "
                             f"names, e.g. 'A - B' or '2*speech - music - noise'; conditions: "
                             f"{', '.join(c for c in columns if not c.startswith(('drift', 'constant')))} "
                             f"({' '.join(line for line in said if not line.startswith('Available'))})") from None


# -- relabellings ----------------------------------------------------------------------------------------
def _distinct_labellings(labels: np.ndarray):
    """Every distinct arrangement of ``labels`` (a multiset), each as an array."""
    names = sorted(set(labels.tolist()))

    def fill(free: tuple[int, ...], k: int, out: np.ndarray):
        if k == len(names) - 1:
            out[list(free)] = names[k]
            yield out.copy()
            return
        for chosen in itertools.combinations(free, int(np.sum(labels == names[k]))):
            out[list(chosen)] = names[k]
            yield from fill(tuple(i for i in free if i not in chosen), k + 1, out)

    yield from fill(tuple(range(len(labels))), 0, labels.copy())


def n_distinct_labellings(labels) -> int:
    """How many distinct arrangements the labels have (the multinomial coefficient)."""
    counts = Counter(np.asarray(labels).tolist()).values()
    total = math.factorial(sum(counts))
    for count in counts:
        total //= math.factorial(count)
    return total


def relabellings(labels, n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0) -> tuple[list[np.ndarray], bool]:
    """The relabellings a permutation test uses, the true labelling first.

    Parameters
    ----------
    labels : sequence of str
        The true label of each exchangeable event.
    n_permutations : int
        Most relabellings (the true one included).
    seed : int
        Seed of the random ones.

    Returns
    -------
    (labellings, exhaustive)
        Every distinct relabelling when there are at most ``n_permutations`` (``exhaustive`` True), else the
        true one and ``n_permutations - 1`` drawn at random.
    """
    labels = np.asarray(labels, dtype=object)
    if n_distinct_labellings(labels) <= n_permutations:
        others = [other for other in _distinct_labellings(labels) if not np.array_equal(other, labels)]
        return [labels, *others], True
    rng = np.random.default_rng(seed)
    return [labels, *(rng.permutation(labels) for _ in range(n_permutations - 1))], False


def _swap(labels: np.ndarray, weights: dict[str, float]) -> np.ndarray | None:
    """The labels with the two contrasted conditions swapped, when that flips the contrast's sign."""
    if len(weights) != 2:
        return None
    (a, w_a), (b, w_b) = weights.items()
    if w_a != -w_b or np.sum(labels == a) != np.sum(labels == b):
        return None
    return np.where(labels == a, b, np.where(labels == b, a, labels))


# -- the fit ---------------------------------------------------------------------------------------------
def _count_reaching(maxima: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per output, the share of relabellings whose largest |t| reaches its |t| (within the tie tolerance)."""
    ordered = np.sort(maxima)
    reach = np.abs(t) * (1 - _TIE)
    return (len(ordered) - np.searchsorted(ordered, reach, side="left")) / len(ordered)


def fit_contrast(prediction: Prediction, events: Events, contrast: str, *,
                 n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0, settings: Settings | None = None,
                 progress: ProgressFn = no_progress) -> ContrastMap:
    """Fit a first-level GLM to a predicted series and test a contrast by relabelling its events.

    Parameters
    ----------
    prediction : Prediction
        The predicted series (one stimulus holding every event).
    events : Events
        The events on the stimulus timeline (from :func:`read_events`, :func:`check_events` or a block design).
    contrast : str
        As nilearn writes contrasts: ``"A - B"``, ``"speech - music"``, ``"2*a - b - c"``.
    n_permutations : int
        Most relabellings, the true one included (all distinct ones when there are at most this many).
    seed : int
        Seed of random relabellings.
    settings : Settings, optional
        Where the atlases are (for the region means).
    progress : callable
        ``progress(fraction, stage)``.

    Returns
    -------
    ContrastMap
        Effect, t and corrected p per output and per region, the betas, the design and what was done.

    Raises
    ------
    UserInputError
        For a contrast that cannot be read or weighs no condition.
    """
    from nilearn.glm import OLSModel

    if int(n_permutations) < 1:
        raise UserInputError(f"n_permutations must be a positive whole number, got {n_permutations!r}")
    times = frame_times(prediction)
    observed = design_matrix(events, times)
    columns = tuple(observed.columns)
    weights_vector = contrast_vector(contrast, columns)
    weights = {c: float(weights_vector[columns.index(c)]) for c in events.conditions
               if weights_vector[columns.index(c)] != 0}
    if not weights:
        raise UserInputError(f"the contrast {contrast!r} weighs no condition; conditions: {', '.join(events.conditions)}")
    trial_types = np.asarray(events.trial_types, dtype=object)
    exchangeable = np.flatnonzero(np.isin(trial_types, list(weights)))
    # One regressor per exchangeable event: a relabelling sums them per condition (convolution is linear,
    # so this is exactly nilearn's design for that labelling).
    tagged = trial_types.copy()
    tagged[exchangeable] = [f"{_EVENT_TAG}{i}" for i in range(len(exchangeable))]
    per_event = design_matrix(Events(events.onsets_s, events.durations_s, tuple(tagged), events.modulation), times)
    event_columns = per_event[[f"{_EVENT_TAG}{i}" for i in range(len(exchangeable))]].to_numpy()
    fixed = {name: per_event[name].to_numpy() for name in columns if name not in weights}

    def design_for(labels: np.ndarray) -> np.ndarray:  # the true labels give nilearn's `observed` design
        return np.column_stack([event_columns[:, labels == name].sum(axis=1) if name in weights else fixed[name]
                                for name in columns])

    space = get_space(prediction.space_id, settings)
    regions, region_means = space.roi_time_series(prediction.data, prediction.indices)
    n_outputs = prediction.data.shape[1]
    series = np.hstack([np.asarray(prediction.data, dtype=np.float64), np.asarray(region_means, dtype=np.float64)])
    true_labels = trial_types[exchangeable]
    labellings, exhaustive = relabellings(true_labels, int(n_permutations), seed)
    maxima = np.zeros((len(labellings), 2))
    condition_rows = [columns.index(c) for c in events.conditions]
    fitted: dict[tuple, np.ndarray] = {}
    for k, labels in enumerate(labellings):
        if k % 10 == 0:
            progress(k / len(labellings), f"GLM: relabelling {k + 1} of {len(labellings)}")
        # A labelling met before, or the swap of one (A <-> B: t changes sign), has the same largest |t|.
        swapped = _swap(labels, weights)
        known = next((fitted[key] for key in (tuple(labels), None if swapped is None else tuple(swapped))
                      if key in fitted), None)
        if known is not None:
            maxima[k] = known
            continue
        with np.errstate(divide="ignore"):  # outputs the design fits exactly have sd 0: nilearn gives t 0
            fit = OLSModel(observed.to_numpy() if k == 0 else design_for(labels)).fit(series)
            result = fit.Tcontrast(weights_vector)
        t = np.atleast_1d(result.t)
        maxima[k] = (np.abs(t[:n_outputs]).max(initial=0.0), np.abs(t[n_outputs:]).max(initial=0.0))
        fitted[tuple(labels)] = maxima[k]
        if k == 0:
            effect, t_observed, betas = np.atleast_1d(result.effect), t, fit.theta[condition_rows]
    progress(1.0, "GLM: done")
    testable = len(weights) >= 2 and len(labellings) > 1
    if testable:
        p_outputs = _count_reaching(maxima[:, 0], t_observed[:n_outputs])
        p_regions = _count_reaching(maxima[:, 1], t_observed[n_outputs:])
    else:
        p_outputs, p_regions = np.full(n_outputs, np.nan), np.full(len(regions), np.nan)
    swapped = _swap(true_labels, weights)
    has_swap = swapped is not None and any(np.array_equal(swapped, labels) for labels in labellings[1:])
    smallest_p = (2 if has_swap else 1) / len(labellings)
    n_a = int(sum(events.count(c) for c, w in weights.items() if w > 0))
    n_b = int(sum(events.count(c) for c, w in weights.items() if w < 0))
    kind = "all" if exhaustive else "randomly drawn"
    permutation = (f"{len(labellings)} relabellings ({kind}, the true one included) of the {len(exchangeable)} "
                   f"events of {', '.join(weights)}; max-|t| correction over {n_outputs} outputs and, "
                   f"separately, {len(regions)} regions; smallest reachable p {smallest_p:.3g}")
    if not testable:
        permutation = (f"no permutation test: the contrast weighs {len(weights)} condition(s) with "
                       f"{len(labellings)} distinct labelling(s); p needs two conditions to relabel")
    metadata = {
        "hrf_model": HRF_MODEL, "drift_model": DRIFT_MODEL, "high_pass_hz": HIGH_PASS_HZ, "noise_model": NOISE_MODEL,
        "time_axis": prediction.time_axis, "hrf_offset_s": float(prediction.hrf_offset_s),
        "time_axis_handling": time_axis_statement(prediction), "permutation": permutation, "seed": int(seed),
        "p_meaning": ("a prediction has no scanner noise: p is the share of relabellings of the events that give "
                      "a largest |t| at least as large, i.e. how special the true labelling is among them"),
        "baseline": bool(prediction.metadata.get("baseline", False)),
        "stimulus": prediction.metadata.get("stimulus"), "tr_s": float(prediction.tr_s),
        "null_max_abs_t": [float(v) for v in maxima[:, 0]],
    }
    return ContrastMap(
        contrast=str(contrast), effect=effect[:n_outputs].astype(np.float32), t=t_observed[:n_outputs].astype(np.float32),
        p_corrected=p_outputs, indices=np.asarray(prediction.indices, dtype=np.int64), space_id=prediction.space_id,
        model_id=prediction.model_id, subject=str(prediction.subject), conditions=events.conditions,
        betas=betas[:, :n_outputs].astype(np.float32), n_a=n_a, n_b=n_b, n_permutations=len(labellings),
        exhaustive=exhaustive, smallest_p=smallest_p, design=events, design_matrix=observed.to_numpy(),
        design_columns=columns, frame_times_s=times, regions=tuple(regions),
        region_effect=effect[n_outputs:].astype(np.float32), region_t=t_observed[n_outputs:].astype(np.float32),
        region_p_corrected=p_regions, metadata=metadata)
