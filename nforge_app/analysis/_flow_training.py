"""Training the two stages of the flow-matching encoder (:mod:`nforge_app.models.flow`) on measured fMRI.

:func:`train_stage1` fits the stage-1 mean anchor with MSE and keeps the epoch with the best validation r;
:func:`train_stage2` fits the stage-2 flow (OT-CFM) on the frozen stage-1 anchors. Both return a module that
``nforge_app.models.flow.save_checkpoint`` writes as a checkpoint the model loads. They live with the
analyses, which may use both the networks and the metric (:mod:`nforge_app.analysis.metrics`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np

from nforge_app._device import resolve_device
from nforge_app.analysis.metrics import mean_pearson
from nforge_app.checks import check_range
from nforge_app.errors import UserInputError


def _as_windows(features, fmri, window_trs: int | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Turn clips into equal-length windows: ``({stream: (N, T, D)}, (N, S, T, V))`` float32.

    ``features`` is ``{stream: (N, T, D)}`` with ``fmri`` ``(N, S, T, V)``, or a list of per-clip
    ``{stream: (T_c, D)}`` with ``fmri`` a list of ``(S, T_c, V)``; clips are cut into windows of
    ``window_trs`` TRs (the last one aligned to the clip's end), or used whole when it is None.
    """
    if isinstance(features, Mapping):
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in features.items()}
        target = np.asarray(fmri, dtype=np.float32)
        if target.ndim != 4 or any(a.ndim != 3 or a.shape[:2] != (target.shape[0], target.shape[2])
                                   for a in arrays.values()):
            shapes = {k: a.shape for k, a in arrays.items()}
            raise UserInputError(f"features must be {{stream: (N, T, D)}} and fmri (N, S, T, V) with the same N "
                                 f"and T; got {shapes} and {target.shape}")
        clips = [({k: a[i] for k, a in arrays.items()}, target[i]) for i in range(len(target))]
    else:
        if len(features) != len(fmri):
            raise UserInputError(f"got {len(features)} feature clips but {len(fmri)} fMRI clips")
        clips = [({k: np.asarray(v, dtype=np.float32) for k, v in f.items()}, np.asarray(y, dtype=np.float32))
                 for f, y in zip(features, fmri, strict=True)]
    if not clips:
        raise UserInputError("no training data: features and fmri are empty")
    streams = list(clips[0][0])
    windows_x, windows_y = [], []
    for index, (clip, target) in enumerate(clips):
        length = target.shape[1] if target.ndim == 3 else -1
        if list(clip) != streams or target.ndim != 3 or any(a.ndim != 2 or len(a) != length for a in clip.values()):
            raise UserInputError(f"clip {index}: expected streams {streams} of shape (T, D) and fmri (S, T, V) with "
                                 f"the same T; got {({k: a.shape for k, a in clip.items()})} and {target.shape}")
        size = length if window_trs is None else int(window_trs)
        if size > length or size < 1:
            raise UserInputError(f"clip {index} has {length} TRs, fewer than window_trs={window_trs}")
        starts = sorted(set(range(0, length - size + 1, size)) | {length - size})
        for start in starts:
            windows_x.append({k: a[start:start + size] for k, a in clip.items()})
            windows_y.append(target[:, start:start + size])
    if len({y.shape for y in windows_y}) > 1:
        raise UserInputError("clips differ in length; give window_trs to cut them into windows of one length")
    return {k: np.stack([w[k] for w in windows_x]) for k in streams}, np.stack(windows_y)


