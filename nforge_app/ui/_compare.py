"""The page's Compare tab: in-silico experiments (A vs B blocks, or a stimulus and its events) on the brain.

Thin like the rest of the page: :class:`~nforge_app.ui._compare_service.CompareService` runs and keeps the
experiments; this module lays out the tab and wires its events. The map is drawn by the same client-side
viewer as predictions (one frame: its player and time-course panels are hidden).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from nforge_app.analysis import DEFAULT_PERMUTATIONS, DEFAULT_REST_S, TEACHING_EXPERIMENTS
from nforge_app.errors import UserInputError
from nforge_app.ui._compare_service import MAP_COLOURS, TABLE_HEADERS, THRESHOLDS, CompareService
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._service import MEDIA_EXTENSIONS, TEXT_EXTENSIONS, AppService

gr = import_gradio()

STATIC = Path(__file__).parent / "static"
MODES = ("blocks", "events")
_MODE_LABELS = [("Two sets of stimuli (block design, A vs B)", "blocks"), ("One stimulus and its events file", "events")]
STIMULUS_TYPES = list(MEDIA_EXTENSIONS + TEXT_EXTENSIONS)
INTRO = """### In-silico experiment
Ask the model an experimental question, as a scanner study would: drop the stimuli of two conditions (each file
is one block; they are played in a random order with rests of silence and a grey screen between them), or one
stimulus with a BIDS `events.tsv`. The sequence is predicted once, a first-level GLM (nilearn) is fitted to the
predicted series and the contrast is tested by relabelling the blocks or events. Or press a teaching example."""
# The map has one frame: no player, no time courses; the viewer's own threshold starts at 0 (the tab thresholds).
_VIEWER_CSS = """
.nfv-player, .nfv-axis-note, .nfv-panels figure:nth-child(2), .nfv-panel-wide, .nfv-hint { display: none !important; }
.nfv-panels { grid-template-columns: 1fr !important; }
"""


def _viewer_template() -> str:
    return (STATIC / "viewer.html").read_text(encoding="utf-8").replace(
        'class="nfv-thr" min="0" max="100" value="20"', 'class="nfv-thr" min="0" max="100" value="0"').replace(
        "Run a prediction, or pick an example: the brain appears here.",
        "Run an experiment, or press a teaching example: its map appears here.")


def add_compare_tab(service: AppService, model_choices: list, default_model: str,
                    on_gpu: Callable[[Callable], Callable] = lambda fn: fn) -> None:
    """Add the Compare tab; call inside the page's ``gr.Tabs`` context.

    Parameters
    ----------
    service : AppService
        The page's service (engine, folders, viewer payloads).
    model_choices : list
        The model picker's choices (``(label, model id)``), as on the prediction tab.
    default_model : str
        The model picked at first.
    on_gpu : callable
        Wraps the function that predicts (``spaces.GPU`` on a ZeroGPU Space).
    """
    compare = CompareService(service)

    def view(contrast_id, threshold_kind, threshold, colour):
        shown = compare.show(contrast_id, threshold_kind, float(threshold), colour)
        return (shown.viewer_value, shown.summary, pd.DataFrame(shown.rows, columns=list(TABLE_HEADERS)),
                gr.update(value=pd.DataFrame(shown.design), color_map=shown.design_colours))

    @on_gpu
    def run(mode, files_a, files_b, name_a, name_b, stimulus, events, contrast_text, model, block_s, rest_s, seed,
            n_permutations, threshold_kind, threshold, colour, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Run the experiment the tab holds; returns its id, the map, the summary, the table and the design."""
        report = lambda fraction, stage: progress(fraction, desc=stage)  # noqa: E731
        try:
            if mode == "events":
                contrast_id = compare.run_events(stimulus, events, contrast_text, model, seed, n_permutations, report)
            else:
                contrast_id = compare.run_blocks(files_a, files_b, name_a or "A", name_b or "B", model, block_s,
                                                 rest_s, seed, n_permutations, report)
            return (contrast_id, *view(contrast_id, threshold_kind, threshold, colour))
        except UserInputError as error:
            gr.Warning(str(error))
            return gr.skip(), gr.skip(), f"**Could not run.** {error}", gr.skip(), gr.skip()

    def redraw(contrast_id, threshold_kind, threshold, colour):
        if not contrast_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            return view(contrast_id, threshold_kind, threshold, colour)
        except UserInputError as error:
            return gr.skip(), f"**Could not show.** {error}", gr.skip(), gr.skip()

    def export(contrast_id, threshold_kind, threshold, colour):
        try:
            files, notes = compare.export(contrast_id, threshold_kind, float(threshold), colour)
        except UserInputError as error:
            gr.Warning(str(error))
            return None, f"**Could not export.** {error}"
        return [str(f) for f in files], "\n\n".join([f"{len(files)} files ready."] + [f"⚠️ {n}" for n in notes])

    with gr.Tab("Compare", id="compare"):
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=340):
                mode = gr.Radio(_MODE_LABELS, value="blocks", label="Design")
                with gr.Group(visible=True) as blocks_group:
                    with gr.Row():
                        name_a = gr.Textbox("A", label="Condition A", max_lines=1, scale=1)
                        name_b = gr.Textbox("B", label="Condition B", max_lines=1, scale=1)
                    files_a = gr.File(label="Stimuli of A (one block each)", file_count="multiple",
                                      file_types=STIMULUS_TYPES, type="filepath", height=130, elem_id="nforge-compare-a")
                    files_b = gr.File(label="Stimuli of B (one block each)", file_count="multiple",
                                      file_types=STIMULUS_TYPES, type="filepath", height=130, elem_id="nforge-compare-b")
                with gr.Group(visible=False) as events_group:
                    stimulus = gr.File(label="Stimulus", file_types=STIMULUS_TYPES, type="filepath", height=110,
                                       elem_id="nforge-compare-stimulus")
                    events = gr.File(label="Events (BIDS events.tsv: onset, duration, trial_type)",
                                     file_types=[".tsv"], type="filepath", height=110, elem_id="nforge-compare-events")
                    contrast_text = gr.Textbox(label="Contrast (trial types, as nilearn writes it)",
                                               placeholder="speech - music", max_lines=1)
                model = gr.Dropdown(model_choices, value=default_model, label="Predicted by")
                with gr.Accordion("Design and statistics", open=False):
                    with gr.Row():
                        block_s = gr.Number(0, label="Longest block (s; 0: whole stimuli)", minimum=0)
                        rest_s = gr.Number(DEFAULT_REST_S, label="Rest between blocks (s)", minimum=0)
                    with gr.Row():
                        seed = gr.Number(0, label="Seed (block order, random relabellings)", precision=0)
                        n_permutations = gr.Number(DEFAULT_PERMUTATIONS, label="Most relabellings", precision=0,
                                                   minimum=2)
                run_button = gr.Button("Run the experiment", variant="primary")
                status = gr.Markdown(elem_classes="nforge-compare-status", label="experiment status")
                with gr.Accordion("Teaching examples (nforge-lite works offline)", open=True):
                    example_buttons = []
                    for experiment in TEACHING_EXPERIMENTS:
                        with gr.Group(elem_classes="nforge-examples"):
                            example_buttons.append(gr.Button(experiment.label, size="sm"))
                            gr.Markdown(experiment.classic)
            with gr.Column(scale=7, min_width=480):
                with gr.Row():
                    threshold_kind = gr.Radio(list(THRESHOLDS), value=THRESHOLDS[0], label="Threshold", scale=2)
                    threshold = gr.Number(0.05, label="Threshold value", minimum=0, scale=1)
                    colour = gr.Radio(list(MAP_COLOURS), value="effect", label="Colour by", scale=1)
                viewer = gr.HTML('{"message": "Run an experiment, or press a teaching example: its map appears here."}',
                                 html_template=_viewer_template(),
                                 css_template=(STATIC / "viewer.css").read_text(encoding="utf-8") + _VIEWER_CSS,
                                 js_on_load=(STATIC / "viewer.js").read_text(encoding="utf-8"),
                                 apply_default_css=False, elem_id="nforge-compare-viewer", label="contrast map")
                table = gr.Dataframe(headers=list(TABLE_HEADERS), label="Top regions (region means)",
                                     interactive=False, elem_id="nforge-compare-regions")
                # no height: with one, gradio 6 cuts the legend off
                design_plot = gr.LinePlot(x="time_s", y="value", color="series", label="Design: blocks and regressors",
                                          x_title="time (s)", y_title="amplitude", color_title="condition",
                                          elem_id="nforge-compare-design")
                with gr.Row():
                    export_button = gr.Button("Download the results", scale=1)
                    contrast_id = gr.Textbox(label="experiment id", interactive=False, max_lines=1, scale=2)
                downloads = gr.File(label="Results (npz, region CSV, GIfTI of effect and t, PNG)", file_count="multiple",
                                    interactive=False, height=120)
                export_status = gr.Markdown(label="export status")

    mode.change(lambda m: (gr.update(visible=m == "blocks"), gr.update(visible=m == "events")), inputs=mode,
                outputs=[blocks_group, events_group], api_visibility="private", queue=False)
    run_inputs = [mode, files_a, files_b, name_a, name_b, stimulus, events, contrast_text, model, block_s, rest_s,
                  seed, n_permutations, threshold_kind, threshold, colour]
    run_outputs = [contrast_id, viewer, status, table, design_plot]
    run_button.click(run, inputs=run_inputs, outputs=run_outputs, api_name="contrast", concurrency_id="predict")
    shown = [contrast_id, threshold_kind, threshold, colour]
    gr.on([threshold_kind.input, threshold.submit, colour.input], redraw, inputs=shown,
          outputs=[viewer, status, table, design_plot], api_visibility="private")
    export_button.click(export, inputs=shown, outputs=[downloads, export_status], api_name="export_contrast",
                        concurrency_limit=2)
    for button, experiment in zip(example_buttons, TEACHING_EXPERIMENTS, strict=True):
        def fill(key=experiment.key):
            try:
                a, b, names = compare.teaching_inputs(key)
            except UserInputError as error:
                gr.Warning(str(error))
                return (gr.skip(),) * 5
            return "blocks", a, b, names[0], names[1]

        button.click(fill, outputs=[mode, files_a, files_b, name_a, name_b], api_visibility="private").then(
            run, inputs=run_inputs, outputs=run_outputs, api_visibility="private", concurrency_id="predict")
