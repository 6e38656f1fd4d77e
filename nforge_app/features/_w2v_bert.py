"""w2v-BERT 2.0 self-attention with its relative-key position bias computed without the (L, L, d) tensor.

transformers computes the bias of ``position_embeddings_type="relative_key"`` (w2v-BERT 2.0) as
``einsum("bhld,lrd->bhlr", query, distance_embedding(clamp(r - l)))``: it gathers an embedding for every
(query, key) pair, an ``(L, L, head_size)`` tensor (1.1 GB in bf16 for a 60-s chunk of 3,000 frames, per
layer), then a batched product over it. Profiled on one real-width layer (bf16, 60 s, one core), that
gather and product took about half the layer's time. But the clamped distance takes only
``left + right + 1`` values (73 in the release), so the bias is ``q . E[p]`` for 73 embeddings ``E``,
looked up per pair: one small product ``(L, d) x (d, 73)``; then, for a block of 256 queries at a time,
the keys left and right of the block's band repeat one score per row and the band takes a skewed
strided view (the Transformer-XL "shift" trick): plain memory copies, passed to
``scaled_dot_product_attention`` as the additive mask, as transformers' SDPA path does with the bias.
On one real-width layer over 60 s (bf16, 2 cores) the layer takes 0.86 s instead of 1.63 s.

On the CPU, without padding, even that bias is built only where it varies: for a block of queries, the
keys left of the block's band all get the block's clamped ``-left`` score (one value per query), the keys
right of it the ``+right`` one; only the band (the block plus 72 keys) needs the per-pair lookup.

- float32 (the exact path): per block of 512 queries, the far-left and far-right keys run through the
  fused attention kernel without a mask, and the per-query constant is added to their log-sum-exp
  afterwards; the band gets its bias block. The kernel returns each part's output and log-sum-exp, and
  the parts merge as the kernel merges its own key blocks (softmax over the union = the parts weighted
  by ``exp(lse_part - lse_all)``). Same products, same bias, another summation order: outputs equal
  transformers' to 1e-6 in the tests, about 4e-7 relative on a real-width layer; the attention takes
  0.32 s instead of 0.51 s per real-width layer over 60 s (2 cores).
- bfloat16: the fused kernel keeps its logits in float32 and runs no faster than in float32 here (CPUs
  without AMX). This path computes what transformers' eager attention computes in bfloat16: logits as
  bfloat16 products, the bias added (one value per query on each far side, the skewed band between),
  softmax, product with the values; for 4 heads and 256 queries at a time (6 MB of logits). 0.16 s
  instead of 0.30 s per layer (2 cores), about 2 s less per minute of audio. Against float32 it is as
  close as transformers' own bf16 paths: 3.06e-2 relative on the real-size random w2v-BERT over 20 s,
  against 3.07e-2 for the fused kernel (9.1e-2 against 8.7e-2 with the query and key weights tripled, so
  logits nine times larger); on the tests' tiny model it is closer to transformers' eager bf16 output
  than transformers' SDPA is.

Padded batches and GPUs keep the masked blocks of 256 queries above.
"""

from __future__ import annotations

import logging
import types

logger = logging.getLogger(__name__)

QUERY_BLOCK = 256  # masked blocks: a (heads, 256, L) bias block stays small (27 MB at L=3,000)
REGION_BLOCK = 512  # float32 CPU path without padding (measured best of 256 to 1,024)
BF16_QUERY_BLOCK, BF16_HEADS = 256, 4  # bf16 CPU path: (4, 256, L) logits, 6 MB at L=3,000 (measured best)


def relative_key_bias_block(scores, first: int, n_rows: int, n_keys: int, left: int, right: int):
    """The position bias of queries ``[first, first + n_rows)`` against keys ``[0, n_keys)``.

    Parameters
    ----------
    scores : tensor (B, H, Lq, left + right + 1)
        ``scaling * q . E[p]`` for every query and clamped distance index ``p``.
    first, n_rows, n_keys : int
        The block of queries and the number of keys.
    left, right : int
        The clamp of ``key - query`` (``-left`` to ``right``).

    Returns
    -------
    tensor (B, H, n_rows, n_keys), contiguous
        ``bias[..., i, r] = scores[..., first + i, clamp(r - first - i, -left, right) + left]``.
    """
    import torch

    block = scores[:, :, first:first + n_rows]
    shape = block.shape[:3]
    # keys left of the band are clamped to -left for every query of the block, keys right of it to +right:
    # those columns repeat one score per row; only the band between them needs the per-pair lookup.
    band_first = max(0, min(n_keys, first - left + 1))
    band_stop = min(n_keys, max(band_first, first + n_rows - 1 + right))
    parts = []
    if band_first:
        parts.append(block[..., :1].expand(*shape, band_first))
    if band_stop > band_first:
        parts.append(_skewed(block, first - band_first, band_stop - band_first, left, right))
    if band_stop < n_keys:
        parts.append(block[..., -1:].expand(*shape, n_keys - band_stop))
    return torch.cat(parts, dim=-1)


