"""Batch on Ray: an actor pool with one loaded model per actor, the stimuli fed to idle actors as tasks.

Ray (``pip install 'nforge-app[scale]'``) is imported here only. Scheduling, placement on GPUs and nodes,
restarts and cluster launchers (SLURM, Kubernetes) are Ray's; this module only submits tasks and collects
their rows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from nforge_app.batch._folder import OutputFolder
from nforge_app.batch._inputs import BatchItem
from nforge_app.batch._job import BatchRequest, Task, failed_row, output_names, run_tasks
from nforge_app.batch._report import Row
from nforge_app.errors import UserInputError

_CONNECT_TIMEOUT_S = 5.0
_ACTOR_RESTARTS = 2


def import_ray():
    """The ``ray`` module, or a ``UserInputError`` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UserInputError("--engine ray needs Ray, which is not installed: pip install 'nforge-app[scale]' "
                             "(or use --engine local)") from None
    return ray


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[object]:
    """Connect to the Ray cluster at ``address`` (a local one started here when None), checked quickly first;
    yield the ``ray`` module; shut down only what was started here.

    Raises
    ------
    UserInputError
        Ray missing, an address that is not HOST:PORT, ray://HOST:PORT or auto, or a cluster not reachable.
    """
    # Before Ray is imported (it reads them then): no usage report sent anywhere; and the token sent when there
    # is one, as Ray does itself for address="auto": a cluster that `ray start --head` started where a token
    # exists requires it (one without token authentication ignores it).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address not in (None, "auto", "local") and "RAY_AUTH_MODE" not in os.environ and _has_token():
        os.environ["RAY_AUTH_MODE"] = "token"
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    _check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as error:
        if address is None:
            raise UserInputError(f"cannot start a local Ray cluster: {error}") from None
        raise UserInputError(f"cannot connect to Ray at {address}: {error} (a cluster with token authentication "
                             "needs its token here: RAY_AUTH_TOKEN, or ~/.ray/auth_token)") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str | None) -> None:
    """Fail within seconds when a HOST:PORT cluster address does not answer (ray.init would wait long)."""
    if address in (None, "auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"Ray address {address!r}: accepted: HOST:PORT (what `ray start --head` prints), "
                             "ray://HOST:PORT, auto, or none for a local cluster")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise UserInputError(f"no Ray cluster answers at {address} ({error}); start one with `ray start --head` "
                             "and pass the address it prints, or leave --address out for a local one") from None


def _has_token() -> bool:
    """Whether a Ray authentication token is at hand (environment, or Ray's default token file)."""
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def worker_count(ray, workers: int | None, cpus_per_worker: float, gpus_per_worker: float) -> int:
    """The number of actors: ``workers``, else as many as the cluster's GPUs (or CPUs) hold; checked against
    the cluster, whose actors would otherwise wait forever for resources it does not have."""
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if workers is None:
        workers = int(gpus // gpus_per_worker) if gpus_per_worker else int(cpus // cpus_per_worker)
    if workers < 1 or workers * cpus_per_worker > cpus or workers * gpus_per_worker > gpus:
        raise UserInputError(f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs: it cannot hold {workers} "
                             f"workers of {cpus_per_worker:g} CPU and {gpus_per_worker:g} GPU each; lower --workers, "
                             "--cpus-per-worker or --gpus-per-worker")
    return workers


def remote_output_names(ray, request: BatchRequest, pairs: Sequence[tuple[BatchItem, str]], device: str,
                        cpus_per_worker: float, gpus_per_worker: float) -> list[str]:
    """``output_names`` run where a worker would run (its GPU), for a driver that has none: one Ray task,
    which loads no model."""
    task = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)(output_names)
    return ray.get(task.remote(request, pairs, device))


class _Worker:
    """A Ray actor: one engine with the model loaded, running tasks one after another."""

    def __init__(self, request: BatchRequest, folder: OutputFolder, device: str | None) -> None:
        from nforge_app.engine import Engine

        self.request, self.folder, self.error = request, folder, None
        try:
            self.engine = Engine(device=device)
            self.engine.load_model(request.model, request.variant, **request.options)
        except Exception as error:  # noqa: BLE001 (reported to the driver by ready())
            self.error = error

    def ready(self) -> Exception | None:
        """None once the model is loaded; else why it could not be."""
        return self.error

    def run(self, task: Task) -> Row:
        """The row of one task (see ``run_tasks``)."""
        (row,) = run_tasks(self.engine, self.request, [task], self.folder)
        return row


def run_on_ray(ray, request: BatchRequest, tasks: Sequence[Task], folder: OutputFolder, *, workers: int,
               cpus_per_worker: float, gpus_per_worker: float, device: str, on_row: Callable[[Row], None]) -> None:
    """Run ``tasks`` on ``workers`` actors of the connected cluster; ``on_row`` gets each row as it comes back.

    Raises
    ------
    UserInputError
        When the model cannot be loaded on a worker (e.g. weights missing there).
    """
    # Ray gives each actor as many threads (OMP_NUM_THREADS) as CPUs.
    actor_class = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
                             max_restarts=_ACTOR_RESTARTS)(_Worker)
    actors = [actor_class.remote(request, folder, device) for _ in range(min(workers, len(tasks)))]
    try:
        for error in ray.get([actor.ready.remote() for actor in actors]):
            if error is not None:
                raise error if isinstance(error, UserInputError) else RuntimeError(
                    f"a Ray worker could not load {request.model}: {type(error).__name__}: {error}")
        _feed(ray, actors, tasks, on_row)
    finally:
        for actor in actors:
            ray.kill(actor)


def _feed(ray, actors: list, tasks: Sequence[Task], on_row: Callable[[Row], None]) -> None:
    """Give each idle actor the next task until none is left; a task whose actor died is a failed row."""
    idle, running, pending = list(actors), {}, iter(tasks)
    while True:
        while idle and (task := next(pending, None)) is not None:
            actor = idle.pop()
            running[actor.run.remote(task)] = (actor, task)
        if not running:
            return
        (ref,), _ = ray.wait(list(running), num_returns=1)
        actor, task = running.pop(ref)
        try:
            row = ray.get(ref)
        except ray.exceptions.RayActorError as error:  # the worker died (killed, out of memory): Ray restarts it
            row = failed_row(task.item, RuntimeError(f"the Ray worker died: {error}"))
        idle.append(actor)
        on_row(row)
