"""Text spoken offline by libespeak-ng (through ctypes), which also tells when each word starts.

The library keeps global state: it is initialised once per process and used under a lock. Where it is
missing, words are paced at ``PACED_WORDS_PER_S`` and there is no sound.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from bisect import bisect_left
from typing import NamedTuple

import numpy as np

from nforge_app.stimuli._media import AUDIO_RATE_HZ
from nforge_app.stimuli._types import AudioTrack, Word
from nforge_app.stimuli._words import split_words

ESPEAK_LIBRARY = "libespeak-ng.so.1"
_VOICE = b"en"
PACED_WORDS_PER_S = 2.5
"""Speaking rate assumed for word times when espeak-ng is not available."""

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_END_PAUSE = 0x1000
_INITIALIZE_DONT_EXIT = 0x8000  # without it, missing espeak-ng-data ends the whole process


class _Event(ctypes.Structure):
    """``espeak_EVENT``."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class SpokenText(NamedTuple):
    """A text turned into a timeline: the sound (or None), the words, and how their times were obtained."""

    audio: AudioTrack | None
    words: tuple[Word, ...]
    word_timing: str
    note: str | None


class _Espeak:
    """The process's libespeak-ng, set to hand back samples and word events synchronously."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._library = library
        self.sample_rate_hz = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_DONT_EXIT)
        if self.sample_rate_hz <= 0:
            raise OSError("espeak_Initialize failed (is espeak-ng-data installed?)")
        library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        if library.espeak_SetVoiceByName(_VOICE) != 0:
            raise OSError(f"espeak-ng has no voice {_VOICE.decode()!r}")
        library.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                         ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self._callback = _Callback(self._collect)  # kept alive as long as the library may call it
        library.espeak_SetSynthCallback(self._callback)
        self._chunks: list[np.ndarray] = []
        self._word_events: list[tuple[int, int]] = []
        self._n_samples = 0
        self._max_samples = 0

    def _collect(self, wav, n_samples, events) -> int:
        if wav and n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
            self._n_samples += n_samples
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_WORD and event.length > 0:  # a text without final punctuation ends
                # with an empty word event
                self._word_events.append((event.text_position - 1, event.audio_position))
            index += 1
        return 1 if self._n_samples > self._max_samples else 0  # 1 stops the synthesis

    def synthesize(self, text: str, max_duration_s: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """int16 samples and word events ``(character index, start in ms)``; stops past ``max_duration_s``."""
        self._chunks, self._word_events, self._n_samples = [], [], 0
        self._max_samples = int(max_duration_s * self.sample_rate_hz)
        data = text.encode("utf-8") + b"\0"
        status = self._library.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _END_PAUSE, None,
                                            None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return samples, self._word_events


_lock = threading.Lock()
_engine_or_reason: _Espeak | str | None = None


def _engine() -> _Espeak | str:
    """The process's espeak-ng engine, made on first use, or the reason it cannot be had."""
    global _engine_or_reason
    if _engine_or_reason is None:
        try:
            _engine_or_reason = _Espeak(ctypes.CDLL(ESPEAK_LIBRARY))
        except OSError as error:
            _engine_or_reason = f"{ESPEAK_LIBRARY} could not be used ({error})"
    return _engine_or_reason


def _word_times(words: list[tuple[str, int, int]], events: list[tuple[int, int]], end_s: float) -> tuple[Word, ...]:
    """Start each word at the first word event inside or after it; each word lasts until the next one."""
    positions = [position for position, _ in events]
    starts = []
    for _, start, _ in words:
        index = bisect_left(positions, start)
        starts.append(min(events[index][1] / 1000, end_s) if index < len(events) else end_s)
    ends = starts[1:] + [end_s]
    return tuple(Word(word, s, e - s) for (word, _, _), s, e in zip(words, starts, ends, strict=True))


def speak_text(text: str, max_duration_s: float) -> SpokenText:
    """Speak ``text`` with espeak-ng (English voice) and time its words.

    Synthesis stops a little past ``max_duration_s``, so a text too long to accept costs little; the caller
    compares the audio duration with its limit. Without espeak-ng, the words are paced at
    ``PACED_WORDS_PER_S`` with no audio, and a warning says so.

    Parameters
    ----------
    text : str
        The text, holding at least one word.
    max_duration_s : float
        Longest speech worth making.

    Returns
    -------
    SpokenText
        Audio at 16 kHz (or None), words with start and duration, ``word_timing`` and a note for the user.
    """
    words = split_words(text)
    with _lock:
        engine = _engine()
        if isinstance(engine, _Espeak):
            samples, events = engine.synthesize(text, max_duration_s + 1.0)
            rate_hz = engine.sample_rate_hz
    if isinstance(engine, str):
        note = (f"espeak-ng is not available here ({engine}): words are paced at {PACED_WORDS_PER_S:g} words/s "
                "and the text has no sound")
        warnings.warn(note, stacklevel=4)  # points at the caller of load_stimulus
        step_s = 1.0 / PACED_WORDS_PER_S
        paced = tuple(Word(word, i * step_s, step_s) for i, (word, _, _) in enumerate(words))
        return SpokenText(None, paced, f"paced at {PACED_WORDS_PER_S:g} words/s", note)
    from scipy.signal import resample_poly

    divisor = np.gcd(AUDIO_RATE_HZ, rate_hz)
    audio = resample_poly(samples.astype(np.float32) / 32768.0, AUDIO_RATE_HZ // divisor, rate_hz // divisor)
    track = AudioTrack(np.clip(audio, -1.0, 1.0).astype(np.float32), AUDIO_RATE_HZ)
    return SpokenText(track, _word_times(words, events, track.duration_s), "espeak-ng",
                      "speech and word times made offline by espeak-ng")
