"""Modality attribution: which input modality (text, audio, video) drove each output at each time step.

:func:`attribute` splits one prediction over the modalities present in a ``FeatureSet``. "Absent" always
means what the model says it means (``EncodingModel.absent_modality``): the modality is left out of the
``FeatureSet`` and the model fills it in its own way (TRIBE v2: zeros after the projector, as trained with
modality dropout), never raw zeros pushed through a biased projector. Methods
(:data:`~nforge_app.values.ATTRIBUTION_METHODS`):

- ``"shapley"`` (the default): exact Shapley values over the M modalities present; every coalition is
  predicted with the others absent (2^M predictions, batched in one call for TRIBE v2). Exactly additive:
  the scores sum to the prediction minus the all-absent prediction (``baseline``).
- ``"integrated-gradients"``: along the straight path from all-absent to present, scaling each modality's
  projected embedding by alpha in [0, 1] (TRIBE v2), ``steps`` midpoints, with forward-mode derivatives
  (one direction per modality, batched; never a loop over the 20,484 outputs). Its completeness error is
  measured and reported.
- ``"ablation"``: f(all) - f(all but m), a quick view; what the scores leave out (the interaction of the
  modalities) is reported in ``metadata``.

Per model:

- ``nforge-lite``: its prediction is a sum over channel groups, one group per modality, so each modality's
  part is exact and every method gives the same numbers (``baseline`` is zero: no channel, nothing painted).
- ``tribe-v2``: as above, on the float32 path whatever precision the model runs at.
- ``flow-matching``: over its feature streams, on stage 1's deterministic mean anchor (absent: the mean of
  stream embeddings runs over fewer streams; all absent: a zero embedding); the stochastic samples of stage
  2 are not explained. Integrated gradients take the path that scales each stream's share of the mean;
  stage 1's readout is affine, so they are exact.
- Single-modality models (Text2fMRI) have nothing to split and say so in one sentence.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from nforge_app.checks import check_in, check_range
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet, ProgressFn, no_progress
from nforge_app.values import ATTRIBUTION_METHODS, Attribution

DEFAULT_STEPS = 32
STEPS_RANGE = (2, 512)
ROWS_PER_CALL = 8
"""Batch rows (windows x coalitions or x path points) per encoder call: bounds memory at real sizes."""

# The hidden features of the empty coalition depend on the encoder's weights and the window length only
# (every modality absent: the time embedding through the transformer), so they are kept per encoder, with
# their readouts for the last few selections.
_EMPTY_COALITION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MAX_ABSENT_READOUTS = 4


def _absent_cache(encoder, n_steps: int) -> dict:
    """What does not depend on the stimulus, for this encoder's current weights and window length: the empty
    coalition's ``"hidden"`` features and its readouts per selection. A new weight or length starts afresh."""
    key = (n_steps, encoder._signature("fp32"))  # changes when a weight does
    entry = _EMPTY_COALITION.get(encoder)
    if entry is None or entry[0] != key:
        entry = _EMPTY_COALITION[encoder] = (key, {})
    return entry[1]

_METHOD_WORDS = {
    "shapley": "exact Shapley values over the modalities present (every coalition predicted, others absent)",
    "integrated-gradients": "integrated gradients from all modalities absent to all present",
    "ablation": "ablation: the prediction minus the prediction without that modality (interaction left out)",
}


def single_modality_sentence(card) -> str:
    """The one sentence a single-modality model gives instead of a trivial attribution map."""
    modality = card.modalities[0] if card.modalities else "one input"
    return (f"{card.model_id} reads {modality} only: its whole prediction comes from {modality}, so there is no "
            f"split over modalities to show (ROI temporal attention tells which moments drove each region)")


