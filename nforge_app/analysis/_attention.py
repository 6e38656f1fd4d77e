"""ROI temporal attention: which stimulus moments drove each region's predicted response.

For each region (the mean of its outputs) and each output time t, :func:`roi_attention` splits the region's
predicted response into signed contributions of the stimulus moments s (chunks of the stimulus time axis, in
seconds) and reports them as shares: contributions divided by the sum of their absolute values over s. The
method is the most faithful one each model affords at a bounded cost, and is named in words in the result:

- ``nforge-lite``: exact. The prediction is a sum over channels of the standardised channel series convolved
  with the canonical HRF and painted on the cortex, so the part of 1-s stimulus chunk k in output second t is
  ``sum_c w_rc * mean_{u in t} sum_{s in k} hrf[u - s] z_c[s]``; the contributions sum over the chunks to the
  region's mean prediction exactly (no intercept: the channels are z-scored, rest is 0), and split exactly
  by modality (``by_modality``).
- ``tribe-v2``: occlusion of stimulus chunks (default 2 s): each chunk of every present modality is made
  absent as the model defines absent (zeros after the projector, as in training with modality dropout) and
  the drop of each region's response is that chunk's contribution, all chunks of a 100-s window as one
  batch through the exact float32 encoder. The windows are independent, so a chunk only reaches the outputs
  of its own window. Contributions do not add up to the response (the transformer is not additive); the
  shares say which moments matter. Cost: one forward per chunk, 50 per 100-s window at 2-s chunks, about
  51 forwards with the plain one whatever the number of regions (``bench/bench_attribution.py``; 1-s chunks,
  ``chunk_s=1``, cost 101 per window, over the 60-forward target, hence 2 s by default). ``rollout``: attention rollout over the encoder's layers (Abnar & Zuidema 2020; heads
  averaged, the residual as 0.5 I), "where the model looks", not a measure of any region.
- ``text2fmri``: occlusion of each TR's text: its language-model feature set to zeros, which is exactly what
  a TR without words gives (the language model itself is not re-run, so the earlier words' context in later
  TRs' features stays); the head sees the whole context window at once, so this says which TRs' text drove
  each parcel at TR t.
- ``flow-matching``: exact for the mean anchor of stage 1 (depthwise convolutions and linear layers over the
  feature streams: linear), per 1.49-s TR and per stream; the stage-2 flow samples drawn around it are not
  attributed (said in ``metadata``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nforge_app.checks import check_indices, check_range
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet, ProgressFn, no_progress
from nforge_app.stimuli import Stimulus
from nforge_app.values import RoiAttention

TRIBE_CHUNK_S = 2.0
"""Default length of the stimulus chunks TRIBE v2's occlusion removes one at a time (50 per 100-s window)."""
TRIBE_BATCH = 10
"""Occluded windows per encoder call."""
ROLLOUT_LABEL = "where the model looks (attention rollout over its layers, not a measure of any region)"


