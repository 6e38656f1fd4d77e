"""The stimuli of the teaching experiments, made offline with espeak-ng and ffmpeg (nothing is committed).

Each maker writes its files into a folder (once: existing files are kept) and returns the paths of the
two conditions, four stimuli each:

* speech: four sentences as text files (spoken by espeak-ng when loaded, so their words are known) and the
  same sentences spoken and played backwards (WAV, ffmpeg's ``areverse``): same sounds, no words;
* motion: four gratings (four orientations) drifting at 1 cycle/s, and the same gratings standing still;
* sound: a tone, pink noise, a chord and a sweep, and four silences of the same length.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from nforge_app._files import atomic_path
from nforge_app.errors import UserInputError
from nforge_app.stimuli._media import AUDIO_RATE_HZ, ffmpeg_exe
from nforge_app.stimuli._speech import speak_text

SENTENCES = (
    "The children watched the fishing boats sail slowly into the harbour.",
    "My grandmother baked fresh bread for the whole family every Sunday.",
    "A strong wind blew the dry leaves across the empty village road.",
    "The doctor asked the tired patient to breathe in deeply and wait.",
)
CLIP_S = 6.0
"""Length of each grating and sound."""
GRATING_SIZE = (192, 144)
GRATING_FPS = 25
GRATING_ANGLES_DEG = (0, 45, 90, 135)
GRATING_PERIOD_PX = 24
GRATING_SPEED_HZ = 1.0
SOUNDS = (
    ("tone", f"sine=frequency=440:sample_rate={AUDIO_RATE_HZ}"),
    ("noise", f"anoisesrc=color=pink:amplitude=0.3:seed=1:sample_rate={AUDIO_RATE_HZ}"),
    ("chord", f"aevalsrc=0.2*sin(2*PI*262*t)+0.2*sin(2*PI*330*t)+0.2*sin(2*PI*392*t):s={AUDIO_RATE_HZ}"),
    ("sweep", f"aevalsrc=0.3*sin(2*PI*(300+200*t)*t):s={AUDIO_RATE_HZ}"),
)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error", *args], check=True, capture_output=True)


def make_speech_stimuli(folder: Path, sentences: tuple[str, ...] = SENTENCES) -> tuple[list[Path], list[Path]]:
    """Sentences as text files (four by default), and the same sentences spoken backwards (WAV).

    Raises
    ------
    UserInputError
        When espeak-ng is not available (the reversed speech is made from its voice).
    """
    folder = Path(folder)
    texts, reversed_speech = [], []
    for number, sentence in enumerate(sentences, start=1):
        text, backwards = folder / f"sentence_{number}.txt", folder / f"sentence_{number}_reversed.wav"
        if not text.exists():
            with atomic_path(text) as tmp:
                tmp.write_text(sentence + "\n", encoding="utf-8")
        if not backwards.exists():
            spoken = speak_text(sentence, 30.0)
            if spoken.audio is None:
                raise UserInputError("the speech experiment needs espeak-ng (apt-get install espeak-ng) to make "
                                     "its reversed speech")
            with atomic_path(backwards) as tmp:
                forwards = spoken.audio.write_wav(tmp.with_name(tmp.stem + ".forwards.wav"))
                try:
                    _ffmpeg("-i", str(forwards), "-af", "areverse", "-c:a", "pcm_s16le", str(tmp))
                finally:
                    forwards.unlink(missing_ok=True)
        texts.append(text)
        reversed_speech.append(backwards)
    return texts, reversed_speech


def _grating(angle_deg: float, moving: bool) -> str:
    """ffmpeg's ``geq`` luma expression of a sinusoidal grating (mean grey, contrast 0.75), drifting or still."""
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    drift = f" - {GRATING_SPEED_HZ:g}*T" if moving else ""
    return f"128+96*sin(2*PI*((X*{cos:.6f}+Y*{sin:.6f})/{GRATING_PERIOD_PX}{drift}))"


def make_motion_stimuli(folder: Path) -> tuple[list[Path], list[Path]]:
    """Four drifting gratings (MP4, no sound) and the same four standing still."""
    folder = Path(folder)
    width, height = GRATING_SIZE
    moving, static = [], []
    for angle in GRATING_ANGLES_DEG:
        for drifts, paths in ((True, moving), (False, static)):
            path = folder / f"grating_{angle}_{'moving' if drifts else 'static'}.mp4"
            if not path.exists():
                with atomic_path(path) as tmp:
                    _ffmpeg("-f", "lavfi", "-i", f"color=c=gray:size={width}x{height}:rate={GRATING_FPS}:"
                                                 f"duration={CLIP_S:g}",
                            "-vf", f"geq=lum='{_grating(angle, drifts)}':cb=128:cr=128,format=yuv420p",
                            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", str(tmp))
            paths.append(path)
    return moving, static


def make_sound_stimuli(folder: Path) -> tuple[list[Path], list[Path]]:
    """Four sounds (tone, pink noise, chord, sweep; WAV) and four silences of the same length."""
    folder = Path(folder)
    sounds, silences = [], []
    for number, (name, source) in enumerate(SOUNDS, start=1):
        for path, lavfi in ((folder / f"sound_{name}.wav", source),
                            (folder / f"silence_{number}.wav", f"anullsrc=r={AUDIO_RATE_HZ}:cl=mono")):
            if not path.exists():
                with atomic_path(path) as tmp:
                    _ffmpeg("-f", "lavfi", "-i", lavfi, "-t", f"{CLIP_S:g}", "-ac", "1", "-c:a", "pcm_s16le", str(tmp))
        sounds.append(folder / f"sound_{name}.wav")
        silences.append(folder / f"silence_{number}.wav")
    return sounds, silences
