"""The page's side of the engine, without gradio: predictions kept by id, their viewer payloads, exports and
evaluations against measured fMRI.

Every prediction the page shows is saved under ``<cache>/ui/predictions/<id>.npz`` with its viewer payload
(``<cache>/ui/payloads/<id>-<version>.bin``, see :func:`geometry_recipe`), so that exports need only the id:
they work for any visitor, through the API, and after a restart. The id is a hash of the prediction itself.
What the page's inputs mean is in ``ui/_inputs.py``, what it says in ``ui/_texts.py``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nforge_app._cache_budget import CacheBudget, in_use
from nforge_app._files import atomic_path
from nforge_app._jobs import Jobs
from nforge_app._limits import job_timeout_s
from nforge_app.analysis import MEASURED_SUFFIXES
from nforge_app.checks import check_all_in
from nforge_app.config import Settings
from nforge_app.engine import Engine, keep_recent
from nforge_app.errors import UserInputError
from nforge_app.export import export_attribution, export_prediction, load_npz, save_evaluation, save_npz
from nforge_app.models import Prediction, get_card
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.stimuli import stimulus_sound
from nforge_app.ui._player import player_facts, player_value
from nforge_app.ui._texts import evaluation_summary, summary
from nforge_app.values import Attribution, Evaluation, RoiAttention
from nforge_app.viz import (
    DEFAULT_VIEWS,
    attention_payload,
    attribution_payload,
    attribution_rgb,
    default_regions,
    evaluation_payload,
    geometry_payload,
    get_colormap,
    picture_title,
    prediction_payload,
)

FILE_URL_PREFIX = "gradio_api/file="
NO_FILE_TITLE = "per-TR-text"
_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class RunResult:
    """A prediction shown on the page: its id, the viewer's value (JSON) and a summary (Markdown)."""

    prediction_id: str
    viewer_value: str
    summary: str
    prediction: Prediction


ATTRIBUTION_PAGE_FORMATS = ("png", "gif", "csv")
"""What the Export section writes of an explanation (:func:`nforge_app.export.export_attribution`)."""
EXPLAINED_KEPT = 64
"""Explanations kept in memory for the Export section (the most recent)."""


@dataclass(frozen=True)
class ExplanationResult:
    """A prediction explained on the page: the panels' value (JSON: payload URL, prediction id) and the
    attribution (its ``roi_attention``, or ``attention`` from the regions shown when none were asked for)."""

    panel_value: str
    attribution: Attribution | None  # None for a model that reads one modality (Text2fMRI): attention only
    attention: RoiAttention | None
    regions: tuple[str, ...]


@dataclass(frozen=True)
class EvaluationResult:
    """An evaluation shown on the page: the viewer's value (the r map), a summary and the eval.npz file."""

    viewer_value: str
    summary: str
    file: Path
    evaluation: Evaluation


def file_url(path: Path) -> str:
    """The URL (relative to the page) under which gradio serves a file from an allowed path."""
    return FILE_URL_PREFIX + Path(path).resolve().as_posix()


def served_dirs(settings: Settings) -> list[Path]:
    """Folders the page downloads from (gradio's ``allowed_paths``): payloads, exports, example media."""
    ui_dir = settings.cache_dir / "ui"
    return [ui_dir / "payloads", ui_dir / "exports", settings.cache_dir / "examples", ui_dir / "media"]


