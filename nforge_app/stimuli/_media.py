"""Audio and video through the ffmpeg binary bundled with imageio-ffmpeg: probe, decode audio, read frames.

There is no ffprobe in that bundle: ``ffmpeg -i FILE`` without an output prints the container and stream
description on stderr, which :func:`probe` parses. Decoded samples and frames come back through pipes.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nforge_app.errors import UserInputError
from nforge_app.stimuli._types import AudioTrack, VideoReader

AUDIO_RATE_HZ = 16_000
"""Sample rate of every decoded audio track."""

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (.*)")
_SIZE = re.compile(r", (\d+)x(\d+)\b")
_RATE = re.compile(r"([\d.]+)(k?) (fps|tbr)\b")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_PROGRESS_TIME = re.compile(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")
# Decoding that stops before this share of the announced duration, with errors, means a damaged file.
_MIN_DECODED_SHARE = 0.9


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaInfo:
    """What ``ffmpeg -i`` says about a file.

    ``duration_s`` is None when the container does not state it (for example WebM recorded in a browser);
    ``fps``, ``width`` and ``height`` describe the first video stream, as displayed (rotation applied), and
    are None without one. Cover art in audio files is not a video stream.
    """

    duration_s: float | None
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def has_video(self) -> bool:
        return self.fps is not None


def _hms_s(match: re.Match) -> float:
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _ffmpeg_says(stderr: str) -> str:
    """The last meaningful line of ffmpeg's complaint, for an error message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if "output file must be specified" not in line]
    return lines[-1] if lines else "no message"


def probe(path: Path) -> MediaInfo:
    """Describe a media file (duration, audio present, video rate and size) without decoding it.

    Raises
    ------
    UserInputError
        When ffmpeg cannot open the file as audio or video.
    """
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, text=True, errors="replace", check=False)
    stderr = result.stderr
    if "Input #0" not in stderr:
        raise UserInputError(f"{path.name} could not be read as audio or video (ffmpeg says: "
                             f"{_ffmpeg_says(stderr)}); the file may be damaged, truncated or not a media file")
    duration = _DURATION.search(stderr)
    has_audio = False
    video: tuple[float, int, int] | None = None
    for kind, description in _STREAM.findall(stderr):
        if kind == "Audio":
            has_audio = True
        elif video is None and "(attached pic)" not in description:
            size, rate = _SIZE.search(description), _RATE.search(description)
            if size and rate:
                fps = float(rate.group(1)) * (1000 if rate.group(2) else 1)
                video = (fps, int(size.group(1)), int(size.group(2)))
    if video is None:
        return MediaInfo(_hms_s(duration) if duration else None, has_audio)
    fps, width, height = video
    rotation = _ROTATION.search(stderr)
    if rotation and round(float(rotation.group(1))) % 180 == 90:
        width, height = height, width  # ffmpeg turns the frames upright when decoding
    return MediaInfo(_hms_s(duration) if duration else None, has_audio, fps, width, height)