def _split(features, fmri, val_fraction: float, window_trs: int | None, seed: int):
    """Split clips (list input) or rows (array input) into training and validation windows."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserInputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_units = len(fmri)
    n_val = 0 if val_fraction == 0 else min(n_units - 1, max(1, round(val_fraction * n_units)))
    if val_fraction > 0 and n_val < 1:
        raise UserInputError(f"val_fraction={val_fraction} needs at least 2 clips or rows, got {n_units}")
    order = np.random.default_rng(seed).permutation(n_units)
    parts = []
    for rows in (order[n_val:], order[:n_val]):
        if isinstance(features, Mapping):
            part = ({k: np.asarray(v)[rows] for k, v in features.items()}, np.asarray(fmri)[rows])
        else:
            part = ([features[i] for i in rows], [fmri[i] for i in rows])
        parts.append(_as_windows(*part, window_trs) if len(rows) else None)
    return parts[0], parts[1]


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    check_range("batch_size", batch_size, 1, np.inf, integer=True)
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _tensors(features: Mapping[str, np.ndarray], rows, device):
    import torch

    return {k: torch.as_tensor(v[rows], device=device) for k, v in features.items()}


def _stage1_predict(model, features: Mapping[str, np.ndarray], batch_size: int, device) -> np.ndarray:
    """Stage-1 output ``(N, S, T, V)`` for windows ``{stream: (N, T, D)}``, in batches, without gradients."""
    import torch

    n = len(next(iter(features.values())))
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(_tensors(features, np.arange(i, min(i + batch_size, n)), device)).cpu().numpy()
                               for i in range(0, n, batch_size)])


def train_stage1(features, fmri, *, epochs: int = 20, lr: float = 3e-4, batch_size: int = 16,
                 val_fraction: float = 0.1, seed: int = 0, device: str = "auto", window_trs: int | None = None,
                 model_config: Mapping | None = None):
    """Train the stage-1 mean anchor with MSE; keep the epoch with the best validation r.

    Parameters
    ----------
    features : dict or list of dict
        ``{stream: float (N, T, D)}`` on the TR grid, or a list of per-clip ``{stream: (T_c, D)}``.
    fmri : ndarray or list of ndarray
        ``(N, S, T, V)`` matching ``features``, or a list of per-clip ``(S, T_c, V)``.
    epochs, lr, batch_size : int, float, int
        Optimisation (AdamW).
    val_fraction : float
        Share of clips (list input) or rows (array input) held out for validation; 0 for none.
    seed : int
        Seeds the split, the batch order and torch's global generator (initial weights, dropout).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    window_trs : int, optional
        Cut clips into windows of this many TRs (needed when clips differ in length).
    model_config : mapping, optional
        Overrides of ``embed_dim`` (192) and ``kernel_size`` (45).

    Returns
    -------
    model : MultiSubjectConvLinearEncoder
        In eval mode; the best epoch by validation r (the last epoch without validation).
    history : dict
        ``train_loss`` and ``val_r`` (voxel-wise Pearson r averaged over voxels and subjects; NaN without
        validation) per epoch, and ``best_epoch`` (1-based).
    """
    import torch

    from nforge_app.models._flow_net import MultiSubjectConvLinearEncoder

    device = resolve_device(device)
    (train_x, train_y), val = _split(features, fmri, val_fraction, window_trs, seed)
    torch.manual_seed(seed)
    n_subjects, n_outputs = train_y.shape[1], train_y.shape[3]
    model = MultiSubjectConvLinearEncoder({k: v.shape[-1] for k, v in train_x.items()}, n_subjects, n_outputs,
                                          **dict(model_config or {})).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history: dict = {"train_loss": [], "val_r": [], "best_epoch": 0}
    best_state, best_r = None, -np.inf
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for rows in _batches(len(train_y), batch_size, rng):
            loss = torch.nn.functional.mse_loss(model(_tensors(train_x, rows, device)),
                                                torch.as_tensor(train_y[rows], device=device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item() * len(rows))
        history["train_loss"].append(sum(losses) / len(train_y))
        val_r = float("nan") if val is None else mean_pearson(_stage1_predict(model, val[0], batch_size, device), val[1])
        history["val_r"].append(val_r)
        if val is None or val_r > best_r:
            best_r, best_state, history["best_epoch"] = val_r, copy.deepcopy(model.state_dict()), epoch
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


def _pairs(mu: np.ndarray, fmri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows x subjects as stage-2 rows: ``x1`` and ``mu`` ``(N*S, V, T)`` and subject indices ``(N*S,)``."""
    n, s, t, v = fmri.shape
    x1, anchors = (np.ascontiguousarray(a.transpose(0, 1, 3, 2).reshape(n * s, v, t)) for a in (fmri, mu))
    return x1, anchors, np.tile(np.arange(s), n)


