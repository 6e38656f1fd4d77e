"""The Gradio Blocks page: inputs on the left, the client-side brain viewer and exports on the right.

The page is thin: every prediction goes through :class:`~nforge_app.engine.Engine` (via
:class:`~nforge_app.ui._service.AppService`); the viewer (``static/viewer.js``) draws in the browser.
Stable API names: ``predict`` and ``export``.
"""

from __future__ import annotations

import json
from pathlib import Path

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.models import get_card, list_model_ids
from nforge_app.spaces import NETWORKS, SURFACES
from nforge_app.ui._compare import add_compare_tab
from nforge_app.ui._examples import EXAMPLES, ExampleResults, example_inputs
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._service import (
    COLOR_SCALES,
    EXPORT_FORMATS,
    MEDIA_EXTENSIONS,
    PICTURES,
    SOURCES,
    TEXT_EXTENSIONS,
    TRANSCRIPT_EXTENSIONS,
    AppService,
    roi_choices,
    served_dirs,
)
from nforge_app.viz.surface import DEFAULT_VIEWS, SURFACE_VIEWS

gr = import_gradio()

STATIC = Path(__file__).parent / "static"
LITE = "nforge-lite"
FIRST_EXAMPLE_WAIT_S = 120.0
# The examples are computed once the first page has loaded (it asks for the first one), or this long after the
# page is built when nobody comes: on a first start they take seconds of CPU, which the first page load needs.
EXAMPLES_DELAY_S = 10.0
INTRO = """# NForge
Predict how the human cortex responds to a video, a sound or a text, then scrub through time on the brain.
Pick an input on the left (or an example), a model and regions, and press **Run**."""
APP_CSS = """
.nforge-status p { margin: 0.2em 0; }
.nforge-examples button { text-align: left; }
"""


def _on_gpu(fn):
    """``spaces.GPU`` (Hugging Face ZeroGPU) around ``fn`` when the ``spaces`` package is importable."""
    try:
        from spaces import GPU
    except ImportError:  # not on a Space (a folder named spaces without GPU raises ImportError too)
        return fn
    return GPU(duration=120)(fn)


def _model_label(model_id: str) -> tuple[str, str]:
    card = get_card(model_id)
    return (f"{card.name} ({model_id})" + (" — baseline, offline" if card.baseline else ""), model_id)


def model_markdown(model_id: str) -> str:
    """What the model is, what it reads and predicts, and where its weights come from."""
    card = get_card(model_id)
    warning = "⚠ **Baseline, not trained on fMRI.** " if card.baseline else ""
    return (f"{warning}{card.description}\n\n"
            f"Reads {', '.join(card.modalities)} · predicts {card.space_id} every {card.tr_s:g} s "
            f"({card.time_axis} time) · weights: {card.weights} · licence: {card.licence}")


def panel_texts(model_id: str) -> tuple[str, str]:
    """The honest sentences of the modality-attribution and ROI-attention panels for ``model_id``."""
    card = get_card(model_id)
    if card.baseline:
        attribution = (f"**Modality attribution.** Not computed for {card.model_id}: it has no learned weights, "
                       "and each region is driven by fixed features by construction (auditory regions by sound, "
                       "language regions by words, visual regions by the picture; see the model description).")
    else:
        attribution = ("**Modality attribution.** Not available yet for this model. It will show, for each "
                       "region, how much of the prediction comes from text, audio and video.")
    attention = ("**ROI attention.** Not available yet. It will show which moments of the stimulus each "
                 "selected region responds to most" + (", for models with temporal attention such as "
                                                        "TRIBE v2." if card.model_id != "tribe-v2" else "."))
    return attribution, attention


def _error_markdown(error: UserInputError) -> str:
    text = f"**Could not run.** {error}"
    if isinstance(error, ModelUnavailableError):
        text += (f"\n\nThe offline **{LITE}** model needs no download: press *Run with {LITE} instead* (a "
                 "baseline, not trained on fMRI).")
    return text


