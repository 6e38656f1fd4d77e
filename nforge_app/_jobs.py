"""Jobs of the page: how many of one kind run at once, and a time limit that cancels a job cleanly.

A job is cancelled cooperatively: :meth:`Jobs.run` hands out a progress callback that raises
:class:`JobTimeout` once the job has run past its limit. Every stage of a prediction reports progress
(decoding, each extractor, the model), and every cache write is atomic, so a cancelled job leaves nothing
half-written behind and the next request finds the caches as they were.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator

from nforge_app.errors import UserInputError

ProgressFn = Callable[[float, str], None]


class JobTimeout(UserInputError):
    """A job ran longer than the time limit and was cancelled (nothing it started is left half-written)."""


def _no_progress(fraction: float, stage: str) -> None:
    """Reports nothing."""


class Jobs:
    """At most ``max_jobs`` jobs of each kind at once, each cancelled after ``timeout_s`` seconds.

    Parameters
    ----------
    max_jobs : int
        Jobs of one kind (``"predict"``, ``"export"``...) that run at once; the others wait for a slot.
    timeout_s : float
        Seconds a job may run, waiting for its slot not counted; ``inf`` for no limit.

    Examples
    --------
    >>> jobs = Jobs(max_jobs=2, timeout_s=600)
    >>> with jobs.run("predict") as progress:  # doctest: +SKIP
    ...     engine.predict("clip.mp4", progress=progress)
    """

    def __init__(self, max_jobs: int = 2, timeout_s: float = math.inf) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self.max_jobs = int(max_jobs)
        self.timeout_s = float(timeout_s) if timeout_s else math.inf
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def _slot(self, kind: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._slots.setdefault(kind, threading.BoundedSemaphore(self.max_jobs))

    def running(self, kind: str) -> int:
        """How many jobs of ``kind`` hold a slot now."""
        with self._lock:
            return self._running.get(kind, 0)

    @contextlib.contextmanager
    def run(self, kind: str, progress: ProgressFn | None = None,
            timeout_s: float | None = None) -> Iterator[ProgressFn]:
        """Hold a slot of ``kind`` for the block; yield a progress callback that enforces the time limit.

        Parameters
        ----------
        kind : str
            The kind of job (its slots are counted apart from other kinds').
        progress : callable, optional
            ``progress(fraction, stage)``, called through.
        timeout_s : float, optional
            This job's limit in place of the instance's.

        Yields
        ------
        callable
            ``progress(fraction, stage)``; it raises :class:`JobTimeout` once the job has run too long.
        """
        limit = self.timeout_s if timeout_s is None else (float(timeout_s) or math.inf)
        forward = progress or _no_progress
        slot = self._slot(kind)
        slot.acquire()
        with self._lock:
            self._running[kind] = self._running.get(kind, 0) + 1
        deadline = time.monotonic() + limit

        def checked(fraction: float, stage: str) -> None:
            if time.monotonic() > deadline:
                raise JobTimeout(f"the {kind} job ran longer than the limit of {limit:g} s and was cancelled "
                                 "(setting job_timeout_s, environment variable NFORGE_JOB_TIMEOUT_S); try a "
                                 "shorter stimulus or the nforge-lite model")
            forward(fraction, stage)

        try:
            yield checked
        finally:
            with self._lock:
                self._running[kind] -= 1
            slot.release()
