"""What the Compare tab asks for, without gradio: run an in-silico experiment, keep it, show it, export it.

Every result is saved under ``<cache>/ui/contrasts/<id>.npz`` (the id is a hash of the result), so that a
new threshold, another colouring or an export needs only the id. The map goes to the page's brain viewer as
a one-row prediction (the outputs that pass the threshold), through :meth:`AppService.keep`; what the tab
says is in ``ui/_texts.py`` (:func:`~nforge_app.ui._texts.contrast_summary`).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nforge_app._version import __version__
from nforge_app.analysis import contrast, contrast_vector, get_teaching_experiment, glm
from nforge_app.checks import check_in, check_range
from nforge_app.errors import UserInputError
from nforge_app.export import (
    load_contrast_npz,
    map_prediction,
    save_contrast_gifti,
    save_contrast_npz,
    save_contrast_png,
    save_region_csv,
)
from nforge_app.ui._service import AppService
from nforge_app.ui._texts import contrast_summary
from nforge_app.values import ContrastMap

MODES = ("blocks", "events")
"""A block design (the stimuli of A and of B) or an event design (one stimulus and its events.tsv)."""
THRESHOLDS = ("p below", "|t| at least")
"""How the map is thresholded: corrected p below a value, or ``|t|`` at least a value."""
MAP_COLOURS = ("effect", "t")
TABLE_HEADERS = ("region", "effect", "t", "p (corrected)")
TABLE_ROWS = 15
_ID = re.compile(r"^[0-9a-f]{16}$")
# Per sign of a condition's weight in the contrast: the colours of its blocks and of its regressor.
_DESIGN_COLOURS = {1: ("#f3a59a", "#c0392b"), -1: ("#9cc3ec", "#1f5fa8"), 0: ("#c8c8c8", "#777777")}


@dataclass(frozen=True)
class CompareView:
    """What the tab shows for a result at a threshold: viewer value (JSON), summary, table rows, design curves."""

    viewer_value: str
    summary: str
    rows: list[list]
    design: dict[str, list]
    design_colours: dict[str, str]


def _threshold_text(threshold_kind: str, threshold: float) -> str:
    return f"p < {threshold:g}" if threshold_kind == THRESHOLDS[0] else f"|t| ≥ {threshold:g}"


def _paths(files) -> list[str]:
    if files is None:
        return []
    return [str(getattr(f, "name", f)) for f in ([files] if isinstance(files, (str, Path)) else files)]


class CompareService:
    """The Compare tab's side of the engine: experiments by id, their maps, tables and exports.

    Parameters
    ----------
    service : AppService
        The page's service: its engine predicts, its folders keep results, its viewer payloads show maps.
    """

    def __init__(self, service: AppService) -> None:
        self.service = service
        self.folder = service.ui_dir / "contrasts"

    # -- running --------------------------------------------------------------------------------
    def run(self, mode: str, model: str, subject=None, roi: Sequence[str] = (), seed: int = 0,
            n_permutations: int = 1000, progress: Callable[[float, str], None] | None = None, *,
            files_a=None, files_b=None, names: tuple[str, str] = ("A", "B"), block_s: float | None = None,
            rest_s: float = 12.0, stimulus=None, events=None, contrast_text: str = "") -> str:
        """Run the experiment of the tab's ``mode`` and keep it; returns its id.

        Parameters
        ----------
        mode : str
            ``"blocks"``: the files of A and of B, one block each (``names``, ``block_s``, ``rest_s``);
            ``"events"``: one stimulus, its BIDS events.tsv and a contrast of its trial types.
        model, subject, roi :
            What predicts the stimuli, and the outputs tested (the page's model section).
        seed, n_permutations :
            Block order and random relabellings; the most relabellings.

        Raises
        ------
        UserInputError
            A missing file or contrast, or anything the experiment refuses.
        """
        check_in("design", mode, MODES)
        # An experiment predicts every stimulus: it takes one of the page's prediction slots, and its time limit.
        with self.service.jobs.run("predict", progress) as checked:
            result = self._run(mode, model, subject, roi, seed, n_permutations, checked, files_a, files_b, names,
                               block_s, rest_s, stimulus, events, contrast_text)
        return self.keep(result)

    def _run(self, mode, model, subject, roi, seed, n_permutations, progress, files_a, files_b, names, block_s,
             rest_s, stimulus, events, contrast_text) -> ContrastMap:
        options = dict(engine=self.service.engine, model=model, subject=subject or None, roi=list(roi) or None,
                       seed=int(seed), n_permutations=int(n_permutations), progress=progress)
        if mode == "blocks":
            a, b = _paths(files_a), _paths(files_b)
            if not a or not b:
                raise UserInputError("drop at least one stimulus for each condition (A and B), or pick a teaching "
                                     "example")
            return contrast(a, b, names=tuple(name.strip() for name in names), block_s=block_s or None,
                            rest_s=rest_s, **options)
        stimulus, events = _paths(stimulus), _paths(events)
        if not stimulus or not events:
            raise UserInputError("drop a stimulus and its events file (BIDS events.tsv: onset, duration, "
                                 "trial_type)")
        if not (contrast_text or "").strip():
            raise UserInputError("write the contrast with the trial types of the events, e.g. speech - music")
        return glm(stimulus[0], events[0], contrast_text.strip(), **options)

    def teaching_inputs(self, key: str) -> tuple[list[str], list[str], tuple[str, str]]:
        """The files (made when missing) and condition names of a teaching experiment."""
        experiment = get_teaching_experiment(key)
        a, b = experiment.stimuli(self.service.settings.cache_dir / "examples" / "experiments")
        return [str(p) for p in a], [str(p) for p in b], experiment.names

    def keep(self, result: ContrastMap) -> str:
        """Save a result under its id (a hash of it) and return the id."""
        digest = hashlib.sha256(f"{result.model_id}\0{result.contrast}\0{__version__}".encode())
        for array in (result.effect, result.t, result.p_corrected, result.indices, result.design.onsets_s):
            digest.update(np.ascontiguousarray(array).tobytes())
        contrast_id = digest.hexdigest()[:16]
        path = self.folder / f"{contrast_id}.npz"
        if not path.exists():
            save_contrast_npz(result, path)
        return contrast_id

    def load(self, contrast_id: str) -> ContrastMap:
        """A kept result."""
        if not isinstance(contrast_id, str) or not _ID.match(contrast_id):
            raise UserInputError("run an experiment first (or pick a teaching example)")
        path = self.folder / f"{contrast_id}.npz"
        if not path.exists():
            raise UserInputError(f"no experiment with id {contrast_id!r} on this server: run it again")
        return load_contrast_npz(path)

    # -- showing --------------------------------------------------------------------------------
    @staticmethod
    def passing(result: ContrastMap, threshold_kind: str, threshold: float) -> np.ndarray:
        """The outputs that pass the threshold."""
        check_in("threshold", threshold_kind, THRESHOLDS)
        if threshold_kind == THRESHOLDS[0]:
            return result.passing(p_below=check_range("p threshold", threshold, 0.0, 1.0))
        return result.passing(abs_t_from=check_range("|t| threshold", threshold, 0.0, 1e9))

    def show(self, contrast_id: str, threshold_kind: str = THRESHOLDS[0], threshold: float = 0.05,
             colour: str = "effect") -> CompareView:
        """The viewer value, summary, region table and design curves of a kept result at a threshold."""
        check_in("map colour", colour, MAP_COLOURS)
        result = self.load(contrast_id)
        keep = self.passing(result, threshold_kind, threshold)
        what = _threshold_text(threshold_kind, threshold)
        title = f"{result.contrast} ({colour}, {what})"
        if keep.any():
            shown = self.service.keep(map_prediction(result, colour, keep), [], None, title=title)
        else:  # nothing passes: the anatomy alone, so that no earlier map stays on screen
            empty = map_prediction(result, colour)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the region means of no value are NaN
                shown = self.service.keep(replace(empty, data=np.full_like(empty.data, np.nan)), [], None,
                                          title=f"{title}: no output passes")
        rows = [[region, round(effect, 4), round(t, 3), round(p, 4)]
                for region, effect, t, p in result.region_rows()[:TABLE_ROWS]]
        return CompareView(shown.viewer_value, contrast_summary(result, int(keep.sum()), what), rows,
                           *self.design_curves(result))

    @staticmethod
    def design_curves(result: ContrastMap) -> tuple[dict[str, list], dict[str, str]]:
        """Long-form columns (``time_s``, ``value``, ``series``) of the blocks and regressor of each condition, on
        the prediction's time axis, and a colour per series (warm for A, cool for B, grey for the others)."""
        offset = float(result.metadata.get("hrf_offset_s", 0.0)) if result.metadata.get("time_axis") == "stimulus" else 0.0
        times = np.asarray(result.frame_times_s) - offset
        design = result.design
        weights = contrast_vector(result.contrast, result.design_columns)
        curves: dict[str, list] = {"time_s": [], "value": [], "series": []}
        colours: dict[str, str] = {}
        for condition in result.conditions:
            picked = np.asarray(design.trial_types) == condition
            blocks = np.zeros(len(times))
            for onset, duration in zip(design.onsets_s[picked], design.durations_s[picked], strict=True):
                blocks[(times >= onset) & (times < onset + max(duration, 1e-9))] = 1.0
            column = result.design_columns.index(condition)
            sign = int(np.sign(weights[column]))
            for name, values, shade in ((f"{condition} (on)", blocks, 0), (f"{condition} (regressor)",
                                                                          result.design_matrix[:, column], 1)):
                curves["time_s"] += times.round(3).tolist()
                curves["value"] += np.round(values, 4).tolist()
                curves["series"] += [name] * len(times)
                colours[name] = _DESIGN_COLOURS[sign][shade]
        return curves, colours

    # -- exports ----------------------------------------------------------------------------------
    def export(self, contrast_id: str, threshold_kind: str = THRESHOLDS[0], threshold: float = 0.05,
               colour: str = "effect") -> tuple[list[Path], list[str]]:
        """The result as npz, GIfTI maps of effect and t, a CSV of regions, and PNGs (surface and glass brain)
        of the map shown (``colour`` at the threshold)."""
        result = self.load(contrast_id)
        keep = self.passing(result, threshold_kind, threshold)
        folder = self.service.ui_dir / "exports" / f"contrast-{contrast_id}"
        title = f"{result.contrast} ({colour}, {_threshold_text(threshold_kind, threshold)}) · {result.model_id}"
        stem = folder / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{result.contrast}.{result.model_id}")
        files: list[Path] = [Path(save_contrast_npz(result, stem.with_name(stem.name + ".npz"))),
                             save_region_csv(result, stem.with_name(stem.name + ".regions.csv"))]
        notes: list[str] = []
        writers: Sequence[tuple[str, Callable[[], list[Path]]]] = (
            ("gifti", lambda: save_contrast_gifti(result, stem, settings=self.service.settings)),
            *((f"{picture} png", lambda picture=picture: [save_contrast_png(
                result, stem.with_name(f"{stem.name}.{colour}.{picture}.png"), colour, keep, picture=picture,
                title=title, settings=self.service.settings)]) for picture in ("surface", "glass")))
        for name, write in writers:
            try:
                files.extend(write())
            except UserInputError as error:
                notes.append(f"{name}: {error}")
        return files, notes
