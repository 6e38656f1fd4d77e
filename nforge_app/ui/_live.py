"""What the Live tab asks for, without gradio: microphone chunks through the lite model's
:class:`~nforge_app.analysis.StreamingPredictor`, drawn as a light surface picture and ROI traces each second.

One :class:`LiveSession` per browser session (the page keeps it in a ``gr.State``): it holds the stream and the
rows of the last :data:`HISTORY_S` seconds. The science is the stream's (the lite model's own features and
readout, row by row); this module reads the chunks, keeps the recent rows, and draws them.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nforge_app.analysis import StreamingPredictor
from nforge_app.errors import UserInputError
from nforge_app.models import get_card
from nforge_app.spaces import get_space
from nforge_app.ui._service import AppService, RunResult
from nforge_app.ui._texts import escape_markdown
from nforge_app.viz import render_surface

LIVE_MODEL = "nforge-lite"
"""The only model fast and causal enough for a microphone on a CPU: the lite baseline, not trained on fMRI."""
HISTORY_S = 60
"""Seconds of rows kept for the traces and the colour scale."""
TRACE_REGIONS = ("A1", "PBelt", "STSdp", "55b", "44")
"""Regions traced when the page's region menu names none of the lite model's regions (auditory cortex, the
superior temporal sulcus and language areas: where the lite model paints sound)."""
BRAIN_VIEWS = "lateral"
BRAIN_PX = 320
LIVE_TITLE = "live microphone"
LABEL = ("**NForge lite baseline, not trained on fMRI**: loudness and spectral change of the sound, convolved with a "
         "canonical haemodynamic response and painted on auditory and language regions. The map is predicted BOLD, "
         "so it follows the sound by the haemodynamic delay (about 5 s).")


def read_chunk(path: str | Path) -> tuple[int, np.ndarray]:
    """One microphone chunk as gradio streams it (a 16-bit PCM .wav): its sample rate and mono samples in -1..1.

    Gradio's streamed .wav files declare an endless data block; the samples are read to the end of the file.

    Raises
    ------
    UserInputError
        The chunk is not a PCM .wav file.
    """
    try:
        with wave.open(str(path), "rb") as chunk:
            rate, channels, width = chunk.getframerate(), chunk.getnchannels(), chunk.getsampwidth()
            raw = chunk.readframes(2**31 - 1)
    except (wave.Error, EOFError, OSError) as error:
        raise UserInputError(f"the microphone chunk is not a PCM .wav file ({error}); the Live tab reads what the "
                             "browser's microphone streams") from None
    kinds = {1: (np.uint8, 128.0, 128.0), 2: (np.int16, 0.0, 32768.0), 4: (np.int32, 0.0, 2.0**31)}
    if width not in kinds:
        raise UserInputError(f"the microphone chunk has {8 * width}-bit samples; 8-, 16- or 32-bit PCM is read")
    dtype, zero, scale = kinds[width]
    samples = np.frombuffer(raw[: len(raw) // (width * channels) * width * channels], dtype=dtype)
    samples = (samples.astype(np.float32) - zero) / scale
    return rate, samples.reshape(-1, channels).mean(axis=1)


@dataclass(frozen=True)
class LiveView:
    """What the tab shows after a chunk: the brain picture of the last row, the traces, a status line."""

    brain: object  # PIL.Image.Image
    traces: dict  # columns time_s, value, region (a table for gr.LinePlot)
    status: str


@dataclass
class LiveSession:
    """One browser's stream: the predictor (made at the first chunk, at its sample rate) and its recent rows."""

    regions: tuple[str, ...] = ()
    subject: str | None = None
    stream: StreamingPredictor | None = None
    rows: list[np.ndarray] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    limits: list[float] = field(default_factory=list)  # 99th percentile of |row| of each kept row
    updates: int = 0
    compute_s: list[float] = field(default_factory=list)
    note: str = ""


