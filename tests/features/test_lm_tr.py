"""Per-TR causal-LM features (lm-per-tr): text layout, token assignment, windows, edge cases, tiny Qwen2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.features import FeatureExtractor
from nforge_app.features.lm_tr import (
    LMPerTRExtractor,
    assign_tokens,
    join_trs,
    tr_strings,
    window_plan,
)
from nforge_app.stimuli import Stimulus, Word

from _tiny_models import HIDDEN, save_tiny_qwen2

TR = 1.49
def per_tr_stimulus(texts: list[str], tr_s: float = TR) -> Stimulus:
    return Stimulus(kind="tr_text", source="<per-TR text>", content_hash="x" * 64, duration_s=len(texts) * tr_s,
                    tr_texts=tuple(texts), tr_s=tr_s, word_timing="per-TR")


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory) -> Path:
    return save_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="module")
def extractor(lm_dir) -> LMPerTRExtractor:
    extractor = LMPerTRExtractor(model=str(lm_dir))
    extractor.load()
    return extractor


def reference_features(extractor: LMPerTRExtractor, texts: list[str]) -> tuple[np.ndarray, list]:
    """The recipe done by hand in one pass: mean of the last 4 states per token, tokens to TRs, TR means."""
    import torch

    tokenizer, model = extractor.lm_
    text, spans = join_trs(texts)
    encoded = tokenizer(text, return_offsets_mapping=True)
    with torch.inference_mode():
        states = model(input_ids=torch.tensor([encoded["input_ids"]]), output_hidden_states=True).hidden_states
    vectors = torch.stack(states[-4:]).mean(dim=0)[0].numpy()
    out = np.zeros((HIDDEN, len(texts)), dtype=np.float32)
    members = [[] for _ in texts]
    for token, (start, end) in enumerate(encoded["offset_mapping"]):
        for k, (lo, hi) in enumerate(spans):
            if start < hi and end > lo:
                members[k].append((token, text[start:end]))
                break
    for k, tokens in enumerate(members):
        if tokens:
            out[:, k] = vectors[[t for t, _ in tokens]].mean(axis=0)
    return out, members


# --- pure helpers ---------------------------------------------------------------------------------------------


def test_join_trs_puts_a_line_break_after_every_tr_and_removes_inner_ones():
    text, spans = join_trs(["Hi you", "", "a\nb\r\nc"])
    assert text == "Hi you\n\na b c\n"
    assert spans.tolist() == [[0, 7], [7, 8], [8, 14]]
    assert join_trs([])[1].shape == (0, 2)


def test_assign_tokens_takes_the_first_overlapping_tr():
    spans = np.array([[0, 3], [3, 4], [4, 8]])  # "ab\n" "\n" "cde\n"
    offsets = np.array([
        [0, 0],  # special token: no characters
        [0, 2],  # "ab"
        [2, 4],  # "\n\n" spans the end of TR 0 and the empty TR 1 -> TR 0
        [4, 7],  # "cde"
        [6, 8],  # "e\n"
        [7, 7],  # empty token at the last line break -> TR 2 (it starts inside it)
        [8, 9],  # past the text
    ])
    assert assign_tokens(offsets, spans).tolist() == [-1, 0, 0, 2, 2, 2, -1]
    assert assign_tokens(offsets, np.zeros((0, 2), dtype=np.int64)).tolist() == [-1] * 7


def test_window_plan_covers_every_token_once_with_half_a_window_of_context():
    assert window_plan(5, 8) == [(0, 5, 0)]
    assert window_plan(1, 1) == [(0, 1, 0)]
    plan = window_plan(10, 4)
    assert plan == [(0, 4, 0), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    for n_tokens, window in ((10, 4), (100, 7), (65, 64), (257, 64)):
        supplied = np.concatenate([np.arange(keep, stop) for _, stop, keep in window_plan(n_tokens, window)])
        assert supplied.tolist() == list(range(n_tokens))
        for start, stop, keep in window_plan(n_tokens, window):
            assert stop - start <= window
            assert keep == 0 or keep - start >= window // 2  # every later token sees half a window
    with pytest.raises(ValueError, match="at least 2"):
        window_plan(5, 1)


def test_tr_strings_uses_per_tr_text_or_cuts_words_by_start_time():
    stim = per_tr_stimulus(["one two", "", "three"])
    assert tr_strings(stim, TR, 3) == ["one two", "", "three"]
    assert tr_strings(stim, TR, 5) == ["one two", "", "three", "", ""]
    with pytest.raises(ValueError, match="3 TR strings"):
        tr_strings(stim, TR, 2)
    words = (Word("Hello", 0.0, 0.3), Word(" there ", 1.4, 0.2), Word("friend", 1.5, 0.4), Word("bye", 5.0, 0.2),
             Word("late", 9.9, 0.1))
    timeline = Stimulus(kind="audio", source="a.wav", content_hash="y" * 64, duration_s=6.0, words=words)
    assert tr_strings(timeline, TR, 5) == ["Hello there", "friend", "", "bye", "late"]
    # Per-TR text of another TR is re-cut from its word times.
    other = Stimulus(kind="tr_text", source="<per-TR text>", content_hash="z" * 64, duration_s=4.0,
                     words=(Word("a", 0.0, 2.0), Word("b", 2.0, 2.0)), tr_texts=("a", "b"), tr_s=2.0)
    assert tr_strings(other, TR, 3) == ["a", "b", ""]


def test_extractor_protocol_and_params_without_loading():
    extractor = LMPerTRExtractor(tr_s=2.0)
    assert isinstance(extractor, FeatureExtractor)
    assert (extractor.extractor_id, extractor.modality, extractor.rate_hz) == ("lm-per-tr", "text", 0.5)
    assert extractor.params() == {"version": 1, "model": "Qwen/Qwen2.5-0.5B", "num_last_hidden_states": 4,
                                  "tr_s": 2.0, "dtype": "float32", "max_window_tokens": None}
    assert LMPerTRExtractor(device="cuda").params()["dtype"] == "float16"
    assert extractor.lm_ is None
    for bad in ({"num_last_hidden_states": 0}, {"tr_s": 0}, {"dtype": "int8"}, {"max_window_tokens": 1}):
        with pytest.raises(ValueError):
            LMPerTRExtractor(**bad)


def test_missing_language_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="nforge-lite"):
        LMPerTRExtractor(model="nobody/no-such-model").load()  # the hub is offline in tests
    with pytest.raises(UserInputError, match="does not exist"):
        LMPerTRExtractor(model=str(tmp_path / "no-such-folder")).load()


# --- features from the tiny Qwen2 -------------------------------------------------------------------------------


def test_features_follow_the_recipe(extractor):
    texts = ["Hello, are you", "awake? Yes,", "", "I am here."]
    features = extractor.extract(per_tr_stimulus(texts))
    assert features.shape == (1, HIDDEN, 4) and features.dtype == np.float32
    expected, members = reference_features(extractor, texts)
    np.testing.assert_allclose(features[0], expected, atol=1e-5)
    # "Yes," takes the two line breaks after it (Qwen2 splitting), so the empty TR has no token: zeros.
    assert any("\n\n" in piece for _, piece in members[1])
    assert members[2] == [] and not features[0, :, 2].any()
    assert all(np.abs(features[0, :, k]).sum() > 0 for k in (0, 1, 3))


def test_word_split_across_trs_and_token_over_the_line_break(extractor):
    texts = ["the caf", "é serves crème", "brû", "lée."]
    features = extractor.features(texts)
    expected, members = reference_features(extractor, texts)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    assert all(members[k] for k in range(4)), "each half of a split word keeps its own tokens"
    # Every token is counted in exactly one TR.
    tokenizer, _ = extractor.lm_
    text, _ = join_trs(texts)
    n_tokens = len(tokenizer(text)["input_ids"])
    assert sum(len(m) for m in members) == n_tokens


def test_non_ascii_text(extractor):
    texts = ["café", "日本語", "😀 ok", "é"]
    features = extractor.features(texts)
    expected, members = reference_features(extractor, texts)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    assert np.isfinite(features).all() and all(np.abs(features[:, k]).sum() > 0 for k in range(4))
    # Byte pieces of one character stay with the TR of that character.
    assert "".join(piece for _, piece in members[1]).startswith("日本語")


def test_all_empty_input_gives_zeros(extractor):
    features = extractor.extract(per_tr_stimulus(["", "", ""]))
    assert features.shape == (1, HIDDEN, 3) and features.dtype == np.float32 and not features.any()


def test_long_input_is_windowed_not_truncated(extractor):
    tokenizer, model = extractor.lm_
    assert model.config.max_position_embeddings == 64
    head = ["Hello, are you", "awake? Yes,", "I am here."]
    texts = head + ["people listen to music and watch movies about brains"] * 12
    n_tokens = len(tokenizer(join_trs(texts)[0])["input_ids"])
    assert n_tokens > 2 * 64
    features = extractor.features(texts)
    # The first TRs lie in the first window, which is a plain single pass from the start.
    np.testing.assert_allclose(features[:, :3], extractor.features(head), atol=1e-6)
    # Nothing was dropped: every TR, up to the last, has features from its own tokens.
    assert all(np.abs(features[:, k]).sum() > 0 for k in range(len(texts)))
    # Repeated lines late in the text see different (but at least 32 tokens of) context: not copies of zeros.
    assert not np.allclose(features[:, 4], features[:, -1])
    smaller = LMPerTRExtractor(model=extractor.model, max_window_tokens=16)
    smaller.lm_ = extractor.lm_
    narrow = smaller.features(texts)
    assert narrow.shape == features.shape and np.isfinite(narrow).all()
    assert all(np.abs(narrow[:, k]).sum() > 0 for k in range(len(texts)))