def _stage2_sample(model, mu_rows: np.ndarray, subjects: np.ndarray, n_steps: int, batch_size: int, seed: int,
                   device) -> np.ndarray:
    """One sample ``(B, V, T)`` per row of ``mu`` ``(B, V, T)``, drawn in batches from one seeded generator."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    model.eval()
    out = []
    for i in range(0, len(mu_rows), batch_size):
        rows = slice(i, i + batch_size)
        out.append(model.sample(torch.as_tensor(mu_rows[rows], device=device),
                                torch.as_tensor(subjects[rows], device=device), n_steps, generator).cpu().numpy())
    return np.concatenate(out)


def train_stage2(stage1_model, features, fmri, *, epochs: int = 20, lr: float = 3e-4, batch_size: int = 16,
                 val_fraction: float = 0.1, seed: int = 0, device: str = "auto", window_trs: int | None = None,
                 n_steps: int = 25, model_config: Mapping | None = None):
    """Train the stage-2 flow on the frozen stage-1 anchors (OT-CFM loss + 0.1 x reconstruction loss).

    Parameters
    ----------
    stage1_model : MultiSubjectConvLinearEncoder
        The trained stage 1; its outputs ``mu`` condition the flow. It is not changed.
    features, fmri, epochs, lr, batch_size, val_fraction, seed, device, window_trs
        As in :func:`train_stage1`; every (window, subject) pair is one training row.
    n_steps : int
        Euler steps of the validation samples.
    model_config : mapping, optional
        Overrides of the stage-2 configuration (``latent_dim``, ``channels``, ``n_heads`` ...; see the
        module docstring).

    Returns
    -------
    model : FlowMatchingDecoder
        In eval mode, after the last epoch.
    history : dict
        Per epoch ``train_loss`` (total), ``train_cfm``, ``train_recon`` and ``val_r`` (r of one sample per
        validation row, averaged over voxels and subjects; NaN without validation); and ``val_r_stage1``,
        the r of the stage-1 anchor on the same windows, for comparison.
    """
    import torch

    from nforge_app.models._flow_net import FlowMatchingDecoder

    device = resolve_device(device)
    (train_x, train_y), val = _split(features, fmri, val_fraction, window_trs, seed)
    stage1_model = stage1_model.to(device)
    x1, mu, subjects = _pairs(_stage1_predict(stage1_model, train_x, batch_size, device), train_y)
    torch.manual_seed(seed)
    model = FlowMatchingDecoder(n_outputs=train_y.shape[3], n_subjects=train_y.shape[1],
                                **dict(model_config or {})).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    generator = torch.Generator(device=device).manual_seed(seed)
    rng = np.random.default_rng(seed)
    history: dict = {"train_loss": [], "train_cfm": [], "train_recon": [], "val_r": [], "val_r_stage1": float("nan")}
    if val is not None:
        val_mu = _stage1_predict(stage1_model, val[0], batch_size, device)
        history["val_r_stage1"] = mean_pearson(val_mu, val[1])
        _, val_mu_rows, val_subjects = _pairs(val_mu, val[1])
    for _ in range(epochs):
        model.train()
        sums = np.zeros(3)
        for rows in _batches(len(x1), batch_size, rng):
            losses = model.loss(torch.as_tensor(x1[rows], device=device), torch.as_tensor(mu[rows], device=device),
                                torch.as_tensor(subjects[rows], device=device), generator)
            optimiser.zero_grad()
            losses[0].backward()
            optimiser.step()
            sums += [part.item() * len(rows) for part in losses]
        for key, value in zip(("train_loss", "train_cfm", "train_recon"), sums / len(x1), strict=True):
            history[key].append(float(value))
        if val is None:
            history["val_r"].append(float("nan"))
            continue
        samples = _stage2_sample(model, val_mu_rows, val_subjects, n_steps, batch_size, seed, device)
        n, s, t, v = val[1].shape
        history["val_r"].append(mean_pearson(samples.reshape(n, s, v, t).transpose(0, 1, 3, 2), val[1]))
    return model.eval(), history
