"""Progress reports on stderr for the command line and the Python API.

The engine reports ``progress(fraction, stage)``; :class:`StderrProgress` shows it. On a terminal it is one
tqdm bar whose stage column is wide enough for every stage name NForge uses (longer names are cut at a
word, never inside one). Anywhere else (a log file, a pipe, CI) it writes one line per stage and no
redraws: ``" 40%  video features"``. Stages that differ only in their numbers ("windows 1-8 of 40",
"windows 9-16 of 40") count as one stage there, so a long run writes a few lines, not hundreds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
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


__all__ = ["STAGE_WIDTH", "StderrProgress", "fit_stage", "stderr_progress"]
