"""Networks of the two-stage flow-matching encoder (private; the public side is ``models/flow.py``).

Stage 1, :class:`MultiSubjectConvLinearEncoder`, maps feature streams to a deterministic "mean anchor"
``mu`` for every subject. Stage 2, :class:`FlowMatchingDecoder`, learns a conditional flow (OT-CFM) in a
small latent space: a 1-D U-Net (:class:`UNet1DEstimator`, in the style of Matcha-TTS's decoder) predicts the
vector field from ``(x_t, mu, t, subject)``, and an Euler solver turns Gaussian noise into samples.

Subject conditioning of stage 2: one shared U-Net whose time embedding is summed with a learned subject
embedding, so every ResNet block sees which subject it draws for; ``mu`` is that subject's stage-1 anchor.
"Per subject" in the original description is read as one vector field per subject, obtained from a shared
network instead of four copies, so that what subjects share is learned once.

Every module keeps the keyword arguments it was built with in ``config`` (plain types only), which is all
that is needed to rebuild it from a checkpoint.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class _DepthwiseConvLinear(nn.Module):
    """Depthwise Conv1d over time (same padding) followed by a Linear layer: (N, T, D) -> (N, T, E)."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, in_dim, kernel_size, padding="same", groups=in_dim)
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x.transpose(1, 2)).transpose(1, 2))


class MultiSubjectConvLinearEncoder(nn.Module):
    """Stage 1: feature streams -> per-subject mean anchor ``(N, S, T, V)``.

    Each stream ``(N, T, D_i)`` goes through its own depthwise convolution over time and a Linear layer to
    ``embed_dim``; the embeddings of the streams given are averaged (:meth:`hidden`, the trunk); a shared
    Linear decoder and one Linear decoder per subject are added (:meth:`readout`).
    """

    def __init__(self, feature_dims: Mapping[str, int], n_subjects: int = 4, n_outputs: int = 1000,
                 embed_dim: int = 192, kernel_size: int = 45) -> None:
        super().__init__()
        if not feature_dims:
            raise ValueError("feature_dims must name at least one feature stream")
        for name, dim in feature_dims.items():
            if "." in name or not name:
                raise ValueError(f"feature stream names must be non-empty and contain no '.'; got {name!r}")
            if int(dim) < 1:
                raise ValueError(f"feature stream {name!r} has size {dim}; sizes must be positive")
        self.config = {"kind": "stage1", "feature_dims": {k: int(v) for k, v in feature_dims.items()},
                       "n_subjects": int(n_subjects), "n_outputs": int(n_outputs), "embed_dim": int(embed_dim),
                       "kernel_size": int(kernel_size)}
        self.streams = nn.ModuleDict({name: _DepthwiseConvLinear(int(dim), embed_dim, kernel_size)
                                      for name, dim in feature_dims.items()})
        self.shared_decoder = nn.Linear(embed_dim, n_outputs)
        bound = 1.0 / math.sqrt(embed_dim)  # the same scale nn.Linear uses
        self.subject_weight = nn.Parameter(torch.empty(n_subjects, embed_dim, n_outputs).uniform_(-bound, bound))
        self.subject_bias = nn.Parameter(torch.zeros(n_subjects, n_outputs))

    @property
    def stream_names(self) -> list[str]:
        return list(self.streams.keys())

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Predict ``(N, S, T, V)`` from ``{stream: (N, T, D)}`` (any non-empty subset of the streams):
        ``readout(hidden(features))``."""
        return self.readout(self.hidden(features))

    def hidden(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The trunk: the mean of the embeddings of the streams given, ``(N, T, embed_dim)``.

        A stream left out is absent: the mean runs over fewer streams.
        """
        unknown = sorted(set(features) - set(self.streams.keys()))
        if unknown or not features:
            raise ValueError(f"feature streams {unknown or '(none)'} given; this model reads {self.stream_names}")
        return torch.stack([self.streams[name](x) for name, x in features.items()]).mean(0)

    def readout(self, embedding: torch.Tensor) -> torch.Tensor:
        """Every subject's anchor ``(N, S, T, V)`` of the mean embedding: shared plus per-subject decoders."""
        shared = self.shared_decoder(embedding)
        per_subject = torch.einsum("nte,sev->nstv", embedding, self.subject_weight)
        return shared[:, None] + per_subject + self.subject_bias[None, :, None, :]


