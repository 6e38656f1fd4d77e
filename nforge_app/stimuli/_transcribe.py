"""Word timings by speech recognition with WhisperX, when the optional ``whisperx`` extra is installed.

The TRIBE v2 reference transcribes every clip with WhisperX (large-v3, English, word alignment). Here it
runs only when ``whisperx`` can be imported and ``NFORGE_TRANSCRIBE`` is not ``0``, and only for media
without a transcript beside them. On the CPU it computes in int8 (the reference's float16 fails there).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os

from nforge_app.errors import ModelUnavailableError
from nforge_app.stimuli._types import AudioTrack, Word

log = logging.getLogger(__name__)

WHISPER_MODEL = "large-v3"
LANGUAGE = "en"


def transcriber_id() -> str | None:
    """The id of the transcriber that would run (part of the stimulus key), or None when none will."""
    if os.environ.get("NFORGE_TRANSCRIBE", "1").strip() == "0" or importlib.util.find_spec("whisperx") is None:
        return None
    return f"whisperx-{WHISPER_MODEL}-{LANGUAGE}"


def compute_type(device: str) -> str:
    """float16 on a GPU, int8 on the CPU (float16 is not supported there)."""
    return "float16" if device.startswith("cuda") else "int8"


@functools.lru_cache(maxsize=2)
def _models(device: str):
    import whisperx

    model = whisperx.load_model(WHISPER_MODEL, device, compute_type=compute_type(device), language=LANGUAGE)
    align_model, align_meta = whisperx.load_align_model(language_code=LANGUAGE, device=device)
    return model, align_model, align_meta


def asr_settings(device: str) -> dict:
    """Everything about the recogniser that changes its words (part of the transcript cache key)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        whisperx_version = version("whisperx")
    except PackageNotFoundError:
        whisperx_version = "absent"
    return {"model": WHISPER_MODEL, "language": LANGUAGE, "compute_type": compute_type(device),
            "batch_size": _batch_size(device), "whisperx": whisperx_version}


def _batch_size(device: str) -> int:
    return 16 if device.startswith("cuda") else 4


def transcribe(audio: AudioTrack, device: str = "auto", cache_dir: str | os.PathLike | None = None) -> tuple[Word, ...]:
    """Words with start and duration recognised in ``audio`` (16 kHz mono float32).

    Words that alignment could not place in time are left out (and counted in the log). With ``cache_dir``
    the words are kept in ``<cache_dir>/<key>.tsv`` (start, duration, word), the key being the hash of the
    audio samples and the recogniser's settings (:func:`asr_settings`): the same sound is transcribed once.
    """
    from nforge_app._device import resolve_device

    device = resolve_device(device)
    if cache_dir is None:
        return _recognise(audio, device)
    import hashlib
    import json
    from pathlib import Path

    import numpy as np

    from nforge_app._files import atomic_path

    digest = hashlib.sha256(np.ascontiguousarray(audio.samples, dtype=np.float32).tobytes())
    digest.update(json.dumps({"rate": audio.sample_rate_hz, **asr_settings(device)}, sort_keys=True).encode())
    path = Path(cache_dir) / f"{digest.hexdigest()[:32]}.tsv"
    if path.is_file():
        log.info("transcript read from the cache: %s", path)
        return read_words_tsv(path.read_text(encoding="utf-8"))
    words = _recognise(audio, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(words_tsv(words), encoding="utf-8")
    return words


def words_tsv(words: tuple[Word, ...]) -> str:
    """Words as a tab-separated table ``start, duration, word`` with a header (what a user can correct)."""
    lines = ["start\tduration\tword"]
    lines += [f"{w.start_s!r}\t{w.duration_s!r}\t{' '.join(w.text.split())}" for w in words]
    return "\n".join(lines) + "\n"


def read_words_tsv(text: str) -> tuple[Word, ...]:
    """The words of :func:`words_tsv`."""
    words = []
    for line in text.splitlines()[1:]:
        if line.strip():
            start, duration, word = line.split("\t", 2)
            words.append(Word(word, float(start), float(duration)))
    return tuple(words)


def _recognise(audio: AudioTrack, device: str) -> tuple[Word, ...]:
    """WhisperX on ``audio``: transcription then word alignment."""
    import whisperx

    try:
        model, align_model, align_meta = _models(device)
    except Exception as error:  # offline with nothing cached, a broken install, ...
        raise ModelUnavailableError(
            f"WhisperX could not load its {WHISPER_MODEL} models ({type(error).__name__}: {error}); put a "
            "transcript beside the file (.srt, .vtt or .tsv) or set NFORGE_TRANSCRIBE=0 to go on without words"
        ) from error
    result = model.transcribe(audio.samples, batch_size=_batch_size(device))
    aligned = whisperx.align(result["segments"], align_model, align_meta, audio.samples, device,
                             return_char_alignments=False)
    words, unplaced = [], 0
    for segment in aligned["segments"]:
        for item in segment.get("words", []):
            if "start" not in item or "end" not in item:
                unplaced += 1
                continue
            words.append(Word(item["word"].strip(), float(item["start"]), max(0.0, float(item["end"]) - float(item["start"]))))
    if unplaced:
        log.info("whisperx could not time %d word(s); they are left out", unplaced)
    return tuple(sorted(words, key=lambda word: word.start_s))
