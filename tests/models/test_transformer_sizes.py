"""The sizes of both rotary transformers are checked by one function, with the config's own names."""

from __future__ import annotations

import pytest

from nforge_app.models._text2fmri_net import Text2fMRIConfig
from nforge_app.models._transformer import check_heads
from nforge_app.models._tribe_net import EncoderSpec


def test_check_heads_gives_the_head_size_or_names_what_does_not_fit():
    assert check_heads("width", 96, "heads", 4) == 24
    assert check_heads("width", 96, "heads", 2, lambda head: max(head // 2, 32)) == 48
    with pytest.raises(ValueError, match=r"width \(96\) must be divisible by heads \(5\)"):
        check_heads("width", 96, "heads", 5)
    with pytest.raises(ValueError, match="heads must be a positive integer, got 0"):
        check_heads("width", 96, "heads", 0)
    with pytest.raises(ValueError, match=r"head size width / heads = 24 must hold an even number of rotary "
                                         r"dimensions \(32\)"):
        check_heads("width", 96, "heads", 4, lambda head: max(head // 2, 32))


def test_both_configs_use_it():
    with pytest.raises(ValueError, match=r"transformer_dim \(16\) must be divisible by num_transformer_heads \(3\)"):
        Text2fMRIConfig(transformer_dim=16, num_transformer_heads=3)
    with pytest.raises(ValueError, match="head size transformer_dim / num_transformer_heads = 1 must hold an even"):
        Text2fMRIConfig(transformer_dim=16, num_transformer_heads=16)
    with pytest.raises(ValueError, match=r"hidden \(96\) must be divisible by heads \(5\)"):
        EncoderSpec(feature_dims={"text": (1, 4)}, hidden=96, heads=5)
    with pytest.raises(ValueError, match=r"head size hidden / heads = 24 must hold .* \(32\)"):
        EncoderSpec(feature_dims={"text": (1, 4)}, hidden=96, heads=4)  # rotary on at least 32 dims
    assert EncoderSpec(feature_dims={"text": (1, 4)}, hidden=96, heads=2).rotary_dim == 32
