"""Make small media files for tests: ffmpeg test sources (testsrc2, sine) and espeak-ng speech.

Import from any test (``from _media import make_video``); every helper returns the path it wrote.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
DEFAULT_TEXT = ("The quick brown fox jumps over the lazy dog. A small boat drifts slowly across the quiet lake, "
                "while children laugh on the shore.")

# Fast encoders per container; the speech or tone is mono.
_VIDEO_CODECS = {
    ".mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ".mov": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ".mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "libopus"],
    ".avi": ["-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame"],
    ".webm": ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-c:a", "libopus"],
}
_AUDIO_CODECS = {".wav": ["-c:a", "pcm_s16le"], ".mp3": ["-c:a", "libmp3lame"], ".flac": ["-c:a", "flac"],
                 ".ogg": ["-c:a", "libvorbis"], ".m4a": ["-c:a", "aac"]}


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly (overwriting outputs); raise if it fails."""
    subprocess.run([FFMPEG, "-y", "-hide_banner", "-nostdin", "-loglevel", "error", *args], check=True)


def speak(text: str, path: str | Path) -> Path:
    """Speak ``text`` into a WAV file (22.05 kHz mono) with the espeak-ng command."""
    path = Path(path)
    subprocess.run(["espeak-ng", "-w", str(path), "--stdin"], input=text.encode("utf-8"), check=True)
    return path


def _sound_input(kind: str, duration_s: float, text: str | None, scratch: Path) -> list[str]:
    """ffmpeg input arguments for speech (looped to fill the duration) or a 440 Hz tone."""
    if kind == "speech":
        return ["-stream_loop", "-1", "-i", str(speak(text or DEFAULT_TEXT, scratch))]
    if kind == "tone":
        return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={duration_s}"]
    raise ValueError(f"audio must be 'speech', 'tone' or None, got {kind!r}")


def make_audio(path: str | Path, duration_s: float, text: str | None = None) -> Path:
    """An audio file of ``duration_s``: ``text`` spoken (looped) or, without text, a 440 Hz tone.

    The codec follows the extension: .wav .mp3 .flac .ogg .m4a.
    """
    path = Path(path)
    scratch = path.with_name(path.name + ".speech.wav")
    try:
        ffmpeg(*_sound_input("speech" if text else "tone", duration_s, text, scratch), "-t", str(duration_s),
               "-ac", "1", *_AUDIO_CODECS[path.suffix.lower()], str(path))
    finally:
        scratch.unlink(missing_ok=True)
    return path


def make_video(path: str | Path, duration_s: float, size: tuple[int, int] = (160, 120), fps: float = 25,
               audio: str | None = "speech", text: str | None = None, faststart: bool = False) -> Path:
    """A testsrc2 video with speech (``text``, looped), a 440 Hz tone, or no sound (``audio=None``).

    The codecs follow the extension: .mp4 .mov .mkv .avi .webm. ``faststart`` puts the MP4 index first.
    """
    path = Path(path)
    scratch = path.with_name(path.name + ".speech.wav")
    width, height = size
    sound = _sound_input(audio, duration_s, text, scratch) if audio else []
    try:
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={duration_s}", *sound,
               "-t", str(duration_s), *(["-ac", "1"] if audio else ["-an"]), *_VIDEO_CODECS[path.suffix.lower()],
               *(["-movflags", "+faststart"] if faststart else []), str(path))
    finally:
        scratch.unlink(missing_ok=True)
    return path


_SENTENCES = ("the quick brown fox jumps over the lazy dog", "people listen to music and watch movies at night",
              "a small cat watches from the window while it rains", "numbers like twelve and three hundred fill "
              "the page", "brains neurons and language are studied in the lab")


def make_scene(path: str | Path, duration_s: float, seed: int, size: tuple[int, int] = (160, 120)) -> Path:
    """A video that differs with ``seed``: Conway's life from a seeded board, and speech whose loudness swells
    at a seeded pace (so that runs of an experiment have different sound and picture series)."""
    path = Path(path)
    scratch = path.with_name(path.name + ".speech.wav")
    speak(f"{_SENTENCES[seed % 5]} {_SENTENCES[(seed + 2) % 5]}", scratch)
    width, height = size
    try:
        ffmpeg("-f", "lavfi", "-i", f"life=s={width}x{height}:mold=10:r=10:ratio=0.1:seed={seed}:"
                                    "death_color=#C83232:life_color=#00ff00",
               "-stream_loop", "-1", "-i", str(scratch),
               "-af", f"volume='0.2+0.8*abs(sin({0.05 + 0.02 * seed:g}*t))':eval=frame", "-t", str(duration_s),
               "-ac", "1", *_VIDEO_CODECS[path.suffix.lower()], str(path))
    finally:
        scratch.unlink(missing_ok=True)
    return path
