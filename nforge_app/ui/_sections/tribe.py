"""TRIBE v2's options on the page: the encoder precision, the modalities to run, and the CPU estimate.

Shown only when the chosen model is TRIBE v2. The estimate ("about N minutes on this machine") follows the
uploaded file, the modalities and the device; on a CPU, video features take hours per minute of stimulus,
which the estimate says before anyone presses Run, and "audio + text" runs a video without them.
"""

from __future__ import annotations

from nforge_app.errors import UserInputError
from nforge_app.ui._gradio import import_gradio

gr = import_gradio()

TRIBE = "tribe-v2"
PRECISIONS = ("fp32", "bf16", "int8")
MODALITIES = ("text", "audio", "video")


def layout(page) -> None:
    with gr.Accordion("TRIBE v2 options", open=False, visible=False) as box:
        precision = gr.Dropdown(list(PRECISIONS), value="fp32", label="Encoder precision",
                                info="fp32 is exact; bf16 and int8 are faster and off by up to 1e-2 (see README)")
        modalities = gr.CheckboxGroup(list(MODALITIES), value=list(MODALITIES), label="Modalities to run",
                                      info="On a CPU, audio + text skips the video features (hours per minute)")
        estimate = gr.Markdown("", elem_classes="nforge-estimate")
    page.add(tribe_box=box, tribe_precision=precision, tribe_modalities=modalities, tribe_estimate=estimate)


def options_for(model_id: str, precision, modalities) -> dict:
    """The model options the page's TRIBE v2 controls stand for (none for other models)."""
    if model_id != TRIBE:
        return {}
    options = {"precision": precision or "fp32"}
    chosen = list(modalities or ())
    if chosen and set(chosen) != set(MODALITIES):
        options["modalities"] = chosen
    return options


def estimate_text(model_id: str, media_file, modalities, service) -> str:
    """The sentence the page shows before a TRIBE v2 run (empty for other models or without a file)."""
    if model_id != TRIBE or not media_file:
        return ""
    from nforge_app.models._tribe_estimate import estimate_for_file

    path = getattr(media_file, "name", media_file)
    try:
        said = estimate_for_file(path, list(modalities or MODALITIES), service.engine.device,
                                 service.engine.settings)
    except UserInputError as error:
        return f"*No estimate: {error}*"
    return said.sentence()


def events(page) -> None:
    def on_model(model_id):
        return gr.update(visible=model_id == TRIBE)

    page["model"].change(on_model, inputs=page["model"], outputs=page["tribe_box"], api_visibility="private",
                         queue=False)

    def on_inputs(model_id, media_file, modalities):
        return estimate_text(model_id, media_file, modalities, page.service)

    for name in ("model", "media_file", "tribe_modalities"):
        page[name].change(on_inputs, inputs=page("model", "media_file", "tribe_modalities"),
                          outputs=page["tribe_estimate"], api_visibility="private")