def measure_duration(path: Path) -> float:
    """Duration of a file whose container does not state it: read every packet once, decode nothing."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0", "-c", "copy",
                             "-f", "null", "-"], capture_output=True, text=True, errors="replace", check=False)
    times = _PROGRESS_TIME.findall(result.stderr)
    if result.returncode != 0 or not times:
        raise UserInputError(f"{path.name} could not be read to the end (ffmpeg says: "
                             f"{_ffmpeg_says(result.stderr)}); the file may be damaged or truncated")
    hours, minutes, seconds = times[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def decode_audio(path: Path, info: MediaInfo) -> AudioTrack:
    """The first audio stream of a file as mono float32 at 16 kHz.

    Raises
    ------
    UserInputError
        When decoding fails, or stops well before the announced duration with errors (a truncated file).
    """
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn",
               "-ac", "1", "-ar", str(AUDIO_RATE_HZ), "-f", "f32le", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    stderr = result.stderr.decode(errors="replace")
    samples = np.frombuffer(result.stdout[: len(result.stdout) // 4 * 4], dtype="<f4").astype(np.float32)
    decoded_s = len(samples) / AUDIO_RATE_HZ
    damaged = stderr.strip() and info.duration_s and decoded_s < _MIN_DECODED_SHARE * info.duration_s
    if result.returncode != 0 or damaged or not len(samples):
        raise UserInputError(f"the sound of {path.name} could not be decoded (it stops at {decoded_s:.1f} s; "
                             f"ffmpeg says: {_ffmpeg_says(stderr)}); the file may be damaged or truncated")
    return AudioTrack(np.clip(samples, -1.0, 1.0), AUDIO_RATE_HZ)


class FfmpegVideoReader(VideoReader):
    """Reads frames of a video file on demand, through an ffmpeg pipe (nothing is kept in memory).

    Parameters
    ----------
    path : Path
        The video file.
    info : MediaInfo
        Its description from :func:`probe` (must have a video stream).
    duration_s : float
        Length of the video (``info.duration_s``, or measured when the container does not state it).
    """

    def __init__(self, path: Path, info: MediaInfo, duration_s: float) -> None:
        if not info.has_video:
            raise ValueError(f"{path} has no video stream")
        self.path = str(path)
        self.fps = float(info.fps)
        self.width = int(info.width)
        self.height = int(info.height)
        self.duration_s = float(duration_s)

    def __repr__(self) -> str:
        return (f"FfmpegVideoReader({Path(self.path).name!r}, {self.width}x{self.height}, {self.fps:g} fps, "
                f"{self.duration_s:.2f} s)")

    def _frame_size(self, size: tuple[int, int] | None) -> tuple[int, int]:
        if size is None:
            return self.width, self.height
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"size must be (width, height) with positive integers, got {size!r}")
        return width, height

    def _frames(self, fps: float, size: tuple[int, int], start_s: float, n_frames: int) -> Iterator[np.ndarray]:
        """Up to ``n_frames`` frames at ``fps``: frame ``k`` is the video frame nearest to ``start_s + k / fps``.

        ffmpeg's fps filter with ``round=up`` keeps, for output time ``t``, the last frame at or before ``t``;
        moving every frame half a frame earlier makes that the frame nearest to ``t``, and holding the last
        frame a little longer lets the last output times before the video's end get it. Seeking starts a
        second early so that the frame nearest to ``start_s`` is never skipped. Fewer frames come when the
        video stream ends before the stated duration.
        """
        width, height = size
        seek_s = max(0.0, start_s - 1.0)
        half_frame_s = 0.5 / self.fps
        command = [ffmpeg_exe(), "-nostdin", "-v", "error"]
        if seek_s > 0:
            command += ["-ss", f"{seek_s:.6f}"]
        command += ["-i", self.path, "-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", str(n_frames),
                    "-vf", f"setpts=PTS-{start_s - seek_s + half_frame_s:.6f}/TB,"
                           f"tpad=stop_mode=clone:stop_duration={half_frame_s + 1 / fps:.6f},"
                           f"fps={fps!r}:round=up:start_time=0,scale={width}:{height}:flags=area",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        frame_bytes = width * height * 3
        with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty ffmpeg cannot block on it
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
            try:
                while True:
                    buffer = bytearray(frame_bytes)
                    if process.stdout.readinto(buffer) < frame_bytes:
                        break
                    yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
                if process.wait() != 0:
                    errors.seek(0)
                    raise UserInputError(f"the frames of {Path(self.path).name} could not be decoded (ffmpeg "
                                         f"says: {_ffmpeg_says(errors.read().decode(errors='replace'))})")
            finally:
                if process.poll() is None:
                    process.kill()
                process.stdout.close()
                process.wait()

    def iter_frames(self, fps: float, size: tuple[int, int] | None = None) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(time_s, frame)`` at ``fps`` from time 0; frame is uint8 (H, W, 3), resized to ``size=(w, h)``.

        Frame ``k`` is the video frame nearest to ``k / fps``; the frames are decoded while you iterate.
        """
        if not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        n_frames = max(1, int(np.ceil(self.duration_s * fps - 1e-6)))  # the output times before the end
        frames = self._frames(fps, self._frame_size(size), 0.0, n_frames)
        return ((index / fps, frame) for index, frame in enumerate(frames))

    def frames_at(self, times_s: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames nearest to each time in ``times_s`` as uint8 (N, H, W, 3).

        One ffmpeg pass at the video's own frame rate over the span the times cover; times outside the video
        get its first or last frame.
        """
        width, height = self._frame_size(size)
        times = np.clip(np.asarray(times_s, dtype=float).reshape(-1), 0.0, self.duration_s)
        out = np.empty((len(times), height, width, 3), dtype=np.uint8)
        if not len(times):
            return out
        first_index = int(np.floor(times.min() * self.fps))
        wanted = np.rint(times * self.fps).astype(int) - first_index
        frame = None
        with contextlib.closing(self._frames(self.fps, (width, height), first_index / self.fps,
                                             int(wanted.max()) + 1)) as frames:
            for index, frame in enumerate(frames):
                out[wanted == index] = frame
        if frame is None:
            raise UserInputError(f"{Path(self.path).name} gave no video frame after {first_index / self.fps:.2f} s; "
                                 "the file may be damaged or truncated")
        out[wanted > index] = frame  # the video stream ends a little before the stated duration
        return out
