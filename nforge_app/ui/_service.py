"""What the web page asks for, without gradio: run a prediction through the engine, keep it, export it.

Every prediction the page shows is saved under ``<cache>/ui/predictions/<id>.npz`` with its viewer payload
(``<cache>/ui/payloads/<id>-<version>.bin``, see :func:`geometry_recipe`), so that exports need only the id: they work for any visitor, through
the API, and after a restart. The id is a hash of the prediction itself.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path, file_sha256
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.export import (
    load_npz,
    save_gifti,
    save_metadata_json,
    save_npz,
    save_roi_csv,
    write_gif,
    write_mp4,
)
from nforge_app.models import ModelCard, Prediction, get_card
from nforge_app.spaces import NETWORKS, get_space, load_fsaverage5
from nforge_app.stimuli import SUPPORTED_EXTENSIONS, load_stimulus, probe
from nforge_app.viz import (
    DEFAULT_VIEWS,
    SURFACE_VIEWS,
    VIEWER_COLORMAPS,
    geometry_payload,
    get_colormap,
    glass_brain_frames,
    prediction_payload,
    surface_frames,
    value_stats,
    viewer_limits,
)

SOURCES = ("media", "text file", "per-TR text")
MEDIA_EXTENSIONS = SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]
TEXT_EXTENSIONS = SUPPORTED_EXTENSIONS["text"] + SUPPORTED_EXTENSIONS["transcript"]
TRANSCRIPT_EXTENSIONS = SUPPORTED_EXTENSIONS["transcript"]
EXPORT_FORMATS = ("npz", "gif", "mp4", "gifti", "csv", "json")
PICTURES = ("surface", "glass brain")
COLOR_SCALES = tuple(VIEWER_COLORMAPS)
FILE_URL_PREFIX = "gradio_api/file="
_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class RunResult:
    """A prediction shown on the page: its id, the viewer's value (JSON) and a summary (Markdown)."""

    prediction_id: str
    viewer_value: str
    summary: str
    prediction: Prediction


def file_url(path: Path) -> str:
    """The URL (relative to the page) under which gradio serves a file from an allowed path."""
    return FILE_URL_PREFIX + Path(path).resolve().as_posix()


def served_dirs(settings: Settings) -> list[Path]:
    """Folders the page downloads from (gradio's ``allowed_paths``): payloads, exports, example media."""
    ui_dir = settings.cache_dir / "ui"
    return [ui_dir / "payloads", ui_dir / "exports", settings.cache_dir / "examples"]


@functools.lru_cache(maxsize=1)
def geometry_recipe() -> str:
    """A digest of everything the viewer's mesh payload is made from, known without making it.

    Its source files hold the prediction payload's code too, so it versions both payloads' file names.

    Returns
    -------
    str
        sha256 (hex) of the source files that build the payload (those of :func:`geometry_payload`, of the
        colour maps and of :func:`load_fsaverage5`) and of the versions of nilearn (which ships the mesh)
        and numpy.
    """
    digest = hashlib.sha256()
    for maker in (geometry_payload, get_colormap, load_fsaverage5):
        digest.update(Path(inspect.getsourcefile(inspect.unwrap(maker))).read_bytes() + b"\0")
    digest.update(f"nilearn {importlib.metadata.version('nilearn')}; numpy {np.__version__}".encode())
    return digest.hexdigest()


def parse_roi(roi) -> list[str]:
    """Region entries from the picker: strings, each possibly holding several names separated by commas."""
    if roi is None:
        return []
    entries = [roi] if isinstance(roi, str) else list(roi)
    return [name.strip() for entry in entries for name in str(entry).split(",") if name.strip()]


def roi_choices(card: ModelCard, settings: Settings) -> list[str]:
    """What the region picker offers for a model: the Yeo-7 networks, then its space's region names."""
    return list(NETWORKS) + list(get_space(card.space_id, settings).roi_labels)


def _stem(path: str | None) -> str:
    return Path(path).stem if path else "per-TR-text"


