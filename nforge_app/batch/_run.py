"""``nforge_app.batch.run``: check everything, skip what is done, run the rest locally or on Ray, report."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from nforge_app._version import __version__
from nforge_app.batch._folder import OutputFolder
from nforge_app.batch._inputs import BatchItem, read_items
from nforge_app.batch._job import BatchRequest, Task, failed_row, output_names, run_tasks
from nforge_app.batch._report import REPORT_NAME, STATUSES, SUMMARY_NAME, Row, report_csv, summarise
from nforge_app.checks import check_in, check_range
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.progress import CountProgress
from nforge_app.stimuli import stimulus_key

ENGINES = ("local", "ray")
_HASH_THREADS = 4


@dataclass(frozen=True)
class BatchReport:
    """What a batch did: one row per stimulus, in input order, and the summary written beside them."""

    rows: list[Row]
    summary: dict

    @property
    def counts(self) -> dict[str, int]:
        """``{"ok", "failed", "skipped", "total"}`` counts."""
        return self.summary["counts"]


def run(source: str | os.PathLike, out: str | os.PathLike, model: str = "nforge-lite", *, subject=None,
        roi: str | Sequence[str] | None = None, mask=None, variant: str | None = None, engine: str = "local",
        address: str | None = None, workers: int | None = None, cpus_per_worker: float = 1,
        gpus_per_worker: float = 0, strict: bool = False, device: str | None = None, progress: bool = True,
        attribute: str | None = None, **options) -> BatchReport:
    """Predict brain activity for every stimulus of a folder or manifest, resumably, into one folder.

    Each stimulus gets one npz (what ``nforge predict`` writes) named by its content hash and the prediction
    key, so a rerun skips what is done and a killed run picks up where it stopped; files are written whole or
    not at all. A stimulus that fails is recorded and the others go on. ``out/batch_report.csv`` (one row
    per stimulus) and ``out/batch_summary.json`` (counts, time, throughput, settings, versions) say what
    happened.

    Parameters
    ----------
    source : str or path-like
        A folder (every stimulus inside, recursively, by extension) or a manifest (.csv .tsv .jsonl with
        ``path`` and optionally ``transcript``, ``id``, ``subject``): see :func:`read_items`.
    out : str or path-like
        Output folder (made when missing), or an fsspec URL (``s3://bucket/run``) where its package is
        installed.
    model, subject, roi, mask, variant, **options
        As for ``Engine.predict``; a manifest's ``subject`` column wins over ``subject``.
    engine : {"local", "ray"}
        One process with the model loaded once and decoding overlapped with the model; or Ray actors.
    address : str, optional
        Ray cluster address (``HOST:PORT`` printed by ``ray start --head``, ``ray://HOST:PORT``, ``auto``);
        a local cluster when None (or the one this process has already started).
    workers : int, optional
        Ray actors, each with the model loaded: as many as the cluster's GPUs (``gpus_per_worker`` > 0) or
        CPUs hold by default.
    cpus_per_worker : float
        CPUs of each Ray actor (its torch threads).
    gpus_per_worker : float
        GPUs of each Ray actor (0: CPU actors; fractions share a GPU).
    strict : bool
        Refuse manifest paths outside the manifest's folder.
    device : str, optional
        ``"auto"``, ``"cpu"`` or ``"cuda"`` for the local engine; Ray workers use a GPU when
        ``gpus_per_worker`` is above 0, else the CPU.
    attribute : str, optional
        An attribution method (``shapley``, ``integrated-gradients``, ``ablation``): each stimulus' modality
        attribution is saved too, as ``<output stem>.attr-<method>.npz`` (what ``nforge attribute`` writes);
        a stimulus counts as done when both files are there.
    progress : bool
        Report on stderr over the stimuli: done of total, ok / failed / skipped, time left
        (:class:`nforge_app.progress.CountProgress`).

    Returns
    -------
    BatchReport

    Raises
    ------
    UserInputError
        Before anything runs: a bad source or manifest, an output folder that is a file, an unknown model,
        subject, region or option, Ray missing or its cluster unreachable.
    """
    check_in("engine", engine, ENGINES)
    if engine == "local" and (address is not None or workers is not None or cpus_per_worker != 1 or gpus_per_worker):
        raise UserInputError("a Ray address, workers and their CPUs and GPUs go with the Ray engine (--engine ray); "
                             "the local engine is one process")
    if engine == "ray" and device is not None:
        raise UserInputError("a device goes with the local engine; Ray workers use a GPU when --gpus-per-worker "
                             "is above 0, else the CPU")
    if workers is not None:
        workers = check_range("workers", workers, 1, 4096, integer=True)
    cpus_per_worker = check_range("CPUs per worker", cpus_per_worker, 0.01, 1024)
    gpus_per_worker = check_range("GPUs per worker", gpus_per_worker, 0, 64)
    items = read_items(source, strict)
    folder = OutputFolder(out)
    folder.check()
    roi = [roi] if isinstance(roi, str) else list(roi or ())
    if attribute is not None:
        _check_attribute(model, attribute)
    request = BatchRequest(model=model, subject=subject, roi=tuple(roi) or None,
                           mask=None if mask is None else np.asarray(mask), variant=variant, options=dict(options),
                           attribute=attribute)
    planner, device, keyed_here = _planner(engine, device, gpus_per_worker)
    for item_subject in dict.fromkeys(request.subject_of(item) for item in items):
        # Checks model, subject, regions and options once, before anything runs.
        planner.prediction_key("", model, subject=item_subject, roi=request.roi, mask=request.mask, variant=variant,
                               **options)
    settings = dict(source=os.fspath(source), out=folder.location, model=model, subject=subject,
                    roi=roi, mask=None if mask is None else list(request.mask.shape),
                    variant=variant, options=options, attribute=attribute, engine=engine, address=address, workers=workers,
                    cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker, strict=strict,
                    device=device)

    with contextlib.ExitStack() as stack:
        ray = None
        if engine == "ray":
            from nforge_app.batch._ray import connected, remote_output_names, run_on_ray, worker_count

            ray = stack.enter_context(connected(address))
            settings["workers"] = workers = worker_count(ray, workers, cpus_per_worker, gpus_per_worker)
        if keyed_here:
            name_outputs = functools.partial(output_names, request, device=device)
        else:
            name_outputs = functools.partial(remote_output_names, ray, request, device=device,
                                             cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker)
        folder.prepare()
        started_at, started = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
        rows: dict[str, Row] = {}
        try:
            tasks = _plan(name_outputs, items, folder, rows, request.outputs)
            counts = {status: [row.status for row in rows.values()].count(status) for status in STATUSES}
            with CountProgress(len(items), counts, unit="stimuli", enabled=progress) as bar:
                on_row = _recorder(rows, started, bar)
                if tasks and ray is not None:
                    run_on_ray(ray, request, tasks, folder, workers=workers, cpus_per_worker=cpus_per_worker,
                               gpus_per_worker=gpus_per_worker, device=device, on_row=on_row)
                elif tasks:
                    planner.load_model(model, variant, **options)
                    for row in run_tasks(planner, request, tasks, folder):
                        on_row(row)
        finally:  # also after an interruption: the report lists what was done
            ordered = [rows[item.id] for item in items if item.id in rows]
            summary = summarise(ordered, time.perf_counter() - started, settings, _versions(engine), started_at)
            folder.write_text(REPORT_NAME, report_csv(ordered))
            folder.write_text(SUMMARY_NAME, json.dumps(summary, indent=2, default=str) + "\n")
    return BatchReport(rows=ordered, summary=summary)


def _planner(engine: str, device: str | None, gpus_per_worker: float) -> tuple[Engine, str, bool]:
    """The engine that checks the request and names the outputs here, the device the predictions run on, and
    whether the names can be made here (not for GPU workers when this machine has no GPU)."""
    if engine == "ray":
        device = "cuda" if gpus_per_worker else "cpu"
    try:
        planner = Engine(device=device)
    except UserInputError:
        if engine != "ray":
            raise
        return Engine(device="cpu"), device, False
    return planner, planner.device, True


def _check_attribute(model: str, method: str) -> None:
    """Refuse an unknown attribution method, or a model with nothing to split, before anything runs."""
    from nforge_app.analysis._attribution import single_modality_sentence
    from nforge_app.models import get_card
    from nforge_app.values import ATTRIBUTION_METHODS

    check_in("attribution method", method, ATTRIBUTION_METHODS)
    card = get_card(model)
    if len(card.modalities) < 2:
        raise UserInputError(f"--attribute: {single_modality_sentence(card)}")


def _plan(name_outputs: Callable[[list[tuple[BatchItem, str]]], list[str]], items: list[BatchItem],
          folder: OutputFolder, rows: dict[str, Row],
          outputs: Callable[[str], list[str]] = lambda name: [name]) -> list[Task]:
    """Name every item's output from its content hash (``name_outputs``); items whose outputs (``outputs`` of
    the name) are all there are skipped rows, items that cannot be read are failed rows; return the tasks
    left."""
    done = folder.names()

    def hashed(item: BatchItem) -> str | Exception:
        try:
            return stimulus_key(item.path, transcript=item.transcript)
        except Exception as error:  # noqa: BLE001 (a missing or unaccepted file fails alone)
            return error

    with ThreadPoolExecutor(_HASH_THREADS) as pool:  # hashlib releases the GIL: big files hash in parallel
        hashes = list(pool.map(hashed, items))
    pairs = []
    for item, stimulus_hash in zip(items, hashes):
        if isinstance(stimulus_hash, Exception):
            rows[item.id] = failed_row(item, stimulus_hash)
        else:
            pairs.append((item, stimulus_hash))
    tasks = []
    for (item, _), name in zip(pairs, name_outputs(pairs) if pairs else []):
        if set(outputs(name)) <= done:
            rows[item.id] = Row(item.id, item.path, "skipped", output=name)
        else:
            tasks.append(Task(item, name))
    return tasks


def _recorder(rows: dict[str, Row], started: float, bar: CountProgress) -> Callable[[Row], None]:
    """A callback that records a row in ``rows`` (with when it came, from ``started``) and counts it on ``bar``."""

    def add(row: Row) -> None:
        rows[row.id] = dataclasses.replace(row, finished_s=time.perf_counter() - started)
        bar.add(row.status)

    return add


def _versions(engine: str) -> dict[str, str]:
    versions = {"nforge": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "platform": platform.platform()}
    for name in ("torch", "ray") if engine == "ray" else ("torch",):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    return versions
