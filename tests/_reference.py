"""Reference algorithms written plainly from the model specs, to check the fast code against (tests and bench).

:func:`oracle` is the TRIBE v2 forward pass exactly as the spec words it: separate q/k/v, explicit softmax
attention, the head and predictor on every step, pooling last. ``bench/bench_tribe.py`` times it as "the
reference algorithm"; ``tests/models/test_tribe_encoder.py`` checks the encoder against it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def oracle(encoder, features: dict, pool_outputs: bool = True,
           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The forward pass exactly as the spec words it (float64 by default; bench/bench_tribe.py times it)."""
    spec = encoder.spec
    sd = {k: v.to(dtype) for k, v in encoder.state_dict().items()}
    batch, n_steps = next(iter(features.values())).shape[0], next(iter(features.values())).shape[-1]
    parts = []
    for modality, (n_layers, dim) in spec.feature_dims.items():
        if modality not in features:
            parts.append(torch.zeros(batch, n_steps, spec.hidden // len(spec.feature_dims), dtype=dtype))
            continue
        x = features[modality].to(dtype)
        if x.ndim == 3:
            x = x[:, None]
        x = x.reshape(batch, n_layers * dim, n_steps).transpose(1, 2)
        parts.append(x @ sd[f"projectors.{modality}.weight"].T + sd[f"projectors.{modality}.bias"])
    x = torch.cat(parts, dim=-1) + sd["time_pos_embed"][:, :n_steps]

    def scale_norm(v, g):
        return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12) * math.sqrt(spec.hidden) * g

    rot, head_dim = max(spec.head_dim // 2, 32), spec.head_dim
    inv_freq = 1.0 / 10000 ** (torch.arange(0, rot, 2, dtype=dtype) / rot)
    angles = torch.arange(n_steps, dtype=dtype)[:, None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)

    def rotary(t):
        a, b = t[..., : rot // 2], t[..., rot // 2: rot]
        turned = t[..., :rot] * angles.cos() + torch.cat([-b, a], dim=-1) * angles.sin()
        return torch.cat([turned, t[..., rot:]], dim=-1)

    def heads(t):
        return t.reshape(batch, n_steps, spec.heads, head_dim).transpose(1, 2)

    for i in range(2 * spec.depth):
        p = f"encoder.layers.{i}."
        h = scale_norm(x, sd[p + "0.0.g"])
        if i % 2 == 0:
            q, k, v = (heads(h @ sd[p + f"1.to_{n}.weight"].T) for n in "qkv")
            q, k = rotary(q), rotary(k)
            weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim), dim=-1)
            out = (weights @ v).transpose(1, 2).reshape(batch, n_steps, spec.hidden) @ sd[p + "1.to_out.weight"].T
        else:
            inner = F.gelu(h @ sd[p + "1.ff.0.0.weight"].T + sd[p + "1.ff.0.0.bias"])
            out = inner @ sd[p + "1.ff.2.weight"].T + sd[p + "1.ff.2.bias"]
        x = out + x * sd[p + "2.residual_scale"]
    x = scale_norm(x, sd["encoder.final_norm.g"])
    y = (x @ sd["low_rank_head.weight"].T) @ sd["predictor.weights"][0] + sd["predictor.bias"][0]
    y = y.transpose(1, 2)
    if pool_outputs:
        y = F.adaptive_avg_pool1d(y, spec.n_output_timesteps)
    return y


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
