"""Video and audio files: probing, the decoded sound track, and frames read on demand."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from nforge_app.stimuli import VideoReader, load_stimulus, stimulus_key
from nforge_app.stimuli._media import AUDIO_RATE_HZ, probe

from _media import FFMPEG, ffmpeg, make_audio, make_video, speak


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 3-s 160x120 25-fps MP4 with speech, and its stimulus."""
    path = make_video(tmp_path_factory.mktemp("media") / "clip.mp4", 3.0)
    return path, load_stimulus(path)


@pytest.fixture(scope="module")
def all_frames(clip):
    """Every frame of the clip, at its own rate, at 40x30."""
    return np.stack([frame for _, frame in clip[1].video.iter_frames(25, (40, 30))])


def _dominant_hz(samples: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate_hz)[np.argmax(spectrum)])


def test_mp4_with_speech_loads_as_video_with_sound(clip):
    path, stimulus = clip
    assert stimulus.kind == "video"
    assert stimulus.modalities == ("audio", "video")
    assert stimulus.content_hash == stimulus_key(path)
    assert stimulus.duration_s == pytest.approx(3.0, abs=0.05)
    assert isinstance(stimulus.video, VideoReader)
    assert (stimulus.video.width, stimulus.video.height, stimulus.video.fps) == (160, 120, 25.0)
    audio = stimulus.audio
    assert audio.sample_rate_hz == AUDIO_RATE_HZ and audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(3.0, abs=0.1)
    assert np.abs(audio.samples).max() <= 1.0
    assert np.sqrt(np.mean(audio.samples ** 2)) > 0.01  # speech, not silence
    assert stimulus.words == () and stimulus.word_timing == "none"


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac", ".ogg", ".m4a"])
def test_audio_formats_decode_to_16k_mono(tmp_path, suffix):
    stimulus = load_stimulus(make_audio(tmp_path / f"tone{suffix.upper()}", 2.0))  # extensions in any case
    assert stimulus.kind == "audio" and stimulus.video is None and stimulus.modalities == ("audio",)
    assert stimulus.audio.sample_rate_hz == AUDIO_RATE_HZ
    assert stimulus.duration_s == pytest.approx(2.0, abs=0.1)
    assert stimulus.duration_s == stimulus.audio.duration_s
    assert _dominant_hz(stimulus.audio.samples, AUDIO_RATE_HZ) == pytest.approx(440, abs=3)


def test_wav_keeps_the_waveform(tmp_path):
    wav = speak("testing the sound track", tmp_path / "speech.wav")
    samples = load_stimulus(wav).audio.samples
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    rate_hz, original = wavfile.read(wav)
    expected = resample_poly(original / 32768.0, AUDIO_RATE_HZ, rate_hz)
    n = min(len(samples), len(expected))
    assert abs(len(samples) - len(expected)) <= 2
    assert np.corrcoef(samples[:n], expected[:n])[0, 1] > 0.99


@pytest.mark.parametrize("suffix", [".mov", ".mkv", ".avi", ".webm"])
def test_other_video_containers(tmp_path, suffix):
    stimulus = load_stimulus(make_video(tmp_path / f"clip{suffix}", 1.0, audio="tone"))
    assert stimulus.kind == "video" and stimulus.audio is not None
    assert stimulus.duration_s == pytest.approx(1.0, abs=0.1)
    frames = stimulus.video.frames_at(np.array([0.0, 0.5]), size=(32, 24))
    assert frames.shape == (2, 24, 32, 3) and frames.dtype == np.uint8


def test_video_without_sound_has_no_audio_and_no_words(tmp_path):
    stimulus = load_stimulus(make_video(tmp_path / "silent.mp4", 1.0, audio=None))
    assert stimulus.kind == "video"
    assert stimulus.audio is None and stimulus.words == ()
    assert stimulus.modalities == ("video",)
    assert any("no sound" in note for note in stimulus.notes)


def test_webm_without_stated_duration_is_measured(tmp_path):
    # A WebM written to a pipe (as browsers record it) has no duration in its header.
    path = tmp_path / "recorded.webm"
    with open(path, "wb") as handle:
        subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
                        "-c:v", "libvpx", "-deadline", "realtime", "-f", "webm", "-"], stdout=handle, check=True)
    assert probe(path).duration_s is None
    stimulus = load_stimulus(path)
    assert stimulus.duration_s == pytest.approx(2.0, abs=0.1)
    assert stimulus.audio is None and stimulus.video is not None


