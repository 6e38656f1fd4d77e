"""What the page's inputs mean for the engine, without gradio: the stimulus (:func:`stimulus_of`) and the
regions (:func:`parse_roi`, :func:`roi_choices`)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from nforge_app._files import atomic_path, file_sha256
from nforge_app.checks import check_in
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.models import ModelCard
from nforge_app.spaces import NETWORKS, get_space
from nforge_app.stimuli import SUPPORTED_EXTENSIONS

SOURCES = ("media", "text file", "per-TR text")
MEDIA_EXTENSIONS = SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]
TEXT_EXTENSIONS = SUPPORTED_EXTENSIONS["text"] + SUPPORTED_EXTENSIONS["transcript"]
TRANSCRIPT_EXTENSIONS = SUPPORTED_EXTENSIONS["transcript"]


def stimulus_of(ui_dir: Path, source: str, media_file: str | None, transcript_file: str | None,
                text_file: str | None, tr_text: str | None, tr_s: float | None,
                card: ModelCard) -> tuple[str | list[str], float | None]:
    """The engine's stimulus argument (a path or per-TR strings) and TR for what the page's inputs hold.

    A transcript given with a media file is placed beside (a copy of) it, under ``ui_dir/stimuli``, where
    the stimulus loader looks for one.

    Raises
    ------
    UserInputError
        Nothing to predict from: no file, an empty text box, a transcript of the wrong kind.
    """
    check_in("input kind", source, SOURCES)
    if source == "media":
        if not media_file:
            raise UserInputError(f"no video or audio file yet: upload one ({' '.join(MEDIA_EXTENSIONS)}) or "
                                 "pick an example")
        return (_with_transcript(ui_dir, media_file, transcript_file) if transcript_file else media_file), None
    if source == "text file":
        if not text_file:
            raise UserInputError(f"no text file yet: upload one ({' '.join(TEXT_EXTENSIONS)}) or pick an example")
        return text_file, None
    lines = (tr_text or "").splitlines()
    if not any(line.strip() for line in lines):
        raise UserInputError("the text box is empty: write one line of text per TR (an empty line is a TR "
                             "without words)")
    return lines, float(tr_s) if tr_s else card.tr_s


def _with_transcript(ui_dir: Path, media_file: str, transcript_file: str) -> str:
    """A folder holding the media file and the transcript under the same name; the media file's path."""
    media, transcript = Path(media_file), Path(transcript_file)
    check_in("transcript suffix", transcript.suffix.lower(), TRANSCRIPT_EXTENSIONS)
    folder = ui_dir / "stimuli" / hashlib.sha256(
        f"{file_sha256(media)}:{file_sha256(transcript)}".encode()).hexdigest()[:16]
    paired = folder / media.name
    for source_path, target in ((media, paired), (transcript, folder / (media.stem + transcript.suffix.lower()))):
        if not target.exists():
            with atomic_path(target) as tmp:
                shutil.copyfile(source_path, tmp)
    return str(paired)


def parse_roi(roi) -> list[str]:
    """Region entries from the picker: strings, each possibly holding several names separated by commas."""
    if roi is None:
        return []
    entries = [roi] if isinstance(roi, str) else list(roi)
    return [name.strip() for entry in entries for name in str(entry).split(",") if name.strip()]


def roi_choices(card: ModelCard, settings: Settings) -> list[str]:
    """What the region picker offers for a model: the Yeo-7 networks, then its space's region names."""
    return list(NETWORKS) + list(get_space(card.space_id, settings).roi_labels)