@functools.lru_cache(maxsize=1)
def attribution_recipe() -> str:
    """A digest of the code that makes the analysis panels' payload (it versions their file names)."""
    digest = hashlib.sha256()
    for maker in (attribution_payload, attribution_rgb, attention_payload):
        digest.update(Path(inspect.getsourcefile(inspect.unwrap(maker))).read_bytes() + b"\0")
    return digest.hexdigest()


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
        self.jobs = Jobs(self.settings.max_jobs, job_timeout_s(self.settings, "page"))
        self.cache_budget = CacheBudget.from_settings(self.settings)
        self._secret: bytes | None = None
        self._explained: OrderedDict[str, Attribution] = OrderedDict()  # prediction id -> its last attribution

    @property
    def engine(self) -> Engine:
        """The engine, built on first use."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
            return self._engine

    # -- files ------------------------------------------------------------------------------------
    def secret(self) -> bytes:
        """This server's secret (made once, kept in the cache): prediction ids cannot be computed elsewhere."""
        if self._secret is None:
            path = self.ui_dir / "secret"
            if not path.exists():
                with atomic_path(path) as tmp:
                    tmp.write_bytes(secrets.token_bytes(32))
                    tmp.chmod(0o600)
            self._secret = path.read_bytes()
        return self._secret

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

    # -- predictions ------------------------------------------------------------------------------------
    def predict(self, stimulus: str | list[str], tr_s: float | None, model: str, subject=None,
                roi: Sequence[str] = (), progress: Callable[[float, str], None] | None = None,
                **options) -> RunResult:
        """Predict with the engine (see ``ui/_inputs.stimulus_of`` for ``stimulus`` and ``tr_s``) and keep it.

        Raises
        ------
        UserInputError
            Anything the user can fix: an unknown region, a bad file, a model whose weights are missing
            (``ModelUnavailableError``).
        """
        kwargs = dict(subject=subject or None, roi=list(roi) or None, tr_s=tr_s, **options)
        prediction = self.engine.cached(stimulus, model, **kwargs)  # a cached answer waits for no job
        if prediction is None:
            with self.jobs.run("predict", progress) as checked:  # a slot, and the page's time limit
                prediction = self.engine.predict(stimulus, model, progress=checked, **kwargs)
        stimulus_path = None if isinstance(stimulus, list) else str(stimulus)
        result = self.keep(prediction, roi, stimulus_path, title=Path(stimulus_path).stem if stimulus_path
                           else NO_FILE_TITLE, tr_texts=stimulus if isinstance(stimulus, list) else None, tr_s=tr_s)
        self.cache_budget.maybe_enforce()
        return result

    def keep(self, prediction: Prediction, roi: Sequence[str], stimulus_path: str | None, title: str,
             tr_texts: Sequence[str] | None = None, tr_s: float | None = None) -> RunResult:
        """Save a prediction under its id (once) and build what the page shows for it (``tr_texts`` and
        ``tr_s``: the per-TR text it was made from, which the player shows)."""
        digest = hashlib.sha256(self.secret())
        for part in (prediction.model_id, prediction.space_id, str(prediction.subject), ",".join(roi)):
            digest.update(part.encode() + b"\0")
        for array in (prediction.data, prediction.indices, prediction.times_s):
            digest.update(np.ascontiguousarray(array).tobytes())
        prediction_id = digest.hexdigest()[:16]
        npz_path, sidecar_path, payload_path = self._paths(prediction_id)
        if not npz_path.exists():
            save_npz(prediction, npz_path)
        with atomic_path(sidecar_path) as tmp:
            tmp.write_text(json.dumps({"stimulus_path": stimulus_path, "roi": list(roi), "title": title,
                                       "tr_texts": list(tr_texts) if tr_texts else None, "tr_s": tr_s}))
        if not payload_path.exists():
            space = get_space(prediction.space_id, self.settings)
            payload = prediction_payload(prediction, space, load_fsaverage5(), roi=list(roi) or None)
            with atomic_path(payload_path) as tmp:
                tmp.write_bytes(payload)
        card = get_card(prediction.model_id)
        heading = f"{title} · {card.model_id}" + (" (baseline, not trained on fMRI)" if card.baseline else "")
        viewer_value = json.dumps({"geometry": self.geometry_url(), "payload": file_url(payload_path),
                                   "title": heading, "prediction_id": prediction_id,
                                   "player": self.player(prediction, stimulus_path, tr_texts, tr_s)})
        return RunResult(prediction_id, viewer_value, summary(prediction, card, roi), prediction)

    def view(self, prediction_id: str) -> str:
        """The viewer's value of a kept prediction again (after a map was shown in its place)."""
        prediction, facts = self.load(prediction_id)
        return self.keep(prediction, facts.get("roi") or [], facts.get("stimulus_path"),
                         facts.get("title") or NO_FILE_TITLE, facts.get("tr_texts"), facts.get("tr_s")).viewer_value

    def player(self, prediction: Prediction, stimulus_path: str | None, tr_texts: Sequence[str] | None = None,
               tr_s: float | None = None) -> dict | None:
        """The stimulus player's part of the viewer's value (``ui/_player.py``); None when the stimulus is gone
        or cannot be read again (the brain then plays alone)."""
        try:
            if stimulus_path is not None and not Path(stimulus_path).is_file():
                return None
            facts = player_facts(stimulus_path, self.ui_dir / "media", self.settings, tr_texts, tr_s)
        except UserInputError:
            return None
        return player_value(facts, prediction, file_url(Path(facts["media"])) if facts["media"] else None)

    def load(self, prediction_id: str) -> tuple[Prediction, dict]:
        """A kept prediction and its sidecar facts (stimulus path, regions asked for, title)."""
        npz_path, sidecar_path, _ = self._paths(prediction_id)
        if not npz_path.exists():
            raise UserInputError(f"no prediction with id {prediction_id!r} on this server: run it again")
        facts = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
        return load_npz(npz_path), facts

    # -- explanations ----------------------------------------------------------------------------------
    def explain(self, prediction_id: str, method: str | None = None,
                progress: Callable[[float, str], None] | None = None) -> ExplanationResult:
        """Split a kept prediction over its modalities with the engine (which caches it), with the ROI temporal
        attention of its regions, and write what the analysis panels download.

        Without regions asked for, the panels show the regions with the largest responses
        (:func:`~nforge_app.viz.default_regions`), explained with every output. ``method`` is one of
        ``ATTRIBUTION_METHODS`` (Shapley values by default).

        Raises
        ------
        UserInputError
            An unknown prediction, a stimulus no longer on this server, or what the engine refuses.
        """
        prediction, facts = self.load(prediction_id)
        card = get_card(prediction.model_id)
        stimulus, tr_s = self._stimulus_of(facts)
        space = get_space(prediction.space_id, self.settings)
        roi = list(facts.get("roi") or [])
        regions = tuple(roi) or tuple(default_regions(prediction, space))
        # One call: the outputs of the prediction (a mask of them all when it has no regions) and the attention of
        # the regions shown.
        attend = "attention" in card.capabilities and bool(regions)
        if attend and "attribution" not in card.capabilities:
            return self._attend_only(prediction_id, prediction, facts, stimulus, tr_s, regions, progress)
        whole = np.ones(space.n_outputs, dtype=np.uint8) if attend and not roi else None
        with self.jobs.run("explain", progress) as checked:
            attribution = self.engine.attribute(stimulus, prediction.model_id, subject=prediction.subject,
                                                roi=list(regions) if attend else roi or None, mask=whole,
                                                method=method, tr_s=tr_s, progress=checked)
        attention = attribution.roi_attention
        digest = hashlib.sha256(np.ascontiguousarray(attribution.scores).tobytes())
        digest.update(json.dumps([attribution.method, regions, attention is not None]).encode())
        if attention is not None:
            digest.update(np.ascontiguousarray(attention.attention).tobytes())
        path = (self.ui_dir / "payloads"
                / f"{prediction_id}-attr-{digest.hexdigest()[:12]}-{attribution_recipe()[:12]}.bin")
        if not path.exists():
            words = self._words(prediction, facts) if attention is not None else []
            payload = attribution_payload(attribution, space, regions, attention, words, self.settings)
            with atomic_path(path) as tmp:
                tmp.write_bytes(payload)
        value = json.dumps({"payload": file_url(path), "prediction_id": prediction_id,
                            "map": "attribution" in card.capabilities})
        with self._engine_lock:  # what the Export section writes for this prediction (the last one explained)
            keep_recent(self._explained, prediction_id, attribution, EXPLAINED_KEPT)
        return ExplanationResult(value, attribution, attention, regions)

    def _attend_only(self, prediction_id: str, prediction: Prediction, facts: dict, stimulus, tr_s, regions,
                     progress) -> ExplanationResult:
        """Explain a model with ROI temporal attention but no modality split (Text2fMRI: which TRs' text drove
        each region) through :meth:`Engine.roi_attention`; the modality panel keeps its one sentence."""
        with self.jobs.run("explain", progress) as checked:
            attention = self.engine.roi_attention(stimulus, prediction.model_id, subject=prediction.subject,
                                                  roi=list(regions), tr_s=tr_s, progress=checked)
        digest = hashlib.sha256(np.ascontiguousarray(attention.attention).tobytes())
        digest.update(json.dumps([attention.method, regions]).encode())
        path = (self.ui_dir / "payloads"
                / f"{prediction_id}-attn-{digest.hexdigest()[:12]}-{attribution_recipe()[:12]}.bin")
        if not path.exists():
            payload = attention_payload(attention, prediction.model_id, self._words(prediction, facts))
            with atomic_path(path) as tmp:
                tmp.write_bytes(payload)
        value = json.dumps({"payload": file_url(path), "prediction_id": prediction_id, "map": False})
        return ExplanationResult(value, None, attention, regions)

    @staticmethod
    def _stimulus_of(facts: dict) -> tuple[str | list[str], float | None]:
        """What the engine reads again for a kept prediction (its file, or its per-TR text) and the TR of that
        text."""
        path, lines = facts.get("stimulus_path"), facts.get("tr_texts")
        if path and Path(path).is_file():
            return path, None
        if lines:
            return list(lines), facts.get("tr_s")
        raise UserInputError("the stimulus of this prediction is no longer on this server: run it again, then "
                             "explain it")

    def _words(self, prediction: Prediction, facts: dict) -> list:
        """The words of a kept prediction's stimulus with their times (the player's), or none."""
        player = self.player(prediction, facts.get("stimulus_path"), facts.get("tr_texts"), facts.get("tr_s"))
        return list(player["words"]) if player else []

    # -- exports ----------------------------------------------------------------------------------------
    def export(self, prediction_id: str, formats: Sequence[str], picture: str = "surface", surface: str = "inflated",
               views: Sequence[str] = DEFAULT_VIEWS, color_scale: str = "symmetric", threshold_pct: float = 20.0,
               size_px: int = 400, attribution_formats: Sequence[str] = ()) -> tuple[list[Path], list[str]]:
        """Write the chosen formats of a kept prediction (:func:`nforge_app.export.export_prediction`), and of
        its last explanation (:func:`nforge_app.export.export_attribution`).

        Parameters
        ----------
        prediction_id : str
            As returned by :meth:`predict`.
        formats : sequence of str
            Any of ``EXPORT_FORMATS``.
        picture, surface, views, color_scale, threshold_pct, size_px :
            What the GIF and MP4 frames show (``views`` are used for surface pictures; a glass brain shows
            its four views). The MP4 carries the stimulus' sound.
        attribution_formats : sequence of str
            Any of ``png``, ``gif``, ``csv``: the modality attribution of the last *Explain* of this prediction
            (its RGB map, one RGB frame per time step, each region's shares); refused before *Explain*.

        Returns
        -------
        (files, notes)
            The files written (under ``<cache>/ui/exports/<id>/<random>/``, a folder of this request), and a
            sentence for each format that
            could not be written or needs a word.
        """
        prediction, facts = self.load(prediction_id)
        attribution_formats = list(attribution_formats or ())
        if attribution_formats:
            attribution_formats = check_all_in("attribution exports", attribution_formats, ATTRIBUTION_PAGE_FORMATS)
        with self._engine_lock:
            attribution = self._explained.get(prediction_id)
        if attribution_formats and attribution is None:
            raise UserInputError("the attribution exports need an explanation: press *Explain* in the analysis "
                                 "panels first (models that split over modalities only)")
        # a folder of this request, named at random: one visitor's files cannot be found from another's
        folder = self.ui_dir / "exports" / prediction_id / secrets.token_hex(16)
        title = facts.get("title") or NO_FILE_TITLE
        with self.jobs.run("export"), in_use(*self._paths(prediction_id)[:2]):
            sound = {}
            if "mp4" in (formats or ()):
                sound = stimulus_sound(facts.get("stimulus_path"), folder, self.settings)._asdict()
            written = export_prediction(prediction, formats, folder / f"{title}.{prediction.model_id}",
                                        picture=picture, views=views if picture == "surface" else None,
                                        surface=surface, color_scale=color_scale, threshold_pct=threshold_pct,
                                        size_px=size_px, title=picture_title(prediction, title),
                                        roi=facts.get("roi") or None, settings=self.settings, **sound)
            if attribution_formats:
                files, notes = export_attribution(
                    attribution, attribution_formats, folder / f"{title}.{prediction.model_id}.attr",
                    views=views if picture == "surface" and views else None, surface=surface, size_px=size_px,
                    roi=facts.get("roi") or None, settings=self.settings)
                written = (list(written[0]) + files, list(written[1]) + notes)
        self.cache_budget.maybe_enforce()
        return written

    # -- evaluations ------------------------------------------------------------------------------------
    def evaluate(self, prediction_id: str, files: Sequence[str] | str | None, run: str | None = None,
                 tr_s: float | None = None, lag_search: bool = False) -> EvaluationResult:
        """Score a kept prediction against measured runs with the engine; write its r map payload and eval.npz.

        Parameters
        ----------
        prediction_id : str
            As returned by :meth:`predict`.
        files : sequence of str
            Measured runs (see :func:`nforge_app.analysis.read_runs`: two GIfTI hemisphere files make one run;
            several runs are repeats of the stimulus).
        run : str, optional
            The run's name in HDF5 files with several runs.
        tr_s : float, optional
            TR of the measured data, when the files do not say it (0 or None: unknown).
        lag_search : bool
            Try lags from -5 to +10 s.

        Returns
        -------
        EvaluationResult
            The regions summarised are those the prediction was asked for; the files are written under
            ``<cache>/ui/payloads/`` and ``<cache>/ui/exports/<id>/``.

        Raises
        ------
        UserInputError
            No file, an unknown prediction id, or anything :func:`nforge_app.analysis.evaluate` refuses.
        """
        files = [files] if isinstance(files, str) else [str(f) for f in files or ()]
        if not files:
            raise UserInputError(f"no measured data yet: upload a run ({' '.join(MEASURED_SUFFIXES)}), two "
                                 ".func.gii files for the two hemispheres, or several runs of the same stimulus")
        prediction, facts = self.load(prediction_id)
        evaluation = self.engine.evaluate(prediction, files, run=(run or "").strip() or None,
                                          tr_s=float(tr_s) if tr_s else None, roi=facts.get("roi") or None,
                                          lag_search=bool(lag_search))
        digest = hashlib.sha256(np.ascontiguousarray(evaluation.r).tobytes() + evaluation.alignment.encode())
        payload_path = (self.ui_dir / "payloads"
                        / f"{prediction_id}-r-{digest.hexdigest()[:12]}-{geometry_recipe()[:12]}.bin")
        if not payload_path.exists():
            payload = evaluation_payload(evaluation, get_space(evaluation.space_id, self.settings), load_fsaverage5())
            with atomic_path(payload_path) as tmp:
                tmp.write_bytes(payload)
        title = facts.get("title") or NO_FILE_TITLE
        file = Path(save_evaluation(evaluation, self.ui_dir / "exports" / prediction_id / f"{title}.eval.npz"))
        viewer_value = json.dumps({"geometry": self.geometry_url(), "payload": file_url(payload_path),
                                   "title": f"r map · {title} · {prediction.model_id}",
                                   "prediction_id": prediction_id})
        return EvaluationResult(viewer_value, evaluation_summary(evaluation), file, evaluation)
