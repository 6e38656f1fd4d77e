"""Text files spoken by espeak-ng (or paced without it), and per-TR strings."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.stimuli import _speech, load_stimulus, stimulus_key
from nforge_app.stimuli._words import split_words

TEXT = ("Hello there, world! The café is naïve.\n\nA second paragraph follows — with 42 numbers, "
        "\"quotes\" and new-line words. It ends here.")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "story.txt"
    path.write_text(TEXT, encoding="utf-8")
    return load_stimulus(path)


def test_split_words_drops_punctuation_and_keeps_spans():
    words = split_words("“Hello,” she said — twice... e-mail 42!")
    assert [w for w, _, _ in words] == ["Hello", "she", "said", "twice", "e-mail", "42"]
    assert all(" " not in "“Hello,” she said — twice... e-mail 42!"[s:e] for _, s, e in words)


def test_text_is_spoken_with_word_times(spoken):
    assert spoken.kind == "text" and spoken.word_timing == "espeak-ng"
    assert spoken.modalities == ("text", "audio")
    assert [w.text for w in spoken.words] == [w for w, _, _ in split_words(TEXT)]
    assert spoken.audio.sample_rate_hz == 16_000 and spoken.audio.samples.dtype == np.float32
    assert spoken.duration_s == pytest.approx(spoken.audio.duration_s)
    assert 4.0 < spoken.duration_s < 20.0


def test_espeak_word_times_are_monotonic_and_cover_the_audio(spoken):
    starts = np.array([w.start_s for w in spoken.words])
    durations = np.array([w.duration_s for w in spoken.words])
    assert starts[0] < 0.3
    assert np.all(np.diff(starts) > 0)  # each word has its own moment
    assert np.all(durations > 0)
    np.testing.assert_allclose(starts[1:], starts[:-1] + durations[:-1])  # each lasts until the next
    assert starts[-1] + durations[-1] == pytest.approx(spoken.audio.duration_s)
    # Speech is where the words are: the sound around word starts is louder than silence.
    samples, rate = spoken.audio.samples, spoken.audio.sample_rate_hz
    loudness = [np.sqrt(np.mean(samples[int(s * rate): int((s + 0.2) * rate)] ** 2)) for s in starts]
    assert np.median(loudness) > 0.02


def test_espeak_times_follow_the_words_read_slowly(tmp_path):
    # A long word takes longer to say than a short one.
    path = tmp_path / "words.txt"
    path.write_text("a incomprehensibilities a", encoding="utf-8")
    durations = [w.duration_s for w in load_stimulus(path).words]
    assert durations[1] > 3 * durations[0]


def test_text_without_espeak_is_paced(tmp_path, monkeypatch):
    monkeypatch.setattr(_speech, "ESPEAK_LIBRARY", "libespeak-ng-not-installed.so.1")
    monkeypatch.setattr(_speech, "_engine_or_reason", None)  # as in a process that has not loaded it yet
    path = tmp_path / "story.txt"
    path.write_text("one two three four five", encoding="utf-8")
    with pytest.warns(UserWarning, match="espeak-ng is not available here .*not-installed"):
        stimulus = load_stimulus(path)
    assert stimulus.audio is None and stimulus.modalities == ("text",)
    assert stimulus.word_timing == f"paced at {_speech.PACED_WORDS_PER_S:g} words/s"
    assert [w.start_s for w in stimulus.words] == pytest.approx(np.arange(5) / _speech.PACED_WORDS_PER_S)
    assert stimulus.duration_s == pytest.approx(5 / _speech.PACED_WORDS_PER_S)
    assert "paced" in stimulus.notes[0]


def test_text_too_long_to_speak_is_refused_without_speaking_all_of_it(tmp_path, monkeypatch):
    engine = _speech._engine()
    if isinstance(engine, str):
        pytest.skip(engine)
    spoken_s = []
    synthesize = type(engine).synthesize

    def measured(self, text, max_duration_s):
        samples, events = synthesize(self, text, max_duration_s)
        spoken_s.append(len(samples) / self.sample_rate_hz)
        return samples, events

    monkeypatch.setattr(type(engine), "synthesize", measured)
    path = tmp_path / "long.txt"
    path.write_text("word " * 400, encoding="utf-8")  # about three minutes of speech
    with pytest.raises(UserInputError, match="lasts more than 5 s, more than the limit of 5 s"):
        load_stimulus(path, Settings(max_duration_s=5))
    assert len(spoken_s) == 1 and 5.0 < spoken_s[0] < 8.0  # synthesis stopped a little past the limit


def test_per_tr_strings_spread_words_inside_their_tr():
    texts = ["hello there", "", "one two three four"]
    stimulus = load_stimulus(texts, tr_s=1.5)
    assert stimulus.kind == "tr_text" and stimulus.word_timing == "per-TR"
    assert stimulus.tr_texts == tuple(texts) and stimulus.tr_s == 1.5
    assert stimulus.duration_s == pytest.approx(4.5)
    assert stimulus.audio is None and stimulus.modalities == ("text",)
    assert [w.text for w in stimulus.words] == ["hello", "there", "one", "two", "three", "four"]
    assert [w.start_s for w in stimulus.words] == pytest.approx([0, 0.75, 3.0, 3.375, 3.75, 4.125])
    assert all(w.duration_s == pytest.approx(0.375) for w in stimulus.words[2:])
    assert stimulus.content_hash == stimulus_key(texts, tr_s=1.5)
    assert stimulus_key(texts, tr_s=1.49) != stimulus.content_hash
    assert stimulus_key(["hello", "there"], tr_s=1.5) != stimulus_key(["hello there"], tr_s=1.5)


@pytest.mark.parametrize(("texts", "tr_s", "message"), [
    (["hello", 3, None], 1.49, "item 1 is a int"),
    (["hello"], None, "needs tr_s"),
    (["hello"], 0, "positive number"),
    (["hello"], float("nan"), "positive number"),
    ([], 1.49, "empty"),
    (["", "  "], 1.49, "no words"),
])
def test_bad_per_tr_lists(texts, tr_s, message):
    with pytest.raises(UserInputError, match=message):
        load_stimulus(texts, tr_s=tr_s)


def test_per_tr_text_over_the_duration_limit():
    with pytest.raises(UserInputError, match="max_duration_s") as error:
        load_stimulus(["word"] * 10, Settings(max_duration_s=10), tr_s=1.49)
    assert "14.9 s" in str(error.value) and "NFORGE_MAX_DURATION_S" in str(error.value)
