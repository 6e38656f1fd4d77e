"""The Adapt tab: upload runs (stimulus + measured fMRI), fit a subject by cross-validated ridge on the model's
hidden features, see its held-out r map in the viewer; the subject then appears in the subject menu, marked
"(adapted)" (API name ``adapt``). The work is ``ui/_adapt.AdaptService``."""

from __future__ import annotations

import html

from nforge_app.analysis import MEASURED_SUFFIXES
from nforge_app.errors import UserInputError
from nforge_app.models import get_card
from nforge_app.ui._adapt import AdaptService, subject_choices
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._inputs import MEDIA_EXTENSIONS, TEXT_EXTENSIONS
from nforge_app.ui._page import Page
from nforge_app.ui._sections.run import _on_gpu
from nforge_app.ui._texts import error_markdown

gr = import_gradio()


def layout(page: Page) -> None:
    gr.Markdown("Fit **your own subject**: the model's hidden features of each stimulus, mapped to your measured "
                "responses by ridge regression, its regularisation cross-validated by run; the last run is left "
                "out and its **held-out r** drawn as a map. Upload the stimulus of each run and its measured data "
                "(.npz with `data` time x outputs and `tr_s`; every vertex or parcel of the model's space): they "
                "are paired in the order of their names (run-1.mp4 with run-1.npz). Two runs at least, three or "
                "more for a fair choice of the regularisation.")
    with gr.Row():
        stimuli = gr.File(label="Stimuli (one per run)", file_count="multiple", type="filepath",
                          file_types=list(MEDIA_EXTENSIONS) + list(TEXT_EXTENSIONS), elem_id="nforge-adapt-stimuli")
        measured = gr.File(label="Measured runs", file_count="multiple", type="filepath",
                           file_types=list(MEASURED_SUFFIXES), elem_id="nforge-adapt-measured")
    with gr.Row():
        name = gr.Textbox(label="Subject name", placeholder="e.g. sub-me", max_lines=1, scale=2,
                          elem_id="nforge-adapt-name")
        tr_s = gr.Number(label="Measured TR (s); 0: as the files say", value=0, minimum=0, scale=2)
        replace = gr.Checkbox(label="Replace a subject of that name", value=False, scale=1)
    button = gr.Button("Fit the subject", elem_id="nforge-adapt-button")
    summary = gr.Markdown(label="adaptation", elem_id="nforge-adapt-summary")
    download = gr.File(label="held-out eval.npz", interactive=False, height=70)
    page.add(adapt_stimuli=stimuli, adapt_measured=measured, adapt_name=name, adapt_tr_s=tr_s,
             adapt_replace=replace, adapt_button=button, adapt_summary=summary, adapt_download=download)


def events(page: Page) -> None:
    service = AdaptService(page.service)

    @_on_gpu
    def fit(model, stimuli, measured, name, tr_s, replace, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Fit a subject; returns the viewer's value (its held-out r map), a summary, the report and the
        subject menu with the new subject chosen."""
        try:
            view = service.fit(model, stimuli, measured, name, tr_s, replace,
                               lambda fraction, stage: progress(fraction, desc=stage))
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return gr.skip(), error_markdown(error, "fit the subject"), None, gr.skip()
        card = get_card(view.subject.model_id)
        menu = gr.update(choices=subject_choices(card, page.service.settings), value=view.subject.name,
                         interactive=True)
        return view.viewer_value, view.summary, str(view.file), menu

    page["adapt_button"].click(
        fit, inputs=page("model", "adapt_stimuli", "adapt_measured", "adapt_name", "adapt_tr_s", "adapt_replace"),
        outputs=page("viewer", "adapt_summary", "adapt_download", "subject"), api_name="adapt", concurrency_limit=1)
