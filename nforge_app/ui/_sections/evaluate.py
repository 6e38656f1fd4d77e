"""The Evaluate tab: measured fMRI of the stimulus on show, scored by the engine, drawn as an r map with its
histogram in the viewer (API name ``evaluate``). The work is ``AppService.evaluate``; the summary's words are
``ui/_texts.evaluation_summary``."""

from __future__ import annotations

import html

from nforge_app.analysis import MEASURED_SUFFIXES
from nforge_app.errors import UserInputError
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._page import Page
from nforge_app.ui._texts import error_markdown

gr = import_gradio()


def layout(page: Page) -> None:
    gr.Markdown("Upload measured responses to the **same stimulus** as the prediction on show: Pearson r over "
                "time per vertex or parcel, as TRIBE v2 and Algonauts 2025 score it, drawn as a map. Formats: "
                ".npz (`data` time x outputs, `tr_s`), .npy, .csv/.tsv, .h5 (Algonauts 2025), or two .func.gii "
                "files (left and right hemisphere). Several runs of the stimulus: r against their average, with "
                "a noise ceiling.")
    files = gr.File(label="Measured runs", file_count="multiple", file_types=list(MEASURED_SUFFIXES),
                    type="filepath", elem_id="nforge-evaluate-files")
    with gr.Row():
        run = gr.Textbox(label="Run in the .h5 file", placeholder="e.g. s01e01a", max_lines=1, scale=2)
        tr_s = gr.Number(label="Measured TR (s); 0: as the files say", value=0, minimum=0, scale=2)
        lag_search = gr.Checkbox(label="Search the lag (−5…+10 s)", value=False, scale=1)
    button = gr.Button("Evaluate")
    summary = gr.Markdown(label="evaluation")
    back = gr.Button("Show the prediction again", visible=False, size="sm")
    download = gr.File(label="eval.npz", interactive=False, height=70)
    page.add(evaluate_files=files, evaluate_run=run, evaluate_tr_s=tr_s, evaluate_lag_search=lag_search,
             evaluate_button=button, evaluate_summary=summary, evaluate_back=back, evaluate_download=download)


def events(page: Page) -> None:
    service = page.service

    def evaluate(prediction_id, files, run, tr_s, lag_search):
        """Score the prediction on show against measured fMRI; returns the viewer's value (its r map), a
        summary and the eval.npz."""
        try:
            result = service.evaluate(prediction_id, files, run, tr_s, lag_search)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return gr.skip(), error_markdown(error, "evaluate"), None, gr.update(visible=False)
        return result.viewer_value, result.summary, str(result.file), gr.update(visible=True)

    def show_prediction(prediction_id):
        try:
            return service.view(prediction_id), gr.update(visible=False)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return gr.skip(), gr.skip()

    page["evaluate_button"].click(
        evaluate, inputs=page("prediction_id", "evaluate_files", "evaluate_run", "evaluate_tr_s",
                              "evaluate_lag_search"),
        outputs=page("viewer", "evaluate_summary", "evaluate_download", "evaluate_back"), api_name="evaluate",
        concurrency_limit=2)
    page["evaluate_back"].click(show_prediction, inputs=page["prediction_id"],
                                outputs=page("viewer", "evaluate_back"), api_visibility="private")
    # A new prediction on show: the last evaluation was of another one.
    page["prediction_id"].change(lambda: ("", None, gr.update(visible=False)),
                                 outputs=page("evaluate_summary", "evaluate_download", "evaluate_back"),
                                 api_visibility="private", queue=False)
