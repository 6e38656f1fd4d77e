"""The example clip: 20 s of speech, colour, silence and motion, made with ffmpeg and espeak-ng.

Used by the web app's first example and by ``nforge example``; nothing large is committed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.stimuli._media import AUDIO_RATE_HZ, ffmpeg_exe
from nforge_app.stimuli._speech import speak_text
from nforge_app.stimuli._types import AudioTrack

CLIP_SIZE = (320, 240)
CLIP_FPS = 25
SPEECH_DELAY_S = 0.3  # from the start of a part to its first word
# Speech, then silence over a dark screen, then speech over moving cells: every channel of the lite model
# changes over the 20 s, so the example has something to show. The same clip from every fresh process: the
# cells start from a fixed seed and x264 encodes on one thread (with several its output varied from run to
# run). espeak-ng carries some state from one synthesis to the next, so a process that spoke before may
# time the speech differently by about a millisecond.
_CLIP_PARTS = (  # (seconds, video source, sentence or None)
    (8.0, "testsrc2=size={w}x{h}:rate={fps}", "Welcome to N Forge. This short clip has speech, colour and motion, "
                                               "so that sound, words and pictures all drive the brain."),
    (5.0, "color=c=0x202020:size={w}x{h}:rate={fps}", None),
    (7.0, "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.4:seed=1:life_color=0x40d080:death_color=0x102040",
     "Now the screen fills with moving cells. Watch the visual cortex follow them."),
)

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
    total_s = sum(seconds for seconds, _, _ in _CLIP_PARTS)
    sound = np.zeros(int(total_s * AUDIO_RATE_HZ), dtype=np.float32)
    width, height = CLIP_SIZE
    inputs, cues, start_s = [], [], 0.0
    with atomic_path(path) as tmp:
        track = tmp.with_suffix(".track.wav")
        try:
            for seconds, source, sentence in _CLIP_PARTS:
                inputs += ["-f", "lavfi", "-t", f"{seconds:g}", "-i", source.format(w=width, h=height, fps=CLIP_FPS)]
                if sentence:  # spoken by espeak-ng (without it: silence, and words paced as the loader paces them)
                    room_s, first_s = seconds - SPEECH_DELAY_S, start_s + SPEECH_DELAY_S
                    spoken = speak_text(sentence, room_s)
                    last = spoken.words[-1]
                    cues.append((first_s, first_s + min(room_s, last.start_s + last.duration_s), sentence))
                    if spoken.audio is not None:
                        speech = spoken.audio.samples[: int(room_s * AUDIO_RATE_HZ)]
                        first = int(first_s * AUDIO_RATE_HZ)
                        sound[first:first + len(speech)] = speech
                start_s += seconds
            AudioTrack(sound, AUDIO_RATE_HZ).write_wav(track)
            n = len(_CLIP_PARTS)
            video = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0,format=yuv420p[v]"
            subprocess.run([ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error", *inputs, "-i", str(track),
                            "-filter_complex", video, "-map", "[v]", "-map", f"{n}:a", "-c:v", "libx264", "-preset",
                            "veryfast", "-crf", "26", "-threads", "1", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart",
                            "-t", f"{total_s:g}", str(tmp)], check=True, capture_output=True)
        finally:
            track.unlink(missing_ok=True)
    with atomic_path(transcript) as tmp:
        tmp.write_text("".join(f"{i}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n\n"
                               for i, (start, end, text) in enumerate(cues, start=1)), encoding="utf-8")
    return path, transcript