class LiveService:
    """The Live tab's side of the engine.

    Parameters
    ----------
    service : AppService
        The page's service: its engine loads the lite model (once) and keeps the session's prediction at the end.
    """

    def __init__(self, service: AppService) -> None:
        self.service = service

    def start(self, roi: Sequence[str] | None = None, subject: str | None = None) -> LiveSession:
        """A new session tracing the regions of ``roi`` the lite model has (else :data:`TRACE_REGIONS`), with
        ``subject`` (one of the lite model's, or a subject adapted to it; its default when None)."""
        space = get_space(get_card(LIVE_MODEL).space_id, self.service.settings)
        asked = [str(name) for name in (roi or [])]
        regions, note = [], ""
        for name in asked:
            try:
                if len(space.select(roi=name)):
                    regions.append(name)
            except UserInputError:
                pass
        if asked and not regions:
            note = (f"None of the regions picked ({escape_markdown(', '.join(asked))}) is in the lite model's "
                    f"space: tracing {', '.join(TRACE_REGIONS)}.")
        return LiveSession(regions=tuple(regions) or TRACE_REGIONS, subject=subject or None, note=note)

    def push(self, session: LiveSession | None, chunk_path: str | Path | None,
             roi: Sequence[str] | None = None, subject: str | None = None) -> tuple[LiveSession, LiveView | None]:
        """Add one microphone chunk; return the session and, when the chunk completed rows, what to show
        (``roi`` and ``subject`` are read when a session starts, see :meth:`start`).

        Raises
        ------
        UserInputError
            The chunk cannot be read, or the subject is not one of the lite model's.
        """
        started = time.perf_counter()
        session = session if session is not None else self.start(roi, subject)
        if chunk_path is None:
            return session, None
        rate_hz, samples = read_chunk(chunk_path)
        if session.stream is None or session.stream.sample_rate_hz != rate_hz:
            # the first chunk sets the rate (a new microphone starts a new stream)
            session = self.start(session.regions, session.subject) if session.stream is not None else session
            session.stream = StreamingPredictor(self.service.engine, LIVE_MODEL, subject=session.subject,
                                                sample_rate_hz=rate_hz)
        rows = session.stream.push_audio(samples)
        if rows is None:
            return session, None
        session.rows += list(rows.data)
        session.times_s += [float(t) for t in rows.times_s]
        session.limits += [float(np.percentile(np.abs(row), 99)) for row in rows.data]
        keep = round(HISTORY_S / session.stream.card.tr_s)
        del session.rows[:-keep], session.times_s[:-keep], session.limits[:-keep]
        view = self._draw(session, rows.indices, started)
        return session, view

    def _draw(self, session: LiveSession, indices: np.ndarray, started: float) -> LiveView:
        recent = np.asarray(session.rows, dtype=np.float32)
        limit = max(session.limits) or 1.0  # one scale over the recent rows, not per frame
        brain = render_surface(recent[-1], views=BRAIN_VIEWS, size_px=BRAIN_PX, vmin=-limit, vmax=limit,
                               title=f"t = {session.times_s[-1]:.0f} s", unit="predicted BOLD (z)")
        space = get_space(session.stream.card.space_id, self.service.settings)
        names, means = space.roi_time_series(recent, indices, names=list(session.regions))
        n_rows, n_regions = means.shape
        traces = {"time_s": np.repeat(session.times_s, n_regions).tolist(),
                  "value": np.round(np.asarray(means, dtype=np.float64).reshape(-1), 4).tolist(),
                  "region": list(names) * n_rows}
        session.updates += 1
        session.compute_s.append(time.perf_counter() - started)
        return LiveView(brain, traces, self.status(session))

    @staticmethod
    def status(session: LiveSession) -> str:
        """The status line: seconds heard, updates, compute time per update and the delay behind the sound."""
        if session.stream is None or not session.updates:
            return "Press **Record** and speak: the map and the traces update every second."
        compute_ms = 1000 * np.asarray(session.compute_s)
        heard_s = session.times_s[-1] + session.stream.card.tr_s
        lines = [f"**Live** · subject {escape_markdown(session.stream.subject)} · {heard_s:.0f} s heard · update "
                 f"{session.updates} · latency: compute {compute_ms[-1]:.0f} ms for this update (median {np.median(compute_ms):.0f} ms), after the "
                 "browser's 1-s chunk; each row appears once its second of sound is in."]
        if session.note:
            lines.append(session.note)
        return "\n\n".join(lines)

    def finish(self, session: LiveSession | None) -> RunResult | None:
        """End the stream and keep the whole session's prediction (the offline prediction of all that was heard),
        to scrub and export in the viewer; None when nothing was heard."""
        if session is None or session.stream is None or not session.updates:
            return None
        stream, session.stream = session.stream, None
        stream.finish()
        return self.service.keep(stream.prediction(), (), None, title=LIVE_TITLE)


__all__ = ["LABEL", "LIVE_MODEL", "LiveService", "LiveSession", "LiveView", "read_chunk"]
