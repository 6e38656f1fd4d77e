"""The Compare tab: in-silico experiments (A vs B blocks, or a stimulus and its events), API names ``contrast``
and ``export_contrast``.

The experiment is predicted by the model, subject and regions of the model section; its map is drawn in the
page's viewer (a one-row prediction: the outputs that pass the tab's threshold), and *Show the prediction
again* puts back the prediction on show. The work is :class:`~nforge_app.ui._compare.CompareService`; the
words are ``ui/_texts.py``'s.
"""

from __future__ import annotations

import html

import pandas as pd

from nforge_app.analysis import DEFAULT_PERMUTATIONS, DEFAULT_REST_S, TEACHING_EXPERIMENTS
from nforge_app.errors import UserInputError
from nforge_app.ui._compare import MAP_COLOURS, TABLE_HEADERS, THRESHOLDS, CompareService
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._inputs import MEDIA_EXTENSIONS, TEXT_EXTENSIONS, parse_roi
from nforge_app.ui._page import Page
from nforge_app.ui._sections.run import _on_gpu
from nforge_app.ui._texts import COMPARE_INTRO, error_markdown, files_ready

gr = import_gradio()

MODE_CHOICES = [("Two sets of stimuli (block design, A vs B)", "blocks"), ("One stimulus and its events file", "events")]
STIMULUS_TYPES = list(MEDIA_EXTENSIONS + TEXT_EXTENSIONS)
RUN_INPUTS = ("compare_mode", "compare_files_a", "compare_files_b", "compare_name_a", "compare_name_b",
              "compare_stimulus", "compare_events", "compare_contrast", "compare_block_s", "compare_rest_s",
              "compare_seed", "compare_permutations", "model", "subject", "roi", "compare_threshold_kind",
              "compare_threshold", "compare_colour")
SHOWN = ("viewer", "compare_status", "compare_table", "compare_design")
RUN_OUTPUTS = ("compare_id", *SHOWN)


def layout(page: Page) -> None:
    gr.Markdown(COMPARE_INTRO)
    with gr.Accordion("Teaching examples (nforge-lite runs them offline)", open=True):
        buttons = []
        for experiment in TEACHING_EXPERIMENTS:
            with gr.Group(elem_classes="nforge-examples"):
                buttons.append(gr.Button(experiment.label, size="sm"))
                gr.Markdown(experiment.classic)
    mode = gr.Radio(MODE_CHOICES, value="blocks", label="Design")
    with gr.Group(visible=True) as blocks_group:
        with gr.Row():
            name_a = gr.Textbox("A", label="Condition A", max_lines=1, scale=1)
            name_b = gr.Textbox("B", label="Condition B", max_lines=1, scale=1)
        with gr.Row():
            files_a = gr.File(label="Stimuli of A (one block each)", file_count="multiple", file_types=STIMULUS_TYPES,
                              type="filepath", height=130, elem_id="nforge-compare-a")
            files_b = gr.File(label="Stimuli of B (one block each)", file_count="multiple", file_types=STIMULUS_TYPES,
                              type="filepath", height=130, elem_id="nforge-compare-b")
    with gr.Group(visible=False) as events_group:
        with gr.Row():
            stimulus = gr.File(label="Stimulus", file_types=STIMULUS_TYPES, type="filepath", height=110,
                               elem_id="nforge-compare-stimulus")
            events = gr.File(label="Events (BIDS events.tsv: onset, duration, trial_type)", file_types=[".tsv"],
                             type="filepath", height=110, elem_id="nforge-compare-events")
        contrast = gr.Textbox(label="Contrast (trial types, as nilearn writes it)", placeholder="speech - music",
                              max_lines=1)
    with gr.Accordion("Design and statistics", open=False):
        with gr.Row():
            block_s = gr.Number(0, label="Longest block (s; 0: whole stimuli)", minimum=0)
            rest_s = gr.Number(DEFAULT_REST_S, label="Rest between blocks (s)", minimum=0)
            seed = gr.Number(0, label="Seed (block order, random relabellings)", precision=0)
            permutations = gr.Number(DEFAULT_PERMUTATIONS, label="Most relabellings", precision=0, minimum=2)
    run = gr.Button("Run the experiment", variant="primary")
    status = gr.Markdown(elem_classes="nforge-compare-status", label="experiment status")
    back = gr.Button("Show the prediction again", visible=False, size="sm")
    with gr.Row():
        threshold_kind = gr.Radio(list(THRESHOLDS), value=THRESHOLDS[0], label="Threshold", scale=2)
        threshold = gr.Number(0.05, label="Threshold value", minimum=0, scale=1)
        colour = gr.Radio(list(MAP_COLOURS), value="effect", label="Colour by", scale=1)
    table = gr.Dataframe(headers=list(TABLE_HEADERS), label="Top regions (region means)", interactive=False,
                         elem_id="nforge-compare-regions")
    # no height: with one, gradio 6 cuts the legend off
    design = gr.LinePlot(x="time_s", y="value", color="series", label="Design: blocks and regressors",
                         x_title="time (s)", y_title="amplitude", color_title="condition",
                         elem_id="nforge-compare-design")
    with gr.Row():
        export = gr.Button("Download the results", scale=1)
        contrast_id = gr.Textbox(label="experiment id", info="what the export_contrast API takes", interactive=False,
                                 max_lines=1, scale=2)
    downloads = gr.File(label="Results (npz, region CSV, GIfTI of effect and t, PNG pictures)", file_count="multiple",
                        interactive=False, height=120)
    export_status = gr.Markdown(label="experiment export status")
    page.add(compare_examples=buttons, compare_mode=mode, compare_blocks=blocks_group, compare_events_group=events_group,
             compare_name_a=name_a, compare_name_b=name_b, compare_files_a=files_a, compare_files_b=files_b,
             compare_stimulus=stimulus, compare_events=events, compare_contrast=contrast, compare_block_s=block_s,
             compare_rest_s=rest_s, compare_seed=seed, compare_permutations=permutations, compare_run=run,
             compare_status=status, compare_back=back, compare_threshold_kind=threshold_kind,
             compare_threshold=threshold, compare_colour=colour, compare_table=table, compare_design=design,
             compare_export=export, compare_id=contrast_id, compare_downloads=downloads,
             compare_export_status=export_status)