# ---------------------------------------------------------------------------------------------------------
# Stage 2: the 1-D U-Net estimator


def sinusoidal_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding ``(B, dim)`` of flow times ``t`` ``(B,)`` in [0, 1] (scaled by ``scale``)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
    angles = scale * t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class _ConvNormAct(nn.Module):
    """Conv1d(kernel 3) -> GroupNorm(8) -> Mish, with padded steps zeroed before and after."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, 3, padding=1)
        self.norm = nn.GroupNorm(8, out_ch)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.mish(self.norm(self.conv(x * mask))) * mask


class _ResnetBlock1D(nn.Module):
    """Two conv blocks with the (time + subject) embedding added in between, plus a 1x1 residual path."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int) -> None:
        super().__init__()
        self.block1 = _ConvNormAct(in_ch, out_ch)
        self.cond = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, out_ch))
        self.block2 = _ConvNormAct(out_ch, out_ch)
        self.residual = nn.Conv1d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.block1(x, mask) + self.cond(cond)[:, :, None]
        return self.block2(h, mask) + self.residual(x * mask)


class _TransformerBlock1D(nn.Module):
    """Pre-norm self-attention over time and a GELU feed-forward, on (B, C, T) with a step mask."""

    def __init__(self, dim: int, n_heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.dropout = n_heads, head_dim, dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * n_heads * head_dim, bias=False)
        self.attn_out = nn.Linear(n_heads * head_dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        h = x.transpose(1, 2)
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        keep = mask.bool()[:, None]  # (B, 1, 1, T): queries attend to real steps only
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep,
                                                  dropout_p=self.dropout if self.training else 0.0)
        h = h + self.drop(self.attn_out(attended.transpose(1, 2).reshape(b, t, -1)))
        h = h + self.drop(self.ff(self.norm2(h)))
        return h.transpose(1, 2) * mask


