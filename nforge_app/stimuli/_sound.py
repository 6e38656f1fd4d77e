"""The sound of a stimulus, for a video of its prediction: what ``nforge_app.export.export_prediction`` muxes.

Exports know nothing of stimuli (they work on a Prediction alone), so the faces ask here for the sound that
goes with a prediction's stimulus, and pass it on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from nforge_app.config import Settings
from nforge_app.stimuli._load import SUPPORTED_EXTENSIONS, load_stimulus
from nforge_app.stimuli._media import probe


class StimulusSound(NamedTuple):
    """What an MP4 of a prediction carries; its fields are ``export_prediction``'s keywords of the same names."""

    audio_path: Path | None
    """A file whose sound to mux in, or None (a silent video)."""
    video_fps: float | None
    """The stimulus video's frame rate (None: not a video)."""
    audio_note: str | None
    """Why the video is silent, when it is."""


def stimulus_sound(source: str | os.PathLike | None, folder: str | os.PathLike,
                   settings: Settings | None = None) -> StimulusSound:
    """The sound of a stimulus (and its video's frame rate), for an MP4 of its prediction.

    Parameters
    ----------
    source : str, PathLike or None
        The stimulus file; None for per-TR text (which has no sound).
    folder : str or PathLike
        Where the speech of a text stimulus is written (``speech.wav``): espeak-ng speaks it again.
    settings : Settings, optional
        Limits for loading a text stimulus (read from the environment when omitted).

    Returns
    -------
    StimulusSound
        A video or audio file gives itself (when it has sound) and its frame rate; text gives its speech.
    """
    if source is None:
        return StimulusSound(None, None, "per-TR text has no sound; the video is silent")
    path = Path(source)
    if not path.is_file():
        return StimulusSound(None, None, f"the stimulus {path.name} is no longer here; the video is silent")
    silent = "the stimulus has no sound; the video is silent"
    if path.suffix.lower() in SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]:  # its own sound, as is
        info = probe(path)
        return StimulusSound(path, info.fps, None) if info.has_audio else StimulusSound(None, info.fps, silent)
    stimulus = load_stimulus(path, settings)
    if stimulus.audio is None:
        return StimulusSound(None, None, silent)
    return StimulusSound(stimulus.audio.write_wav(Path(folder) / "speech.wav"), None, None)
