"""The Text2fMRI encoding head (Dixit 2026): per-TR language-model features -> 1000 Schaefer parcels.

Architecture (from the released ``config.json`` fields and the reference wrapper in BERG):
``concat(feature, subject embedding) -> Linear -> pre-norm transformer encoder -> Linear (no bias) +
per-subject bias``. The encoder is bidirectional, with rotary position embeddings on queries and keys
(interleaved pairs, base 10000, rotary dim = head dim), ScaleNorm before every block and after the last one
(one learned scalar per norm, stored as an offset from 1 or, in older files, as the scale itself: read
off the weights, see :func:`norm_convention`), a GELU feed-forward of width 4 x dim with biases,
attention projections without biases, and dropout 0.1 on attention weights, inside the feed-forward and on
whole blocks (stochastic depth) during training only.

Parameter names follow the released ``model.pt`` so it loads with ``strict=True``:
``subj_emb.weight``, ``inp.{weight,bias}``, ``encoder.layers.{2i}.0.0.g`` (norm before attention ``i``),
``encoder.layers.{2i}.1.to_{q,k,v,out}.weight``, ``encoder.layers.{2i+1}.0.0.g`` (norm before feed-forward
``i``), ``encoder.layers.{2i+1}.1.ff.0.0.{weight,bias}``, ``encoder.layers.{2i+1}.1.ff.2.{weight,bias}``,
``encoder.rotary_pos_emb.inv_freq``, ``encoder.final_norm.g``, ``out.weight``, ``out_bias.weight``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nforge_app.models._transformer import check_heads

DROPOUT = 0.1
FF_MULT = 4
ROTARY_BASE = 10000.0


@dataclass(frozen=True)
class Text2fMRIConfig:
    """The fields of a Text2fMRI release's ``config.json`` (defaults: the Qwen-2.5-0.5B variant)."""

    tr: float = 1.49  # seconds per TR: one feature vector in, one row of parcels out
    num_subjects: int = 4  # rows of the subject embeddings (CNeuroMod subjects 1, 2, 3, 5)
    num_rois: int = 1000  # Schaefer-2018 parcels, 7-network order
    num_transformer_layers: int = 4  # (attention, feed-forward) pairs
    num_transformer_heads: int = 8
    transformer_dim: int = 1024
    subject_embedding_dim: int = 128  # joined to each TR's features at the input
    extractor_LLM: str = "Qwen/Qwen2.5-0.5B"  # the language model that makes the features
    extractor_LLM_feature_size: int = 896  # its hidden size
    extractor_LLM_num_last_hidden_states: int = 4  # how many of its last hidden states are averaged

    def __post_init__(self) -> None:
        for name in ("num_subjects", "num_rois", "num_transformer_layers", "subject_embedding_dim",
                     "extractor_LLM_feature_size", "extractor_LLM_num_last_hidden_states"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"config field {name} must be a positive integer, got {value!r}")
        check_heads("transformer_dim", self.transformer_dim, "num_transformer_heads", self.num_transformer_heads)
        if not self.tr > 0:
            raise ValueError(f"config field tr must be a positive number of seconds, got {self.tr!r}")

    @classmethod
    def from_dict(cls, values: dict) -> Text2fMRIConfig:
        """Build from a ``config.json`` dict; keys this head does not use (dtype, architectures) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    @classmethod
    def from_json(cls, path: str | Path) -> Text2fMRIConfig:
        """Read a release's ``config.json``."""
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
        if not isinstance(values, dict):
            raise ValueError(f"{path} does not hold a JSON object")
        return cls.from_dict(values)

    @property
    def head_dim(self) -> int:
        return self.transformer_dim // self.num_transformer_heads


class ScaleNorm(nn.Module):
    """``x / |x| * sqrt(dim) * (1 + g)`` with one learned scalar ``g`` (zero at initialisation).

    ``unit_offset=False`` gives ``x / |x| * sqrt(dim) * g`` instead (``g`` near 1): x-transformers 1.x stores
    the scale itself, 2.x (``norm_add_unit_offset=True``) its offset from 1. :func:`norm_convention` reads
    which one a weights file uses.
    """

    def __init__(self, dim: int, unit_offset: bool = True) -> None:
        super().__init__()
        self.scale = dim ** 0.5
        self.unit_offset = unit_offset
        self.g = nn.Parameter(torch.zeros(1) if unit_offset else torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) * self.scale * (self.g + 1.0 if self.unit_offset else self.g)


NORM_SCALE_SUFFIX = ".g"


def norm_convention(state: dict) -> bool:
    """Whether a Text2fMRI state dict stores its ScaleNorm scalars as offsets from 1 (True) or as scales.

    Every norm's ``g`` is read: near 0 (below 0.5) means ``1 + g`` (x-transformers 2.x, ``unit_offset``),
    near 1 (0.5 or more) means ``g`` (1.x).

    Raises
    ------
    ValueError
        When the file has no norms, or its norms disagree (some near 0, some near 1).
    """
    values = {key: float(value.detach().float().reshape(-1)[0]) for key, value in state.items()
              if key.endswith(NORM_SCALE_SUFFIX) and value.numel() == 1}
    if not values:
        raise ValueError("the weights hold no ScaleNorm scalars (keys ending in '.g')")
    offsets = {key: value < 0.5 for key, value in values.items()}
    if len(set(offsets.values())) > 1:
        near_zero = sorted(key for key, offset in offsets.items() if offset)
        near_one = sorted(key for key, offset in offsets.items() if not offset)
        raise ValueError(f"the ScaleNorm scalars disagree on their convention: {', '.join(near_zero)} are near 0 "
                         f"(stored as 1 + g) but {', '.join(near_one)} are near 1 (stored as g)")
    return next(iter(offsets.values()))