class _Level(nn.Module):
    """One U-Net level: a ResNet block then ``n_transformer`` transformer blocks."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, n_transformer: int, n_heads: int, head_dim: int,
                 dropout: float) -> None:
        super().__init__()
        self.resnet = _ResnetBlock1D(in_ch, out_ch, cond_dim)
        self.transformers = nn.ModuleList(_TransformerBlock1D(out_ch, n_heads, head_dim, dropout)
                                          for _ in range(n_transformer))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.resnet(x, mask, cond)
        for block in self.transformers:
            x = block(x, mask)
        return x


class UNet1DEstimator(nn.Module):
    """Vector-field estimator: ``(x_t, mu)`` concatenated on channels -> field ``(B, latent_dim, T)``.

    Levels follow ``channels``; every level but the last halves the time axis on the way down and doubles
    it on the way up, with skip connections between matching levels, so ``T`` must be a multiple of
    :attr:`time_factor` (the caller pads and crops). The condition of every ResNet block is the flow-time
    embedding (sinusoidal + MLP) plus a learned subject embedding.
    """

    def __init__(self, latent_dim: int, n_subjects: int, channels: Sequence[int] = (256, 256),
                 n_transformer_blocks: int = 1, n_mid_blocks: int = 2, n_heads: int = 4, head_dim: int = 64,
                 dropout: float = 0.05) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if not channels or any(c % 8 for c in channels):
            raise ValueError(f"channels must be a non-empty list of multiples of 8 (GroupNorm); got {channels}")
        cond_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.subject_embedding = nn.Embedding(n_subjects, cond_dim)
        level = dict(cond_dim=cond_dim, n_transformer=n_transformer_blocks, n_heads=n_heads, head_dim=head_dim,
                     dropout=dropout)
        last = len(channels) - 1

        self.down = nn.ModuleList()
        self.down_resample = nn.ModuleList()
        in_ch = 2 * latent_dim
        for i, ch in enumerate(channels):
            self.down.append(_Level(in_ch, ch, **level))
            self.down_resample.append(nn.Conv1d(ch, ch, 3, stride=1 if i == last else 2, padding=1))
            in_ch = ch
        self.mid = nn.ModuleList(_Level(channels[-1], channels[-1], **level) for _ in range(n_mid_blocks))

        self.up = nn.ModuleList()
        self.up_resample = nn.ModuleList()
        reversed_channels = channels[::-1]
        for i, ch in enumerate(reversed_channels):
            out_ch = reversed_channels[i + 1] if i < last else channels[0]
            self.up.append(_Level(2 * ch, out_ch, **level))
            self.up_resample.append(nn.Conv1d(out_ch, out_ch, 3, padding=1) if i == last
                                    else nn.ConvTranspose1d(out_ch, out_ch, 4, stride=2, padding=1))
        self.final_block = _ConvNormAct(channels[0], channels[0])
        self.final_proj = nn.Conv1d(channels[0], latent_dim, 1)
        self.time_factor = 2 ** last
        self.time_embed_dim = channels[0]

    def forward(self, x: torch.Tensor, mask: torch.Tensor, mu: torch.Tensor, t: torch.Tensor,
                subject: torch.Tensor) -> torch.Tensor:
        """Field at ``x`` ``(B, C, T)`` for flow times ``t`` ``(B,)``, anchor ``mu`` and subject indices ``(B,)``."""
        cond = self.time_mlp(sinusoidal_embedding(t, self.time_embed_dim)) + self.subject_embedding(subject)
        h = torch.cat([x, mu], dim=1)
        skips, masks = [], []
        for level, resample in zip(self.down, self.down_resample, strict=True):
            h = level(h, mask, cond)
            skips.append(h)
            masks.append(mask)
            h = resample(h * mask)
            mask = mask[:, :, ::2] if resample.stride[0] == 2 else mask
        for level in self.mid:
            h = level(h, mask, cond)
        for level, resample in zip(self.up, self.up_resample, strict=True):
            mask = masks.pop()
            h = level(torch.cat([h, skips.pop()], dim=1), mask, cond)
            h = resample(h * mask)
        return self.final_proj(self.final_block(h, mask)) * mask


# ---------------------------------------------------------------------------------------------------------
# Stage 2: projections, OT-CFM loss and the Euler sampler


def _pad_time(x: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad the last axis of ``x`` to a multiple of ``factor``; return it and the (B, 1, T') step mask."""
    t = x.shape[-1]
    padded = -(-t // factor) * factor
    mask = torch.zeros(x.shape[0], 1, padded, device=x.device, dtype=x.dtype)
    mask[:, :, :t] = 1.0
    return F.pad(x, (0, padded - t)), mask


class FlowMatchingDecoder(nn.Module):
    """Stage 2: OT conditional flow matching from a stage-1 anchor ``mu`` to BOLD, in a latent space.

    ``proj_in`` (V -> ``latent_dim``) maps both the target ``x1`` and the anchor ``mu`` ``(B, V, T)`` to the
    latent; the U-Net predicts the field there; ``proj_out`` maps latents back to ``V`` outputs.
    """

    def __init__(self, n_outputs: int = 1000, n_subjects: int = 4, latent_dim: int = 128,
                 channels: Sequence[int] = (256, 256), n_transformer_blocks: int = 1, n_mid_blocks: int = 2,
                 n_heads: int = 4, head_dim: int = 64, dropout: float = 0.05, sigma_min: float = 1e-4,
                 recon_weight: float = 0.1) -> None:
        super().__init__()
        self.config = {"kind": "stage2", "n_outputs": int(n_outputs), "n_subjects": int(n_subjects),
                       "latent_dim": int(latent_dim), "channels": [int(c) for c in channels],
                       "n_transformer_blocks": int(n_transformer_blocks), "n_mid_blocks": int(n_mid_blocks),
                       "n_heads": int(n_heads), "head_dim": int(head_dim), "dropout": float(dropout),
                       "sigma_min": float(sigma_min), "recon_weight": float(recon_weight)}
        self.sigma_min, self.recon_weight = float(sigma_min), float(recon_weight)
        self.proj_in = nn.Conv1d(n_outputs, latent_dim, 1)
        self.proj_out = nn.Conv1d(latent_dim, n_outputs, 1)
        self.estimator = UNet1DEstimator(latent_dim, n_subjects, channels, n_transformer_blocks, n_mid_blocks,
                                         n_heads, head_dim, dropout)

    def loss(self, x1: torch.Tensor, mu: torch.Tensor, subject: torch.Tensor,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(total, cfm, reconstruction)`` losses for targets ``x1`` and anchors ``mu`` ``(B, V, T)``.

        The flow's path and target use the latent of ``x1`` with gradients stopped: otherwise the easiest way
        to lower the flow loss is to shrink the latent (and let ``proj_out`` grow), which ruins the samples.
        ``proj_in``/``proj_out`` learn from the reconstruction loss and from the flow through ``mu``.
        """
        x1_latent = self.proj_in(x1)
        reconstruction = F.mse_loss(self.proj_out(x1_latent), x1)
        factor = self.estimator.time_factor
        target, mask = _pad_time(x1_latent.detach(), factor)
        mu_latent, _ = _pad_time(self.proj_in(mu), factor)
        t = torch.rand(x1.shape[0], 1, 1, generator=generator, device=x1.device)
        z = torch.randn(target.shape, generator=generator, device=x1.device) * mask
        x_t = (1 - (1 - self.sigma_min) * t) * z + t * target
        u = target - (1 - self.sigma_min) * z
        field = self.estimator(x_t, mask, mu_latent, t.flatten(), subject)
        cfm = ((field - u) ** 2 * mask).sum() / (mask.sum() * target.shape[1])
        return cfm + self.recon_weight * reconstruction, cfm, reconstruction

    @torch.no_grad()
    def sample(self, mu: torch.Tensor, subject: torch.Tensor, n_steps: int = 25,
               generator: torch.Generator | None = None,
               on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Draw one sample ``(B, V, T)`` per row of ``mu`` ``(B, V, T)``: Euler steps from t = 0 to 1.

        The noise is drawn on the CPU from ``generator`` (then moved), so a seed gives the same draw on every
        device. ``on_step(done, total)`` is called after each step.
        """
        if n_steps < 1:
            raise ValueError(f"n_steps must be at least 1, got {n_steps}")
        n_time = mu.shape[-1]
        mu_latent, mask = _pad_time(self.proj_in(mu), self.estimator.time_factor)
        z = torch.randn((mu.shape[0], mu_latent.shape[1], n_time), generator=generator, dtype=mu.dtype)
        x, _ = _pad_time(z.to(mu.device), self.estimator.time_factor)
        times = torch.linspace(0.0, 1.0, n_steps + 1, device=mu.device)
        for step in range(n_steps):
            t = times[step].expand(mu.shape[0])
            x = x + (times[step + 1] - times[step]) * self.estimator(x, mask, mu_latent, t, subject)
            if on_step is not None:
                on_step(step + 1, n_steps)
        return self.proj_out(x[:, :, :n_time])


def build_module(config: Mapping) -> nn.Module:
    """Rebuild an untrained stage-1 or stage-2 module from its ``config`` (``config["kind"]`` says which).

    Keys the constructor does not take (``kind``, ``extractors``) are facts about the checkpoint, not the
    network, and are left out.
    """
    kinds = {"stage1": MultiSubjectConvLinearEncoder, "stage2": FlowMatchingDecoder}
    kind = config.get("kind")
    if kind not in kinds:
        raise ValueError(f"config kind must be one of {sorted(kinds)}, got {kind!r}")
    accepted = inspect.signature(kinds[kind]).parameters
    return kinds[kind](**{k: v for k, v in config.items() if k in accepted})