def attribute(model, features: FeatureSet, stimulus, method: str | None = None, indices: np.ndarray | None = None,
              steps: int = DEFAULT_STEPS, subject=None, progress: ProgressFn | None = None, *,
              modalities: Sequence[str] | None = None) -> Attribution:
    """Split a model's prediction for one stimulus over its input modalities.

    Parameters
    ----------
    model : EncodingModel
        A loaded multimodal model (``nforge-lite``, ``tribe-v2``, ``flow-matching``).
    features : FeatureSet
        The stimulus's features, as the engine extracts them; the modalities present are the players.
    stimulus : Stimulus
        The stimulus the features came from.
    method : str, optional
        One of :data:`~nforge_app.values.ATTRIBUTION_METHODS`; ``"shapley"`` when None.
    indices : ndarray of int, optional
        Outputs to explain (all when None).
    steps : int
        Points on the integrated-gradients path, 2 to 512 (checked for every method).
    subject : optional
        The model's subject (its default when None).
    progress : callable, optional
        ``progress(fraction, stage)``.
    modalities : sequence of str, optional
        Use only these of the modalities present (the others absent); all present when None.

    Returns
    -------
    Attribution
        ``scores`` (M, T, V) over the modalities present in the model's order, ``baseline`` the all-absent
        prediction, ``completeness_error`` measured.

    Raises
    ------
    UserInputError
        Unknown method, steps out of range, a modality asked for that the stimulus lacks, a single-modality
        model, a model without attribution.
    """
    progress = progress or no_progress
    card = model.card
    if len(card.modalities) < 2:
        raise UserInputError(single_modality_sentence(card))
    method = "shapley" if method is None else check_in("attribution method", method, ATTRIBUTION_METHODS)
    steps = check_range("steps", steps, *STEPS_RANGE, integer=True)
    present = [m for m in card.modalities if m in features.features]
    if modalities is not None:
        asked = [modalities] if isinstance(modalities, str) else list(modalities)
        unknown = [m for m in asked if m not in card.modalities]
        if unknown:
            raise UserInputError(f"{card.model_id} does not read {', '.join(unknown)}; it reads "
                                 f"{', '.join(card.modalities)}")
        lacking = [m for m in asked if m not in present]
        if lacking:
            raise UserInputError(f"the stimulus has no {', '.join(lacking)} for {card.model_id}; it carries "
                                 f"{', '.join(present) or 'none of its inputs'}: attribute over those")
        present = [m for m in card.modalities if m in asked]
        features = features.subset(present)
    if not present:
        raise UserInputError(f"the stimulus carries none of the inputs of {card.model_id} "
                             f"({', '.join(card.modalities)})")
    runner = _RUNNERS.get(card.model_id)
    if runner is None:
        raise UserInputError(f"{card.model_id} offers no modality attribution; models that do: "
                             f"{', '.join(sorted(_RUNNERS))}")
    progress(0.0, f"attribution ({method})")
    result = runner(model, features, stimulus, method, indices, steps, subject, progress, present)
    progress(1.0, "attribution: done")
    return result


# -- shared arithmetic ----------------------------------------------------------------------------------

def coalitions(players: Sequence[str], method: str) -> list[frozenset]:
    """The coalitions (sets of present modalities) a method needs: all 2^M for Shapley, else all, all but
    one each, and none."""
    players = list(players)
    if method == "shapley":
        return [frozenset(c) for size in range(len(players) + 1) for c in itertools.combinations(players, size)]
    full = frozenset(players)
    return list(dict.fromkeys([frozenset(), *(full - {m} for m in players), full]))


def combine(values: dict[frozenset, np.ndarray], players: Sequence[str], method: str) -> np.ndarray:
    """Each player's part ``(M, ...)`` from the coalition values ``{coalition: array}`` (float64 sums).

    Shapley: ``sum over S without m of |S|! (M - |S| - 1)! / M! (v(S + m) - v(S))``; ablation:
    ``v(all) - v(all but m)``.
    """
    players = list(players)
    n = len(players)
    full = frozenset(players)
    parts = []
    for m in players:
        if method == "ablation":
            parts.append(np.asarray(values[full], np.float64) - values[full - {m}])
            continue
        total = 0.0
        for coalition, value in values.items():
            if m in coalition:
                continue
            weight = math.factorial(len(coalition)) * math.factorial(n - len(coalition) - 1) / math.factorial(n)
            total = total + weight * (np.asarray(values[coalition | {m}], np.float64) - value)
        parts.append(total)
    return np.stack(parts)


