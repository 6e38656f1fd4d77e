"""The TRIBE v2 brain encoder as a torch module whose state dict matches the released ``best.ckpt``.

Module and parameter names follow the release exactly (``encoder.layers.0.1.to_q.weight``,
``predictor.weights``, ...), so a checkpoint loads strictly. The submodules only hold parameters: the
forward pass lives in :meth:`TribeEncoder.forward`, written for inference speed, around a float32 residual
stream in one of three precisions (:func:`resolve_precision`):

- ``"fp32"``: float32 throughout;
- ``"bf16"``: bfloat16 matrix products; the fast path on GPUs, and on CPUs without int8 dot products;
- ``"int8"``: the fast path on CPUs with AVX512-VNNI. The products of the transformer layers run in int8
  on oneDNN (weights quantised per output row once, inputs per call); attention, the feature projectors
  and the head stay bfloat16 (an int8 head would put about 1% noise straight into every output). Each
  int8 product guards its precision: a weight matrix that 8 bits would store with more than
  ``INT8_MAX_WEIGHT_ERROR`` relative error stays bfloat16, and an input whose range exceeds
  ``INT8_MAX_RANGE`` times its RMS (outlier channels, which would leave the other values a few levels) is
  multiplied in bfloat16 for that call. Both are logged.

On first use per precision the weights are laid out once (a "plan"): q/k/v fused into one matrix with the
rotary pairs of q and k side by side (the rotation becomes one complex product), low-rank head and
predictor multiplied into one matrix, and on CPUs the matrices packed for oneDNN. Attention is
``scaled_dot_product_attention`` (float32 softmax); outputs are selected before the predictor and pooled
before the head.

Forward pass (per modality a float tensor (B, L, D, T) at 2 Hz):

1. per modality in ``feature_dims`` order: (B, L*D, T) layer-major -> Linear(L*D -> hidden / n_modalities);
   a missing modality contributes zeros;
2. concatenate -> (B, T, hidden), add ``time_pos_embed[:, :T]``;
3. ``depth`` x (attention, feed-forward) pre-norm sub-layers: ``x = f(ScaleNorm(x)) + x * residual_scale``,
   ScaleNorm(x) = x / max(|x|, 1e-12) * sqrt(hidden) * g; attention with rotary embedding on the first
   ``max(head_dim // 2, 32)`` dims of each head, softmax in float32; feed-forward Linear -> GELU (erf) ->
   Linear; a final ScaleNorm;
4. low-rank head Linear(hidden -> low_rank, no bias), predictor ``x @ weights[0] + bias[0]``;
5. adaptive average pooling over time to ``n_output_timesteps``.

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
import torch.nn.functional as F
from torch import nn

from nforge_app.errors import UserInputError

log = logging.getLogger(__name__)

SCALENORM_EPS = 1e-12
ROTARY_BASE = 10000.0
MIN_ROTARY_DIM = 32
FP32_ENV = "NFORGE_TRIBE_FP32"
INT8_ENV = "NFORGE_TRIBE_INT8"
INT8_MAX_WEIGHT_ERROR = 0.02  # |W - W_int8| / |W| above which a matrix stays bfloat16
INT8_MAX_RANGE = 24.0  # (max - min) / RMS of an input above which that product runs in bfloat16
PRECISIONS = ("fp32", "bf16", "int8")

# The released facebook/tribev2 architecture; a release's config.yaml and model_build_args set every field.
RELEASE_FEATURE_DIMS = MappingProxyType({"text": (2, 3072), "audio": (2, 1024), "video": (2, 1408)})


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
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.rotary_dim > self.head_dim:
            raise ValueError(f"head size {self.head_dim} is smaller than the rotary size {self.rotary_dim}")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def rotary_dim(self) -> int:
        return max(self.head_dim // 2, MIN_ROTARY_DIM)

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
    ``F.linear`` here).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> None:
        self.dtype = weight.dtype
        self.packed = _can_pack(weight)
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
    return (device.type == "cpu" and any(check is not None and check() for check in checks)
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
    return any(check is not None and check() for check in checks)


def resolve_fast(fast: bool | None, device: torch.device | str) -> bool:
    """Decide the precision: an explicit ``fast`` wins, then ``NFORGE_TRIBE_FP32=1``, then the hardware."""
    if fast is not None:
        return bool(fast)
    if os.environ.get(FP32_ENV, "").strip() == "1":
        return False
    return bf16_supported(device)


def resolve_precision(fast: bool | None, device: torch.device | str) -> str:
    """The encoder's precision on ``device``: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see the module docstring).

    The fast path (:func:`resolve_fast`) is ``"int8"`` on CPUs with int8 dot products, unless
    ``NFORGE_TRIBE_INT8=0``, and ``"bf16"`` elsewhere.
    """
    if not resolve_fast(fast, device):
        return "fp32"
    if int8_supported(device) and os.environ.get(INT8_ENV, "").strip() != "0":
        return "int8"
    return "bf16"


class TribeEncoder(nn.Module):
    """The TRIBE v2 encoder: features of up to three modalities -> predicted fMRI per output.

    Parameters
    ----------
    spec : EncoderSpec
        The sizes (read from a release by ``nforge_app.models.tribe.load_encoder``).
    device : str or torch.device, optional
        Where to create the parameters; ``"meta"`` builds the structure without memory.
    fast : bool, optional
        Default of :meth:`forward`: the fast path (True: int8 or bfloat16 matrix products, see
        :func:`resolve_precision`) or float32 (False); None decides from the hardware and ``NFORGE_TRIBE_FP32``.
    """

    def __init__(self, spec: EncoderSpec, device=None, fast: bool | None = None) -> None:
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
        self.fast = resolve_fast(fast, "cpu" if build_device.type == "meta" else build_device)
        self._plans: dict[str, _Plan] = {}

    # ----------------------------------------------------------------------------------------------------
    def precision(self, fast: bool | None = None) -> str:
        """``"fp32"``, ``"bf16"`` or ``"int8"``: the precision :meth:`forward` uses for this ``fast`` argument."""
        device = self.time_pos_embed.device
        return resolve_precision(self.fast if fast is None else fast, "cpu" if device.type == "meta" else device)

    def forward(self, features: dict[str, torch.Tensor], pool_outputs: bool = True,
                indices: torch.Tensor | None = None, fast: bool | None = None) -> torch.Tensor:
        """Predict the outputs for a batch of windows.

        Parameters
        ----------
        features : dict of str to Tensor
            ``{modality: (B, L, D, T)}`` (or (B, D, T) for L = 1); any modality may be missing, at least
            one must be given.
        pool_outputs : bool
            Pool over time to ``n_output_timesteps`` (True) or return one output per input step.
        indices : Tensor of int, optional
            Outputs to compute (all when None); the predictor is sliced before it runs.
        fast : bool, optional
            The fast path (True) or float32 (False); None uses the module's default (see :meth:`precision`).

        Returns
        -------
        Tensor, float32 (B, n_selected_outputs, T_out)
        """
        inputs, batch, n_steps = self._check_inputs(features)
        with torch.inference_mode():
            plan = self._plan(self.precision(fast))
            x = self._embed(inputs, plan, batch, n_steps)
            rotation = self._rotation(n_steps, x.device)
            for layer in plan.layers:
                x = _attention(x, layer, rotation, self.spec) if layer[0] == "attn" else _feed_forward(x, layer)
            x = _scale_norm(x, self.encoder.final_norm.g)
            if pool_outputs:
                x = F.adaptive_avg_pool1d(x.transpose(1, 2), self.spec.n_output_timesteps).transpose(1, 2)
            x, bias = x.contiguous(), plan.head_bias
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
        unknown = sorted(set(features) - set(expected))
        if unknown:
            raise UserInputError(f"unknown modalities {unknown}; this encoder reads {list(expected)}")
        if not features:
            raise UserInputError(f"give features for at least one of {list(expected)}")
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
        if len(set(shapes.values())) > 1:
            raise UserInputError(f"modalities disagree on (batch, time steps): {shapes}")
        batch, n_steps = next(iter(shapes.values()))
        if not 1 <= n_steps <= self.spec.max_seq_len:
            raise UserInputError(f"{n_steps} time steps given; this encoder takes 1 to {self.spec.max_seq_len}")
        return inputs, batch, n_steps

    def _check_indices(self, indices, device: torch.device) -> torch.Tensor:
        indices = torch.as_tensor(indices, device=device).long().reshape(-1)
        n = self.spec.n_outputs
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise UserInputError(f"output indices must lie in [0, {n - 1}]; got {int(indices.min())} to "
                                 f"{int(indices.max())}")
        return indices

    def _embed(self, inputs: dict[str, torch.Tensor], plan: _Plan, batch: int, n_steps: int) -> torch.Tensor:
        device = self.time_pos_embed.device
        parts = []
        for modality, projector in plan.projectors.items():
            if modality not in inputs:
                parts.append(torch.zeros(batch, n_steps, self.spec.projector_dim, device=device))
                continue
            # (B, T, L*D), layer-major; converting before transposing halves the bytes the transpose moves.
            x = inputs[modality].to(device, plan.dtype).flatten(1, 2).transpose(1, 2).contiguous()
            parts.append(projector(x).float())
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
            plan = self._plans[precision] = self._build_plan(precision, signature)
        return plan

    def _build_plan(self, precision: str, signature: tuple) -> _Plan:
        spec, rows = self.spec, 2 * self.spec.n_output_timesteps
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16

        def linear(weight: torch.Tensor, bias: torch.Tensor | None = None, int8: bool = False,
                   out_dtype: torch.dtype = torch.float32, n_rows: int = rows) -> _Linear | _Int8Linear:
            if int8 and precision == "int8":
                candidate = _Int8Linear(weight, bias, n_rows, out_dtype)
                if candidate.weight_error <= INT8_MAX_WEIGHT_ERROR:
                    return candidate
                log.info("TRIBE v2 int8: a %s matrix would lose %.1f%% in int8; it stays bfloat16",
                         tuple(weight.shape), 100 * candidate.weight_error)
            return _Linear(weight.detach().to(dtype), None if bias is None else bias.detach().to(dtype), n_rows)

        # Within each head, q and k rows are reordered so that the rotary pairs (i, i + rotary_dim / 2) sit
        # side by side: the rotation is then one complex product, and q . k is unchanged.
        half = spec.rotary_dim // 2
        order = torch.arange(spec.head_dim)
        order[: 2 * half] = torch.stack([torch.arange(half), torch.arange(half, 2 * half)], dim=1).flatten()
        paired = (order + spec.head_dim * torch.arange(spec.heads)[:, None]).flatten().to(self.time_pos_embed.device)
        layers = []
        for (norm,), block, residual in self.encoder.layers:
            common = (norm.g.detach().float(), residual.residual_scale.detach().float())
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
                     linear(head, n_rows=spec.n_output_timesteps), head.to(dtype),
                     self.predictor.bias[0].detach().float())


def _scale_norm(x: torch.Tensor, g: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """ScaleNorm of the float32 stream ``x``, written straight into ``dtype``."""
    factor = g * math.sqrt(x.shape[-1]) / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(SCALENORM_EPS)
    return torch.mul(x, factor, out=torch.empty(x.shape, dtype=dtype, device=x.device))


def _attention(x: torch.Tensor, layer: tuple, rotation: torch.Tensor, spec: EncoderSpec) -> torch.Tensor:
    _, g, scale, qkv_linear, out_linear = layer
    batch, n_steps, hidden = x.shape
    qkv = qkv_linear(_scale_norm(x, g, qkv_linear.dtype)).view(batch, n_steps, 3, spec.heads, spec.head_dim)
    pairs = qkv[:, :, :2, :, : spec.rotary_dim]  # q and k, rotary dims in adjacent pairs (see _build_plan)
    turned = torch.view_as_complex(pairs.float().unflatten(-1, (-1, 2))) * rotation
    pairs.copy_(torch.view_as_real(turned).flatten(-2))
    q, k, v = qkv.transpose(1, 3).unbind(2)  # each (B, heads, T, head_dim)
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, n_steps, hidden)
    return torch.addcmul(out_linear(out.to(out_linear.dtype)), x, scale)


def _feed_forward(x: torch.Tensor, layer: tuple) -> torch.Tensor:
    _, g, scale, first, last = layer
    hidden = first(_scale_norm(x, g, first.dtype), gelu=True)
    return torch.addcmul(last(hidden.to(last.dtype)), x, scale)