def set_norm_convention(module: nn.Module, unit_offset: bool) -> None:
    """Use ``1 + g`` (True) or ``g`` (False) in every ScaleNorm of ``module``."""
    for norm in module.modules():
        if isinstance(norm, ScaleNorm):
            norm.unit_offset = unit_offset


class RotaryEmbedding(nn.Module):
    """Rotation angles per position, each frequency repeated for the two members of its pair."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        inv_freq = 1.0 / (ROTARY_BASE ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, n_positions: int) -> torch.Tensor:
        positions = torch.arange(n_positions, device=self.inv_freq.device, dtype=torch.float32)
        return torch.outer(positions, self.inv_freq.float()).repeat_interleave(2, dim=-1)


def _rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate each adjacent pair ``(x[2k], x[2k+1])`` of the last axis by its angle (computed in float32)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    turned = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return (x.float() * angles.cos() + turned * angles.sin()).to(x.dtype)


class SelfAttention(nn.Module):
    """Bidirectional multi-head self-attention with rotary queries and keys, no projection biases."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        q, k, v = (proj(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)
                   for proj in (self.to_q, self.to_k, self.to_v))
        q, k = _rotate(q, angles), _rotate(k, angles)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=DROPOUT if self.training else 0.0)
        return self.to_out(out.transpose(1, 2).flatten(-2))


class FeedForward(nn.Module):
    """``Linear(dim, 4 dim) -> GELU -> dropout -> Linear(4 dim, dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        inner = dim * FF_MULT
        self.ff = nn.Sequential(nn.Sequential(nn.Linear(dim, inner), nn.GELU()), nn.Dropout(DROPOUT),
                                nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class Encoder(nn.Module):
    """Pre-norm encoder: ``depth`` pairs of (attention, feed-forward) blocks, each with its own ScaleNorm."""

    def __init__(self, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        blocks = [block for _ in range(depth) for block in (SelfAttention(dim, heads), FeedForward(dim))]
        # Each entry is [[norm], block], the nesting the released weights were saved with.
        self.layers = nn.ModuleList(nn.ModuleList([nn.ModuleList([ScaleNorm(dim)]), block]) for block in blocks)
        self.rotary_pos_emb = RotaryEmbedding(dim // heads)
        self.final_norm = ScaleNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = self.rotary_pos_emb(x.shape[1])
        for (norm,), block in self.layers:
            if self.training and random.random() < DROPOUT:
                continue  # stochastic depth: skip the whole block
            h = norm(x)
            x = x + (block(h, angles) if isinstance(block, SelfAttention) else block(h))
        return self.final_norm(x)


class Text2fMRIHead(nn.Module):
    """Per-TR features ``(B, T, F)`` and subject indices ``(B,)`` -> parcel activity ``(B, T, V)``.

    Parameters
    ----------
    config : Text2fMRIConfig
        Sizes of the head (from the release's ``config.json``).
    """

    def __init__(self, config: Text2fMRIConfig) -> None:
        super().__init__()
        self.config = config
        self.subj_emb = nn.Embedding(config.num_subjects, config.subject_embedding_dim)
        self.inp = nn.Linear(config.extractor_LLM_feature_size + config.subject_embedding_dim,
                             config.transformer_dim)
        self.encoder = Encoder(config.transformer_dim, config.num_transformer_layers,
                               config.num_transformer_heads)
        self.out = nn.Linear(config.transformer_dim, config.num_rois, bias=False)
        self.out_bias = nn.Embedding(config.num_subjects, config.num_rois)
        nn.init.zeros_(self.out_bias.weight)

    def forward(self, features: torch.Tensor, subjects: torch.Tensor,
                roi_indices: torch.Tensor | None = None) -> torch.Tensor:
        """Predict all parcels, or only ``roi_indices`` (the same numbers, fewer computed):
        ``readout(hidden(features, subjects), subjects, roi_indices)``."""
        return self.readout(self.hidden(features, subjects), subjects, roi_indices)

    def hidden(self, features: torch.Tensor, subjects: torch.Tensor) -> torch.Tensor:
        """The trunk: the encoder's output after its final norm, ``(B, T, transformer_dim)``.

        It depends on the subject: the subject's embedding is joined to every TR's features at the input.
        """
        batch, n_steps, _ = features.shape
        subject = self.subj_emb(subjects)[:, None, :].expand(batch, n_steps, -1)
        return self.encoder(self.inp(torch.cat([features, subject], dim=-1)))

    def readout(self, hidden: torch.Tensor, subjects: torch.Tensor,
                roi_indices: torch.Tensor | None = None) -> torch.Tensor:
        """Parcel activity ``(B, T, V)`` of hidden features: the shared linear map plus the subject's bias."""
        weight, bias = self.out.weight, self.out_bias(subjects)
        if roi_indices is not None:
            weight, bias = weight[roi_indices], bias[:, roi_indices]
        return F.linear(hidden, weight) + bias[:, None, :]
