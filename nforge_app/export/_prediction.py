"""Every export of a prediction, for every face: the page, the Python API and ``nforge export`` call this.

One function writes any of npz, GIF, MP4, GIfTI, CSV and JSON from one base path, so the same prediction
gives the same files whichever face asks. The pictures are the viewer's (:func:`nforge_app.viz.prediction_frames`);
the MP4's sound is given by the caller (a face finds it from the stimulus: ``nforge_app.stimuli.stimulus_sound``),
so that exporting needs neither features nor stimuli.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nforge_app.checks import check_all_in
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export._media import write_gif, write_mp4
from nforge_app.export._npz import save_npz
from nforge_app.export._tables import save_gifti, save_metadata_json, save_roi_csv
from nforge_app.values import Prediction
from nforge_app.viz import picture_options, prediction_frames

EXPORT_FORMATS = ("npz", "gif", "mp4", "gifti", "csv", "json")
DEFAULT_EXPORT_FORMATS = ("gif", "mp4", "csv")
SUFFIXES = {"npz": ".npz", "gif": ".gif", "mp4": ".mp4", "gifti": ".func.gii", "csv": ".csv", "json": ".json"}
"""The file suffix of each format (GIfTI: one ``<base>_hemi-L.func.gii`` and ``_hemi-R`` per hemisphere)."""


def export_prediction(prediction: Prediction, formats: Sequence[str], out_base: str | os.PathLike, *,
                      picture: str = "surface", views: str | Sequence[str] | None = None, surface: str = "inflated",
                      color_scale: str = "symmetric", threshold_pct: float = 20.0, size_px: int = 400,
                      title: str | None = None, roi: Sequence[str] | None = None,
                      audio_path: str | os.PathLike | None = None, video_fps: float | None = None,
                      audio_note: str | None = None,
                      settings: Settings | None = None) -> tuple[list[Path], list[str]]:
    """Write a prediction in the chosen formats, next to one another.

    Parameters
    ----------
    prediction : Prediction
        What to export.
    formats : sequence of str
        Any of :data:`EXPORT_FORMATS`: ``npz`` (lossless, ``nforge info`` reads it), ``gif`` and ``mp4`` (one
        frame per TR), ``gifti`` (surface models: one func file per hemisphere), ``csv`` (the mean time
        course of each region) and ``json`` (metadata: what the axes and columns are).
    out_base : str or PathLike
        Path without suffix: ``<out_base>.npz``, ``<out_base>.gif``, ``<out_base>_hemi-L.func.gii``... Its
        folder is made when missing.
    picture, views, surface, color_scale, threshold_pct, size_px, title :
        What the GIF and MP4 frames show (see :func:`nforge_app.viz.prediction_frames`).
    roi : sequence of str, optional
        The regions asked for: the CSV's columns (by default every region with a selected output) and a
        fact in the JSON.
    audio_path : str or PathLike, optional
        A video or audio file whose sound the MP4 carries (the stimulus, or its speech).
    video_fps : float, optional
        The MP4's frame rate (the stimulus video's, to line the two up; 25 by default).
    audio_note : str, optional
        Why the MP4 has no sound, added to the notes when an MP4 is written.
    settings : Settings, optional
        Where the atlases are (read from the environment when omitted).

    Returns
    -------
    (files, notes) : (list of Path, list of str)
        The files written, in the order of ``formats``, and one sentence for each format that could not be
        written (with several formats, one failing does not stop the others) or that needs a word (a
        silent MP4).

    Raises
    ------
    UserInputError
        An unknown format or picture option, or the only format asked for cannot be written (GIfTI of a
        parcel model, say).
    """
    formats = check_all_in("export formats", formats, EXPORT_FORMATS)
    if "gif" in formats or "mp4" in formats:  # a typo in a picture option is refused before anything is written
        picture_options(picture, views, surface, color_scale, threshold_pct, size_px)
    base = Path(out_base)
    targets = {base.with_name(base.name + SUFFIXES[fmt]).resolve() for fmt in formats}
    if audio_path is not None and Path(audio_path).resolve() in targets:
        raise UserInputError(f"the export would replace its own sound file {audio_path}: choose another name")
    base.parent.mkdir(parents=True, exist_ok=True)
    roi = list(roi or ())
    files: list[Path] = []
    notes: list[str] = []
    frames = None
    for fmt in formats:
        path = base.with_name(base.name + SUFFIXES[fmt])
        try:
            if fmt in ("gif", "mp4") and frames is None:
                frames = prediction_frames(prediction, picture=picture, views=views, surface=surface,
                                           color_scale=color_scale, threshold_pct=threshold_pct, size_px=size_px,
                                           title=title, settings=settings)
            if fmt == "npz":
                files.append(Path(save_npz(prediction, path)))
            elif fmt == "gif":
                files.append(write_gif(frames, path, prediction.tr_s))
            elif fmt == "mp4":
                files.append(write_mp4(frames, path, prediction.tr_s, audio_path=audio_path, fps=video_fps))
                if audio_path is None and audio_note:
                    notes.append(f"mp4: {audio_note}")
            elif fmt == "gifti":
                files.extend(save_gifti(prediction, base, settings=settings))
            elif fmt == "csv":
                files.append(save_roi_csv(prediction, path, names=roi or None, settings=settings))
            else:
                files.append(save_metadata_json(prediction, path, extra={"roi_asked": roi}))
        except UserInputError as error:
            if len(formats) == 1:
                raise
            notes.append(f"{fmt}: {error}")
    return files, notes