def roi_attention(model, features: FeatureSet, stimulus: Stimulus, rois: Mapping[str, np.ndarray] | Sequence[str],
                  subject=None, progress: ProgressFn | None = None, *, chunk_s: float | None = None) -> RoiAttention:
    """Which stimulus moments drove each region's predicted response, as signed shares (see the module notes).

    Parameters
    ----------
    model : EncodingModel
        A loaded (or loadable) model whose card offers ``"attention"``.
    features : FeatureSet
        The stimulus' features as the model reads them; modalities missing are absent.
    stimulus : Stimulus
        The stimulus they came from.
    rois : mapping of str to array of int, or sequence of str
        ``{region name: output indices of the model's space}``, or region names that the model's output
        space resolves (``OutputSpace.select``: names, wildcards, networks).
    subject : optional
        The subject (models whose trunk depends on it), the card's default when None.
    progress : callable, optional
        ``progress(fraction, stage)``.
    chunk_s : float, optional
        Length of the stimulus chunks for TRIBE v2's occlusion (default :data:`TRIBE_CHUNK_S`; a multiple of
        its 0.5-s feature step). The other models have fixed chunks: 1 s (lite), one TR (Text2fMRI, flow).

    Returns
    -------
    RoiAttention
        ``attention`` (R, T_out, T_in), ``metadata["abs_sum"]`` (R, T_out): the sum of the absolute
        contributions that the shares were divided by (``attention * abs_sum[..., None]`` gives the
        contributions, in the prediction's units).

    Raises
    ------
    UserInputError
        No regions, a region without outputs or with outputs outside the space, an unknown region name, a
        model without ROI attention, or a bad ``chunk_s``.
    """
    progress = progress or no_progress
    card = model.card
    compute = _METHODS.get(card.model_id)
    if compute is None or "attention" not in card.capabilities:
        raise UserInputError(f"{card.model_id} offers no ROI temporal attention; models that do: "
                             f"{', '.join(_METHODS)}")
    names, selections = _check_rois(model, rois)
    if chunk_s is not None and card.model_id != "tribe-v2":
        raise UserInputError(f"chunk_s applies to tribe-v2 only; {card.model_id} has fixed stimulus chunks")
    options = {"chunk_s": chunk_s} if card.model_id == "tribe-v2" else {}
    result = compute(model, features, stimulus, selections, subject, progress, **options)
    contributions, by_modality, modalities = result["contributions"], result.get("by_modality"), result.get(
        "modalities", ())
    abs_sum = np.abs(contributions).sum(-1)
    scale = np.where(abs_sum > 0, abs_sum, 1.0)[..., None]
    progress(1.0, "ROI attention: done")
    return RoiAttention(
        roi_names=tuple(names), attention=(contributions / scale).astype(np.float32),
        times_s=np.asarray(result["times_s"], dtype=np.float64),
        stimulus_times_s=np.asarray(result["stimulus_times_s"], dtype=np.float64), method=result["method"],
        modalities=tuple(modalities) if by_modality is not None else (),
        by_modality=None if by_modality is None else (by_modality / scale[:, None]).astype(np.float32),
        rollout=result.get("rollout"),
        metadata={"model_id": card.model_id, "n_outputs": [int(len(s)) for s in selections],
                  "abs_sum": abs_sum.astype(np.float32).tolist(), **result["metadata"]})


def _check_rois(model, rois) -> tuple[list[str], list[np.ndarray]]:
    """Region names and output indices; names are resolved in the model's output space."""
    if isinstance(rois, str):
        rois = [rois]
    if rois is None or len(rois) == 0:
        raise UserInputError("no regions given: give {name: output indices} or region names of the model's "
                             f"space ({model.card.space_id}: e.g. V1, A1, Vis, Default)")
    if not isinstance(rois, Mapping):
        from nforge_app.spaces import get_space

        space = get_space(model.card.space_id, getattr(model, "settings", None))
        rois = {str(name): space.select(str(name)) for name in rois}
    n_outputs = _n_outputs(model)
    names, selections = [], []
    for name, indices in rois.items():
        array = check_indices(indices, n_outputs, f"outputs of region {name!r}")
        if array.size == 0:
            raise UserInputError(f"region {name!r} has no outputs; give at least one output index (0 to "
                                 f"{n_outputs - 1})")
        names.append(str(name))
        selections.append(np.unique(array))
    return names, selections


def _n_outputs(model) -> int:
    card = model.card
    if card.model_id == "tribe-v2":
        return _tribe_encoder(model).spec.n_outputs
    if card.model_id == "text2fmri":
        if not hasattr(model, "config_"):
            model.load()
        return int(model.config_.num_rois)
    if card.model_id == "flow-matching":
        model._require_loaded()
        return int(model.stage1_.config["n_outputs"])
    from nforge_app.spaces import get_space

    return get_space(card.space_id, getattr(model, "settings", None)).n_outputs


def _roi_matrix(selections: list[np.ndarray], n_outputs: int) -> np.ndarray:
    """``(R, n_outputs)``: row r averages the outputs of region r."""
    matrix = np.zeros((len(selections), n_outputs))
    for row, indices in zip(matrix, selections, strict=True):
        row[indices] = 1.0 / len(indices)
    return matrix


# ---------------------------------------------------------------------------------------------------------
# nforge-lite: exact


