"""Text features in one causal pass (text_mode="fast") equal the per-word reference path on tiny Llama models."""

import logging

import numpy as np
import pytest

from nforge_app.features._tribe_text import _chunks, reference_geometry
from nforge_app.features.tribe import TribeTextExtractor
from nforge_app.stimuli import Stimulus, Word

from _tiny_models import save_tiny_llama

pytestmark = pytest.mark.usefixtures("one_torch_thread", "float32_features")

# punctuation, repeated words, words the tiny BPE splits into several tokens, numbers, apostrophes
TRANSCRIPT = ("Hello, world! The quick brown fox jumps over the lazy dog; the dog sleeps. It's 12 345 "
              "neurons-and-cortex encoding... prediction? Brains, brains, brains: language!").split()


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("fast-text") / "llama")


def _stimulus(words, step_s=0.4):
    timed = tuple(Word(w, step_s * i + 0.05, 0.3) for i, w in enumerate(words))
    return Stimulus(kind="text", source="test", content_hash="h", duration_s=step_s * len(words) + 1.0, words=timed)


def _assert_relative(fast, reference):
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(fast, reference, rtol=1e-4, atol=1e-4 * scale)


def test_the_transcript_has_multi_token_and_repeated_words(llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(llama)
    counts = [len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) for w in TRANSCRIPT]
    assert max(counts) >= 4 and len(set(TRANSCRIPT)) < len(TRANSCRIPT)


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("reference_batching", [True, False])
def test_fast_equals_the_per_word_path(llama, batch_size, reference_batching):
    stimulus = _stimulus(TRANSCRIPT)
    settings = {"batch_size": batch_size, "reference_batching": reference_batching}
    fast = TribeTextExtractor(llama, text_mode="fast", **settings)
    features = fast.extract(stimulus)
    reference = TribeTextExtractor(llama, text_mode="reference", **settings).extract(stimulus)
    assert features.any()
    _assert_relative(features, reference)
    report = fast.last_context_report_
    assert report.exact and report.n_passes == 1 and report.n_words == len(TRANSCRIPT)


def test_pad_heavy_batches_are_reproduced(llama):
    """A one-token word batched with long multi-token words: most of its averaged span is pad positions."""
    words = ["a", "neurons-and-cortex-encoding-prediction", "b", "language...!?", "c"] * 2
    stimulus = _stimulus(words)
    fast = TribeTextExtractor(llama).extract(stimulus)
    _assert_relative(fast, TribeTextExtractor(llama, text_mode="reference").extract(stimulus))


def test_the_pad_state_is_computed_once_per_loaded_model(llama):
    words = ["a", "neurons-and-cortex-encoding-prediction", "b", "language...!?", "c"] * 2
    extractor = TribeTextExtractor(llama)
    first = extractor.extract(_stimulus(words))
    kept = extractor._parts["pad_state"]
    np.testing.assert_array_equal(extractor.extract(_stimulus(words)), first)
    assert extractor._parts["pad_state"] is kept
    extractor.release()
    np.testing.assert_array_equal(extractor.extract(_stimulus(words)), first)  # computed again after loading
    assert extractor._parts["pad_state"] is not kept


def test_fast_is_the_default_and_named_in_the_cache_key(llama):
    assert TribeTextExtractor(llama).params()["text_mode"] == "fast"
    assert TribeTextExtractor(llama, text_mode="reference").params()["text_mode"] == "reference"
    with pytest.raises(Exception, match="text_mode"):
        TribeTextExtractor(llama, text_mode="quick")


def test_longer_transcripts_go_in_chunks_and_say_where_contexts_differ(llama, caplog):
    words = (TRANSCRIPT * 2)[:30]
    stimulus = _stimulus(words, step_s=0.3)
    fast = TribeTextExtractor(llama, max_context_words=12)
    with caplog.at_level(logging.INFO, logger="nforge_app.features._tribe_text"):
        features = fast.extract(stimulus)
    reference = TribeTextExtractor(llama, max_context_words=12, text_mode="reference").extract(stimulus)
    report = fast.last_context_report_
    # words 0-11 see the reference's context exactly; from word 12 on, a context from the chunk's start
    assert report.n_passes > 1 and 0 < report.n_differing <= len(words) - 12
    assert report.shortest_context_words >= 12 // 2 + 1
    assert "shorter context" in caplog.text
    exact_bins = slice(0, int(np.floor((0.3 * 11 + 0.05) * 2)))  # bins of words 0-10 only
    _assert_relative(features[..., exact_bins], reference[..., exact_bins])


def test_geometry_counts_pads_as_the_reference_does():
    # three words of 1, 3 and 2 tokens (1 token more as the first of a context), one batch of 3
    first, later = np.array([2, 4, 3]), np.array([1, 3, 2])
    geometry = reference_geometry(first, later, batch_size=3, max_context_words=10, limit=100)
    # contexts: 2, 2+3=5, 5+2=7 tokens; width 7; word token counts 2, 3, 2
    assert list(geometry.length) == [2, 5, 7]
    # averaged = width - prefix: 7 - 0, 7 - 2, 7 - 5 -> real tokens min(averaged, length), the rest pads
    assert list(geometry.real) == [2, 5, 2] and list(geometry.pads) == [5, 0, 0]
    own = reference_geometry(first, later, batch_size=3, max_context_words=10, limit=100, reference_batching=False)
    assert list(own.real) == [2, 3, 2] and not own.pads.any()


def test_chunks_cover_every_word_once_within_the_limits():
    rng = np.random.default_rng(0)
    later = rng.integers(1, 5, 200)
    first = later + 1
    chunks = _chunks(first, later, max_context_words=40, overlap_words=20, limit=120)
    emitted = [i for _, lo, hi in chunks for i in range(lo, hi)]
    assert emitted == list(range(200))
    cumulative = np.concatenate([[0], np.cumsum(later)])
    for start, _, end in chunks:
        assert end - start <= 40 and first[start] + cumulative[end] - cumulative[start + 1] <= 120