class AppService:
    """The page's side of the engine: predictions by id, viewer payloads and exports.

    Parameters
    ----------
    engine : Engine, optional
        Runs every prediction (the page does no science of its own). Without one, an engine with ``settings``
        is built when a prediction first needs it (it imports torch: the page and the cached examples need not
        wait for that).
    settings : Settings, optional
        Used when no engine is given (read from the environment by default).
    """

    def __init__(self, engine: Engine | None = None, settings: Settings | None = None) -> None:
        self.settings = engine.settings if engine is not None else settings or Settings.from_env()
        self.ui_dir = self.settings.cache_dir / "ui"
        self._geometry_url: str | None = None
        self._engine = engine
        self._engine_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine, built on first use."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
            return self._engine

    # -- files ------------------------------------------------------------------------------------
    def geometry_url(self) -> str:
        """URL of the mesh payload, written once per version of what makes it (see :func:`geometry_recipe`).

        Its name holds that version, so browsers may cache it; later starts serve the file as it is, without
        loading the mesh (nilearn takes seconds to import, while the page is starting).
        """
        if self._geometry_url is None:
            path = self.ui_dir / "payloads" / f"fsaverage5-{geometry_recipe()[:12]}.bin"
            if not path.exists():
                with atomic_path(path) as tmp:
                    tmp.write_bytes(geometry_payload(load_fsaverage5()))
            self._geometry_url = file_url(path)
        return self._geometry_url

    def _paths(self, prediction_id: str) -> tuple[Path, Path, Path]:
        if not isinstance(prediction_id, str) or not _ID.match(prediction_id):
            raise UserInputError(f"unknown prediction id {str(prediction_id)[:40]!r}: run a prediction first (ids "
                                 "are 16 hexadecimal characters, as returned by predict)")
        return (self.ui_dir / "predictions" / f"{prediction_id}.npz",
                self.ui_dir / "predictions" / f"{prediction_id}.json",
                # named by the payload code's version too, so an upgrade never serves an old layout
                self.ui_dir / "payloads" / f"{prediction_id}-{geometry_recipe()[:12]}.bin")

    # -- predictions ------------------------------------------------------------------------------
    def stimulus_of(self, source: str, media_file: str | None, transcript_file: str | None, text_file: str | None,
                    tr_text: str | None, tr_s: float | None, card: ModelCard) -> tuple[str | list[str], float | None]:
        """The engine's stimulus argument (a path or per-TR strings) and TR for what the page holds.

        A transcript given with a media file is placed beside (a copy of) it, where the stimulus loader
        looks for one.
        """
        if source not in SOURCES:
            raise UserInputError(f"unknown input kind {source!r}; accepted: {', '.join(SOURCES)}")
        if source == "media":
            if not media_file:
                raise UserInputError(f"no video or audio file yet: upload one ({' '.join(MEDIA_EXTENSIONS)}) or "
                                     "pick an example")
            return (self._with_transcript(media_file, transcript_file) if transcript_file else media_file), None
        if source == "text file":
            if not text_file:
                raise UserInputError(f"no text file yet: upload one ({' '.join(TEXT_EXTENSIONS)}) or pick an example")
            return text_file, None
        lines = (tr_text or "").splitlines()
        if not any(line.strip() for line in lines):
            raise UserInputError("the text box is empty: write one line of text per TR (an empty line is a TR "
                                 "without words)")
        return lines, float(tr_s) if tr_s else card.tr_s

    def _with_transcript(self, media_file: str, transcript_file: str) -> str:
        """A folder holding the media file and the transcript under the same name; the media file's path."""
        media, transcript = Path(media_file), Path(transcript_file)
        if transcript.suffix.lower() not in TRANSCRIPT_EXTENSIONS:
            raise UserInputError(f"{transcript.name}: a transcript must end in {', '.join(TRANSCRIPT_EXTENSIONS)}")
        folder = self.ui_dir / "stimuli" / hashlib.sha256(
            f"{file_sha256(media)}:{file_sha256(transcript)}".encode()).hexdigest()[:16]
        paired = folder / media.name
        for source_path, target in ((media, paired), (transcript, folder / (media.stem + transcript.suffix.lower()))):
            if not target.exists():
                with atomic_path(target) as tmp:
                    shutil.copyfile(source_path, tmp)
        return str(paired)

    def run(self, source: str, media_file: str | None, transcript_file: str | None, text_file: str | None,
            tr_text: str | None, tr_s: float | None, model: str, subject=None, roi=None,
            progress: Callable[[float, str], None] | None = None) -> RunResult:
        """Predict with the engine, keep the prediction and its viewer payload, describe it.

        Raises
        ------
        UserInputError
            Anything the user can fix: no input, an empty text box, an unknown region, a bad file, a model
            whose weights are missing (``ModelUnavailableError``).
        """
        card = get_card(model)
        stimulus, tr = self.stimulus_of(source, media_file, transcript_file, text_file, tr_text, tr_s, card)
        names = parse_roi(roi)
        prediction = self.engine.predict(stimulus, model, subject=subject or None, roi=names or None, tr_s=tr,
                                         progress=progress)
        stimulus_path = None if isinstance(stimulus, list) else str(stimulus)
        return self.keep(prediction, names, stimulus_path, title=_stem(stimulus_path))

    def keep(self, prediction: Prediction, roi: Sequence[str], stimulus_path: str | None, title: str) -> RunResult:
        """Save a prediction under its id (once) and build what the page shows for it."""
        digest = hashlib.sha256()
        for part in (prediction.model_id, prediction.space_id, str(prediction.subject), ",".join(roi)):
            digest.update(part.encode() + b"\0")
        for array in (prediction.data, prediction.indices, prediction.times_s):
            digest.update(np.ascontiguousarray(array).tobytes())
        prediction_id = digest.hexdigest()[:16]
        npz_path, sidecar_path, payload_path = self._paths(prediction_id)
        if not npz_path.exists():
            save_npz(prediction, npz_path)
        with atomic_path(sidecar_path) as tmp:
            tmp.write_text(json.dumps({"stimulus_path": stimulus_path, "roi": list(roi), "title": title}))
        if not payload_path.exists():
            space = get_space(prediction.space_id, self.settings)
            payload = prediction_payload(prediction, space, load_fsaverage5(), roi=list(roi) or None)
            with atomic_path(payload_path) as tmp:
                tmp.write_bytes(payload)
        card = get_card(prediction.model_id)
        heading = f"{title} · {card.model_id}" + (" (baseline, not trained on fMRI)" if card.baseline else "")
        viewer_value = json.dumps({"geometry": self.geometry_url(), "payload": file_url(payload_path),
                                   "title": heading, "prediction_id": prediction_id})
        return RunResult(prediction_id, viewer_value, self.summary(prediction, card, roi), prediction)

    @staticmethod
    def summary(prediction: Prediction, card: ModelCard, roi: Sequence[str]) -> str:
        """A few Markdown lines: what was predicted, on which axis, with which caveats."""
        n_steps, n_outputs = prediction.data.shape
        unit = "vertices" if prediction.space_id == "fsaverage5" else "parcels"
        selection = ", ".join(f"`{name}`" for name in roi) if roi else "whole brain"
        lines = [f"**{card.name}** (`{card.model_id}`), subject `{prediction.subject}`: {n_steps} time steps × "
                 f"{n_outputs:,} {unit} of {prediction.space_id} ({selection}).",
                 f"Time axis: {prediction.time_label}; TR {prediction.tr_s:g} s."]
        if card.baseline:
            lines.append("⚠️ This is a **baseline, not trained on fMRI**: stimulus features painted on the regions "
                         "known to respond to them. Use it to learn the tool, not as a brain model.")
        stimulus = prediction.metadata.get("stimulus")
        if isinstance(stimulus, dict):
            notes = [note for note in stimulus.get("notes", []) if note]
            if notes:
                lines.append("Notes: " + "; ".join(notes) + ".")
        return "\n\n".join(lines)

    def load(self, prediction_id: str) -> tuple[Prediction, dict]:
        """A kept prediction and its sidecar facts (stimulus path, regions asked for, title)."""
        npz_path, sidecar_path, _ = self._paths(prediction_id)
        if not npz_path.exists():
            raise UserInputError(f"no prediction with id {prediction_id!r} on this server: run it again")
        facts = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
        return load_npz(npz_path), facts

    # -- exports ----------------------------------------------------------------------------------
    def export(self, prediction_id: str, formats: Sequence[str], picture: str = "surface", surface: str = "inflated",
               views: Sequence[str] = DEFAULT_VIEWS, color_scale: str = "symmetric", threshold_pct: float = 20.0,
               size_px: int = 400) -> tuple[list[Path], list[str]]:
        """Write the chosen formats of a kept prediction.

        Parameters
        ----------
        prediction_id : str
            As returned by :meth:`run`.
        formats : sequence of str
            Any of :data:`EXPORT_FORMATS`.
        picture : str
            What GIF and MP4 frames show: ``"surface"`` (any model) or ``"glass brain"`` (parcel models).
        surface, views :
            Surface and views of the surface pictures (see ``nforge_app.viz.surface``).
        color_scale : str
            ``"symmetric"`` (around 0) or ``"one-sided"`` (positive values), as in the viewer.
        threshold_pct : float
            Values below this percentage of the robust maximum show the anatomy, as in the viewer.
        size_px : int
            Size of each view in the pictures.

        Returns
        -------
        (files, notes)
            The files written, and a sentence for each format that could not be written.
        """
        formats = list(dict.fromkeys(formats or ()))
        unknown = [f for f in formats if f not in EXPORT_FORMATS]
        if unknown or not formats:
            raise UserInputError(f"choose export formats among {', '.join(EXPORT_FORMATS)}"
                                 + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else ""))
        prediction, facts = self.load(prediction_id)
        folder = self.ui_dir / "exports" / prediction_id
        base = folder / f"{facts.get('title') or _stem(None)}.{prediction.model_id}"
        files: list[Path] = []
        notes: list[str] = []
        frames = None
        for fmt in formats:
            try:
                if fmt == "npz":
                    files.append(Path(save_npz(prediction, base.with_name(base.name + ".npz"))))
                elif fmt in ("gif", "mp4"):
                    if frames is None:
                        frames = self.frames(prediction, facts, picture, surface, views, color_scale, threshold_pct,
                                             size_px)
                    if fmt == "gif":
                        files.append(write_gif(frames, base.with_name(base.name + ".gif"), prediction.tr_s))
                    else:
                        audio, fps, note = self._sound_of(facts.get("stimulus_path"), folder)
                        files.append(write_mp4(frames, base.with_name(base.name + ".mp4"), prediction.tr_s,
                                               audio_path=audio, fps=fps))
                        if note:
                            notes.append(note)
                elif fmt == "gifti":
                    files.extend(save_gifti(prediction, base, settings=self.settings))
                elif fmt == "csv":
                    files.append(save_roi_csv(prediction, base.with_name(base.name + ".roi_means.csv"),
                                              names=facts.get("roi") or None, settings=self.settings))
                else:
                    files.append(save_metadata_json(prediction, base.with_name(base.name + ".json"),
                                                    extra={"roi_asked": facts.get("roi") or []}))
            except UserInputError as error:
                if len(formats) == 1:
                    raise
                notes.append(f"{fmt}: {error}")
        return files, notes

    def frames(self, prediction: Prediction, facts: dict, picture: str, surface: str, views: Sequence[str],
               color_scale: str, threshold_pct: float, size_px: int) -> list:
        """The pictures of every time step, coloured as the viewer colours them."""
        if picture not in PICTURES:
            raise UserInputError(f"unknown picture {picture!r}; accepted: {', '.join(PICTURES)}")
        space = get_space(prediction.space_id, self.settings)
        if picture == "surface":
            full = space.to_surface(prediction.data, prediction.indices)
        else:  # parcels at their centroids, or surface vertices where they lie
            full = np.full((len(prediction.data), space.n_outputs), np.nan, dtype=np.float32)
            full[:, prediction.indices] = prediction.data
        if not np.isfinite(full).any():
            raise UserInputError("the prediction holds no finite value to draw")
        vmin, vmax, threshold = viewer_limits(value_stats(full), color_scale, float(threshold_pct))
        card = get_card(prediction.model_id)
        title = f"{facts.get('title') or 'prediction'} · {card.model_id}" + (" (baseline)" if card.baseline else "")
        common = dict(times_s=prediction.times_s, cmap=VIEWER_COLORMAPS[color_scale], title=title,
                      size_px=int(size_px), vmin=vmin, vmax=vmax, threshold=threshold or None)
        if picture == "surface":
            unknown = [v for v in views if v not in SURFACE_VIEWS]
            if unknown or not views:
                raise UserInputError(f"choose views among {', '.join(SURFACE_VIEWS)}"
                                     + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
            return surface_frames(full, views=tuple(views), surface=surface, **common)
        return glass_brain_frames(full, **common)

    def _sound_of(self, stimulus_path: str | None, folder: Path) -> tuple[Path | None, float | None, str | None]:
        """The sound to mux into an MP4 and the video's frame rate, from the stimulus file."""
        if not stimulus_path:
            return None, None, "mp4: per-TR text has no sound; the video is silent"
        if not os.path.exists(stimulus_path):
            return None, None, "mp4: the stimulus file is no longer on the server; the video is silent"
        silent = "mp4: the stimulus has no sound; the video is silent"
        suffix = Path(stimulus_path).suffix.lower()
        if suffix in SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]:  # its own sound, muxed as is
            info = probe(Path(stimulus_path))
            return (Path(stimulus_path), info.fps, None) if info.has_audio else (None, info.fps, silent)
        stimulus = load_stimulus(stimulus_path, self.settings)  # text: its speech is made again (espeak-ng)
        if stimulus.audio is None:
            return None, None, silent
        return stimulus.audio.write_wav(folder / "speech.wav"), None, None