def _skewed(block, offset: int, n_keys: int, left: int, right: int):
    """``out[..., i, c] = block[..., i, clamp(c - offset - i, -left, right) + left]`` (a strided view).

    Row i of a padded tensor holds, at column m, the score of distance ``m - (n_rows - 1) - offset``
    (clamped); ``out[i, c]`` is then ``padded[i, c - i + n_rows - 1]``: a view with row stride width - 1
    (the Transformer-XL shift).
    """
    import torch

    batch, heads, n_rows = block.shape[:3]
    width = n_keys + n_rows - 1
    lead = n_rows - 1 + offset - left  # columns before distance -left (all the clamped left value)
    parts = []
    if lead > 0:
        parts.append(block[..., :1].expand(batch, heads, n_rows, lead))
    parts.append(block[..., max(0, -lead):])
    used = max(lead, 0) + block.shape[-1] - max(0, -lead)
    if width > used:
        parts.append(block[..., -1:].expand(batch, heads, n_rows, width - used))
    padded = torch.cat(parts, dim=-1)[..., :width].contiguous()
    return padded.as_strided((batch, heads, n_rows, n_keys), (heads * n_rows * width, n_rows * width, width - 1, 1),
                             storage_offset=padded.storage_offset() + n_rows - 1)


def _forward(self, hidden_states, attention_mask=None, relative_position_embeddings=None, **kwargs):
    """``Wav2Vec2BertSelfAttention.forward`` for ``relative_key`` under SDPA, in query blocks (see the module)."""
    import torch

    batch, length = hidden_states.shape[:2]
    shape = (batch, length, -1, self.head_size)
    # (B, H, L, d) laid out contiguously: the CPU flash kernel runs about 10% faster than on transposed views
    query = self.linear_q(hidden_states).view(shape).transpose(1, 2).contiguous()
    key = self.linear_k(hidden_states).view(shape).transpose(1, 2).contiguous()
    value = self.linear_v(hidden_states).view(shape).transpose(1, 2).contiguous()
    embeddings = self.distance_embedding.weight.to(query.dtype)
    scores = torch.matmul(query, embeddings.T) * self.scaling  # (B, H, L, left + right + 1)
    left, right = self.left_max_position_embeddings, self.right_max_position_embeddings
    if attention_mask is None and query.device.type == "cpu":
        attend = _attend_bf16 if query.dtype == torch.bfloat16 else _attend_in_regions
        out = attend(query, key, value, scores, self.scaling, left, right)
        return self.linear_out(out.transpose(1, 2).reshape(batch, length, -1)), None
    out = torch.empty_like(query)
    for first in range(0, length, QUERY_BLOCK):
        rows = min(QUERY_BLOCK, length - first)
        bias = relative_key_bias_block(scores, first, rows, length, left, right)
        if attention_mask is not None:  # as transformers' create_position_bias_mask combines them
            mask = attention_mask[..., first:first + rows, :]
            if mask.dtype == torch.bool:
                low = max(torch.finfo(key.dtype).min, torch.finfo(bias.dtype).min)
                bias = torch.where(mask, bias, low)
            else:
                bias = bias + mask
        out[:, :, first:first + rows] = torch.nn.functional.scaled_dot_product_attention(
            query[:, :, first:first + rows], key, value, attn_mask=bias, scale=self.scaling)
    return self.linear_out(out.transpose(1, 2).reshape(batch, length, -1)), None


def _attend_in_regions(query, key, value, scores, scaling: float, left: int, right: int):
    """Attention of unpadded (B, H, L, d) queries with the relative-key bias, block by block, on the CPU.

    Per block of queries: the keys far left and far right (one clamped bias per query each) without a
    mask, the band between them with its bias block; merged by their log-sum-exp (see the module).
    """
    import torch

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    length = query.shape[2]
    out = torch.empty_like(query)
    for first in range(0, length, REGION_BLOCK):
        stop = min(length, first + REGION_BLOCK)
        band_first, band_stop = max(0, first - left + 1), min(length, stop - 1 + right)
        rows, block = query[:, :, first:stop], scores[:, :, first:stop]
        bias = _skewed(block, first - band_first, band_stop - band_first, left, right)
        parts = [flash(rows, key[:, :, band_first:band_stop], value[:, :, band_first:band_stop],
                       attn_mask=bias, scale=scaling)]
        for keys, clamped in ((slice(0, band_first), 0), (slice(band_stop, length), -1)):
            if keys.stop > keys.start:
                part, lse = flash(rows, key[:, :, keys], value[:, :, keys], scale=scaling)
                parts.append((part, lse + block[..., clamped]))
        out[:, :, first:stop] = _merged(parts)
    return out


