"""The TRIBE v2 brain encoder as a torch module whose state dict matches the released ``best.ckpt``.

Module and parameter names follow the release exactly (``encoder.layers.0.1.to_q.weight``,
``predictor.weights``, ...), so a checkpoint loads strictly. The submodules only hold parameters: the
forward pass lives in :meth:`TribeEncoder.hidden` (the trunk, up to the final norm and the pooling) and
:meth:`TribeEncoder.readout` (head and predictor), written for inference speed, around a float32 residual
stream in one of three precisions (:func:`resolve_precision`):

- ``"fp32"``: float32 throughout; the default (``NFORGE_TRIBE_PRECISION`` or ``precision=`` opt in to the others);
- ``"bf16"``: bfloat16 matrix products; the fast path on GPUs, and on CPUs without int8 dot products;
- ``"int8"``: the fast path on CPUs with AVX512-VNNI or AMX. The products of the transformer layers run in int8
  on oneDNN (weights quantised per output row once, inputs per call); attention, the feature projectors
  and the head stay bfloat16 (an int8 head would put about 1% noise straight into every output). Each
  int8 product guards its precision: a weight matrix that 8 bits would store with more than
  ``INT8_MAX_WEIGHT_ERROR`` relative error stays bfloat16, and an input whose range exceeds
  ``INT8_MAX_RANGE`` times its RMS (outlier channels, which would leave the other values a few levels) is
  multiplied in bfloat16 for that call. Both are logged. The guard catches outliers; it does not keep
  int8 within 1e-3 of float32: on weights of a realistic spread int8 is off by about 1e-2 of the output
  range and bfloat16 by about 3e-3 (``bench/bench_tribe_precision.py``), hence float32 by default.

A fourth, differentiable path (``differentiable=True``, or any input that requires a gradient) runs in
float32 with plain torch operations outside inference mode, for gradients with respect to the projected
embeddings or to per-modality scales (attribution); it agrees with ``"fp32"`` to float32 rounding.

On first use per precision the weights are laid out once (a "plan"): q/k/v fused into one matrix with the
rotary pairs of q and k side by side (the rotation becomes one complex product), low-rank head and
predictor multiplied into one matrix, and on CPUs the matrices packed for oneDNN. Attention is
``scaled_dot_product_attention`` (float32 softmax); outputs are selected before the predictor and pooled
before the head.

Forward pass (per modality a float tensor (B, L, D, T) at 2 Hz):

1. per modality in ``feature_dims`` order: (B, L*D, T) layer-major -> Linear(L*D -> hidden / n_modalities);
   a missing modality contributes zeros after its projector (absent, as in training with modality dropout),
   and ``modality_scale`` may scale a projected modality by alpha in [0, 1] (0: exactly absent);
2. concatenate -> (B, T, hidden), add ``time_pos_embed[:, :T]``;
3. ``depth`` x (attention, feed-forward) pre-norm sub-layers: ``x = f(ScaleNorm(x)) + x * residual_scale``,
   ScaleNorm(x) = x / max(|x|, 1e-12) * sqrt(hidden) * g; attention with rotary embedding on the first
   ``max(head_dim // 2, 32)`` dims of each head, softmax in float32; feed-forward Linear -> GELU (erf) ->
   Linear; a final ScaleNorm;
4. low-rank head Linear(hidden -> low_rank, no bias), predictor ``x @ weights[0] + bias[0]``;
5. adaptive average pooling over time to ``n_output_timesteps``.

``hidden`` returns the stream after step 3, pooled over time; ``readout`` runs step 4 on it.

Pooling, the head and the predictor are all linear, so pooling first and one fused head give the same
numbers at a fraction of the cost (and a small selection of outputs costs little).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import nn

from nforge_app._device import BF16_CPU_FLAGS as BF16_FLAGS
from nforge_app._device import cpu_flags
from nforge_app.checks import check_all_in, check_indices, check_range
from nforge_app.errors import UserInputError
from nforge_app.models._transformer import check_heads

log = logging.getLogger(__name__)

SCALENORM_EPS = 1e-12
ROTARY_BASE = 10000.0
MIN_ROTARY_DIM = 32
PRECISION_ENV = "NFORGE_TRIBE_PRECISION"
INT8_ENV = "NFORGE_TRIBE_INT8"
INT8_MAX_WEIGHT_ERROR = 0.02  # |W - W_int8| / |W| above which a matrix stays bfloat16
INT8_MAX_RANGE = 24.0  # (max - min) / RMS of an input above which that product runs in bfloat16
PRECISIONS = ("fp32", "bf16", "int8")
INT8_FLAGS = frozenset({"avx512_vnni", "amx_int8"})  # ... and of int8 dot products fast enough to pay
_AUTOGRAD = "fp32-autograd"  # the plan of the differentiable path: float32, plain torch products

# The released facebook/tribev2 architecture; a release's config.yaml and model_build_args set every field.
RELEASE_FEATURE_DIMS = MappingProxyType({"text": (2, 3072), "audio": (2, 1024), "video": (2, 1408)})


def _rotary_dim(head_dim: int) -> int:
    """Dimensions of each head that the rotary embedding turns."""
    return max(head_dim // 2, MIN_ROTARY_DIM)


@dataclass(frozen=True)
class EncoderSpec:
    """Sizes of a TRIBE v2 encoder; the defaults are those of the ``facebook/tribev2`` release.

    Attributes
    ----------
    feature_dims : dict
        ``{modality: (n_layer_groups, feature_size)}``; its order is the modality order.
    n_outputs : int
        Number of outputs (20,484 fsaverage5 vertices).
    n_output_timesteps : int
        Length of the pooled output per window.
    hidden, depth, heads, ff_mult, max_seq_len, low_rank : int
        Transformer width, number of (attention, feed-forward) pairs, attention heads, feed-forward
        expansion, longest input, width of the low-rank head.
    """

    feature_dims: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(RELEASE_FEATURE_DIMS))
    n_outputs: int = 20484
    n_output_timesteps: int = 100
    hidden: int = 1152
    depth: int = 8
    heads: int = 8
    ff_mult: int = 4
    max_seq_len: int = 1024
    low_rank: int = 2048

    def __post_init__(self) -> None:
        if not self.feature_dims:
            raise ValueError("feature_dims must name at least one modality")
        if self.hidden % len(self.feature_dims):
            raise ValueError(f"hidden ({self.hidden}) must be divisible by the number of modalities "
                             f"({len(self.feature_dims)})")
        check_heads("hidden", self.hidden, "heads", self.heads, _rotary_dim)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def rotary_dim(self) -> int:
        return _rotary_dim(self.head_dim)

    @property
    def projector_dim(self) -> int:
        return self.hidden // len(self.feature_dims)


class ScaleNorm(nn.Module):
    """L2 normalisation times ``sqrt(dim)`` times one learned scalar ``g``."""

    def __init__(self, device=None) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, device=device))


class Attention(nn.Module):
    """Multi-head self-attention weights (no biases)."""

    def __init__(self, dim: int, device=None) -> None:
        super().__init__()
        self.to_q = nn.Linear(dim, dim, bias=False, device=device)
        self.to_k = nn.Linear(dim, dim, bias=False, device=device)
        self.to_v = nn.Linear(dim, dim, bias=False, device=device)
        self.to_out = nn.Linear(dim, dim, bias=False, device=device)


class FeedForward(nn.Module):
    """Linear -> GELU -> Linear, laid out as the release names it (``ff.0.0``, ``ff.2``)."""

    def __init__(self, dim: int, mult: int, device=None) -> None:
        super().__init__()
        inner = dim * mult
        self.ff = nn.Sequential(nn.Sequential(nn.Linear(dim, inner, device=device), nn.GELU()), nn.Identity(),
                                nn.Linear(inner, dim, device=device))


class Residual(nn.Module):
    """The learned per-channel scale of the residual stream."""

    def __init__(self, dim: int, device=None) -> None:
        super().__init__()
        self.residual_scale = nn.Parameter(torch.ones(dim, device=device))


class RotaryEmbedding(nn.Module):
    """Inverse frequencies of the rotary position embedding (a buffer saved in the checkpoint)."""

    def __init__(self, dim: int, device=None) -> None:
        super().__init__()
        steps = torch.arange(0, dim, 2, dtype=torch.float32, device=device)
        self.register_buffer("inv_freq", 1.0 / ROTARY_BASE ** (steps / dim))


class Encoder(nn.Module):
    """``2 * depth`` pre-norm residual sub-layers (attention, feed-forward, ...) and a final norm."""

    def __init__(self, spec: EncoderSpec, device=None) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(spec.depth):
            for block in (Attention(spec.hidden, device), FeedForward(spec.hidden, spec.ff_mult, device)):
                self.layers.append(nn.ModuleList([nn.ModuleList([ScaleNorm(device)]), block,
                                                  Residual(spec.hidden, device)]))
        self.rotary_pos_emb = RotaryEmbedding(spec.rotary_dim, device)
        self.final_norm = ScaleNorm(device)


class Predictor(nn.Module):
    """The average-subject output layer: ``weights`` (1, in, out) and ``bias`` (1, out)."""

    def __init__(self, n_in: int, n_out: int, device=None) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(1, n_in, n_out, device=device) / math.sqrt(n_in))
        self.bias = nn.Parameter(torch.zeros(1, n_out, device=device))


class _Linear:
    """``x @ weight.T + bias``, optionally followed by GELU (erf), with the weight prepared once.

    CPU float32 and bfloat16 weights are reordered once into oneDNN's blocked layout (``packed``): each
    product then skips that reordering and the GELU is fused into it (float32: 1.5x faster than
    ``F.linear`` here). The packed products have no autograd: ``pack=False`` keeps plain ``F.linear``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int, pack: bool = True) -> None:
        self.dtype = weight.dtype
        self.packed = pack and _can_pack(weight)
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, rows) if self.packed else weight
        self.bias = bias

    def __call__(self, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu" if gelu else "none", [],
                                                      "none" if gelu else "")
        y = F.linear(x, self.weight, self.bias)
        return F.gelu(y) if gelu else y


