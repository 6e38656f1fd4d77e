"""Progress reports on stderr for the command line and the Python API.

The engine reports ``progress(fraction, stage)``; :class:`StderrProgress` shows it. On a terminal it is one
tqdm bar whose stage column is wide enough for every stage name NForge uses (longer names are cut at a
word, never inside one). Anywhere else (a log file, a pipe, CI) it writes one line per stage and no
redraws: ``" 40%  video features"``. Stages that differ only in their numbers ("windows 1-8 of 40",
"windows 9-16 of 40") count as one stage there, so a long run writes a few lines, not hundreds.

:class:`CountProgress` reports over many items instead (the stimuli of a batch): done of total, a count per
outcome (ok / failed / skipped) and the time left; a bar on a terminal, a line every tenth of the way elsewhere.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

STAGE_WIDTH = 48  # "video: loading facebook/vjepa2-vitg-fpc64-256" and the TRIBE v2 window stages fit
_NUMBER = re.compile(r"\d+")


def fit_stage(stage: str, width: int = STAGE_WIDTH) -> str:
    """``stage`` in at most ``width`` characters: as it is when it fits, else its first whole words and "…".

    Examples
    --------
    >>> fit_stage("text: loading a very long language model name", 24)
    'text: loading a very…'
    """
    stage = " ".join(str(stage).split())
    if len(stage) <= width:
        return stage
    cut = stage.rfind(" ", 0, width)
    return (stage[:cut] if cut > 0 else stage[:width - 1]).rstrip(" :,;-") + "…"


def _percent(fraction: float) -> int:
    return round(100 * min(max(float(fraction), 0.0), 1.0))


class StderrProgress:
    """A ``progress(fraction, stage)`` callback that reports on stderr: a bar on a terminal, lines elsewhere.

    Parameters
    ----------
    stream : text stream, optional
        Where to write (``sys.stderr`` by default).
    terminal : bool, optional
        Draw a redrawn bar (True) or one line per stage (False); by default, whether ``stream`` is a terminal.
    width : int
        Width of the stage column.
    """

    def __init__(self, stream: TextIO | None = None, terminal: bool | None = None, width: int = STAGE_WIDTH) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal
        self.width = width
        self._bar = None
        self._last_kind: str | None = None

    def __call__(self, fraction: float, stage: str) -> None:
        stage = fit_stage(stage, self.width)
        if not self.terminal:
            kind = _NUMBER.sub("#", stage)
            if kind != self._last_kind:
                self._last_kind = kind
                print(f"{_percent(fraction):3d}%  {stage}", file=self.stream, flush=True)
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=100, unit="%", file=self.stream,
                             bar_format="{desc} {bar} {percentage:3.0f}%")
        self._bar.set_description_str(stage.ljust(self.width), refresh=False)
        self._bar.n = _percent(fraction)
        self._bar.refresh()

    def close(self) -> None:
        """End the bar (a terminal keeps its last state on screen)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def stderr_progress(enabled: bool = True, stream: TextIO | None = None) -> Iterator[StderrProgress | None]:
    """A :class:`StderrProgress` for the duration of a ``with`` block, closed at its end; None when not ``enabled``.

    Examples
    --------
    >>> with stderr_progress(enabled=False) as progress:
    ...     progress is None
    True
    """
    if not enabled:
        yield None
        return
    progress = StderrProgress(stream)
    try:
        yield progress
    finally:
        progress.close()


class CountProgress:
    """One report over many items on stderr: done of total, a count per outcome, and the time left.

    On a terminal it is one redrawn tqdm bar; anywhere else one line each tenth of the way and at the end:
    ``"  3/6 stimuli  ok 2, failed 1, skipped 0, about 12 s left"``. Items counted before the start (already
    done, say) are the report's start and stay out of its rate and time left. Use it in a ``with`` block.

    Parameters
    ----------
    total : int
        How many items there are.
    counts : mapping of str to int
        Each outcome shown, in order, with how many items had it before the start.
    unit : str
        What the items are, plural (``"stimuli"``).
    enabled : bool
        Report nothing when False (the counts are still kept).
    stream : text stream, optional
        Where to write (``sys.stderr`` by default).
    terminal : bool, optional
        A redrawn bar (True) or lines (False); by default, whether ``stream`` is a terminal.
    clock : callable
        Seconds now (``time.perf_counter``).
    """

    def __init__(self, total: int, counts: Mapping[str, int], *, unit: str = "items", enabled: bool = True,
                 stream: TextIO | None = None, terminal: bool | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total = int(total)
        self.counts = dict(counts)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal
        self.enabled = enabled
        self._clock = clock
        self._start_done = self.done
        self._started = clock()
        self._bar = None
        self._tenth = -1
        if enabled and self.terminal:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self._start_done, unit=unit, desc=unit,
                             file=self.stream, dynamic_ncols=True)
            self._bar.set_postfix(self.counts, refresh=True)
        elif enabled:
            self._line()

    @property
    def done(self) -> int:
        """Items counted so far, before the start included."""
        return sum(self.counts.values())

    def add(self, outcome: str) -> None:
        """Count one more item with ``outcome`` (one of the outcomes given at the start)."""
        self.counts[outcome] += 1
        if self._bar is not None:
            self._bar.set_postfix(self.counts, refresh=False)
            self._bar.update(1)
        elif self.enabled:
            self._line()

    def seconds_left(self) -> float | None:
        """The time left at the pace of the items counted since the start; None before the first."""
        counted = self.done - self._start_done
        if counted <= 0:
            return None
        return (self._clock() - self._started) / counted * max(self.total - self.done, 0)

    def _line(self) -> None:
        tenth = 10 if self.total <= 0 else 10 * self.done // self.total
        if tenth == self._tenth:
            return
        self._tenth = tenth
        counts = ", ".join(f"{outcome} {count}" for outcome, count in self.counts.items())
        left = self.seconds_left()
        left = "" if left is None or self.done >= self.total else f", about {_duration(left)} left"
        width = len(str(self.total))
        print(f"{self.done:>{width + 2}}/{self.total} {self.unit}  {counts}{left}", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar (a terminal keeps its last state on screen)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> CountProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _duration(seconds: float) -> str:
    """``"12 s"``, ``"4 min"`` or ``"2 h 05 min"``."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 100 else f"{minutes // 60} h {minutes % 60:02d} min"


__all__ = ["STAGE_WIDTH", "CountProgress", "StderrProgress", "fit_stage", "stderr_progress"]
