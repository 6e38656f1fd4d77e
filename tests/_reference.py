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


WEIGHT_KINDS = ("unit", "realistic", "outlier rows")


def spread_weights(encoder, kind: str = "realistic", seed: int = 0, n_outlier_rows: int = 3,
                   outlier_scale: float = 30.0):
    """Give ``encoder`` deterministic weights of one of three spreads (in place; returns it).

    - ``"unit"``: torch's default initialisation (uniform, 1/sqrt(fan_in): unit-scale activations), the time
      embedding and the predictor's bias N(0, 1), norms and residual scales uniform in [0.5, 1.5] (the
      spread of the older tests);
    - ``"realistic"``: as trained transformers are: weights and biases N(0, 0.02), norms and residual scales
      1 + N(0, 0.1);
    - ``"outlier rows"``: realistic, plus ``n_outlier_rows`` rows of every matrix ``outlier_scale`` times
      larger (the outlier channels trained models grow).
    """
    import torch

    if kind not in WEIGHT_KINDS:
        raise ValueError(f"kind must be one of {WEIGHT_KINDS}")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith(".g") or name.endswith("residual_scale"):
                value = (torch.rand(parameter.shape, generator=generator) + 0.5 if kind == "unit"
                         else 1.0 + 0.1 * noise)
            elif kind == "unit":
                if name in ("time_pos_embed", "predictor.bias"):
                    value = noise
                elif parameter.ndim >= 2 or name.endswith("bias"):
                    fan_in = parameter.shape[-1] if parameter.ndim >= 2 else parameter.shape[0]
                    bound = 1.0 / fan_in ** 0.5
                    value = (torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound
                else:
                    value = noise
            else:
                value = 0.02 * noise
                if kind == "outlier rows" and parameter.ndim >= 2:
                    rows = torch.randperm(parameter.shape[-2], generator=generator)[:n_outlier_rows]
                    value[..., rows, :] *= outlier_scale
            parameter.copy_(value)
    return encoder
