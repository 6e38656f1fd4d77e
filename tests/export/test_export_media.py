import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from nforge_app.errors import UserInputError
from nforge_app.export._media import gif_frame_duration_ms, write_gif, write_mp4

from _media import FFMPEG, make_audio, make_video


def _frames(n: int, size=(121, 75)) -> list[Image.Image]:
    """Distinct frames: a colour gradient that shifts, and a white square that moves."""
    width, height = size
    x = np.linspace(0, 1, width)[None, :, None]
    frames = []
    for k in range(n):
        rgb = np.broadcast_to(np.concatenate([x * 255, np.full_like(x, 40 * k % 255), (1 - x) * 255], axis=2),
                              (height, width, 3)).copy()
        rgb[10:30, 5 + 10 * k:25 + 10 * k] = 255
        frames.append(Image.fromarray(rgb.astype(np.uint8)))
    return frames


def _probe(path) -> str:
    """What ``ffmpeg -i`` says about a file (there is no ffprobe)."""
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def _duration_s(info: str) -> float:
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info).groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.parametrize(("tr_s", "expected_ms"), [(1.49, 1490), (1.0, 1000), (2.0, 2000)])
def test_gif_frames_last_one_tr_and_loop(tmp_path, tr_s, expected_ms):
    frames = _frames(5)
    path = write_gif(frames, tmp_path / "run.gif", tr_s)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.info["loop"] == 0
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
            back = np.asarray(gif.convert("RGB")).astype(int)
            assert np.abs(back - np.asarray(frames[k])).mean() < 4  # one shared palette, close colours
    assert durations == [expected_ms] * 5
    assert [p.name for p in tmp_path.iterdir()] == ["run.gif"]  # no temporary file left behind


def test_gif_durations_are_whole_centiseconds():
    assert gif_frame_duration_ms(1.49) == 1490
    assert gif_frame_duration_ms(1.234) == 1230
    assert gif_frame_duration_ms(0.001) == 20
    with pytest.raises(UserInputError):
        gif_frame_duration_ms(0)


def test_bad_frames_are_rejected(tmp_path):
    with pytest.raises(UserInputError, match="no frames"):
        write_gif([], tmp_path / "a.gif", 1.0)
    with pytest.raises(UserInputError, match="same size"):
        write_mp4(_frames(1) + _frames(1, size=(50, 50)), tmp_path / "a.mp4", 1.0)
    with pytest.raises(UserInputError, match="fps 500: accepted: a number from 1 to 240"):
        write_mp4(_frames(2), tmp_path / "a.mp4", 1.0, fps=500)
    with pytest.raises(UserInputError, match="audio file not found"):
        write_mp4(_frames(2), tmp_path / "a.mp4", 1.0, audio_path=tmp_path / "missing.wav")
    assert not list(tmp_path.iterdir())


def test_mp4_is_h264_yuv420p_and_lasts_t_times_tr(tmp_path):
    path = write_mp4(_frames(4), tmp_path / "run.mp4", 1.49, fps=10)  # odd width and height get padded
    info = _probe(path)
    assert re.search(r"Video: h264.*yuv420p.*122x76", info), info
    assert re.search(r"\b10 fps\b", info), info
    assert "Audio:" not in info
    assert abs(_duration_s(info) - 4 * 1.49) < 0.15


def test_mp4_carries_the_audio_cut_to_the_frames(tmp_path):
    audio = make_audio(tmp_path / "tone.wav", duration_s=8.0)
    path = write_mp4(_frames(3), tmp_path / "run.mp4", 1.0, audio_path=audio)
    info = _probe(path)
    assert re.search(r"Video: h264.*yuv420p", info) and re.search(r"Audio: aac", info), info
    assert re.search(r"\b25 fps\b", info), info
    assert abs(_duration_s(info) - 3.0) < 0.15


def test_mp4_from_a_video_without_sound_is_silent(tmp_path):
    video = make_video(tmp_path / "silent.mp4", duration_s=1.0, audio=None)
    info = _probe(write_mp4(_frames(2), tmp_path / "run.mp4", 1.0, audio_path=video))
    assert "Video: h264" in info and "Audio:" not in info


def test_gif_keeps_shaded_anatomy_neutral_grey(tmp_path):
    ramp = np.repeat(np.linspace(40, 230, 200).astype(np.uint8)[None, :, None], 60, axis=0).repeat(3, axis=2)
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        frame = ramp.copy()
        frame[:20, :100] = rng.integers(0, 256, (20, 100, 3))  # many data colours competing for the palette
        frames.append(Image.fromarray(frame))
    path = write_gif(frames, tmp_path / "grey.gif", 1.0)
    with Image.open(path) as gif:
        decoded = np.asarray(gif.convert("RGB")).astype(int)
    grey = decoded[30:, :]
    assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 1 and np.abs(grey[..., 0] - grey[..., 1]).max() <= 1
    assert np.abs(grey[..., 0] - ramp[30:, :, 0]).max() <= 8