def test_rotated_phone_video_reports_upright_size(tmp_path, clip):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip[0]), "-c", "copy", str(rotated))
    video = load_stimulus(rotated).video
    assert (video.width, video.height) == (120, 160)
    assert next(video.iter_frames(5))[1].shape == (160, 120, 3)


def test_cover_art_in_audio_file_is_not_video(tmp_path):
    tone = make_audio(tmp_path / "tone.mp3", 1.0)
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.04", "-frames:v", "1", str(cover))
    with_art = tmp_path / "with_art.mp3"
    ffmpeg("-i", str(tone), "-i", str(cover), "-map", "0", "-map", "1", "-c", "copy", "-disposition:v",
           "attached_pic", str(with_art))
    assert not probe(with_art).has_video
    stimulus = load_stimulus(with_art)
    assert stimulus.kind == "audio" and stimulus.video is None


def test_iter_frames_shapes_and_times(clip, all_frames):
    video = clip[1].video
    assert len(all_frames) == 75
    assert len({frame.tobytes() for frame in all_frames}) == 75  # testsrc2 changes every frame
    native = [(t, frame.shape) for t, frame in video.iter_frames(25)]
    assert native[0][1] == (120, 160, 3) and len(native) == 75
    sampled = list(video.iter_frames(5, size=(40, 30)))
    assert [t for t, _ in sampled] == pytest.approx(np.arange(15) / 5)
    for k, (_, frame) in enumerate(sampled):  # frame k is the video frame at k / 5 s
        np.testing.assert_array_equal(frame, all_frames[5 * k])
    tr_rate = list(video.iter_frames(1 / 1.49, size=(40, 30)))
    assert len(tr_rate) == 3
    np.testing.assert_array_equal(tr_rate[1][1], all_frames[round(1.49 * 25)])


def test_iter_frames_can_stop_early(clip):
    frames = clip[1].video.iter_frames(25, size=(16, 12))
    first = [next(frames) for _ in range(3)]
    frames.close()  # ends the ffmpeg process
    assert [t for t, _ in first] == pytest.approx([0.0, 0.04, 0.08])


def test_frames_at_picks_the_nearest_frame(clip, all_frames):
    video = clip[1].video
    times = np.array([2.5, 0.0, 1.013, 1.03, 2.96, 2.5])
    frames = video.frames_at(times, size=(40, 30))
    assert frames.shape == (6, 30, 40, 3) and frames.dtype == np.uint8
    for frame, t in zip(frames, times, strict=True):
        np.testing.assert_array_equal(frame, all_frames[round(t * 25)])
    late = video.frames_at([2.2, 2.4], size=(40, 30))  # starts by seeking
    np.testing.assert_array_equal(late, all_frames[[55, 60]])
    outside = video.frames_at([-1.0, 99.0], size=(40, 30))
    np.testing.assert_array_equal(outside[0], all_frames[0])
    np.testing.assert_array_equal(outside[1], all_frames[-1])
    assert video.frames_at(np.array([]), size=(40, 30)).shape == (0, 30, 40, 3)
    assert video.frames_at([1.0]).shape == (1, 120, 160, 3)


def test_frame_arguments_are_checked(clip):
    with pytest.raises(ValueError, match="fps"):
        clip[1].video.iter_frames(0)
    with pytest.raises(ValueError, match="size"):
        clip[1].video.frames_at([0.0], size=(0, 10))


def test_transcript_beside_a_video_gives_its_words(tmp_path):
    from nforge_app.stimuli import load_stimulus, stimulus_key

    clip = make_video(tmp_path / "clip.mp4", 3.0, audio="tone")
    bare_key = stimulus_key(clip)
    bare = load_stimulus(clip)
    assert bare.words == () and bare.word_timing == "none" and any("clip.srt" in n for n in bare.notes)
    (tmp_path / "clip.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nhello brave world\n", encoding="utf-8")
    with_words = load_stimulus(clip)
    assert [w.text for w in with_words.words] == ["hello", "brave", "world"]
    assert with_words.word_timing == "transcript" and with_words.modalities == ("text", "audio", "video")
    assert with_words.content_hash == stimulus_key(clip) != bare_key
