"""The analysis tabs' first two panels: modality attribution and ROI attention.

Each tab has its sentence (``ui/_texts``: what the panel shows before and after *Explain*, following the
model's card), an *Explain* button and a drawing (``static/panels.js``, fed by
``AppService.explain``'s payload): the RGB layer of the viewer and the regions' modality shares over time;
the region x stimulus-time heat map of the output time under the slider. One *Explain* fills both.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from nforge_app.errors import UserInputError
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._page import Page
from nforge_app.ui._sections.model import default_model
from nforge_app.ui._texts import attention_text, attribution_text, error_markdown, panel_texts
from nforge_app.values import ATTRIBUTION_METHODS

gr = import_gradio()

STATIC = Path(__file__).resolve().parents[1] / "static"
TEMPLATES = {
    "attribution": ('<div class="nfa" data-panel="attribution" data-state="empty"><div class="nfa-message"></div>'
                    '<div class="nfa-key"></div><div class="nfa-charts"></div></div>'),
    "attention": ('<div class="nfa" data-panel="attention" data-state="empty"><div class="nfa-message"></div>'
                  '<canvas class="nfa-heat" hidden></canvas></div>'),
}
EMPTY = json.dumps({"message": ""})


def _view(name: str):
    return gr.HTML(EMPTY, html_template=TEMPLATES[name], css_template=(STATIC / "panels.css").read_text("utf-8"),
                   js_on_load=(STATIC / "panels.js").read_text("utf-8"), apply_default_css=False,
                   elem_id=f"nforge-{name}", label=name)


def attribution_layout(page: Page) -> None:
    text = gr.Markdown(panel_texts(default_model())[0], label="modality attribution")
    with gr.Row(equal_height=True):
        method = gr.Dropdown(list(ATTRIBUTION_METHODS), value=ATTRIBUTION_METHODS[0], label="Method",
                             info="Shapley: exact; integrated gradients: a path; ablation: a quick view "
                                  "(all agree on nforge-lite)", scale=3)
        button = gr.Button("Explain", variant="secondary", elem_id="nforge-explain-attribution", scale=1)
    page.add(attribution=text, attribution_view=_view("attribution"), explain_attribution=button,
             attribution_method=method)


def attention_layout(page: Page) -> None:
    text = gr.Markdown(panel_texts(default_model())[1], label="ROI attention")
    button = gr.Button("Explain", variant="secondary", size="sm", elem_id="nforge-explain-attention")
    page.add(attention=text, attention_view=_view("attention"), explain_attention=button)


def events(page: Page) -> None:
    service = page.service

    def explain(prediction_id, method="shapley", progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Split the prediction on screen over its modalities (``method``: one of ``ATTRIBUTION_METHODS``),
        with its regions' temporal attention."""
        try:
            if not prediction_id:
                raise UserInputError("nothing to explain yet: run a prediction (or pick an example) first")
            result = service.explain(prediction_id, method=method or None,
                                     progress=lambda fraction, stage: progress(fraction, desc=stage))
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return error_markdown(error, "explain"), error_markdown(error, "explain"), gr.skip(), gr.skip()
        prediction, facts = service.load(prediction_id)
        facts_roi = bool(facts.get("roi"))
        return (attribution_text(result.attribution, result.regions) if result.attribution is not None
                else panel_texts(prediction.model_id)[0],
                attention_text(result.attention, prediction.model_id, facts_roi),
                result.panel_value, result.panel_value)

    def reset(prediction_id):
        """A new prediction on screen: the panels say what *Explain* will show for its model."""
        try:
            model_id = service.load(prediction_id)[0].model_id if prediction_id else default_model()
        except UserInputError:
            model_id = default_model()
        return (*panel_texts(model_id), EMPTY, EMPTY)

    outputs = page("attribution", "attention", "attribution_view", "attention_view")
    for button, api_name in ((page["explain_attribution"], "explain"), (page["explain_attention"], None)):
        button.click(explain, inputs=page("prediction_id", "attribution_method"), outputs=outputs, concurrency_limit=1,
                     concurrency_id="explain", **({"api_name": api_name} if api_name else
                                                  {"api_visibility": "private"}))
    page["prediction_id"].change(reset, inputs=page("prediction_id"), outputs=outputs, api_visibility="private",
                                 queue=False)
