"""Several stimuli played one after another, with rests between them, as one ``Stimulus`` (for experiments).

A rest is silence and a blank mid-grey frame (the screen of a vision experiment between blocks). The parts
may be of any kind: text spoken by espeak-ng (its words come along), a sound, a video, a transcript. The
sequence carries each modality that some part has; where a part lacks it, the sequence holds the rest
(silence, the grey frame, no words). Its content hash is made from the parts' hashes, their order and the
lengths of parts and rests, so that the engine caches its prediction like any other stimulus.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from nforge_app._files import text_sha256
from nforge_app.errors import UserInputError
from nforge_app.stimuli._media import AUDIO_RATE_HZ
from nforge_app.stimuli._types import AudioTrack, Stimulus, VideoReader, Word

REST_GREY = 128
"""The value of every channel of the blank frame shown during rests (mid-grey)."""
SEQUENCE_KIND = "sequence"
_FRAME_BYTES_PER_READ = 64 * 1024 * 1024  # frames decoded at once while iterating


class Concatenation(NamedTuple):
    """A sequence of stimuli and where each part lies on its timeline."""

    stimulus: Stimulus
    onsets_s: tuple[float, ...]
    durations_s: tuple[float, ...]


class SequenceVideoReader(VideoReader):
    """Frames of a sequence: each video part's own frames (resized to one size) in its span, grey elsewhere.

    Parameters
    ----------
    parts : list of (onset_s, duration_s, VideoReader)
        The video parts and where they lie.
    duration_s : float
        Length of the sequence.
    """

    path = "<sequence>"

    def __init__(self, parts: list[tuple[float, float, VideoReader]], duration_s: float) -> None:
        if not parts:
            raise ValueError("a sequence video needs at least one video part")
        self._parts = parts
        self.fps = max(reader.fps for _, _, reader in parts)
        self.width, self.height = parts[0][2].width, parts[0][2].height
        self.duration_s = float(duration_s)

    def __repr__(self) -> str:
        return (f"SequenceVideoReader({len(self._parts)} video parts, {self.width}x{self.height}, {self.fps:g} fps, "
                f"{self.duration_s:.2f} s)")

    def frames_at(self, times_s: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames nearest to each time in ``times_s`` as uint8 (N, H, W, 3); rests give the grey frame."""
        width, height = (self.width, self.height) if size is None else (int(size[0]), int(size[1]))
        times = np.clip(np.asarray(times_s, dtype=float).reshape(-1), 0.0, self.duration_s)
        out = np.full((len(times), height, width, 3), REST_GREY, dtype=np.uint8)
        for onset_s, duration_s, reader in self._parts:
            inside = (times >= onset_s) & (times < onset_s + duration_s)
            if inside.any():
                out[inside] = reader.frames_at(times[inside] - onset_s, size=(width, height))
        return out

    def iter_frames(self, fps: float, size: tuple[int, int] | None = None) -> Iterator[tuple[float, np.ndarray]]:
        """Yield ``(time_s, frame)`` at ``fps`` from time 0: frame ``k`` is the frame nearest to ``k / fps``."""
        if not np.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        width, height = (self.width, self.height) if size is None else (int(size[0]), int(size[1]))
        n_frames = max(1, int(np.ceil(self.duration_s * fps - 1e-6)))
        per_read = max(1, _FRAME_BYTES_PER_READ // (width * height * 3))
        for first in range(0, n_frames, per_read):
            times = np.arange(first, min(first + per_read, n_frames)) / fps
            yield from zip(times.tolist(), self.frames_at(times, size=(width, height)), strict=True)


def _rest_s(item: float) -> float:
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item) or item < 0:
        raise UserInputError(f"a rest must be a number of seconds (0 or more), got {item!r}")
    return float(item)


def _part_words(part: Stimulus, onset_s: float, duration_s: float) -> list[Word]:
    """The words of a part that start before its cut, moved to its onset and ending by its cut."""
    return [Word(word.text, onset_s + word.start_s, min(word.duration_s, duration_s - word.start_s))
            for word in part.words if word.start_s < duration_s]


