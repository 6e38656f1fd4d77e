"""The per-stimulus job of a batch, the same on one machine and on Ray workers: predict, then save.

Everything a batch makes of one stimulus is made in :func:`run_tasks`: another output (an analysis such as
attribution) is one more step in ``_save_outputs``, and both engines get it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nforge_app._files import text_sha256
from nforge_app.batch._folder import OutputFolder
from nforge_app.batch._inputs import BatchItem
from nforge_app.batch._report import Row
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.stimuli import load_stimulus
from nforge_app.values import Prediction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRequest:
    """What to predict for every stimulus of a batch (arguments of ``Engine.predict``)."""

    model: str = "nforge-lite"
    subject: object = None
    roi: tuple[str, ...] | None = None
    mask: np.ndarray | None = None
    variant: str | None = None
    options: dict = field(default_factory=dict)
    attribute: str | None = None
    """An attribution method: each stimulus' attribution is saved too (:meth:`attribution_name`)."""

    def subject_of(self, item: BatchItem):
        """The item's own subject, else the batch's."""
        return item.subject if item.subject is not None else self.subject

    def output_name(self, engine: Engine, item: BatchItem, stimulus_hash: str) -> str:
        """The npz name of an item: its content hash and the prediction key (so a rerun finds it)."""
        key = engine.prediction_key(stimulus_hash, self.model, subject=self.subject_of(item), roi=self.roi,
                                    mask=self.mask, variant=self.variant, **self.options)
        return f"{stimulus_hash[:16]}-{text_sha256(key)[:16]}.npz"


    def outputs(self, output: str) -> list[str]:
        """Every file a task with prediction ``output`` writes: the prediction, and its attribution if asked."""
        return [output] + ([self.attribution_name(output)] if self.attribute else [])

    def attribution_name(self, output: str) -> str:
        """The attribution npz beside prediction ``output``: ``<stem>.attr-<method>.npz``."""
        return f"{output.removesuffix('.npz')}.attr-{self.attribute}.npz"


def output_names(request: BatchRequest, pairs: Sequence[tuple[BatchItem, str]], device: str | None) -> list[str]:
    """The output names of ``(item, stimulus hash)`` pairs, keyed as an engine on ``device`` keys its
    predictions (a model's options can resolve differently on a GPU)."""
    engine = Engine(device=device)
    return [request.output_name(engine, item, stimulus_hash) for item, stimulus_hash in pairs]


@dataclass(frozen=True)
class Task:
    """An item to run and the name its output gets."""

    item: BatchItem
    output: str


def run_tasks(engine: Engine, request: BatchRequest, tasks: Sequence[Task], folder: OutputFolder) -> Iterator[Row]:
    """Predict each task's stimulus and save its outputs; one row per task, as each finishes.

    The engine decodes the next stimulus and extracts its features while the model runs on the current one
    (``Engine.predict_many``). A failure of one stimulus (a bad file, out of memory) makes a ``failed`` row
    and the others go on; a row's seconds are the wall-clock time since the previous row.
    """
    for subject, group in _by_subject(request, tasks).items():
        loaders = [functools.partial(load_stimulus, task.item.path, engine.settings, transcript=task.item.transcript)
                   for task in group]
        results = engine.predict_many(loaders, request.model, subject=subject, roi=request.roi, mask=request.mask,
                                      variant=request.variant, return_exceptions=True, **request.options)
        started = time.perf_counter()
        for task, result in zip(group, results):
            if isinstance(result, Prediction):
                try:
                    _save_outputs(engine, request, folder, task, result)
                except Exception as error:  # noqa: BLE001 (recorded in the report; the batch goes on)
                    result = error
            now = time.perf_counter()
            yield _row(task, result, now - started)
            started = now


def _save_outputs(engine: Engine, request: BatchRequest, folder: OutputFolder, task: Task,
                  prediction: Prediction) -> None:
    """Everything saved for one stimulus: its prediction, as ``nforge predict`` writes it, and with
    ``request.attribute`` its attribution, as ``nforge attribute`` writes it (saved first: the prediction's
    file is what says a stimulus is done)."""
    if request.attribute:
        stimulus = load_stimulus(task.item.path, engine.settings, transcript=task.item.transcript)
        attribution = engine.attribute(stimulus, request.model, subject=request.subject_of(task.item),
                                       roi=request.roi, mask=request.mask, variant=request.variant,
                                       method=request.attribute, **request.options)
        folder.save_attribution(request.attribution_name(task.output), attribution)
    folder.save_prediction(task.output, prediction)


def _by_subject(request: BatchRequest, tasks: Sequence[Task]) -> dict[object, list[Task]]:
    """Tasks grouped by subject, in order of first appearance (one ``predict_many`` each)."""
    groups: dict[object, list[Task]] = {}
    for task in tasks:
        groups.setdefault(request.subject_of(task.item), []).append(task)
    return groups


def _row(task: Task, result: Prediction | Exception, seconds: float) -> Row:
    item = task.item
    if isinstance(result, Prediction):
        duration_s = float((result.metadata.get("stimulus") or {}).get("duration_s") or 0.0)
        return Row(item.id, item.path, "ok", seconds, output=task.output, stimulus_s=duration_s)
    return failed_row(item, result, seconds)


def failed_row(item: BatchItem, error: BaseException, seconds: float = 0.0) -> Row:
    """The row of an item that failed with ``error`` (its message; the type too for errors that are not the
    user's, whose traceback is logged)."""
    if isinstance(error, UserInputError):
        message = str(error)
    else:
        log.warning("%s failed", item.id, exc_info=error)
        message = f"{type(error).__name__}: {error}"
    return Row(item.id, item.path, "failed", seconds, error=" ".join(message.split()))
