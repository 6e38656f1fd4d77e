"""The example clip: 20 s of speech, colour, silence and motion, made with ffmpeg and espeak-ng.

Used by the web app's first example and by ``nforge example``; nothing large is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.stimuli._media import ffmpeg_exe

CLIP_SIZE = (320, 240)
CLIP_FPS = 25
# Speech, then silence over a dark screen, then speech over moving cells: every channel of the lite model
# changes over the 20 s, so the example has something to show.
_CLIP_PARTS = (  # (seconds, video source, sentence or None)
    (8.0, "testsrc2=size={w}x{h}:rate={fps}", "Welcome to N Forge. This short clip has speech, colour and motion, "
                                               "so that sound, words and pictures all drive the brain."),
    (5.0, "color=c=0x202020:size={w}x{h}:rate={fps}", None),
    (7.0, "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.4:life_color=0x40d080:death_color=0x102040",
     "Now the screen fills with moving cells. Watch the visual cortex follow them."),
)

def _speech(text: str, rate_hz: int, scratch: Path) -> np.ndarray:
    """``text`` spoken by the espeak-ng command as float samples at ``rate_hz`` (a soft tone without it)."""
    if shutil.which("espeak-ng") is None:
        seconds = 0.35 * len(text.split())
        t = np.arange(int(seconds * rate_hz)) / rate_hz
        return 0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    subprocess.run(["espeak-ng", "-w", str(scratch), "--stdin"], input=text.encode(), check=True,
                   capture_output=True)
    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(scratch), "-ac", "1", "-ar",
                          str(rate_hz), "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def make_example_clip(path: Path) -> tuple[Path, Path]:
    """Write the 20 s example clip (H.264 + AAC) and its transcript (``.srt`` beside it) if missing.

    Returns
    -------
    (clip, transcript) : tuple of Path
    """
    transcript = path.with_suffix(".srt")
    if path.exists() and transcript.exists():
        return path, transcript
    rate_hz = 22050
    total_s = sum(seconds for seconds, _, _ in _CLIP_PARTS)
    sound = np.zeros(int(total_s * rate_hz), dtype=np.float32)
    width, height = CLIP_SIZE
    inputs, cues, start_s = [], [], 0.0
    with atomic_path(path) as tmp:
        scratch, track = tmp.with_suffix(".speech.wav"), tmp.with_suffix(".track.wav")
        try:
            for seconds, source, sentence in _CLIP_PARTS:
                inputs += ["-f", "lavfi", "-t", f"{seconds:g}", "-i", source.format(w=width, h=height, fps=CLIP_FPS)]
                if sentence:
                    speech = _speech(sentence, rate_hz, scratch)[: int((seconds - 0.3) * rate_hz)]
                    first = int((start_s + 0.3) * rate_hz)
                    sound[first:first + len(speech)] = speech
                    cues.append((start_s + 0.3, start_s + 0.3 + len(speech) / rate_hz, sentence))
                start_s += seconds
            with wave.open(str(track), "wb") as handle:
                handle.setnchannels(1)
                handle.setsampwidth(2)
                handle.setframerate(rate_hz)
                handle.writeframes((np.clip(sound, -1, 1) * 32767).astype("<i2").tobytes())
            n = len(_CLIP_PARTS)
            video = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0,format=yuv420p[v]"
            subprocess.run([ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error", *inputs, "-i", str(track),
                            "-filter_complex", video, "-map", "[v]", "-map", f"{n}:a", "-c:v", "libx264", "-preset",
                            "veryfast", "-crf", "26", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart",
                            "-t", f"{total_s:g}", str(tmp)], check=True, capture_output=True)
        finally:
            scratch.unlink(missing_ok=True)
            track.unlink(missing_ok=True)
    with atomic_path(transcript) as tmp:
        tmp.write_text("".join(f"{i}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n\n"
                               for i, (start, end, text) in enumerate(cues, start=1)), encoding="utf-8")
    return path, transcript