def completeness_error(scores: np.ndarray, baseline: np.ndarray, prediction: np.ndarray) -> float:
    """``max |scores.sum(0) + baseline - prediction| / max |prediction - baseline|`` (0 when nothing is
    explained), in float64."""
    prediction = np.asarray(prediction, np.float64)
    baseline = np.asarray(baseline, np.float64)
    scale = float(np.abs(prediction - baseline).max(initial=0.0))
    residual = float(np.abs(np.asarray(scores, np.float64).sum(0) + baseline - prediction).max(initial=0.0))
    return residual / scale if scale > 0 else 0.0


def _finish(model, method: str, players: list[str], scores: np.ndarray, baseline: np.ndarray,
            prediction: np.ndarray, template, steps: int, metadata: dict) -> Attribution:
    """The Attribution of ``scores`` (M, T, V), with facts every method shares; ``template`` is the
    Prediction (or its stand-in) that gives times, space and selection."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    baseline = np.ascontiguousarray(baseline, dtype=np.float32)
    error = completeness_error(scores, baseline, prediction)
    facts = {
        "method_words": _METHOD_WORDS[method], "absent_modality": model.absent_modality,
        "modalities_present": list(players), "model": model.card.name,
    }
    if method == "integrated-gradients":
        facts["steps"] = steps
    if method == "ablation":
        interaction = np.asarray(prediction, np.float64) - baseline - scores.astype(np.float64).sum(0)
        facts["interaction"] = ("prediction - baseline - sum of the scores: what the modalities do together, "
                                "which ablation leaves out")
        facts["interaction_max_abs"] = float(np.abs(interaction).max(initial=0.0))
        facts["interaction_relative"] = error
    facts.update({key: value for key, value in metadata.items() if value is not None})
    return Attribution(
        modalities=tuple(players), scores=scores, baseline=baseline, times_s=np.asarray(template.times_s),
        tr_s=float(template.tr_s), indices=np.asarray(template.indices, dtype=np.int64),
        space_id=template.space_id, method=method, model_id=model.card.model_id, subject=str(template.subject),
        hrf_offset_s=float(template.hrf_offset_s), time_axis=template.time_axis, completeness_error=error,
        metadata=facts)


# -- nforge-lite ----------------------------------------------------------------------------------------

def _lite(model, features, stimulus, method, indices, steps, subject, progress, players) -> Attribution:
    """Exact: the readout paints each channel group on its own, so a modality's part is its channels' map."""
    hidden = model.transform(features, stimulus, subject, lambda f, s: progress(0.5 * f, s))
    prediction = model.readout(hidden, subject, indices)
    parts = []
    for modality in players:
        keep = [i for i, m in enumerate(hidden.column_modalities) if m == modality]
        part = replace(hidden, data=hidden.data[:, keep], columns=tuple(hidden.columns[i] for i in keep),
                       column_modalities=(modality,) * len(keep))
        parts.append(model.readout(part, subject, prediction.indices).data)
    progress(0.95, "attribution: lite parts")
    baseline = np.zeros_like(prediction.data)
    return _finish(model, method, players, np.stack(parts), baseline, prediction.data, prediction, steps, {
        "exact": True,
        "note": ("exact decomposition: the lite prediction is a sum over channel groups, one per modality, so "
                 "Shapley values, integrated gradients and ablation all equal each modality's own part; "
                 "the all-absent baseline is zero (no channel paints anything)"),
    })


# -- TRIBE v2 -------------------------------------------------------------------------------------------

def tribe_window_attribution(encoder, windows: dict, method: str, steps: int = DEFAULT_STEPS, indices=None,
                             progress: ProgressFn = no_progress, rows_per_call: int = ROWS_PER_CALL) -> dict:
    """Attribution of a TRIBE v2 encoder on a batch of windows, on its float32 path.

    Parameters
    ----------
    encoder : TribeEncoder
        The encoder.
    windows : dict of str to Tensor
        ``{modality: (B, L, D, T)}`` features of the modalities present (the players, in the encoder's
        order); the others are absent (zeros after the projector).
    method : str
        ``"shapley"``, ``"integrated-gradients"`` or ``"ablation"``.
    steps : int
        Midpoints of the integrated-gradients path.
    indices : ndarray of int, optional
        Outputs (all when None).
    progress : callable
        ``progress(fraction, stage)``.
    rows_per_call : int
        Batch rows per encoder call.

    Returns
    -------
    dict
        ``modalities`` (list), ``scores`` float32 (M, B, V, T_out), ``baseline`` and ``prediction`` float32
        (B, V, T_out).
    """
    import torch

    players = [m for m in encoder.spec.feature_dims if m in windows]
    selection = None if indices is None else torch.as_tensor(np.asarray(indices))
    with torch.inference_mode():
        zero = torch.zeros(1, 1, encoder.spec.hidden)
        bias = encoder.readout(zero, selection, fast="fp32")  # (1, V, 1): the readout of nothing

    def readout(hidden, affine: bool = True):
        with torch.inference_mode():
            out = encoder.readout(torch.as_tensor(hidden, dtype=torch.float32), selection, fast="fp32")
            return (out if affine else out - bias).numpy()

    if method == "integrated-gradients":
        grads, full, empty = _tribe_path_derivatives(encoder, windows, players, steps, progress, rows_per_call)
        parts = grads
        values = {frozenset(players): full, frozenset(): empty}
    else:
        values = _tribe_coalition_hidden(encoder, windows, players, coalitions(players, method), progress,
                                         rows_per_call)
        parts = combine(values, players, method)
    progress(0.95, "attribution: readout")
    scores = np.stack([readout(part.astype(np.float32), affine=False) for part in parts])
    prediction = readout(values[frozenset(players)])
    known = _absent_cache(encoder, next(iter(windows.values())).shape[-1])
    selection_key = ("readout", None if indices is None else np.asarray(indices, np.int64).tobytes())
    if selection_key not in known:
        while len(known) > _MAX_ABSENT_READOUTS:  # the oldest selections go first
            del known[next(key for key in known if key != "hidden")]
        known[selection_key] = readout(values[frozenset()])
    baseline = np.broadcast_to(known[selection_key], prediction.shape).copy()  # one window stands for all
    return {"modalities": players, "scores": scores, "baseline": baseline, "prediction": prediction}


def _tribe_coalition_hidden(encoder, windows: dict, players: list[str], wanted: list[frozenset],
                            progress: ProgressFn, rows_per_call: int) -> dict[frozenset, np.ndarray]:
    """The hidden features ``(B, T_out, H)`` of every coalition in ``wanted``, coalitions batched in the same
    encoder calls through ``modality_scale`` (1: present, 0: exactly absent). The empty coalition does not
    depend on the stimulus: it is computed once, for one window."""
    import torch

    first = next(iter(windows.values()))
    n_windows, n_steps = first.shape[0], first.shape[-1]
    with torch.inference_mode():
        known = _absent_cache(encoder, n_steps)
        cached = known.get("hidden") if frozenset() in wanted else None
        embeddings = encoder.project(windows, fast="fp32")
        # rows: (coalition, window); the empty coalition needs one row only, and none once it is known
        rows = [(c, w) for c in wanted for w in (range(1) if not c else range(n_windows))
                if c or cached is None]
        hidden: dict[frozenset, list] = {c: [] for c in wanted}
        if cached is not None:
            hidden[frozenset()].append(cached)
        for start in range(0, len(rows), rows_per_call):
            progress(0.9 * start / len(rows), f"attribution: coalitions {start + 1}-"
                                              f"{min(start + rows_per_call, len(rows))} of {len(rows)}")
            chunk = rows[start:start + rows_per_call]
            window_index = torch.tensor([w for _, w in chunk])
            batch = {m: embeddings[m].index_select(0, window_index) for m in players}
            scales = {m: torch.tensor([1.0 if m in c else 0.0 for c, _ in chunk]) for m in players}
            out = encoder.hidden(embeddings=batch, modality_scale=scales, fast="fp32", differentiable=False)
            for (c, _), row in zip(chunk, out, strict=True):
                hidden[c].append(row.numpy())
    if frozenset() in wanted:
        known["hidden"] = hidden[frozenset()][0]
    return {c: np.stack(rows_of_c) for c, rows_of_c in hidden.items()}


def _tribe_path_derivatives(encoder, windows: dict, players: list[str], steps: int, progress: ProgressFn,
                            rows_per_call: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrated gradients of the hidden features: for each modality m, the mean over ``steps`` midpoints
    alpha of d hidden / d alpha_m on the path where every present modality is scaled by alpha (forward-mode
    derivatives, one direction per row). Returns ``(parts (M, B, T_out, H), full, empty)`` in float64/32."""
    import torch
    import torch.autograd.forward_ad as fwAD
    from torch.nn.attention import SDPBackend, sdpa_kernel

    n_windows = next(iter(windows.values())).shape[0]
    with torch.no_grad():
        # plain float32 tensors (not inference tensors), so that forward-mode derivatives can flow
        embeddings = {m: e.detach() for m, e in encoder.project(windows, fast="fp32", differentiable=True).items()}
        alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
        rows = [(w, k, d) for w in range(n_windows) for d in range(len(players)) for k in range(steps)]
        sums = np.zeros((len(players), n_windows, encoder.spec.n_output_timesteps, encoder.spec.hidden))
        for start in range(0, len(rows), rows_per_call):
            progress(0.85 * start / len(rows), f"attribution: path points {start + 1}-"
                                               f"{min(start + rows_per_call, len(rows))} of {len(rows)}")
            chunk = rows[start:start + rows_per_call]
            window_index = torch.tensor([w for w, _, _ in chunk])
            alpha = alphas[[k for _, k, _ in chunk]].float()
            batch = {m: embeddings[m].index_select(0, window_index) for m in players}
            # forward-mode AD has no rule for the fused CPU attention kernels: the math kernel has
            with fwAD.dual_level(), sdpa_kernel(SDPBackend.MATH):
                scales = {m: fwAD.make_dual(alpha.clone(), torch.tensor([float(d == i) for _, _, d in chunk]))
                          for i, m in enumerate(players)}
                tangent = fwAD.unpack_dual(encoder.hidden(embeddings=batch, modality_scale=scales,
                                                          differentiable=True)).tangent
            tangent = tangent.double().numpy()
            for (w, _, d), row in zip(chunk, tangent, strict=True):
                sums[d, w] += row
        ends = _tribe_coalition_hidden(encoder, windows, players, [frozenset(), frozenset(players)],
                                       lambda f, s: progress(0.85 + 0.1 * f, s), rows_per_call)
    return sums / steps, ends[frozenset(players)], ends[frozenset()]


