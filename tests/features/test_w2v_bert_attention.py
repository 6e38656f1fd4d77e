"""The blocked (and, on the CPU, region-split) relative-key attention and the (B, L, C) convolution module of w2v-BERT equal transformers'."""

from __future__ import annotations

import copy

import pytest
import torch

from nforge_app.features import _w2v_bert
from nforge_app.features._w2v_bert import (
    relative_key_bias_block,
    use_fast_relative_key_attention,
    use_linear_pointwise_convolutions,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _direct_bias(scores, first, rows, keys, left, right):
    query = torch.arange(first, first + rows)[:, None]
    index = (torch.arange(keys)[None, :] - query).clamp(-left, right) + left  # (rows, keys)
    block = scores[:, :, first:first + rows]
    return torch.gather(block, -1, index.expand(*block.shape[:2], rows, keys))


@pytest.mark.parametrize(("length", "first", "rows", "left", "right"), [
    (50, 0, 16, 5, 2), (50, 16, 16, 5, 2), (50, 48, 2, 5, 2), (7, 0, 7, 16, 4), (300, 256, 44, 64, 8),
    (300, 0, 256, 64, 8), (12, 3, 4, 1, 0), (12, 11, 1, 0, 3),
])
def test_bias_block_is_the_clamped_lookup(length, first, rows, left, right):
    torch.manual_seed(0)
    scores = torch.randn(2, 3, length, left + right + 1)
    got = relative_key_bias_block(scores, first, rows, length, left, right)
    torch.testing.assert_close(got, _direct_bias(scores, first, rows, length, left, right), rtol=0, atol=0)


def _tiny(attn_implementation="sdpa", position="relative_key"):
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    config = Wav2Vec2BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                feature_projection_input_dim=160, conv_depthwise_kernel_size=3,
                                position_embeddings_type=position, left_max_position_embeddings=16,
                                right_max_position_embeddings=4, attn_implementation=attn_implementation)
    torch.manual_seed(0)
    model = Wav2Vec2BertModel(config).eval()
    with torch.no_grad():  # embeddings of unit size, so that a wrong lookup shows
        for layer in model.encoder.layers:
            if position == "relative_key":
                layer.self_attn.distance_embedding.weight.normal_()
    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_blocked_attention_equals_transformers_with_and_without_padding(monkeypatch, dtype):
    # 70 frames: 5 blocks, the last one partial; unpadded, the CPU path splits each block's keys into far
    # left (one bias per query), band and far right; padded, it keeps the masked blocks
    monkeypatch.setattr(_w2v_bert, "QUERY_BLOCK", 16)
    monkeypatch.setattr(_w2v_bert, "REGION_BLOCK", 16)
    monkeypatch.setattr(_w2v_bert, "BF16_QUERY_BLOCK", 16)
    monkeypatch.setattr(_w2v_bert, "BF16_HEADS", 3)  # 4 heads: a group of 3, then 1
    exact = _tiny()
    reference = copy.deepcopy(exact).to(dtype)
    fast = copy.deepcopy(reference)
    assert use_fast_relative_key_attention(fast) == 2
    assert use_linear_pointwise_convolutions(fast) == 2
    torch.manual_seed(1)
    features = torch.randn(2, 70, 160)
    mask = torch.ones(2, 70, dtype=torch.long)
    mask[1, 45:] = 0
    with torch.inference_mode():
        for attention_mask in (None, mask):
            states = [model(input_features=features.to(model.dtype), attention_mask=attention_mask,
                            output_hidden_states=True).hidden_states for model in (exact, reference, fast)]
            for truth, want, got in zip(*states):
                if attention_mask is not None:  # padded frames carry nothing
                    truth, want, got = truth[:, :45], want[:, :45], got[:, :45]
                if dtype == torch.float32:
                    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
                    continue
                # bf16: the two round differently; measured against float32, the fast path is as close as
                # transformers' own bf16 forward
                error = [float((x.float() - truth).norm() / truth.norm()) for x in (want, got)]
                assert error[1] <= 1.1 * error[0] + 1e-3, error


def test_bf16_attention_on_the_cpu_is_transformers_eager_bf16(monkeypatch):
    # the unpadded bf16 path computes bf16 logits, as transformers' eager attention does: its outputs are
    # closer to eager's than transformers' SDPA ones are (float32 logits), and a wrong bias would show
    monkeypatch.setattr(_w2v_bert, "BF16_QUERY_BLOCK", 16)
    monkeypatch.setattr(_w2v_bert, "BF16_HEADS", 3)
    eager = _tiny(attn_implementation="eager").to(torch.bfloat16)
    sdpa = _tiny().to(torch.bfloat16)
    fast = copy.deepcopy(sdpa)
    use_fast_relative_key_attention(fast)
    torch.manual_seed(1)
    features = torch.randn(2, 70, 160, dtype=torch.bfloat16)
    with torch.inference_mode():
        want, other, got = (model(input_features=features).last_hidden_state.float() for model in (eager, sdpa, fast))
    distance = [float((x - want).norm() / want.norm()) for x in (other, got)]
    assert distance[1] < distance[0] < 1e-2, distance


def test_other_attention_settings_are_left_alone():
    assert use_fast_relative_key_attention(_tiny(attn_implementation="eager")) == 0
    assert use_fast_relative_key_attention(_tiny(position="rotary")) == 0
    training = _tiny().train()
    assert use_fast_relative_key_attention(training) == 0
    assert use_linear_pointwise_convolutions(training) == 0