def _samples_at_rate(track: AudioTrack) -> np.ndarray:
    if track.sample_rate_hz == AUDIO_RATE_HZ:
        return np.asarray(track.samples, dtype=np.float32)
    from scipy.signal import resample_poly

    divisor = math.gcd(AUDIO_RATE_HZ, int(track.sample_rate_hz))
    return resample_poly(track.samples, AUDIO_RATE_HZ // divisor, int(track.sample_rate_hz) // divisor).astype(
        np.float32)


def _word_timing(parts: list[Stimulus]) -> str:
    timings = list(dict.fromkeys(part.word_timing for part in parts if part.words))
    if not timings:
        return "none"
    return timings[0] if len(timings) == 1 else "mixed: " + ", ".join(timings)


def concatenate(items: Sequence[Stimulus | float], max_part_s: float | None = None) -> Concatenation:
    """Play stimuli one after another, with rests (silence and a grey frame) where numbers stand.

    Parameters
    ----------
    items : sequence of Stimulus or float
        The timeline in order: a ``Stimulus`` plays there, a number is a rest of that many seconds.
    max_part_s : float, optional
        Parts longer than this are cut at this length (their words after the cut are dropped); by default
        every part plays whole.

    Returns
    -------
    Concatenation
        The sequence (kind ``"sequence"``; audio when some part has sound, video when some part has frames,
        the words of every part at their new times) and the onset and duration of each part.

    Raises
    ------
    UserInputError
        Without a part, for a negative rest, or for a non-positive ``max_part_s``.
    """
    if max_part_s is not None and (not math.isfinite(max_part_s) or max_part_s <= 0):
        raise UserInputError(f"the longest block must be a positive number of seconds, got {max_part_s!r}")
    parts: list[Stimulus] = []
    onsets, durations, key_parts = [], [], ["sequence 1", f"max part {max_part_s!r}"]
    clock_s = 0.0
    for item in items:
        if isinstance(item, Stimulus):
            duration_s = item.duration_s if max_part_s is None else min(item.duration_s, float(max_part_s))
            parts.append(item)
            onsets.append(clock_s)
            durations.append(duration_s)
            key_parts += ["part", item.content_hash]
            clock_s += duration_s
        else:
            rest_s = _rest_s(item)
            key_parts += ["rest", repr(rest_s)]
            clock_s += rest_s
    if not parts:
        raise UserInputError("a sequence needs at least one stimulus (only rests were given)")
    total_s = clock_s
    placed = list(zip(parts, onsets, durations, strict=True))

    audio = None
    if any(part.audio is not None for part in parts):
        samples = np.zeros(round(total_s * AUDIO_RATE_HZ), dtype=np.float32)
        for part, onset_s, duration_s in placed:
            if part.audio is not None:
                start = round(onset_s * AUDIO_RATE_HZ)
                sound = _samples_at_rate(part.audio)[: round(duration_s * AUDIO_RATE_HZ)][: len(samples) - start]
                samples[start: start + len(sound)] = sound
        audio = AudioTrack(samples, AUDIO_RATE_HZ)
    video_parts = [(onset_s, duration_s, part.video) for part, onset_s, duration_s in placed if part.video is not None]
    words = tuple(word for part, onset_s, duration_s in placed for word in _part_words(part, onset_s, duration_s))
    notes = [f"{len(parts)} stimuli played one after another; rests are silence and a grey screen"]
    notes += list(dict.fromkeys(note for part in parts for note in part.notes if note))
    stimulus = Stimulus(kind=SEQUENCE_KIND, source=f"<sequence of {len(parts)} stimuli>",
                        content_hash=text_sha256(*key_parts), duration_s=total_s, words=words, audio=audio,
                        video=SequenceVideoReader(video_parts, total_s) if video_parts else None,
                        word_timing=_word_timing(parts), notes=tuple(notes))
    return Concatenation(stimulus, tuple(onsets), tuple(durations))
