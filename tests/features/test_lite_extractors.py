"""The lite extractors: shapes, the 2-Hz grid, and that each channel measures what it says."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.features import FeatureExtractor, lite
from nforge_app.features.lite import LiteAudioExtractor, LiteTextExtractor, LiteVideoExtractor
from nforge_app.stimuli import AudioTrack, Stimulus, VideoReader, Word

RATE = 16000


class _SyntheticVideo(VideoReader):
    """Frames made by ``draw(time_s) -> uint8 (H, W, 3)`` at the requested size."""

    def __init__(self, draw, duration_s: float) -> None:
        self.draw, self.duration_s = draw, duration_s
        self.path, self.fps, self.width, self.height = "<synthetic>", 25.0, 96, 72

    def iter_frames(self, fps, size=None):
        for k in range(int(np.ceil(self.duration_s * fps - 1e-9))):
            frame = self.draw(k / fps)
            if size is not None:
                assert frame.shape[:2] == (size[1], size[0])
            yield k / fps, frame


def _stimulus(duration_s, **parts) -> Stimulus:
    return Stimulus(kind="video", source="<test>", content_hash="h", duration_s=duration_s, **parts)


def _tone(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_extractors_follow_the_protocol():
    for extractor in (LiteTextExtractor(), LiteAudioExtractor(), LiteVideoExtractor()):
        assert isinstance(extractor, FeatureExtractor)
        assert extractor.rate_hz == 2.0
        assert extractor.params()["version"] == 1


def test_audio_loud_segment_raises_loudness_and_flux_there():
    samples = np.concatenate([np.zeros(4 * RATE), _tone(440.0, 2.0), np.zeros(round(4.3 * RATE))])
    stimulus = _stimulus(10.3, audio=AudioTrack(samples.astype(np.float32), RATE))
    features = LiteAudioExtractor().extract(stimulus)
    assert features.shape == (1, 8, 21) and features.dtype == np.float32
    loudness, flux = features[0, 0], features[0, 1]
    inside, outside = loudness[9:11], np.r_[loudness[:7], loudness[14:]]
    assert inside.min() > 0.8 and outside.max() == 0.0
    # Spectral change at the onset (4 s, the frames around it fall in steps 7 and 8), little in the steady tone.
    assert flux[7:9].max() > 5 * flux[9:11].max() and flux[:6].max() == 0.0
    assert np.all(features[0, 2:, 9:11] >= 0) and np.all(features <= 1.0 + 1e-6)


def test_audio_mel_bands_follow_pitch():
    extractor = LiteAudioExtractor(n_mel_bands=6)
    low = extractor.extract(_stimulus(2.0, audio=AudioTrack(_tone(200.0, 2.0), RATE)))[0, 2:, 1]
    high = extractor.extract(_stimulus(2.0, audio=AudioTrack(_tone(5000.0, 2.0), RATE)))[0, 2:, 1]
    assert int(np.argmax(low)) < int(np.argmax(high))
    assert low[0] > high[0] and high[-1] > low[-1]


def test_extractors_refuse_a_stimulus_without_their_modality():
    with pytest.raises(ValueError, match="lite-audio reads the audio"):
        LiteAudioExtractor().extract(_stimulus(1.0))
    with pytest.raises(ValueError, match="lite-video reads the video"):
        LiteVideoExtractor().extract(_stimulus(1.0, audio=AudioTrack(np.zeros(RATE, np.float32), RATE)))


def _moving_bar(time_s: float) -> np.ndarray:
    frame = np.zeros((72, 96, 3), dtype=np.uint8)
    x = int(time_s * 40) % 88
    frame[:, x: x + 8] = 255
    return frame


def _static_bar(time_s: float) -> np.ndarray:
    return _moving_bar(0.0)


def test_video_motion_is_higher_for_a_moving_pattern():
    extractor = LiteVideoExtractor()
    moving = extractor.extract(_stimulus(3.0, video=_SyntheticVideo(_moving_bar, 3.0)))
    static = extractor.extract(_stimulus(3.0, video=_SyntheticVideo(_static_bar, 3.0)))
    assert moving.shape == static.shape == (1, 4, 6)
    assert np.all(static[0, 2] == 0.0)
    assert np.all(moving[0, 2] > 0.01)
    # Same bar, same luminance and contrast whether it moves or not.
    np.testing.assert_allclose(moving[0, :2], static[0, :2], atol=1e-6)


def test_video_luminance_contrast_and_colourfulness():
    def brightening(time_s: float) -> np.ndarray:
        return np.full((72, 96, 3), int(40 * time_s), dtype=np.uint8)

    def coloured(time_s: float) -> np.ndarray:
        frame = np.zeros((72, 96, 3), dtype=np.uint8)
        frame[:, :48, 0] = 255
        frame[:, 48:, 2] = 255
        return frame

    extractor = LiteVideoExtractor(sample_fps=4.0)
    ramp = extractor.extract(_stimulus(5.0, video=_SyntheticVideo(brightening, 5.0)))[0]
    assert np.all(np.diff(ramp[0]) > 0) and np.all(ramp[1] < 1e-6)  # uniform frames: no contrast
    assert np.all(ramp[3] < 1e-6)  # grey: not colourful
    colour = extractor.extract(_stimulus(1.0, video=_SyntheticVideo(coloured, 1.0)))[0]
    assert np.all(colour[3] > 0.5) and np.all(colour[1] > 0.05)


class _FakeEncoder:
    """Stands in for the sentence model: a one-hot of the context's word count, and records its input."""

    def __init__(self) -> None:
        self.calls = []

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[np.arange(len(texts)), [len(t.split()) for t in texts]] = 1.0
        return out


def test_text_bins_only_where_words_are(monkeypatch):
    encoder = _FakeEncoder()
    monkeypatch.setattr(lite, "_sentence_model", lambda: encoder)
    words = (Word("one", 1.1, 0.5), Word("two", 1.6, 0.6), Word("three", 6.0, 0.2))
    features = LiteTextExtractor(context_words=2).extract(
        Stimulus(kind="text", source="<test>", content_hash="h", duration_s=8.0, words=words))
    assert features.shape == (1, 385, 16)
    assert encoder.calls == [["one", "one two", "two three"]]  # one call, contexts of at most 2 words
    with_words = np.flatnonzero(np.abs(features[0, :384]).sum(axis=0))
    assert with_words.tolist() == [2, 3, 4, 12]  # "one" spans 1.1-1.6 s, "two" 1.6-2.2 s
    np.testing.assert_allclose(features[0, [1, 2], 3], [0.5, 0.5])  # mean of "one" and "two"
    word_rate = features[0, 384]
    assert word_rate.tolist() == [0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]


@pytest.mark.slow
def test_text_with_the_real_sentence_model():
    words = tuple(Word(w, 0.4 * i, 0.3) for i, w in enumerate("the cat sat on the mat and purred".split()))
    features = LiteTextExtractor().extract(
        Stimulus(kind="text", source="<test>", content_hash="h", duration_s=4.0, words=words))
    embeddings = features[0, :384]
    norms = np.linalg.norm(embeddings, axis=0)
    assert features.shape == (1, 385, 8)
    assert np.all(norms[:7] > 0.5) and norms[7] == 0.0
