"""Entry points of the stimuli package (implementation pending)."""

from __future__ import annotations

SUPPORTED_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "video": (".mp4", ".avi", ".mkv", ".mov", ".webm"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a"),
    "text": (".txt",),
    "transcript": (".srt", ".vtt", ".tsv"),
}


def stimulus_key(source, tr_s=None) -> str:
    raise NotImplementedError


def load_stimulus(source, settings=None, tr_s=None):
    raise NotImplementedError
