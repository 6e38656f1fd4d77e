"""The model section: model, subject and regions, the Run button and the status line."""

from __future__ import annotations

from nforge_app.models import get_card, list_model_ids
from nforge_app.spaces import NETWORKS
from nforge_app.ui._adapt import subject_choices
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._inputs import roi_choices
from nforge_app.ui._page import Page
from nforge_app.ui._texts import LITE, model_label, model_markdown, panel_texts

gr = import_gradio()


def default_model() -> str:
    """The model the page starts with: the offline baseline (it needs no download)."""
    model_ids = list_model_ids()
    return LITE if LITE in model_ids else model_ids[0]


def layout(page: Page) -> None:
    model_id = default_model()
    card = get_card(model_id)
    model = gr.Dropdown([model_label(m) for m in list_model_ids()], value=model_id, label="Model")
    model_info = gr.Markdown(model_markdown(model_id))
    with gr.Row():
        subject = gr.Dropdown([str(s) for s in card.subjects], value=str(card.default_subject), label="Subject",
                              scale=1, interactive=len(card.subjects) > 1)
        # The region names are filled in when the page loads (reading the atlases takes a moment).
        roi = gr.Dropdown(list(NETWORKS), value=[], multiselect=True, allow_custom_value=True,
                          label="Regions (empty: whole brain)", scale=3,
                          info="Names, wildcards (V*, *STS*) or networks (Vis, Default…)")
    run = gr.Button("Run", variant="primary")
    status = gr.Markdown(elem_classes="nforge-status", label="status")
    use_lite = gr.Button(f"Run with {LITE} instead", visible=False)
    page.add(model=model, model_info=model_info, subject=subject, roi=roi, run=run, status=status,
             use_lite=use_lite)


def events(page: Page) -> None:
    """A model's subjects, regions, description, TR and panel sentences, when it is picked and on page load."""

    def on_model(model_id):
        card = get_card(model_id)
        subjects = subject_choices(card, page.service.settings)  # the model's, then its adapted ones
        return (gr.update(choices=subjects, value=str(card.default_subject), interactive=len(subjects) > 1),
                gr.update(choices=roi_choices(card, page.service.settings), value=[]), model_markdown(model_id),
                card.tr_s, *panel_texts(model_id))

    outputs = page("subject", "roi", "model_info", "tr_s", "attribution", "attention")
    page["model"].change(on_model, inputs=page["model"], outputs=outputs, api_visibility="private", queue=False)
    page.demo.load(on_model, inputs=page["model"], outputs=outputs, api_visibility="private", concurrency_limit=None)
