"""Entry points of the stimuli package: a cheap content key, and loading any accepted input as a ``Stimulus``."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

from nforge_app._files import file_sha256, text_sha256
from nforge_app._limits import check_n_trs, check_text_length
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.stimuli._media import FfmpegVideoReader, decode_audio, measure_duration, probe
from nforge_app.stimuli._speech import speak_text
from nforge_app.stimuli._transcribe import WHISPER_MODEL, transcribe, transcriber_id
from nforge_app.stimuli._transcripts import read_cues, read_tsv
from nforge_app.stimuli._types import AudioTrack, Stimulus, Word
from nforge_app.stimuli._words import split_words, spread_words

SUPPORTED_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "video": (".mp4", ".avi", ".mkv", ".mov", ".webm"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a"),
    "text": (".txt",),
    "transcript": (".srt", ".vtt", ".tsv"),
}
TR_TEXT_SOURCE = "<per-TR text>"
_ACCEPTED = "; ".join(f"{kind} {' '.join(extensions)}" for kind, extensions in SUPPORTED_EXTENSIONS.items())


def _file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    for kind, extensions in SUPPORTED_EXTENSIONS.items():
        if suffix in extensions:
            return kind
    raise UserInputError(f"{path.name}: files ending in {suffix or '(no extension)'!r} are not accepted; "
                         f"accepted: {_ACCEPTED}")


def _checked_file(source: str | os.PathLike) -> tuple[Path, str]:
    """The path of an accepted, existing, non-empty file, and its kind."""
    path = Path(source).expanduser()
    try:
        is_file = path.is_file()
    except OSError:  # a name too long to be a path (text given in place of a file name)
        is_file = False
    if not is_file:
        hint = ("" if path.suffix else "; to give text directly, pass a list with one string per TR (and tr_s) "
                "or save it as a .txt file")
        raise UserInputError(f"no file at {str(source)[:200]!r}{hint}")
    kind = _file_kind(path)
    if path.stat().st_size == 0:
        raise UserInputError(f"{path.name} is empty (0 bytes); accepted: {_ACCEPTED}")
    return path, kind


def _checked_tr_texts(source: Sequence, tr_s: float | None) -> tuple[tuple[str, ...], float]:
    """The per-TR strings and the TR, checked."""
    not_text = [(i, type(item).__name__) for i, item in enumerate(source) if not isinstance(item, str)]
    if not_text:
        index, type_name = not_text[0]
        raise UserInputError(f"per-TR text must be a list of strings (one per TR, '' for silence); item {index} "
                             f"is a {type_name} ({len(not_text)} item(s) are not strings)")
    if not source:
        raise UserInputError("the per-TR text list is empty; give one string per TR ('' for silence)")
    if tr_s is None:
        raise UserInputError("per-TR text needs tr_s, the repetition time in seconds of the TRs the strings "
                             "belong to (1.49 for the Algonauts 2025 / CNeuroMod data)")
    if isinstance(tr_s, bool) or not isinstance(tr_s, numbers.Real) or not math.isfinite(tr_s) or tr_s <= 0:
        raise UserInputError(f"tr_s must be a positive number of seconds, got {tr_s!r}")
    return tuple(source), float(tr_s)


def stimulus_key(source: str | os.PathLike | Sequence[str], tr_s: float | None = None,
                 transcript: str | os.PathLike | None = None) -> str:
    """A content key of a stimulus, computed without decoding it (equal to ``Stimulus.content_hash``).

    Parameters
    ----------
    source : str, path-like, or list of str
        A file, or one string per TR.
    tr_s : float, optional
        The TR of per-TR strings (required for them, unused for files).
    transcript : str or path-like, optional
        The transcript of a video or audio file, in place of one beside it (see ``load_stimulus``).

    Returns
    -------
    str
        Hex sha256 of the file bytes, or of the per-TR strings together with ``tr_s``.

    Raises
    ------
    UserInputError
        For a missing, empty or unaccepted file, a transcript given with a file that is not media, or per-TR
        text that is not a list of strings with a TR.
    """
    if isinstance(source, list | tuple):
        texts, tr = _checked_tr_texts(source, tr_s)
        return text_sha256("per-TR text", repr(tr), *texts)
    path, kind = _checked_file(source)
    return _file_key(path, kind, _media_transcript(path, kind, transcript))


def _sidecar_transcript(path: Path) -> Path | None:
    """A transcript beside a media file (``clip.srt``, ``clip.vtt`` or ``clip.tsv`` for ``clip.mp4``)."""
    for suffix in SUPPORTED_EXTENSIONS["transcript"]:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _media_transcript(path: Path, kind: str, transcript: str | os.PathLike | None) -> Path | None:
    """The transcript of a media file: ``transcript`` when given (checked), else the one beside it, if any."""
    if transcript is None:
        return _sidecar_transcript(path) if kind in ("video", "audio") else None
    if kind not in ("video", "audio"):
        raise UserInputError(f"a transcript goes with a video or audio file; {path.name} is {kind}")
    transcript_path, transcript_kind = _checked_file(transcript)
    if transcript_kind != "transcript":
        raise UserInputError(f"{transcript_path.name} is not a transcript; accepted: "
                             f"{' '.join(SUPPORTED_EXTENSIONS['transcript'])}")
    return transcript_path


def _file_key(path: Path, kind: str, sidecar: Path | None) -> str:
    # A transcript of a media file gives its words, and so does a speech recogniser: both are content.
    if kind not in ("video", "audio"):
        return file_sha256(path)
    if sidecar is not None:
        return text_sha256(file_sha256(path), "transcript", file_sha256(sidecar))
    transcriber = transcriber_id()
    return file_sha256(path) if transcriber is None else text_sha256(file_sha256(path), transcriber)


def _check_duration(duration_s: float, name: str, settings: Settings, cut_short: bool = False) -> None:
    """Refuse a stimulus longer than the limit (``cut_short``: its length was only measured up to a point)."""
    if duration_s > settings.max_duration_s:
        found = f"more than {settings.max_duration_s:g} s" if cut_short else f"{duration_s:.1f} s"
        raise UserInputError(f"{name} lasts {found}, more than the limit of {settings.max_duration_s:g} s "
                             "(setting max_duration_s, environment variable NFORGE_MAX_DURATION_S)")


def _load_tr_texts(texts: tuple[str, ...], tr_s: float, key: str, settings: Settings) -> Stimulus:
    check_n_trs(len(texts), "the per-TR text", settings)
    check_text_length("".join(texts), "the per-TR text", settings)
    _check_duration(len(texts) * tr_s, f"the per-TR text ({len(texts)} TRs of {tr_s:g} s)", settings)
    words = tuple(word for tr, text in enumerate(texts) for word in spread_words(text, tr * tr_s, tr_s))
    if not words:
        raise UserInputError(f"the per-TR text holds no words in any of its {len(texts)} TRs")
    return Stimulus(kind="tr_text", source=TR_TEXT_SOURCE, content_hash=key, duration_s=len(texts) * tr_s,
                    words=words, tr_texts=texts, tr_s=tr_s, word_timing="per-TR",
                    notes=("word times spread evenly inside each TR",))


def _load_media(path: Path, key: str, settings: Settings, sidecar: Path | None) -> Stimulus:
    info = probe(path)
    is_video_file = path.suffix.lower() in SUPPORTED_EXTENSIONS["video"]
    with_video = info.has_video and is_video_file  # a picture in an audio file is cover art, not the stimulus
    if not with_video and not info.has_audio:
        raise UserInputError(f"{path.name} holds no {'video or ' if is_video_file else ''}sound stream; "
                             f"accepted: {_ACCEPTED}")
    duration_s = info.duration_s if info.duration_s is not None else measure_duration(path)
    _check_duration(duration_s, path.name, settings)
    audio = decode_audio(path, info) if info.has_audio else None
    words, word_timing, notes = _media_words(path, audio, settings, sidecar)
    if not with_video:
        notes += ("the file has no video stream: only its sound is used",) if is_video_file else ()
        return Stimulus(kind="audio", source=str(path), content_hash=key, duration_s=audio.duration_s,
                        audio=audio, words=words, word_timing=word_timing, notes=notes)
    notes += () if audio is not None else ("the video has no sound track: no audio",)
    return Stimulus(kind="video", source=str(path), content_hash=key, duration_s=duration_s, audio=audio,
                    video=FfmpegVideoReader(path, info, duration_s), words=words, word_timing=word_timing,
                    notes=notes)


def _media_words(path: Path, audio: AudioTrack | None, settings: Settings,
                 sidecar: Path | None) -> tuple[tuple[Word, ...], str, tuple[str, ...]]:
    """Words of a media file: from its transcript, else from WhisperX when installed, else none."""
    if sidecar is None and audio is not None and transcriber_id() is not None:
        words = transcribe(audio, settings.device, cache_dir=settings.cache_dir / "transcripts")
        return words, "whisperx", (f"words recognised by WhisperX {WHISPER_MODEL} ({len(words)} words)",)
    if sidecar is None:
        return (), "none", (f"no words: put a transcript beside the file ({path.stem}.srt, .vtt or .tsv), or "
                            "install the whisperx extra, to add the text modality",)
    text = _read_text(sidecar, settings)
    suffix = sidecar.suffix.lower()
    transcript = read_tsv(text, sidecar.name) if suffix == ".tsv" else read_cues(text, sidecar.name, suffix == ".vtt")
    return transcript.words, "transcript", (f"words and times from {sidecar.name}",)


def _read_text(path: Path, settings: Settings) -> str:
    """A file's UTF-8 text, refused when longer than the text limit (checked on the bytes before reading)."""
    size = path.stat().st_size
    if settings.max_text_chars and size > 4 * settings.max_text_chars + 4:  # UTF-8: at most 4 bytes a character
        check_text_length(size // 4, path.name, settings, at_least=True)
    data = path.read_bytes()
    if b"\0" in data:
        raise UserInputError(f"{path.name} is binary, not text (it holds NUL bytes); save it as UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserInputError(f"{path.name} is not UTF-8 text (byte {error.start} is {data[error.start]:#04x}); "
                             "save it as UTF-8") from None
    check_text_length(text, path.name, settings)
    return text


def _end_s(words: tuple[Word, ...]) -> float:
    return max(word.start_s + word.duration_s for word in words)


def _load_text(path: Path, key: str, settings: Settings) -> Stimulus:
    text = _read_text(path, settings)
    if not text.strip():
        raise UserInputError(f"{path.name} holds no text (only whitespace); write the words to speak in it")
    if not split_words(text):
        raise UserInputError(f"{path.name} holds no words (only punctuation or symbols)")
    spoken = speak_text(text, settings.max_duration_s)
    duration_s = spoken.audio.duration_s if spoken.audio is not None else _end_s(spoken.words)
    _check_duration(duration_s, f"{path.name} (spoken)", settings, cut_short=spoken.audio is not None)
    return Stimulus(kind="text", source=str(path), content_hash=key, duration_s=duration_s, words=spoken.words,
                    audio=spoken.audio, word_timing=spoken.word_timing, notes=(spoken.note,))


def _load_transcript(path: Path, key: str, settings: Settings) -> Stimulus:
    text = _read_text(path, settings)
    suffix = path.suffix.lower()
    transcript = read_tsv(text, path.name) if suffix == ".tsv" else read_cues(text, path.name, suffix == ".vtt")
    if transcript.tr_texts:
        check_n_trs(len(transcript.tr_texts), path.name, settings)
    _check_duration(transcript.duration_s, path.name, settings)
    return Stimulus(kind="transcript", source=str(path), content_hash=key, duration_s=transcript.duration_s,
                    words=transcript.words, tr_texts=transcript.tr_texts, tr_s=transcript.tr_s,
                    word_timing="transcript", notes=(transcript.note,))


_LOADERS = {"text": _load_text, "transcript": _load_transcript}


def load_stimulus(source: str | os.PathLike | Sequence[str], settings: Settings | None = None,
                  tr_s: float | None = None, transcript: str | os.PathLike | None = None) -> Stimulus:
    """Load a video, audio, text or transcript file, or per-TR strings, as one ``Stimulus`` timeline.

    Parameters
    ----------
    source : str, path-like, or list of str
        A file (see ``SUPPORTED_EXTENSIONS``; the kind comes from the extension, any letter case), or one
        string per TR (``""`` for silence).
    settings : Settings, optional
        Limits on duration and file size; ``Settings.from_env()`` when None.
    tr_s : float, optional
        The TR in seconds of per-TR strings: required for them, unused for files.
    transcript : str or path-like, optional
        The transcript (.srt .vtt .tsv) of a video or audio file, in place of the one beside it
        (``clip.srt`` for ``clip.mp4``) that is read otherwise.

    Returns
    -------
    Stimulus
        Video files get a frame reader and their sound track (16 kHz mono); audio files their sound; text is
        spoken by espeak-ng, which also times the words (paced at a fixed rate when espeak-ng is missing);
        transcripts give words with their times; per-TR strings give words spread evenly inside their TR.

    Raises
    ------
    UserInputError
        For a missing, empty, damaged or unaccepted file, text that is not UTF-8 or holds no words,
        malformed transcripts or per-TR lists, a transcript given with a file that is not media, and inputs
        over the duration or file-size limit.
    """
    settings = settings if settings is not None else Settings.from_env()
    if isinstance(source, list | tuple):
        texts, tr = _checked_tr_texts(source, tr_s)
        return _load_tr_texts(texts, tr, stimulus_key(texts, tr), settings)
    path, kind = _checked_file(source)
    size_mb = path.stat().st_size / 1e6
    if size_mb > settings.max_file_mb:
        raise UserInputError(f"{path.name} is {size_mb:.1f} MB, more than the limit of {settings.max_file_mb:g} MB "
                             "(setting max_file_mb, environment variable NFORGE_MAX_FILE_MB)")
    sidecar = _media_transcript(path, kind, transcript)
    key = _file_key(path, kind, sidecar)
    if kind in ("video", "audio"):
        return _load_media(path, key, settings, sidecar)
    return _LOADERS[kind](path, key, settings)
