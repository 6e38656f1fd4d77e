"""The analysis tabs' first two panels: modality attribution and ROI attention (their sentences follow the
model's card, ``ui/_texts.panel_texts``; they are set with each model and prediction)."""

from __future__ import annotations

from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._page import Page
from nforge_app.ui._sections.model import default_model
from nforge_app.ui._texts import panel_texts

gr = import_gradio()


def attribution_layout(page: Page) -> None:
    page.add(attribution=gr.Markdown(panel_texts(default_model())[0], label="modality attribution"))


def attention_layout(page: Page) -> None:
    page.add(attention=gr.Markdown(panel_texts(default_model())[1], label="ROI attention"))
