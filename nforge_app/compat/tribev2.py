"""The TRIBE v2 quick start, unchanged, on the NForge engine.

People arrive with TRIBE v2's README in hand; its three calls work as written::

    from nforge_app.compat.tribev2 import TribeModel

    model = TribeModel.from_pretrained("facebook/tribev2", cache_folder="./cache")
    df = model.get_events_dataframe(video_path="clip.mp4")   # or audio_path= / text_path=
    preds, segments = model.predict(events=df)
    preds.shape  # (n_timesteps, 20484): fsaverage5, 1 Hz, stimulus time (BOLD shifted back 5 s)

Underneath: our safe release loading (restricted YAML, ``torch.load(weights_only=True)``), the float32
encoder by default, the feature and prediction caches (in ``cache_folder``). The events table is a pandas
DataFrame with columns ``type`` (``"Video"``, ``"Audio"``, ``"Text"`` for the stimulus file, ``"Word"`` for
each word), ``start`` and ``duration`` (seconds), ``text`` (the word; empty for the file row) and
``filepath`` (the file row). Edit its words (a corrected transcript) and :meth:`TribeModel.predict` uses
them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.models.tribe import HRF_OFFSET_S
from nforge_app.progress import stderr_progress
from nforge_app.stimuli import Stimulus, Word, load_stimulus

__all__ = ["Segment", "TribeModel"]

RELEASE_REPO = "facebook/tribev2"
MODEL_ID = "tribe-v2"
_FILE_TYPES = {"video": "Video", "audio": "Audio", "text": "Text", "transcript": "Text"}
COLUMNS = ("type", "start", "duration", "text", "filepath")


@dataclass(frozen=True)
class Segment:
    """The stimulus time one row of the predictions stands for (``start`` seconds, ``duration`` seconds).

    The row is the predicted BOLD response at ``start + offset_s`` (the haemodynamic delay), reported at
    ``start`` like TRIBE v2 does.
    """

    start: float
    duration: float
    offset_s: float = HRF_OFFSET_S


class TribeModel:
    """TRIBE v2 with the reference's method names; see the module docstring.

    Build it with :meth:`from_pretrained`.
    """

    def __init__(self, engine: Engine, variant: str | None, options: dict) -> None:
        self.engine, self.variant, self.options = engine, variant, dict(options)

    @classmethod
    def from_pretrained(cls, checkpoint_dir: str | Path = RELEASE_REPO, cache_folder: str | Path | None = None,
                        device: str | None = None, **options) -> TribeModel:
        """The model from a hub repository id or a local release folder (``config.yaml`` + ``best.ckpt``).

        Parameters
        ----------
        checkpoint_dir : str or Path
            ``"facebook/tribev2"`` (``<NFORGE_WEIGHTS_DIR>/tribe-v2`` is used first when it holds a release),
            another hub id, or a local folder.
        cache_folder : str or Path, optional
            Where features, predictions and downloads are kept (default: NForge's cache folder).
        device : str, optional
            ``"cpu"``, ``"cuda"`` or ``"auto"`` (default: NForge's setting).
        **options
            TRIBE v2 model options (``precision``, ``text_mode``, ``low_mem_use``, ... see ``nforge models``).

        Raises
        ------
        ModelUnavailableError
            When the release cannot be had (the message says why and what to do).
        """
        settings = Settings.from_env(**({"cache_dir": Path(cache_folder).expanduser()} if cache_folder else {}))
        engine = Engine(settings, device=device)
        variant = None if str(checkpoint_dir) == RELEASE_REPO else str(checkpoint_dir)
        model = cls(engine, variant, options)
        engine.load_model(MODEL_ID, variant, **options)  # fails now, not at the first prediction
        return model

    def get_events_dataframe(self, video_path: str | Path | None = None, audio_path: str | Path | None = None,
                             text_path: str | Path | None = None):
        """The events of one stimulus file: a row for the file, then one per word with its timing.

        Exactly one of ``video_path``, ``audio_path`` and ``text_path`` (a .txt file, spoken and timed, or a
        transcript .srt/.vtt/.tsv). Words come from the transcript beside a media file, WhisperX when it is
        installed, or the speech synthesis of a text.

        Returns
        -------
        pandas.DataFrame
            Columns ``type, start, duration, text, filepath``.
        """
        import pandas as pd

        given = {name: path for name, path in (("video_path", video_path), ("audio_path", audio_path),
                                               ("text_path", text_path)) if path is not None}
        if len(given) != 1:
            raise UserInputError("give exactly one of video_path, audio_path and text_path; got "
                                 f"{', '.join(given) or 'none'}")
        path = str(next(iter(given.values())))
        stimulus = load_stimulus(path, self.engine.settings)
        rows = [{"type": _FILE_TYPES.get(stimulus.kind, stimulus.kind.title()), "start": 0.0,
                 "duration": stimulus.duration_s, "text": "", "filepath": path}]
        rows += [{"type": "Word", "start": w.start_s, "duration": w.duration_s, "text": w.text, "filepath": ""}
                 for w in stimulus.words]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def predict(self, events, verbose: bool = False) -> tuple[np.ndarray, list[Segment]]:
        """Predicted fMRI for an events table from :meth:`get_events_dataframe` (its words may be edited).

        Returns
        -------
        preds : ndarray, float32 (n_timesteps, 20484)
            One row per second of the stimulus, on stimulus time (BOLD shifted back 5 s), fsaverage5.
        segments : list of Segment
            The stimulus time of each row.
        """
        missing = [c for c in ("type", "start", "duration", "text") if c not in events.columns]
        if missing:
            raise UserInputError(f"the events table lacks the columns {', '.join(missing)}; make it with "
                                 "get_events_dataframe")
        files = events[events["type"] != "Word"]
        if len(files) != 1 or "filepath" not in events.columns:
            raise UserInputError("the events table must hold one stimulus file row (type Video, Audio or Text "
                                 "with its filepath), as get_events_dataframe makes it")
        path = str(files["filepath"].iloc[0])
        stimulus = load_stimulus(path, self.engine.settings)
        stimulus = _with_words(stimulus, events[events["type"] == "Word"])
        with stderr_progress(enabled=verbose) as progress:
            prediction = self.engine.predict(stimulus, MODEL_ID, variant=self.variant, progress=progress,
                                             **self.options)
        segments = [Segment(float(t), float(prediction.tr_s)) for t in prediction.times_s]
        return np.asarray(prediction.data, dtype=np.float32), segments


def _with_words(stimulus: Stimulus, rows) -> Stimulus:
    """``stimulus`` with the words of the table (its cache key follows them when they were edited)."""
    words = tuple(Word(str(text), float(start), float(duration))
                  for text, start, duration in zip(rows["text"], rows["start"], rows["duration"]))
    if words == tuple(stimulus.words):
        return stimulus
    bad = [w for w in words if not (np.isfinite(w.start_s) and np.isfinite(w.duration_s)) or w.start_s < 0
           or w.duration_s < 0 or w.start_s > stimulus.duration_s]
    if bad:
        raise UserInputError(f"{len(bad)} word(s) of the events table have times outside the stimulus "
                             f"(0 to {stimulus.duration_s:g} s), e.g. {bad[0]}")
    digest = hashlib.sha256(stimulus.content_hash.encode())
    for word in words:
        digest.update(f"{word.text}\0{word.start_s!r}\0{word.duration_s!r}\n".encode())
    return dataclasses.replace(stimulus, words=words, content_hash=digest.hexdigest(),
                               word_timing="events table")
