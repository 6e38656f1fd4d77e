"""The Live tab: the microphone streamed to the server each second, through the lite model's streaming predictor,
drawn as a brain picture and ROI traces with the compute time of each update; at the end the whole session goes
to the viewer (to scrub and export). The work is ``ui/_live.LiveService``; the stream is private to each
browser session (a ``gr.State``)."""

from __future__ import annotations

import html

from nforge_app.errors import UserInputError
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._live import LABEL, LIVE_MODEL, LiveService, LiveSession
from nforge_app.ui._page import Page
from nforge_app.ui._texts import error_markdown

gr = import_gradio()

CHUNK_S = 1.0
"""Seconds of sound the browser sends at a time (one update each)."""
TIME_LIMIT_S = 600
"""Longest recording streamed at once."""


def layout(page: Page) -> None:
    gr.Markdown("Speak into your **microphone**: the prediction follows you, one row per second. " + LABEL +
                " With the lite model picked above, its subject in the subject menu is used (an adapted one too). Press "
                "**Stop** to show the whole recording in the viewer above (to scrub and export it).")
    microphone = gr.Audio(sources=["microphone"], streaming=True, type="filepath", format=None,
                          label="Microphone", elem_id="nforge-live-microphone")
    status = gr.Markdown(LiveService.status(LiveSession()), elem_id="nforge-live-status")
    with gr.Row(equal_height=False):
        brain = gr.Image(label="Predicted BOLD now (lite baseline)", type="pil", interactive=False, format="png",
                         elem_id="nforge-live-brain", buttons=[], scale=3)
        traces = gr.LinePlot(x="time_s", y="value", color="region", x_title="time (s, BOLD)",
                             y_title="predicted BOLD (z)", title="ROI traces, last 60 s", label="ROI traces",
                             elem_id="nforge-live-traces", scale=2)
    session = gr.State(None)
    page.add(live_microphone=microphone, live_status=status, live_brain=brain, live_traces=traces,
             live_session=session)


def events(page: Page) -> None:
    service = LiveService(page.service)

    def push(chunk, session, roi, model, subject):
        """One chunk in: the brain picture, the traces and the status, when the chunk completed a row (the first
        chunk of a recording starts this browser's stream; the regions menu says what to trace, and the subject
        menu, while the lite model is picked, which of its subjects: an adapted one too)."""
        try:
            session, view = service.push(session, chunk, roi, subject if model == LIVE_MODEL else None)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return session, gr.skip(), gr.skip(), error_markdown(error, "stream")
        if view is None:
            return session, gr.skip(), gr.skip(), gr.skip()
        import pandas as pd  # gradio needs it for plots

        return session, view.brain, pd.DataFrame(view.traces), view.status

    def stop(session):
        """The recording ended: the whole of it, predicted offline, in the viewer; the next one starts afresh."""
        try:
            result = service.finish(session)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return None, gr.skip(), gr.skip()
        if result is None:
            return None, gr.skip(), gr.skip()
        return None, result.viewer_value, result.prediction_id

    microphone = page["live_microphone"]
    # a new recording starts a new stream (a chunk that came in after the last Stop is dropped with it)
    microphone.start_recording(lambda: None, outputs=page["live_session"], queue=False, api_visibility="private")
    microphone.stream(push, inputs=page("live_microphone", "live_session", "roi", "model", "subject"),
                      outputs=page("live_session", "live_brain", "live_traces", "live_status"),
                      stream_every=CHUNK_S, time_limit=TIME_LIMIT_S, show_progress="hidden", api_visibility="private")
    microphone.stop_recording(stop, inputs=page["live_session"],
                              outputs=page("live_session", "viewer", "prediction_id"), api_visibility="private")
