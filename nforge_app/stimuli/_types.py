"""The value types of a decoded stimulus: words with times, an audio track, a video reader, a timeline."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path

STIMULUS_KINDS = ("video", "audio", "text", "tr_text", "transcript", "sequence")


@dataclass(frozen=True)
class Word:
    """One word of the stimulus with its time in seconds from the stimulus start."""

    text: str
    start_s: float
    duration_s: float


@dataclass(frozen=True, eq=False)
class AudioTrack:
    """Mono float32 samples in [-1, 1] at ``sample_rate_hz``."""

    samples: np.ndarray
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    def write_wav(self, path: Path) -> Path:
        """Write the track as 16-bit mono WAV at ``path`` (atomically) and return ``path``."""
        pcm = (np.clip(self.samples, -1.0, 1.0) * 32767).astype("<i2")
        with atomic_path(Path(path)) as tmp, wave.open(str(tmp), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(int(self.sample_rate_hz))
            handle.writeframes(pcm.tobytes())
        return Path(path)


@dataclass(frozen=True, eq=False)
class Stimulus:
    """Everything the feature extractors need, on one timeline starting at 0 s.

    Attributes
    ----------
    kind : str
        One of ``STIMULUS_KINDS``.
    source : str
        The file path, ``"<per-TR text>"`` for a list of strings, ``"<sequence of N stimuli>"`` for a sequence
        (see :func:`~nforge_app.stimuli.concatenate`).
    content_hash : str
        sha256 of the file bytes (or of the text): the key of every cache.
    duration_s : float
        Length of the timeline.
    words : tuple of Word
        Words with start and duration (empty when the stimulus has no speech or text).
    audio : AudioTrack or None
        The sound track (decoded, or synthesised from text), or None when there is none.
    video : VideoReader or None
        Reads frames of a video file on demand; None for audio and text.
    tr_texts : tuple of str or None
        The per-TR strings when the input was given that way (Text2fMRI reads them directly).
    tr_s : float or None
        The TR those strings belong to.
    word_timing : str
        How word times were obtained: ``"transcript"``, ``"espeak-ng"``, ``"paced at N words/s"``,
        ``"per-TR"``, ``"whisperx"`` or ``"none"``; shown to the user, stored in metadata.
    """

    kind: str
    source: str
    content_hash: str
    duration_s: float
    words: tuple[Word, ...] = ()
    audio: AudioTrack | None = None
    video: VideoReader | None = None
    tr_texts: tuple[str, ...] | None = None
    tr_s: float | None = None
    word_timing: str = "none"
    notes: tuple[str, ...] = field(default=())

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this stimulus carries, in the order text, audio, video."""
        present = {"text": bool(self.words) or bool(self.tr_texts), "audio": self.audio is not None,
                   "video": self.video is not None}
        return tuple(m for m in ("text", "audio", "video") if present[m])


class VideoReader:
    """Interface of the frame reader; the implementation lives in ``stimuli/_media.py``."""

    path: str
    fps: float
    width: int
    height: int
    duration_s: float

    def iter_frames(self, fps: float, size: tuple[int, int] | None = None) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(time_s, frame)`` at ``fps``; frame is uint8 (H, W, 3), resized to ``size=(w, h)``."""
        raise NotImplementedError

    def frames_at(self, times_s: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames nearest to each time in ``times_s`` as uint8 (N, H, W, 3)."""
        raise NotImplementedError
