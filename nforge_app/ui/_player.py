"""What the page's stimulus player needs, without gradio: the media to play (served from an allowed folder),
the words with their times, and the time link between the stimulus and the brain.

The viewer (``static/viewer.js``) hands this to ``static/player.js``, which plays the media beside the brain:
playing moves the time slider, moving the slider seeks the media, and the words of the moment show under it.
On BOLD time the brain at ``t`` shows the response to what was seen and heard about
:data:`HAEMODYNAMIC_DELAY_S` earlier; the player says so and shows those earlier words too.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from nforge_app._cache_budget import touch
from nforge_app._files import atomic_path, file_sha256, text_sha256
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.stimuli import SUPPORTED_EXTENSIONS, load_stimulus
from nforge_app.values import Prediction

HAEMODYNAMIC_DELAY_S = 5.0
"""About how long after an event the BOLD response peaks: what a BOLD-time brain lags the stimulus by."""
PLAYER_VERSION = "1"  # in the cached facts' names: a change of what they hold makes them again


def _served_copy(source: Path, folder: Path, name: str) -> Path:
    """``source`` under ``folder/name`` (a hard link when the file system allows it, else a copy)."""
    target = folder / name
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
    return target


def _sidecar(path: Path) -> Path | None:
    for suffix in SUPPORTED_EXTENSIONS["transcript"]:
        if path.with_suffix(suffix).is_file():
            return path.with_suffix(suffix)
    return None


def _words(stimulus) -> list[list]:
    return [[round(word.start_s, 3), round(word.start_s + word.duration_s, 3), word.text] for word in stimulus.words]


def player_facts(source: str | None, folder: Path, settings: Settings | None = None,
                 tr_texts: Sequence[str] | None = None, tr_s: float | None = None) -> dict:
    """The media (a file under ``folder``) and the words with times of a stimulus, made once per content.

    Parameters
    ----------
    source : str or None
        The stimulus file the prediction was made from (a video or audio file, with its transcript beside it,
        or a text file, spoken again by espeak-ng for the player), or None.
    folder : Path
        A folder the page serves (one of ``served_dirs``): the media and these facts are written there.
    settings : Settings, optional
        Limits for loading a text stimulus.
    tr_texts, tr_s : optional
        Per-TR text (when ``source`` is None): each line is shown over its TR.

    Returns
    -------
    dict
        ``media`` (a path under ``folder``, or None), ``kind`` (``"video"``, ``"audio"`` or None), ``words``
        (``[start_s, end_s, text]`` rows) and ``words_from`` (where the words come from, in words).
    """
    if source is None:
        if not tr_texts or not tr_s:
            return {"media": None, "kind": None, "words": [], "words_from": ""}
        rows = [[round(i * tr_s, 3), round((i + 1) * tr_s, 3), line.strip()] for i, line in enumerate(tr_texts)
                if line.strip()]
        return {"media": None, "kind": None, "words": rows, "words_from": "the text of each TR"}
    path = Path(source)
    suffix = path.suffix.lower()
    sidecar = _sidecar(path) if suffix not in SUPPORTED_EXTENSIONS["text"] + SUPPORTED_EXTENSIONS["transcript"] else None
    key = text_sha256(PLAYER_VERSION, file_sha256(path), file_sha256(sidecar) if sidecar else "")[:16]
    facts_path = folder / f"{key}.player.json"
    if facts_path.exists():  # made before; the cache budget may have removed its media since
        facts = json.loads(facts_path.read_text())
        if facts["media"] is None or Path(facts["media"]).is_file():
            for used in (facts_path, facts["media"]):
                if used:
                    touch(used)
            return facts
    media, kind, words, words_from = None, None, [], ""
    if suffix in SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]:
        kind = "video" if suffix in SUPPORTED_EXTENSIONS["video"] else "audio"
        media = _served_copy(path, folder, f"{key}{suffix}")
        if sidecar is not None:
            try:
                words, words_from = _words(load_stimulus(sidecar, settings)), sidecar.name
            except UserInputError:  # the prediction read it; a player without words is still a player
                words = []
    elif suffix in SUPPORTED_EXTENSIONS["text"]:
        stimulus = load_stimulus(path, settings)  # espeak-ng speaks it again (the prediction heard the same)
        words, words_from = _words(stimulus), f"{path.name}, timed by {stimulus.word_timing}"
        if stimulus.audio is not None:
            media, kind = stimulus.audio.write_wav(folder / f"{key}.wav"), "audio"
    elif suffix in SUPPORTED_EXTENSIONS["transcript"]:
        words, words_from = _words(load_stimulus(path, settings)), path.name
    facts = {"media": str(media) if media else None, "kind": kind, "words": words, "words_from": words_from}
    with atomic_path(facts_path) as tmp:
        tmp.write_text(json.dumps(facts))
    return facts


def player_value(facts: dict, prediction: Prediction, media_url: str | None) -> dict:
    """The player's part of the viewer's value: media URL, words, and how stimulus and brain times relate.

    Parameters
    ----------
    facts : dict
        From :func:`player_facts`.
    prediction : Prediction
        What the brain shows (its time axis says whether the brain lags the stimulus).
    media_url : str or None
        Where the browser downloads ``facts["media"]``.

    Returns
    -------
    dict
        ``media``, ``kind``, ``words``, ``words_from``, ``delay_s`` (how far the brain lags the stimulus on
        the slider's clock: :data:`HAEMODYNAMIC_DELAY_S` on BOLD time, 0 on stimulus time) and ``delay_note``.
    """
    bold = prediction.time_axis == "bold"
    if bold:
        note = (f"BOLD time: the brain at t shows the response to what was seen and heard about "
                f"{HAEMODYNAMIC_DELAY_S:g} s earlier (the haemodynamic delay).")
    else:
        note = (f"Stimulus time: the model shifted its BOLD back {prediction.hrf_offset_s:g} s, so the brain at t "
                "is its response to the moment t of the stimulus.")
    return {"media": media_url, "kind": facts.get("kind") if media_url else None, "words": facts.get("words", []),
            "words_from": facts.get("words_from", ""), "delay_s": HAEMODYNAMIC_DELAY_S if bold else 0.0,
            "delay_note": note}