def _lite(model, features, stimulus, selections, subject, progress) -> dict:
    from nforge_app.models.lite import CHANNELS, channel_weights, hrf_kernel, standardised_channels
    from nforge_app.spaces import get_space

    model._check_subject(subject)
    hidden = model.transform(features, stimulus, subject)  # the checks and the output times of the prediction
    progress(0.2, "ROI attention (nforge-lite): exact HRF decomposition")
    used, z = standardised_channels(features)
    n_in, n_out = features.n_steps, len(hidden.times_s)
    kernel = hrf_kernel()
    # H[u, s] = hrf[u - s] (causal, from rest); P: 2-Hz steps -> output seconds as the model averages them;
    # Q: 2-Hz steps -> 1-s stimulus chunks.
    lag = np.arange(n_in)[:, None] - np.arange(n_in)[None, :]
    convolve = np.where((lag >= 0) & (lag < len(kernel)), kernel[np.clip(lag, 0, len(kernel) - 1)], 0.0)
    counts = np.minimum(2, n_in - 2 * np.arange(n_out))
    pool = np.zeros((n_out, n_in))
    pool[np.arange(n_in) // 2, np.arange(n_in)] = 1.0 / counts[np.arange(n_in) // 2]
    n_chunks = n_out
    chunk = np.zeros((n_in, n_chunks))
    chunk[np.arange(n_in), np.arange(n_in) // 2] = 1.0
    space = get_space(model.card.space_id, model.settings)
    names = [c.name for c in CHANNELS]
    rows = [names.index(c.name) for c in used]
    weights = np.asarray(channel_weights(space)[rows].todense())  # (C, V)
    roi_weights = weights @ _roi_matrix(selections, space.n_outputs).T  # (C, R)
    transfer = pool @ convolve  # (T_out, T_in steps)
    modalities = [m for m in model.card.modalities if any(c.modality == m for c in used)]
    by_modality = np.zeros((len(selections), len(modalities), n_out, n_chunks))
    for c, channel in enumerate(used):
        per_chunk = (transfer * z[c][None, :]) @ chunk  # (T_out, T_chunks)
        by_modality[:, modalities.index(channel.modality)] += roi_weights[c][:, None, None] * per_chunk[None]
    return {"contributions": by_modality.sum(1), "by_modality": by_modality, "modalities": modalities,
            "times_s": hidden.times_s, "stimulus_times_s": np.arange(n_chunks) * 1.0,
            "method": "exact (HRF kernel per channel): each 1-s stimulus chunk's standardised channel values "
                      "convolved with the HRF and painted on the region",
            "metadata": {"method_id": "exact-hrf", "chunk_s": 1.0, "additive": True, "intercept": 0.0,
                         "time_axis": "bold", "channels": [c.name for c in used],
                         "absent_modality": model.absent_modality}}


# ---------------------------------------------------------------------------------------------------------
# TRIBE v2: batched occlusion at the projected embeddings


def _tribe_encoder(model):
    if not hasattr(model, "encoder_"):
        model.load()
    return model.encoder_


def _tribe(model, features, stimulus, selections, subject, progress, chunk_s=None) -> dict:
    import torch

    from nforge_app.models.tribe import stack_windows

    encoder = _tribe_encoder(model)
    model._check_subject(subject)
    chunk_s = TRIBE_CHUNK_S if chunk_s is None else chunk_s
    geometry = model.windows(features, stimulus.duration_s)  # the prediction's windows and rows
    window_s, rate_hz, steps = geometry.window_s, geometry.rate_hz, geometry.steps
    tr_s, n_windows, n_rows = geometry.tr_s, geometry.n_windows, geometry.n_rows
    chunk_s = check_range("chunk_s", chunk_s, 1.0 / rate_hz, window_s)
    chunk_steps = round(chunk_s * rate_hz)
    if not math.isclose(chunk_steps / rate_hz, chunk_s) or steps % chunk_steps:
        raise UserInputError(f"chunk_s {chunk_s:g}: accepted: a multiple of the {1 / rate_hz:g}-s feature step "
                             f"that divides the {window_s:g}-s window (e.g. 0.5, 1, 2, 5)")
    per_window = encoder.spec.n_output_timesteps
    windows = stack_windows(features.features, n_windows, steps)
    chunks_per_window = steps // chunk_steps
    n_chunks = math.ceil(features.n_steps / chunk_steps)
    roi, bias = _tribe_roi_readout(encoder, selections)
    contributions = np.zeros((len(selections), n_windows * per_window, n_chunks))
    rollout = np.zeros((n_windows * per_window, n_chunks))
    total = n_windows * (1 + chunks_per_window)
    done = 0
    with torch.inference_mode():
        for w in range(n_windows):
            inputs = {m: torch.from_numpy(a[w:w + 1]) for m, a in windows.items()}
            embeddings = encoder.project(inputs, fast="fp32")
            maps: list = []
            base = encoder.hidden(embeddings=embeddings, fast="fp32", attention_maps=maps)[0] @ roi.T + bias
            rolled = _pool(_rollout(maps)[0], per_window, chunk_steps)  # (per_window, chunks_per_window)
            first = w * chunks_per_window
            keep = [c for c in range(chunks_per_window) if first + c < n_chunks]
            rollout[w * per_window:(w + 1) * per_window, first:first + len(keep)] = rolled[:, keep]
            done += 1
            for start in range(0, len(keep), TRIBE_BATCH):
                batch = keep[start:start + TRIBE_BATCH]
                progress(done / total, f"ROI attention (tribe-v2): occluding chunks of window {w + 1}/{n_windows}")
                mask = torch.ones(len(batch), steps, 1, device=base.device)
                for i, c in enumerate(batch):
                    mask[i, c * chunk_steps:(c + 1) * chunk_steps] = 0.0
                occluded = {m: e.expand(len(batch), -1, -1) * mask for m, e in embeddings.items()}
                response = encoder.hidden(embeddings=occluded, fast="fp32") @ roi.T + bias  # (B, T_out, R)
                drop = (base[None] - response).cpu().numpy().transpose(0, 2, 1)  # (B, R, T_out)
                for i, c in enumerate(batch):
                    contributions[:, w * per_window:(w + 1) * per_window, first + c] = drop[i]
                done += len(batch)
    return {"contributions": contributions[:, :n_rows], "times_s": np.arange(n_rows) * tr_s,
            "stimulus_times_s": np.arange(n_chunks) * chunk_steps / rate_hz,
            "rollout": rollout[:n_rows].astype(np.float32),
            "method": f"occlusion of {chunk_s:g}-s stimulus chunks: each chunk made absent (zeros after the "
                      "projectors, the model's absent rule) and the drop of the region's response measured",
            "metadata": {"method_id": "occlusion", "chunk_s": chunk_s, "additive": False,
                         "precision": "fp32", "window_s": window_s, "n_windows": n_windows,
                         "forwards_per_window": 1 + chunks_per_window, "time_axis": "stimulus",
                         "hrf_offset_s": model.card.hrf_offset_s,
                         "by_modality": "not computed for tribe-v2 (it would cost a forward per chunk and "
                                        "modality); the modality split is the attribution's",
                         "rollout": ROLLOUT_LABEL + "; a row sums to below 1 when its window runs past the "
                                    "stimulus end (the rest goes to the zero-padded steps)",
                         "absent_modality": model.absent_modality}}


def _tribe_roi_readout(encoder, selections: list[np.ndarray]):
    """``(roi (R, hidden), bias (R,))``: each region's mean output as an affine map of the hidden features.

    The readout is affine, so the region's mean output is the readout of its mean row; the rows are read
    through :meth:`TribeEncoder.readout` on the unit vectors (its exact float32 path).
    """
    import torch

    union = np.unique(np.concatenate(selections))
    hidden = encoder.spec.hidden
    with torch.inference_mode():
        device = encoder.time_pos_embed.device
        basis = torch.cat([torch.zeros(1, hidden, device=device), torch.eye(hidden, device=device)])[None]
        rows = encoder.readout(basis, torch.as_tensor(union), fast="fp32")[0].double()  # (V, 1 + hidden)
    bias, weights = rows[:, 0], rows[:, 1:] - rows[:, :1]
    average = torch.as_tensor(_roi_matrix([np.searchsorted(union, s) for s in selections], len(union)),
                              device=rows.device)
    return (average @ weights).float(), (average @ bias).float()


def _rollout(maps: list) -> np.ndarray:
    """Attention rollout ``(B, T, T)`` of per-layer head-averaged attention maps: prod of (A + I) / 2."""
    import torch

    rolled = None
    for attention in maps:
        step = 0.5 * attention.double() + 0.5 * torch.eye(attention.shape[-1], dtype=torch.float64,
                                                                  device=attention.device)
        step = step / step.sum(-1, keepdim=True)
        rolled = step if rolled is None else step @ rolled
    return rolled.cpu().numpy()


def _pool(matrix: np.ndarray, n_out: int, chunk_steps: int) -> np.ndarray:
    """A (T, T) step map pooled to (n_out, T / chunk_steps): rows averaged as the encoder pools its outputs,
    columns summed into chunks (rows still sum to 1)."""
    n_steps = matrix.shape[0]
    rows = matrix.reshape(n_out, n_steps // n_out, n_steps).mean(1)
    return rows.reshape(n_out, n_steps // chunk_steps, chunk_steps).sum(-1)


# ---------------------------------------------------------------------------------------------------------
# Text2fMRI and the flow model: occlusion of one TR at a time through their own seams


def _occlude(respond: Callable[[dict], np.ndarray], arrays: dict[str, np.ndarray], chunks: list[np.ndarray],
             progress: ProgressFn, stage: str, per_stream: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Contributions ``(R, T_out, n_chunks)`` = respond(all) - respond(chunk zeroed), and per stream."""
    base = respond(arrays)
    streams = list(arrays)
    split = np.zeros((len(streams), *base.shape, len(chunks))) if per_stream else None
    total = np.zeros((*base.shape, len(chunks)))
    for k, steps in enumerate(chunks):
        progress(k / len(chunks), stage)
        zeroed = {m: _zero(a, steps) for m, a in arrays.items()}
        total[..., k] = base - respond(zeroed)
        if per_stream:
            for i, m in enumerate(streams):
                split[i, ..., k] = base - respond({**arrays, m: zeroed[m]})
    return total, None if split is None else split.transpose(1, 0, 2, 3)


def _zero(array: np.ndarray, steps: np.ndarray) -> np.ndarray:
    out = array.copy()
    out[..., steps] = 0.0
    return out


def _text2fmri(model, features, stimulus, selections, subject, progress) -> dict:
    hidden = model.transform(features, stimulus, subject)
    union = np.unique(np.concatenate(selections))
    average = _roi_matrix([np.searchsorted(union, s) for s in selections], len(union))

    def respond(arrays: dict) -> np.ndarray:
        cut = FeatureSet(arrays, features.rate_hz, features.n_steps, features.duration_s, features.extractor_ids)
        prediction = model.readout(model.transform(cut, stimulus, subject), subject, union)
        return average @ prediction.data.astype(np.float64).T  # (R, T)

    chunks = [np.array([k]) for k in range(features.n_steps)]
    contributions, _ = _occlude(respond, {"text": features.features["text"]}, chunks, progress,
                                "ROI attention (text2fmri): occluding TRs", per_stream=False)
    return {"contributions": contributions, "times_s": hidden.times_s, "stimulus_times_s": hidden.times_s,
            "method": "occlusion of each TR's text (its language-model feature set to zeros, as a TR without "
                      "words gives) through the head's context window",
            "metadata": {"method_id": "occlusion", "chunk_s": hidden.tr_s, "additive": False,
                         "time_axis": "bold", "context": "the whole stimulus (the head is bidirectional); the "
                         "language model is not re-run, so context carried inside later TRs' features stays",
                         "absent_modality": model.absent_modality}}


def _flow(model, features, stimulus, selections, subject, progress) -> dict:
    import torch

    from nforge_app.models.flow import SUBJECTS, TR_S

    number = model._subject_number(subject)
    hidden = model.transform(features, stimulus, subject)
    average = torch.as_tensor(_roi_matrix(selections, int(model.stage1_.config["n_outputs"])), dtype=torch.float32)
    subject_index = SUBJECTS.index(number)
    streams = [s for s in model.stage1_.stream_names if s in features.features]

    def respond(arrays: dict) -> np.ndarray:
        cut = FeatureSet(arrays, features.rate_hz, features.n_steps, features.duration_s, features.extractor_ids)
        embedding = torch.as_tensor(model.transform(cut, stimulus, subject).data[None], device=model.device_)
        with torch.no_grad():
            anchor = model.stage1_.readout(embedding)[0, subject_index].cpu()  # (T, V)
        return (anchor @ average.T).double().numpy().T  # (R, T)

    n_tr = len(hidden.times_s)
    bins = np.floor(np.arange(features.n_steps) / features.rate_hz / TR_S + 1e-9).astype(np.int64)
    chunks = [np.flatnonzero(bins == k) for k in range(n_tr)]
    contributions, split = _occlude(respond, {m: features.features[m] for m in streams}, chunks, progress,
                                    "ROI attention (flow-matching): TRs of the mean anchor", per_stream=True)
    return {"contributions": contributions, "by_modality": split, "modalities": streams,
            "times_s": hidden.times_s, "stimulus_times_s": np.arange(n_tr) * TR_S,
            "method": "exact for the mean anchor (stage 1 is linear in its features): each 1.49-s TR's features "
                      "and their part of the anchor; the flow samples around it are not attributed",
            "metadata": {"method_id": "exact-linear", "chunk_s": TR_S, "additive": True, "time_axis": "bold",
                         "of": "stage-1 mean anchor", "intercept": "the anchor of all-zero features (the "
                         "contributions sum over the TRs to the anchor minus it)",
                         "absent_modality": model.absent_modality}}


_METHODS = {"nforge-lite": _lite, "tribe-v2": _tribe, "text2fmri": _text2fmri, "flow-matching": _flow}