def build_app(engine: Engine | None = None, settings: Settings | None = None) -> gr.Blocks:
    """Build the NForge page; its examples are computed in the background once the first page has loaded.

    Parameters
    ----------
    engine : Engine, optional
        The engine every prediction goes through; by default one with ``settings``, built when a prediction
        first needs it.
    settings : Settings, optional
        Used when no engine is given (read from the environment by default).

    Returns
    -------
    gr.Blocks
        Not launched: see :func:`launch` for the launch options.
    """
    service = AppService(engine, settings)
    examples = ExampleResults(service).start(delay_s=EXAMPLES_DELAY_S)
    model_ids = list_model_ids()
    default_model = LITE if LITE in model_ids else model_ids[0]
    default_card = get_card(default_model)
    attribution_text, attention_text = panel_texts(default_model)

    @_on_gpu
    def predict(source, media_file, transcript_file, text_file, tr_text, tr_s, model, subject, roi,
                progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Predict brain activity for the input of the chosen tab; returns the viewer's value, the prediction
        id (for export) and a summary."""
        try:
            result = service.run(source, media_file, transcript_file, text_file, tr_text, tr_s, model, subject, roi,
                                 progress=lambda fraction, stage: progress(fraction, desc=stage))
        except UserInputError as error:
            gr.Warning(str(error))
            return (gr.skip(), gr.skip(), _error_markdown(error),
                    gr.update(visible=isinstance(error, ModelUnavailableError)), gr.skip(), gr.skip())
        return (result.viewer_value, result.prediction_id, result.summary, gr.update(visible=False),
                *panel_texts(result.prediction.model_id))

    def export(prediction_id, formats, picture, surface, views, color_scale, threshold_pct, size_px,
               progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Write the chosen formats (npz, gif, mp4, gifti, csv, json) of a prediction; returns the files."""
        progress(0.0, desc="rendering frames")
        try:
            files, notes = service.export(prediction_id, formats or [], picture, surface, views or [], color_scale,
                                          threshold_pct, int(size_px))
        except UserInputError as error:
            gr.Warning(str(error))
            return None, f"**Could not export.** {error}"
        lines = [f"{len(files)} file{'s' * (len(files) != 1)} ready."] + [f"⚠️ {note}" for note in notes]
        return [str(path) for path in files], "\n\n".join(lines)

    def on_model(model_id):
        card = get_card(model_id)
        subjects = [str(s) for s in card.subjects]
        return (gr.update(choices=subjects, value=str(card.default_subject), interactive=len(subjects) > 1),
                gr.update(choices=roi_choices(card, service.settings), value=[]), model_markdown(model_id),
                card.tr_s, *panel_texts(model_id))

    def first_visit():
        result = examples.wait(EXAMPLES[0].key, FIRST_EXAMPLE_WAIT_S)
        if result is None:
            reason = examples.errors.get(EXAMPLES[0].key, "it is still being computed")
            return (json.dumps({"message": f"The example could not be shown ({reason}). Run your own input."}),
                    "", "", gr.skip(), gr.skip())
        return (result.viewer_value, result.prediction_id,
                "Showing the example *" + EXAMPLES[0].label + "*.\n\n" + result.summary,
                *panel_texts(result.prediction.model_id))

    with gr.Blocks(title="NForge", delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown(INTRO)
        pages = gr.Tabs()
        with pages, gr.Tab("Predict", id="predict"), gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=340):
                source = gr.Radio(list(SOURCES), value="media", label="Input", visible=False)
                with gr.Tabs(selected="media"):
                    with gr.Tab("Video / audio", id="media") as media_tab:
                        media_file = gr.File(label=f"Video or audio ({' '.join(MEDIA_EXTENSIONS)})",
                                             file_types=list(MEDIA_EXTENSIONS), type="filepath")
                        transcript_file = gr.File(label="Transcript, optional (.srt .vtt .tsv): gives the words "
                                                        "and their times", file_types=list(TRANSCRIPT_EXTENSIONS),
                                                  type="filepath")
                    with gr.Tab("Text file", id="text file") as text_tab:
                        text_file = gr.File(label=f"Text or transcript ({' '.join(TEXT_EXTENSIONS)})",
                                            file_types=list(TEXT_EXTENSIONS), type="filepath")
                        gr.Markdown("Plain text is spoken offline by espeak-ng, which also gives each word its "
                                    "time; transcripts (.srt .vtt .tsv) keep their own times.")
                    with gr.Tab("Text per TR", id="per-TR text") as lines_tab:
                        tr_text = gr.Textbox(label="One line of text per TR (an empty line: a TR without words)",
                                             lines=8, placeholder="The ship left the harbour at dawn.\n"
                                                                  "Gulls cried over the grey water.")
                        tr_s = gr.Number(label="TR (s)", value=default_card.tr_s, minimum=0.1, maximum=10)
                    with gr.Tab("Examples", id="examples"):
                        example_buttons = []
                        for example in EXAMPLES:
                            with gr.Group(elem_classes="nforge-examples"):
                                example_buttons.append(gr.Button(example.label, size="sm"))
                                gr.Markdown(example.description)
                model = gr.Dropdown([_model_label(m) for m in model_ids], value=default_model, label="Model")
                model_info = gr.Markdown(model_markdown(default_model))
                with gr.Row():
                    subject = gr.Dropdown([str(s) for s in default_card.subjects],
                                          value=str(default_card.default_subject), label="Subject", scale=1,
                                          interactive=len(default_card.subjects) > 1)
                    # The region names are filled in when the page loads (reading the atlases takes a moment).
                    roi = gr.Dropdown(list(NETWORKS), value=[], multiselect=True,
                                      allow_custom_value=True, label="Regions (empty: whole brain)", scale=3,
                                      info="Names, wildcards (V*, *STS*) or networks (Vis, Default…)")
                run = gr.Button("Run", variant="primary")
                status = gr.Markdown(elem_classes="nforge-status", label="status")
                use_lite = gr.Button(f"Run with {LITE} instead", visible=False)
                with gr.Accordion("Export", open=True):
                    formats = gr.CheckboxGroup(list(EXPORT_FORMATS), value=["gif", "mp4", "csv"], label="Formats")
                    with gr.Accordion("Picture of the GIF and MP4", open=False):
                        picture = gr.Radio(list(PICTURES), value="surface", label="Picture")
                        surface = gr.Dropdown(list(SURFACES), value="inflated", label="Surface")
                        views = gr.CheckboxGroup(list(SURFACE_VIEWS), value=list(DEFAULT_VIEWS), label="Views")
                        color_scale = gr.Radio(list(COLOR_SCALES), value="symmetric", label="Colours")
                        threshold = gr.Slider(0, 100, value=20, step=1, label="Threshold (% of the robust maximum)")
                        size_px = gr.Slider(160, 800, value=400, step=16, label="Size of each view (px)")
                    export_button = gr.Button("Export")
                    downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, height=140)
                    export_status = gr.Markdown(label="export status")
            with gr.Column(scale=7, min_width=480):
                viewer = gr.HTML(json.dumps({"message": "Preparing the example…"}),
                                 html_template=(STATIC / "viewer.html").read_text(encoding="utf-8"),
                                 css_template=(STATIC / "viewer.css").read_text(encoding="utf-8"),
                                 js_on_load=(STATIC / "viewer.js").read_text(encoding="utf-8"),
                                 apply_default_css=False, elem_id="nforge-viewer", label="viewer")
                with gr.Row():
                    attribution = gr.Markdown(attribution_text, label="modality attribution")
                    attention = gr.Markdown(attention_text, label="ROI attention")
                prediction_id = gr.Textbox(label="prediction id", info="what the export API takes",
                                           interactive=False, max_lines=1)
        with pages:
            add_compare_tab(service, [_model_label(m) for m in model_ids], default_model, _on_gpu)

        predict_inputs = [source, media_file, transcript_file, text_file, tr_text, tr_s, model, subject, roi]
        predict_outputs = [viewer, prediction_id, status, use_lite, attribution, attention]
        # The tab picks the input kind in the browser: no request (the first tab's select fires as the page
        # mounts, and a request then would wait for gradio's first-call set-up while the page still loads).
        for tab, name in ((media_tab, "media"), (text_tab, "text file"), (lines_tab, "per-TR text")):
            tab.select(None, outputs=source, js=f"() => {json.dumps(name)}")
        model.change(on_model, inputs=model, outputs=[subject, roi, model_info, tr_s, attribution, attention],
                     api_visibility="private", queue=False)
        run.click(predict, inputs=predict_inputs, outputs=predict_outputs, api_name="predict", concurrency_limit=1,
                  concurrency_id="predict")
        use_lite.click(lambda: (LITE, []), outputs=[model, roi], api_visibility="private", queue=False).then(
            predict, inputs=predict_inputs, outputs=predict_outputs, api_visibility="private",
            concurrency_id="predict")
        for button, example in zip(example_buttons, EXAMPLES, strict=True):
            def fill(example=example):
                values = example_inputs(example, service.settings.cache_dir / "examples")
                return (values["source"], values["media_file"], values["transcript_file"], values["text_file"],
                        values["tr_text"], get_card(LITE).tr_s, LITE, values["roi"])

            button.click(fill, outputs=[source, media_file, transcript_file, text_file, tr_text, tr_s, model, roi],
                         api_visibility="private").then(
                predict, inputs=predict_inputs, outputs=predict_outputs, api_visibility="private",
                concurrency_id="predict")
        export_button.click(export, inputs=[prediction_id, formats, picture, surface, views, color_scale, threshold,
                                            size_px], outputs=[downloads, export_status], api_name="export",
                            concurrency_limit=2)
        demo.load(on_model, inputs=model, outputs=[subject, roi, model_info, tr_s, attribution, attention],
                  api_visibility="private", concurrency_limit=None)
        # Waiting for the first example must not hold a worker that predictions need.
        demo.load(first_visit, outputs=[viewer, prediction_id, status, attribution, attention],
                  api_visibility="private", concurrency_limit=None)
    return demo


def launch_options(settings: Settings) -> dict:
    """``Blocks.launch`` keyword arguments: upload limit, served folders (created), page style."""
    folders = served_dirs(settings)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return {"max_file_size": int(settings.max_file_mb * 1_000_000), "allowed_paths": [str(f) for f in folders],
            "css": APP_CSS}


def launch(engine: Engine | None = None, **kwargs):
    """Build the page and serve it (queue: one prediction at a time, two exports, 64 waiting requests).

    Parameters
    ----------
    engine : Engine, optional
        As in :func:`build_app`.
    **kwargs
        More ``Blocks.launch`` options (``server_name``, ``server_port``, ``prevent_thread_lock``...).

    Returns
    -------
    gr.Blocks
        The app, once it stops serving (or at once with ``prevent_thread_lock=True``: then ``local_url``
        says where it serves and ``close()`` stops it).
    """
    settings = engine.settings if engine is not None else Settings.from_env()
    demo = build_app(engine, settings)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(**{**launch_options(settings), **kwargs})
    return demo
