"""Predictions: the Run button (API name ``predict``), *Run with nforge-lite instead*, the examples' buttons,
and the first example shown on a first visit. Every one of them fills the same outputs."""

from __future__ import annotations

import html
import json

from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.models import get_card
from nforge_app.ui._examples import EXAMPLES, example_inputs
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._inputs import parse_roi, stimulus_of
from nforge_app.ui._page import Page
from nforge_app.ui._sections.tribe import options_for
from nforge_app.ui._texts import LITE, error_markdown, panel_texts

gr = import_gradio()

FIRST_EXAMPLE_WAIT_S = 120.0
CACHED_LANES = 4
"""Predict requests served at once beyond the job slots (cached answers, and requests waiting for a slot)."""
INPUTS = ("source", "media_file", "transcript_file", "text_file", "tr_text", "tr_s", "model", "subject", "roi",
          "tribe_precision", "tribe_modalities")
OUTPUTS = ("viewer", "prediction_id", "status", "use_lite", "attribution", "attention")


def _on_gpu(fn):
    """``spaces.GPU`` (Hugging Face ZeroGPU) around ``fn`` when the ``spaces`` package is importable."""
    try:
        from spaces import GPU
    except ImportError:  # not on a Space (a folder named spaces without GPU raises ImportError too)
        return fn
    return GPU(duration=120)(fn)


def events(page: Page) -> None:
    service = page.service

    @_on_gpu
    def predict(source, media_file, transcript_file, text_file, tr_text, tr_s, model, subject, roi,
                tribe_precision="fp32", tribe_modalities=None,
                progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Predict brain activity for the input of the chosen tab; returns the viewer's value, the prediction
        id (for export) and a summary."""
        try:
            stimulus, tr = stimulus_of(service.ui_dir, source, media_file, transcript_file, text_file, tr_text,
                                       tr_s, get_card(model))
            result = service.predict(stimulus, tr, model, subject, parse_roi(roi),
                                     progress=lambda fraction, stage: progress(fraction, desc=stage),
                                     **options_for(model, tribe_precision, tribe_modalities))
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return (gr.skip(), gr.skip(), error_markdown(error),
                    gr.update(visible=isinstance(error, ModelUnavailableError)), gr.skip(), gr.skip())
        return (result.viewer_value, result.prediction_id, result.summary, gr.update(visible=False),
                *panel_texts(result.prediction.model_id))

    def first_visit():
        result = page.examples.wait(EXAMPLES[0].key, FIRST_EXAMPLE_WAIT_S)
        if result is None:
            reason = page.examples.errors.get(EXAMPLES[0].key, "it is still being computed")
            return (json.dumps({"message": f"The example could not be shown ({reason}). Run your own input."}),
                    "", "", gr.skip(), gr.skip(), gr.skip())
        return (result.viewer_value, result.prediction_id,
                "Showing the example *" + EXAMPLES[0].label + "*.\n\n" + result.summary, gr.skip(),
                *panel_texts(result.prediction.model_id))

    inputs, outputs = page(*INPUTS), page(*OUTPUTS)
    # Cached answers take no job slot (AppService.predict): more requests than slots run at once, so that a
    # cached one never waits behind a long prediction; new predictions wait for one of settings.max_jobs slots.
    page["run"].click(predict, inputs=inputs, outputs=outputs, api_name="predict",
                      concurrency_limit=service.settings.max_jobs + CACHED_LANES, concurrency_id="predict")
    page["use_lite"].click(lambda: (LITE, []), outputs=page("model", "roi"), api_visibility="private",
                           queue=False).then(predict, inputs=inputs, outputs=outputs, api_visibility="private",
                                             concurrency_id="predict")
    filled = page("source", "media_file", "transcript_file", "text_file", "tr_text", "tr_s", "model", "roi")
    for button, example in zip(page["example_buttons"], EXAMPLES, strict=True):
        def fill(example=example):
            values = example_inputs(example, service.settings.cache_dir / "examples")
            return (values["source"], values["media_file"], values["transcript_file"], values["text_file"],
                    values["tr_text"], get_card(LITE).tr_s, LITE, values["roi"])

        button.click(fill, outputs=filled, api_visibility="private").then(
            predict, inputs=inputs, outputs=outputs, api_visibility="private", concurrency_id="predict")
    # Waiting for the first example must not hold a worker that predictions need.
    page.demo.load(first_visit, outputs=outputs, api_visibility="private", concurrency_limit=None)