def _tribe(model, features, stimulus, method, indices, steps, subject, progress, players) -> Attribution:
    import torch

    from nforge_app.checks import check_indices
    from nforge_app.models.tribe import stack_windows, stitch_windows
    from nforge_app.values import Prediction

    if not hasattr(model, "encoder_"):
        model.load()
    model._check_subject(subject)
    encoder = model.encoder_
    geometry = model.windows(features, stimulus.duration_s)
    window_s, tr_s, n_windows, n_rows = geometry.window_s, geometry.tr_s, geometry.n_windows, geometry.n_rows
    indices = check_indices(indices, encoder.spec.n_outputs, "vertex")
    windows = stack_windows(features.features, n_windows, geometry.steps)
    out = tribe_window_attribution(encoder, {m: torch.from_numpy(a) for m, a in windows.items()}, method, steps,
                                   indices, progress)
    scores = np.stack([stitch_windows(part, n_rows) for part in out["scores"]])
    baseline, prediction = stitch_windows(out["baseline"], n_rows), stitch_windows(out["prediction"], n_rows)
    template = Prediction(data=prediction, times_s=np.arange(n_rows) * tr_s, tr_s=tr_s, space_id="fsaverage5",
                          indices=np.arange(encoder.spec.n_outputs) if indices is None else indices,
                          model_id=model.card.model_id, subject="average", hrf_offset_s=model.card.hrf_offset_s,
                          time_axis=model.card.time_axis)
    return _finish(model, method, out["modalities"], scores, baseline, prediction, template, steps, {
        "precision": "fp32", "n_windows": n_windows, "window_s": window_s,
        "path": ("each present modality's projected embedding scaled by alpha from 0 (absent) to 1"
                 if method == "integrated-gradients" else None),
        "note": "attribution runs on the exact float32 path, whatever precision predictions use",
    })