def events(page: Page) -> None:
    compare = CompareService(page.service)

    def view(contrast_id, threshold_kind, threshold, colour):
        shown = compare.show(contrast_id, threshold_kind, float(threshold), colour)
        return (shown.viewer_value, shown.summary, pd.DataFrame(shown.rows, columns=list(TABLE_HEADERS)),
                gr.update(value=pd.DataFrame(shown.design), color_map=shown.design_colours))

    @_on_gpu
    def run(mode, files_a, files_b, name_a, name_b, stimulus, events_file, contrast_text, block_s, rest_s, seed,
            n_permutations, model, subject, roi, threshold_kind, threshold, colour,
            progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Run the experiment the tab holds with the chosen model; returns its id, the viewer's value (its map),
        a summary, the region table and the design."""
        try:
            contrast_id = compare.run(
                mode, model, subject, parse_roi(roi), seed, n_permutations,
                lambda fraction, stage: progress(fraction, desc=stage), files_a=files_a, files_b=files_b,
                names=(name_a or "A", name_b or "B"), block_s=block_s, rest_s=rest_s, stimulus=stimulus,
                events=events_file, contrast_text=contrast_text)
            return (contrast_id, *view(contrast_id, threshold_kind, threshold, colour))
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return gr.skip(), gr.skip(), error_markdown(error, "run the experiment"), gr.skip(), gr.skip()

    def redraw(contrast_id, threshold_kind, threshold, colour):
        if not contrast_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            return view(contrast_id, threshold_kind, threshold, colour)
        except UserInputError as error:
            return gr.skip(), error_markdown(error, "show the experiment"), gr.skip(), gr.skip()

    def export(contrast_id, threshold_kind, threshold, colour):
        """Write the experiment's npz, region CSV, GIfTI maps of effect and t, and pictures of the map shown."""
        try:
            files, notes = compare.export(contrast_id, threshold_kind, float(threshold), colour)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return None, error_markdown(error, "export")
        return [str(path) for path in files], files_ready(files, notes)

    def show_prediction(prediction_id):
        try:
            return page.service.view(prediction_id), gr.update(visible=False)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return gr.skip(), gr.skip()

    def offer_back(contrast_id, prediction_id):
        """*Show the prediction again* once a map has replaced a prediction in the viewer."""
        return gr.update(visible=bool(contrast_id and prediction_id))

    page["compare_mode"].change(lambda m: (gr.update(visible=m == "blocks"), gr.update(visible=m == "events")),
                                inputs=page["compare_mode"], outputs=page("compare_blocks", "compare_events_group"),
                                api_visibility="private", queue=False)
    inputs, outputs = page(*RUN_INPUTS), page(*RUN_OUTPUTS)
    back = {"fn": offer_back, "inputs": page("compare_id", "prediction_id"), "outputs": page["compare_back"],
            "api_visibility": "private", "queue": False}
    page["compare_run"].click(run, inputs=inputs, outputs=outputs, api_name="contrast",
                              concurrency_id="predict").then(**back)
    shown = page("compare_id", "compare_threshold_kind", "compare_threshold", "compare_colour")
    gr.on([page["compare_threshold_kind"].input, page["compare_threshold"].submit, page["compare_colour"].input],
          redraw, inputs=shown, outputs=page(*SHOWN), api_visibility="private").then(**back)
    page["compare_export"].click(export, inputs=shown, outputs=page("compare_downloads", "compare_export_status"),
                                 api_name="export_contrast", concurrency_limit=2)
    page["compare_back"].click(show_prediction, inputs=page["prediction_id"],
                               outputs=page("viewer", "compare_back"), api_visibility="private")
    # A new prediction on show: the map is no longer in the viewer.
    page["prediction_id"].change(lambda: gr.update(visible=False), outputs=page["compare_back"],
                                 api_visibility="private", queue=False)
    filled = page("compare_mode", "compare_files_a", "compare_files_b", "compare_name_a", "compare_name_b")
    for button, experiment in zip(page["compare_examples"], TEACHING_EXPERIMENTS, strict=True):
        def fill(key=experiment.key):
            try:
                a, b, names = compare.teaching_inputs(key)
            except UserInputError as error:  # stops here: the experiment is not run
                raise gr.Error(html.escape(str(error))) from None
            return "blocks", a, b, names[0], names[1]

        button.click(fill, outputs=filled, api_visibility="private").success(
            run, inputs=inputs, outputs=outputs, api_visibility="private", concurrency_id="predict").then(**back)