def _attend_bf16(query, key, value, scores, scaling: float, left: int, right: int):
    """Attention of unpadded bfloat16 (B, H, L, d) queries with the relative-key bias, as transformers'
    eager attention computes it in bfloat16 (see the module), in blocks of queries and heads."""
    import torch

    heads, length = query.shape[1], query.shape[2]
    key_t = key.transpose(-1, -2)
    out = torch.empty_like(query)
    for head in range(0, heads, BF16_HEADS):
        group = slice(head, head + BF16_HEADS)
        for first in range(0, length, BF16_QUERY_BLOCK):
            stop = min(length, first + BF16_QUERY_BLOCK)
            band_first, band_stop = max(0, first - left + 1), min(length, stop - 1 + right)
            block = scores[:, group, first:stop]
            logits = torch.matmul(query[:, group, first:stop] * scaling, key_t[:, group])  # 1/8 here: exact
            if band_first:  # far left: the clamped -left score of each query
                logits[..., :band_first] += block[..., :1]
            if band_stop < length:  # far right: the clamped +right one
                logits[..., band_stop:] += block[..., -1:]
            logits[..., band_first:band_stop] += _skewed(block, first - band_first, band_stop - band_first,
                                                         left, right)
            out[:, group, first:stop] = torch.matmul(torch.softmax(logits, -1), value[:, group])
    return out


def _merged(parts):
    """Attention over the union of key sets from each set's ``(output, log-sum-exp)``."""
    import torch

    if len(parts) == 1:
        return parts[0][0]
    total = torch.logsumexp(torch.stack([lse for _, lse in parts]), 0)
    merged = None
    for part, lse in parts:
        weighted = part.float() * torch.exp(lse - total).unsqueeze(-1)
        merged = weighted if merged is None else merged.add_(weighted)
    return merged


def use_fast_relative_key_attention(model) -> int:
    """Give every ``relative_key`` self-attention of a w2v-BERT model the blocked forward (inference only).

    Applies where the model runs SDPA attention (transformers' default) and is in eval mode; other models,
    position encodings or attention implementations are left as they are. Returns the modules changed.
    """
    if getattr(model.config, "position_embeddings_type", None) != "relative_key":
        return 0
    if getattr(model.config, "_attn_implementation", None) != "sdpa" or model.training:
        return 0
    changed = 0
    for module in model.modules():
        if type(module).__name__ == "Wav2Vec2BertSelfAttention" and hasattr(module, "distance_embedding") \
                and getattr(module, "position_embeddings_type", None) == "relative_key":
            module.forward = types.MethodType(_forward, module)
            changed += 1
    logger.debug("w2v-BERT: blocked relative-key attention in %d layers", changed)
    return changed


def _convolution_forward(self, hidden_states, attention_mask=None):
    """``Wav2Vec2BertConvolutionModule.forward`` with its pointwise convolutions as matrix products on the
    (B, L, C) layout: the same sums, without two transposes and oneDNN's layout reorders (inference only)."""
    import torch.nn.functional as F

    hidden_states = self.layer_norm(hidden_states)
    if attention_mask is not None:  # padded frames leak nothing into the depthwise convolution
        hidden_states = hidden_states.masked_fill(~attention_mask.bool().unsqueeze(-1), 0.0)
    hidden_states = F.glu(F.linear(hidden_states, self.pointwise_conv1.weight[:, :, 0], self.pointwise_conv1.bias),
                          dim=-1)
    hidden_states = F.pad(hidden_states.transpose(1, 2), (self.depthwise_conv.kernel_size[0] - 1, 0))
    hidden_states = self.depthwise_conv(hidden_states).transpose(1, 2)
    hidden_states = self.activation(self.depthwise_layer_norm(hidden_states))
    return F.linear(hidden_states, self.pointwise_conv2.weight[:, :, 0], self.pointwise_conv2.bias)


def use_linear_pointwise_convolutions(model) -> int:
    """Give every w2v-BERT conformer convolution module the (B, L, C) forward above (eval mode only).

    About a quarter of the module's time on the CPU (0.16 s to 0.12 s per 60-s layer on one core, bf16).
    Returns the modules changed.
    """
    if model.training:
        return 0
    changed = 0
    for module in model.modules():
        if type(module).__name__ == "Wav2Vec2BertConvolutionModule" \
                and module.pointwise_conv1.kernel_size == (1,) and module.pointwise_conv2.kernel_size == (1,):
            module.forward = types.MethodType(_convolution_forward, module)
            changed += 1
    return changed