# -- flow-matching --------------------------------------------------------------------------------------

def _flow(model, features, stimulus, method, indices, steps, subject, progress, players) -> Attribution:
    import torch

    from nforge_app.checks import check_indices
    from nforge_app.models.flow import N_PARCELS, SUBJECTS
    from nforge_app.values import Prediction

    model._require_loaded()
    subject_index = SUBJECTS.index(model._subject_number(subject))
    indices = check_indices(indices, N_PARCELS, "parcel")
    indices = np.arange(N_PARCELS) if indices is None else indices
    # each stream's own embedding (a mean over one stream); a coalition's embedding is the mean of its streams
    singles = {}
    for i, m in enumerate(players):
        progress(0.8 * i / len(players), f"attribution: stage 1 on {m}")
        singles[m] = model.transform(features.subset([m]), stimulus, subject).data.astype(np.float64)
    template_hidden = model.transform(features.subset(players[:1]), stimulus, subject)
    zero = np.zeros_like(next(iter(singles.values())))

    def anchor(embedding: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mu = model.stage1_.readout(torch.as_tensor(embedding[None], dtype=torch.float32))
        return mu[0, subject_index].numpy()[:, indices].astype(np.float64)

    full = anchor(np.mean([singles[m] for m in players], axis=0))
    empty = anchor(zero)
    if method == "integrated-gradients":
        # the path scales each stream's share of the mean, alpha_m * e_m / M: stage 1's readout is affine
        scores = np.stack([anchor(singles[m] / len(players)) - empty for m in players])
    else:
        values = {c: (anchor(np.mean([singles[m] for m in c], axis=0)) if c else empty)
                  for c in coalitions(players, method)}
        scores = combine(values, players, method)
    template = Prediction(data=full.astype(np.float32), times_s=template_hidden.times_s, tr_s=template_hidden.tr_s,
                          space_id=model.card.space_id, indices=indices, model_id=model.card.model_id,
                          subject=str(SUBJECTS[subject_index]), hrf_offset_s=0.0, time_axis="bold")
    return _finish(model, method, players, scores, empty, full, template, steps, {
        "explains": "stage 1's deterministic mean anchor (the flow's conditioning), not the stochastic samples",
        "streams": list(players),
        "baseline_words": "all streams absent: a zero embedding through stage 1's readout (its biases)",
        "path": ("each stream's share of stage 1's mean embedding scaled from 0 to 1; the readout is affine, so "
                 "this is exact" if method == "integrated-gradients" else None),
    })


_RUNNERS: dict[str, Callable] = {"nforge-lite": _lite, "tribe-v2": _tribe, "flow-matching": _flow}
