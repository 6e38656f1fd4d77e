"""Stimuli played one after another with rests: sound, frames and words where they belong, a stable hash."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.stimuli import REST_GREY, AudioTrack, Stimulus, concatenate, load_stimulus

from _media import make_audio, make_video

RATE = 16_000


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A text file (spoken: words and sound), a WAV (sound, no words) and a video without sound."""
    folder = tmp_path_factory.mktemp("sequence")
    text = folder / "sentence.txt"
    text.write_text("The small boat crossed the lake.", encoding="utf-8")
    return {"text": load_stimulus(text), "wav": load_stimulus(make_audio(folder / "tone.wav", 2.0)),
            "video": load_stimulus(make_video(folder / "clip.mp4", 3.0, size=(64, 48), fps=10, audio=None))}


def test_sound_words_and_frames_land_at_their_onsets(parts):
    text, wav, video = parts["text"], parts["wav"], parts["video"]
    sequence = concatenate([1.5, text, 2.0, wav, 1.0, video, 0.5])
    stimulus = sequence.stimulus
    onsets = (1.5, 1.5 + text.duration_s + 2.0, 1.5 + text.duration_s + 2.0 + wav.duration_s + 1.0)
    np.testing.assert_allclose(sequence.onsets_s, onsets)
    np.testing.assert_allclose(sequence.durations_s, (text.duration_s, wav.duration_s, video.duration_s))
    assert stimulus.kind == "sequence" and stimulus.modalities == ("text", "audio", "video")
    assert stimulus.duration_s == pytest.approx(onsets[2] + video.duration_s + 0.5)

    # Sound: each part's samples at its onset, silence in the rests and under the silent video.
    samples = stimulus.audio.samples
    for part, onset in ((text, onsets[0]), (wav, onsets[1])):
        start = round(onset * RATE)
        np.testing.assert_array_equal(samples[start: start + len(part.audio.samples)], part.audio.samples)
    assert not samples[: round(1.5 * RATE)].any()
    assert not samples[round(onsets[2] * RATE):].any()

    # Words: the text's words, moved by its onset; none from the WAV or the video.
    assert [w.text for w in stimulus.words] == [w.text for w in text.words]
    np.testing.assert_allclose([w.start_s for w in stimulus.words], [w.start_s + onsets[0] for w in text.words])
    assert stimulus.word_timing == text.word_timing

    # Frames: grey before the video and after it, the video's own frames inside it.
    times = np.array([0.5, onsets[2] + 0.4, onsets[2] + 2.1, stimulus.duration_s - 0.1])
    frames = stimulus.video.frames_at(times)
    assert frames.shape == (4, 48, 64, 3)
    assert (frames[0] == REST_GREY).all() and (frames[3] == REST_GREY).all()
    np.testing.assert_array_equal(frames[1:3], video.video.frames_at(times[1:3] - onsets[2]))
    assert not (frames[1] == frames[2]).all()  # testsrc2 moves


def test_iterated_frames_match_frames_at_and_cover_the_sequence(parts):
    stimulus = concatenate([1.0, parts["video"], 1.0]).stimulus
    iterated = list(stimulus.video.iter_frames(4.0, size=(32, 24)))
    assert len(iterated) == int(np.ceil(stimulus.duration_s * 4.0 - 1e-6))
    times = np.array([t for t, _ in iterated])
    np.testing.assert_allclose(times, np.arange(len(iterated)) / 4.0)
    np.testing.assert_array_equal(np.stack([f for _, f in iterated]), stimulus.video.frames_at(times, size=(32, 24)))


def test_parts_are_cut_at_the_longest_block(parts):
    text = parts["text"]
    cut_s = text.words[2].start_s + 0.05  # inside the third word
    sequence = concatenate([1.0, text, 1.0], max_part_s=cut_s)
    assert sequence.durations_s == (pytest.approx(cut_s),)
    words = sequence.stimulus.words
    assert [w.text for w in words] == [w.text for w in text.words[:3]]
    assert words[-1].start_s + words[-1].duration_s == pytest.approx(1.0 + cut_s)
    assert not sequence.stimulus.audio.samples[round((1.0 + cut_s) * RATE) + 1:].any()


def test_the_content_hash_follows_parts_order_and_lengths(parts):
    text, wav = parts["text"], parts["wav"]
    key = concatenate([2.0, text, 2.0, wav, 2.0]).stimulus.content_hash
    assert concatenate([2.0, text, 2.0, wav, 2.0]).stimulus.content_hash == key
    others = {concatenate([2.0, wav, 2.0, text, 2.0]).stimulus.content_hash,
              concatenate([2.0, text, 3.0, wav, 2.0]).stimulus.content_hash,
              concatenate([2.0, text, 2.0, wav, 2.0], max_part_s=1.0).stimulus.content_hash,
              concatenate([2.0, text, 2.0, text, 2.0]).stimulus.content_hash}
    assert key not in others and len(others) == 4


def test_other_sample_rates_are_resampled():
    tone = np.sin(2 * np.pi * 100 * np.arange(8000) / 8000).astype(np.float32)
    part = Stimulus(kind="audio", source="<tone>", content_hash="t", duration_s=1.0, audio=AudioTrack(tone, 8000))
    samples = concatenate([part]).stimulus.audio.samples
    assert len(samples) == RATE
    np.testing.assert_allclose(samples[::2][100:-100], tone[100:-100], atol=0.02)


@pytest.mark.parametrize(("items", "message"), [([1.0, 2.0], "at least one stimulus"),
                                                 ([-1.0], "rest must be a number of seconds")])
def test_bad_sequences_are_refused(items, message):
    with pytest.raises(UserInputError, match=message):
        concatenate(items)