class _Int8Linear:
    """``x @ weight.T + bias`` in int8 on oneDNN (VNNI), for float inputs; see the module docstring.

    The weight is quantised once, symmetric per output row (``weight_error``: the relative error of that
    copy). Each call quantises the input to uint8 over its whole range and returns ``out_dtype``; an input
    with outliers (range over ``INT8_MAX_RANGE`` RMS) goes through a bfloat16 product instead, built from
    the original weight on first need.
    """

    dtype = torch.float32  # the input dtype that loses nothing before quantisation

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int,
                 out_dtype: torch.dtype = torch.float32) -> None:
        weight = weight.detach()
        self.scale, quantised = _quantise_rows(weight)
        self.weight_error = _relative_error(quantised * self.scale[:, None], weight.float())
        self.packed = torch.ops.onednn.qlinear_prepack(quantised, [rows, weight.shape[1]])
        self.zeros = torch.zeros(weight.shape[0], dtype=torch.long)
        self.bias = None if bias is None else bias.detach().float()
        self.out_dtype, self.rows = out_dtype, rows
        self._source, self._fallback = (weight, bias), None

    def __call__(self, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
        shape, x = x.shape, x.reshape(-1, x.shape[-1]).float()
        low, high = (float(v) for v in torch.aminmax(x))
        low, high = min(low, 0.0), max(high, 0.0)
        rms = float(torch.linalg.vector_norm(x)) / math.sqrt(x.numel())
        if high - low > INT8_MAX_RANGE * rms:
            return self._bf16(x.view(shape), gelu)
        step = max((high - low) / 255, torch.finfo(torch.float32).tiny)
        zero = round(-low / step)
        quantised = x.div(step).round_().add_(zero).clamp_(0, 255).to(torch.uint8)
        y = torch.ops.onednn.qlinear_pointwise(quantised, step, zero, self.packed, self.scale, self.zeros,
                                               self.bias, 1.0, 0, self.out_dtype, "gelu" if gelu else "none", [],
                                               "none" if gelu else "")
        return y.view(*shape[:-1], -1)

    def _bf16(self, x: torch.Tensor, gelu: bool) -> torch.Tensor:
        if self._fallback is None:
            log.info("TRIBE v2 int8: an input of a %s product has outliers (range over %g times its RMS); such "
                     "inputs are multiplied in bfloat16", tuple(self._source[0].shape), INT8_MAX_RANGE)
            weight, bias = self._source
            self._fallback = _Linear(weight.to(torch.bfloat16), None if bias is None else bias.to(torch.bfloat16),
                                     self.rows)
        return self._fallback(x.to(torch.bfloat16), gelu).to(self.out_dtype)


def _quantise_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (float32 scales (N,), int8 (N, K)) with ``weight ~ scales[:, None] * int8``."""
    weight = weight.float()
    scale = (weight.abs().amax(1) / 127).clamp_min(torch.finfo(torch.float32).tiny)
    return scale, torch.round(weight / scale[:, None]).to(torch.int8)


def _relative_error(approximation: torch.Tensor, exact: torch.Tensor) -> float:
    """``|approximation - exact| / |exact|`` (Frobenius norms)."""
    tiny = torch.finfo(torch.float32).tiny
    return float(torch.linalg.vector_norm(approximation - exact) / torch.linalg.vector_norm(exact).clamp_min(tiny))


def int8_supported(device: torch.device | str) -> bool:
    """Whether ``device`` is a CPU with int8 dot products (AVX512-VNNI or AMX) and oneDNN's int8 linear."""
    device = torch.device(device)
    checks = (getattr(torch.cpu, "_is_vnni_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return (device.type == "cpu" and (any(check is not None and check() for check in checks)
                                      or bool(INT8_FLAGS & cpu_flags()))
            and torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise"))


def _can_pack(weight: torch.Tensor) -> bool:
    dtype_ok = weight.dtype == torch.float32 or (weight.dtype == torch.bfloat16 and bf16_supported("cpu"))
    return (weight.device.type == "cpu" and dtype_ok and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


@dataclass
class _Plan:
    """The weights of one precision laid out for speed; layers are ("attn" | "ff", g, residual_scale, linears)."""

    signature: tuple
    dtype: torch.dtype  # of the matrices that are not int8
    projectors: dict[str, _Linear]
    layers: list[tuple]
    final_g: torch.Tensor  # float32 scalar of the final ScaleNorm
    head: _Linear  # low_rank_head then predictor in one (n_outputs, hidden) matrix, no bias
    head_weight: torch.Tensor  # the same matrix in ``dtype``, never packed (selections slice its rows)
    head_bias: torch.Tensor  # float32


def bf16_supported(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (AVX512-BF16 or AMX CPUs, recent GPUs)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks) or bool(BF16_FLAGS & cpu_flags())


def resolve_precision(precision: str | bool | None = None, device: torch.device | str = "cpu") -> str:
    """The encoder's precision on ``device``: ``"fp32"`` (the default), ``"bf16"`` or ``"int8"``.

    Parameters
    ----------
    precision : str, bool or None
        ``"fp32"``, ``"bf16"``, ``"int8"``, or ``"fast"`` (int8 on CPUs with int8 dot products unless
        ``NFORGE_TRIBE_INT8=0``, bfloat16 elsewhere); True means ``"fast"`` and False ``"fp32"`` (the older
        ``fast=`` flag). None reads ``NFORGE_TRIBE_PRECISION`` (same names) and is ``"fp32"`` without it:
        the fast paths are opt-in because they are not exact (see the README's measured errors).
    device : torch.device or str

    Raises
    ------
    UserInputError
        For an unknown name, or ``"int8"`` on a device without int8 dot products.
    """
    source = "precision"
    if precision is None:
        precision, source = os.environ.get(PRECISION_ENV, "").strip().lower() or "fp32", PRECISION_ENV
    if isinstance(precision, bool):
        precision = "fast" if precision else "fp32"
    precision = str(precision).strip().lower()
    if precision not in (*PRECISIONS, "fast"):
        raise UserInputError(f"{source} must be one of fp32, bf16, int8 or fast; got {precision!r}")
    if precision == "fast":
        return "int8" if int8_supported(device) and os.environ.get(INT8_ENV, "").strip() != "0" else "bf16"
    if precision == "int8" and not int8_supported(device):
        raise UserInputError(f"{source}='int8' needs a CPU with int8 dot products (AVX512-VNNI or AMX) and "
                             f"oneDNN; {torch.device(device)} has none here. Use fp32 (exact) or bf16.")
    return precision


def resolve_fast(fast: str | bool | None, device: torch.device | str) -> bool:
    """Whether ``fast`` (a precision name, a bool or None) resolves to a fast path (not ``"fp32"``)."""
    return resolve_precision(fast, device) != "fp32"


class TribeEncoder(nn.Module):
    """The TRIBE v2 encoder: features of up to three modalities -> predicted fMRI per output.

    The forward pass is the readout of the trunk: :meth:`hidden` (projectors, transformer, final norm,
    pooling) then :meth:`readout` (the fused low-rank head and predictor). :meth:`project` gives the
    projected embeddings on their own, and :meth:`hidden` also takes them (with a gradient, for attribution).

    Parameters
    ----------
    spec : EncoderSpec
        The sizes (read from a release by ``nforge_app.models.tribe.load_encoder``).
    device : str or torch.device, optional
        Where to create the parameters; ``"meta"`` builds the structure without memory.
    fast : str, bool or None, optional
        Default precision of :meth:`forward` (:func:`resolve_precision`): ``"fp32"`` (exact; the default),
        ``"bf16"``, ``"int8"`` or ``"fast"`` (True); None reads ``NFORGE_TRIBE_PRECISION``, else fp32.
    """

    def __init__(self, spec: EncoderSpec, device=None, fast: str | bool | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.projectors = nn.ModuleDict({
            modality: nn.Linear(n_layers * dim, spec.projector_dim, device=device)
            for modality, (n_layers, dim) in spec.feature_dims.items()
        })
        self.time_pos_embed = nn.Parameter(torch.randn(1, spec.max_seq_len, spec.hidden, device=device))
        self.encoder = Encoder(spec, device)
        self.low_rank_head = nn.Linear(spec.hidden, spec.low_rank, bias=False, device=device)
        self.predictor = Predictor(spec.low_rank, spec.n_outputs, device)
        build_device = torch.device(device if device is not None else "cpu")
        self.default_precision = resolve_precision(fast, "cpu" if build_device.type == "meta" else build_device)
        self._plans: dict[str, _Plan] = {}

    # ----------------------------------------------------------------------------------------------------
    def precision(self, fast: str | bool | None = None) -> str:
        """``"fp32"``, ``"bf16"`` or ``"int8"``: the precision :meth:`forward` uses for this ``fast`` argument."""
        device = self.time_pos_embed.device
        return resolve_precision(self.default_precision if fast is None else fast,
                                 "cpu" if device.type == "meta" else device)

    def forward(self, features: dict[str, torch.Tensor], pool_outputs: bool = True,
                indices: torch.Tensor | None = None, fast: str | bool | None = None) -> torch.Tensor:
        """Predict the outputs for a batch of windows: ``readout(hidden(features))``.

        Parameters
        ----------
        features : dict of str to Tensor
            ``{modality: (B, L, D, T)}`` (or (B, D, T) for L = 1); any modality may be missing (absent: zeros
            after its projector, see :meth:`hidden`), at least one must be given.
        pool_outputs : bool
            Pool over time to ``n_output_timesteps`` (True) or return one output per input step.
        indices : Tensor of int, optional
            Outputs to compute (all when None); the predictor is sliced before it runs.
        fast : str, bool or None, optional
            A precision (``"fp32"``, ``"bf16"``, ``"int8"``, ``"fast"``; True is ``"fast"``, False ``"fp32"``);
            None uses the module's default (see :meth:`precision`).

        Returns
        -------
        Tensor, float32 (B, n_selected_outputs, T_out)
        """
        return self.readout(self.hidden(features, pool_outputs, fast), indices, fast)

    def project(self, features: dict[str, torch.Tensor], fast: str | bool | None = None,
                differentiable: bool = False) -> dict[str, torch.Tensor]:
        """The projected embeddings of the modalities given: ``{modality: float32 (B, T, hidden / n_modalities)}``.

        ``differentiable=True`` computes them in float32 with plain torch operations outside inference mode,
        so that they can take a gradient (``requires_grad_()``) before :meth:`hidden` reads them back.
        """
        inputs, _, _ = self._check_inputs(features)
        with torch.inference_mode(not differentiable):
            plan = self._plan(_AUTOGRAD if differentiable else self.precision(fast))
            return self._project(inputs, plan)

    def hidden(self, features: dict[str, torch.Tensor] | None = None, pool_outputs: bool = True,
               fast: str | bool | None = None, *, embeddings: dict[str, torch.Tensor] | None = None,
               modality_scale: dict | None = None, differentiable: bool | None = None,
               attention_maps: list | None = None) -> torch.Tensor:
        """The trunk: the last hidden features after the final norm, ``float32 (B, T_out, hidden)``.

        Parameters
        ----------
        features : dict of str to Tensor, optional
            As in :meth:`forward`. A missing modality is absent: its part of the embedding is zeros after the
            projector (the projector's bias is not added), as the release was trained with modality dropout.
        pool_outputs : bool
            Pool over time to ``n_output_timesteps`` (True) or keep one row per input step.
        fast : bool, optional
            As in :meth:`forward` (ignored on the differentiable path, which is float32).
        embeddings : dict of str to Tensor, optional
            The projected embeddings ``{modality: (B, T, hidden / n_modalities)}`` (from :meth:`project`), in
            place of ``features``.
        modality_scale : dict, optional
            ``{modality: alpha}``, alpha a float or a ``(B,)`` tensor in [0, 1] that multiplies that modality's
            projected embedding: 1 leaves it as it is, 0 gives exactly the numbers of the modality absent.
        differentiable : bool, optional
            Compute in float32 with plain torch operations (no packed oneDNN products, no inference mode) so
            that gradients flow to ``embeddings`` and to tensor scales; None does so when one of them requires
            a gradient and gradients are enabled.
        attention_maps : list, optional
            When given, each attention layer appends its attention weights averaged over the heads, float32
            ``(B, T, T)`` (rows are queries), computed beside the fused attention so that the outputs stay
            exactly the same (for attention rollout).

        Returns
        -------
        Tensor, float32 (B, T_out, hidden)
        """
        if (features is None) == (embeddings is None):
            raise ValueError("give either features or embeddings")
        scales = self._check_scales(modality_scale)
        if differentiable is None:
            needs_grad = [t for t in (*(embeddings or {}).values(), *scales.values()) if torch.is_tensor(t)]
            differentiable = torch.is_grad_enabled() and any(t.requires_grad for t in needs_grad)
        if embeddings is None:
            inputs, batch, n_steps = self._check_inputs(features)
        else:
            batch, n_steps = self._check_embeddings(embeddings)
        with torch.inference_mode(not differentiable):
            plan = self._plan(_AUTOGRAD if differentiable else self.precision(fast))
            x = self._embed(self._project(inputs, plan) if embeddings is None else embeddings, scales, batch, n_steps)
            rotation = self._rotation(n_steps, x.device)
            for layer in plan.layers:
                x = (_attention(x, layer, rotation, self.spec, attention_maps) if layer[0] == "attn"
                     else _feed_forward(x, layer))
            x = _scale_norm(x, plan.final_g)
            if pool_outputs:
                x = F.adaptive_avg_pool1d(x.transpose(1, 2), self.spec.n_output_timesteps).transpose(1, 2)
            return x.contiguous()

    def readout(self, hidden: torch.Tensor, indices: torch.Tensor | None = None, fast: str | bool | None = None,
                differentiable: bool | None = None) -> torch.Tensor:
        """The outputs of hidden features ``(B, T, hidden)``: the fused low-rank head and predictor, an affine map.

        Parameters
        ----------
        hidden : Tensor, float32 (B, T, hidden)
            From :meth:`hidden`.
        indices : Tensor of int, optional
            Outputs to compute (all when None); only their rows of the head are used.
        fast : bool, optional
            As in :meth:`forward`.
        differentiable : bool, optional
            float32 with plain torch operations (see :meth:`hidden`); None when ``hidden`` requires a gradient.

        Returns
        -------
        Tensor, float32 (B, n_selected_outputs, T)
        """
        if differentiable is None:
            differentiable = torch.is_grad_enabled() and hidden.requires_grad
        with torch.inference_mode(not differentiable):
            plan = self._plan(_AUTOGRAD if differentiable else self.precision(fast))
            x, bias = hidden.contiguous(), plan.head_bias
            if indices is None:
                y = plan.head(x.to(plan.head.dtype))
            else:
                indices = self._check_indices(indices, x.device)
                y = F.linear(x.to(plan.dtype), plan.head_weight.index_select(0, indices))
                bias = bias.index_select(0, indices)
            return (y + bias).transpose(1, 2)

    # ----------------------------------------------------------------------------------------------------
    def _check_inputs(self, features: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int, int]:
        expected = self.spec.feature_dims
        check_all_in("modalities of the features", features, expected)
        inputs, shapes = {}, {}
        for modality, tensor in features.items():
            tensor = torch.as_tensor(tensor)
            if tensor.ndim == 3:
                tensor = tensor.unsqueeze(1)
            if tensor.ndim != 4:
                raise UserInputError(f"{modality} features must be (B, L, D, T) or (B, D, T); got shape "
                                     f"{tuple(tensor.shape)}")
            if tuple(tensor.shape[1:3]) != tuple(expected[modality]):
                raise UserInputError(f"{modality} features have (L, D) = {tuple(tensor.shape[1:3])}; this encoder "
                                     f"expects (L, D) = {tuple(expected[modality])}")
            inputs[modality] = tensor
            shapes[modality] = (tensor.shape[0], tensor.shape[-1])
        return inputs, *self._check_steps(shapes)

    def _check_embeddings(self, embeddings: dict[str, torch.Tensor]) -> tuple[int, int]:
        check_all_in("modalities of the embeddings", embeddings, self.spec.feature_dims)
        shapes = {}
        for modality, tensor in embeddings.items():
            if tensor.ndim != 3 or tensor.shape[-1] != self.spec.projector_dim:
                raise ValueError(f"{modality} embeddings must be (B, T, {self.spec.projector_dim}); got shape "
                                 f"{tuple(tensor.shape)}")
            shapes[modality] = (tensor.shape[0], tensor.shape[1])
        return self._check_steps(shapes)

    def _check_steps(self, shapes: dict[str, tuple[int, int]]) -> tuple[int, int]:
        if len(set(shapes.values())) > 1:
            raise UserInputError(f"modalities disagree on (batch, time steps): {shapes}")
        batch, n_steps = next(iter(shapes.values()))
        check_range("number of time steps", n_steps, 1, self.spec.max_seq_len, integer=True)
        return batch, n_steps

    def _check_scales(self, modality_scale: dict | None) -> dict:
        scales = dict(modality_scale or {})
        if scales:
            check_all_in("modalities to scale", scales, self.spec.feature_dims)
        for modality, alpha in scales.items():
            low, high = (float(v) for v in torch.aminmax(alpha.detach())) if torch.is_tensor(alpha) else (alpha, alpha)
            if not 0.0 <= low <= high <= 1.0 or (torch.is_tensor(alpha) and alpha.ndim != 1):
                raise ValueError(f"the scale of {modality} must be a float or a (B,) tensor in [0, 1]")
        return scales

    def _check_indices(self, indices, device: torch.device) -> torch.Tensor:
        return torch.as_tensor(check_indices(torch.as_tensor(indices).cpu().numpy(), self.spec.n_outputs),
                               device=device)

    def _project(self, inputs: dict[str, torch.Tensor], plan: _Plan) -> dict[str, torch.Tensor]:
        """The projected embeddings (B, T, projector_dim), float32, of the modalities in ``inputs``."""
        device = self.time_pos_embed.device
        projected = {}
        for modality, projector in plan.projectors.items():
            if modality in inputs:
                # (B, T, L*D), layer-major; converting before transposing halves the bytes the transpose moves.
                x = inputs[modality].to(device, plan.dtype).flatten(1, 2).transpose(1, 2).contiguous()
                projected[modality] = projector(x).float()
        return projected

    def _embed(self, embeddings: dict[str, torch.Tensor], scales: dict, batch: int, n_steps: int) -> torch.Tensor:
        """The transformer's input: the modalities' embeddings side by side, plus the time embedding.

        The one place of the absent-modality rule: a modality missing from ``embeddings`` is zeros after its
        projector (the release was trained with modality dropout, which zeroes a projected modality).
        """
        device = self.time_pos_embed.device
        parts = []
        for modality in self.spec.feature_dims:
            if modality not in embeddings:
                parts.append(torch.zeros(batch, n_steps, self.spec.projector_dim, device=device))
                continue
            part, alpha = embeddings[modality], scales.get(modality)
            if alpha is not None:
                part = part * (alpha.to(part).view(-1, 1, 1) if torch.is_tensor(alpha) else float(alpha))
            parts.append(part)
        return torch.cat(parts, dim=-1) + self.time_pos_embed[:, :n_steps].float()

    def _rotation(self, n_steps: int, device: torch.device) -> torch.Tensor:
        """``exp(i * position * inv_freq)``, complex (T, 1, 1, rotary_dim / 2), to turn (q, k) pairs."""
        inv_freq = self.encoder.rotary_pos_emb.inv_freq.float().to(device)
        angles = torch.arange(n_steps, device=device, dtype=torch.float32)[:, None] * inv_freq
        return torch.polar(torch.ones_like(angles), angles)[:, None, None, :]

    def _signature(self, precision: str) -> tuple:
        # A plan is rebuilt when any parameter was replaced, moved or changed in place (inference tensors,
        # made under torch.inference_mode, keep no version count).
        return (precision,) + tuple((p.data_ptr(), p.device, 0 if p.is_inference() else p._version)
                                for p in self.parameters())

    def _plan(self, precision: str) -> _Plan:
        signature = self._signature(precision)
        plan = self._plans.get(precision)
        if plan is None or plan.signature != signature:
            self._plans = {key: value for key, value in self._plans.items() if value.signature[1:] == signature[1:]}
            with torch.no_grad():
                plan = self._plans[precision] = self._build_plan(precision, signature)
        return plan

    def _build_plan(self, precision: str, signature: tuple) -> _Plan:
        """The weights laid out for ``precision``, or for autograd (``_AUTOGRAD``: float32, plain products)."""
        spec, rows = self.spec, 2 * self.spec.n_output_timesteps
        dtype = torch.float32 if precision in ("fp32", _AUTOGRAD) else torch.bfloat16

        def plain(tensor: torch.Tensor, to: torch.dtype = torch.float32) -> torch.Tensor:
            tensor = tensor.detach().to(to)
            # autograd cannot save inference tensors (an encoder made under torch.inference_mode) for backward
            return tensor.clone() if precision == _AUTOGRAD and tensor.is_inference() else tensor

        def linear(weight: torch.Tensor, bias: torch.Tensor | None = None, int8: bool = False,
                   out_dtype: torch.dtype = torch.float32, n_rows: int = rows) -> _Linear | _Int8Linear:
            if int8 and precision == "int8":
                candidate = _Int8Linear(weight, bias, n_rows, out_dtype)
                if candidate.weight_error <= INT8_MAX_WEIGHT_ERROR:
                    return candidate
                log.info("TRIBE v2 int8: a %s matrix would lose %.1f%% in int8; it stays bfloat16",
                         tuple(weight.shape), 100 * candidate.weight_error)
            return _Linear(plain(weight, dtype), None if bias is None else plain(bias, dtype), n_rows,
                           pack=precision != _AUTOGRAD)

        # Within each head, q and k rows are reordered so that the rotary pairs (i, i + rotary_dim / 2) sit
        # side by side: the rotation is then one complex product, and q . k is unchanged.
        half = spec.rotary_dim // 2
        order = torch.arange(spec.head_dim)
        order[: 2 * half] = torch.stack([torch.arange(half), torch.arange(half, 2 * half)], dim=1).flatten()
        paired = (order + spec.head_dim * torch.arange(spec.heads)[:, None]).flatten().to(self.time_pos_embed.device)
        layers = []
        for (norm,), block, residual in self.encoder.layers:
            common = (plain(norm.g), plain(residual.residual_scale))
            if isinstance(block, Attention):
                qkv = torch.cat([block.to_q.weight[paired], block.to_k.weight[paired], block.to_v.weight])
                # q, k and v stay bfloat16 for the attention products
                layers.append(("attn", *common, linear(qkv, int8=True, out_dtype=dtype),
                               linear(block.to_out.weight, int8=True)))
            else:
                first, last = block.ff[0][0], block.ff[2]
                layers.append(("ff", *common, linear(first.weight, first.bias, int8=True),
                               linear(last.weight, last.bias, int8=True)))
        head = self.predictor.weights[0].detach().float().t() @ self.low_rank_head.weight.detach().float()
        return _Plan(signature, dtype, {m: linear(p.weight, p.bias) for m, p in self.projectors.items()}, layers,
                     plain(self.encoder.final_norm.g), linear(head, n_rows=spec.n_output_timesteps), head.to(dtype),
                     plain(self.predictor.bias[0]))


def _differentiated(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` carries a gradient: it requires one (backward mode) or has a tangent (forward mode,
    ``torch.autograd.forward_ad``, as the attribution's integrated gradients use)."""
    return tensor.requires_grad or fwAD.unpack_dual(tensor).tangent is not None


def _scale_norm(x: torch.Tensor, g: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """ScaleNorm of the float32 stream ``x``, written straight into ``dtype``."""
    factor = g * math.sqrt(x.shape[-1]) / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(SCALENORM_EPS)
    if _differentiated(factor):  # the differentiable path: out= has no autograd (backward or forward mode)
        return (x * factor).to(dtype)
    return torch.mul(x, factor, out=torch.empty(x.shape, dtype=dtype, device=x.device))


def _attention(x: torch.Tensor, layer: tuple, rotation: torch.Tensor, spec: EncoderSpec,
               record: list | None = None) -> torch.Tensor:
    _, g, scale, qkv_linear, out_linear = layer
    batch, n_steps, hidden = x.shape
    qkv = qkv_linear(_scale_norm(x, g, qkv_linear.dtype)).view(batch, n_steps, 3, spec.heads, spec.head_dim)
    pairs = qkv[:, :, :2, :, : spec.rotary_dim]  # q and k, rotary dims in adjacent pairs (see _build_plan)
    turned = torch.view_as_real(torch.view_as_complex(pairs.float().unflatten(-1, (-1, 2))) * rotation).flatten(-2)
    if _differentiated(qkv):  # the differentiable path: a new tensor rather than a write into qkv
        qk = torch.cat([turned.to(qkv.dtype), qkv[:, :, :2, :, spec.rotary_dim:]], dim=-1)
        qkv = torch.cat([qk, qkv[:, :, 2:]], dim=2)
    else:
        pairs.copy_(turned)
    q, k, v = qkv.transpose(1, 3).unbind(2)  # each (B, heads, T, head_dim)
    if record is not None:  # the weights scaled_dot_product_attention applies, computed on the side
        scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(spec.head_dim)
        record.append(torch.softmax(scores, dim=-1).mean(1).detach())
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, n_steps, hidden)
    return torch.addcmul(out_linear(out.to(out_linear.dtype)), x, scale)


def _feed_forward(x: torch.Tensor, layer: tuple) -> torch.Tensor:
    _, g, scale, first, last = layer
    hidden = first(_scale_norm(x, g, first.dtype), gelu=True)
    return torch.addcmul(last(hidden.to(last.dtype)), x, scale)
