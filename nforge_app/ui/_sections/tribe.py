"""TRIBE v2's options on the page: the encoder precision, the modalities to run, the CPU estimate, and the
transcript of the uploaded media to download (and correct).

Shown only when the chosen model is TRIBE v2. The estimate ("about N minutes on this machine") follows the
uploaded file, the modalities and the device; on a CPU, video features take hours per minute of stimulus,
which the estimate says before anyone presses Run, and "audio + text" runs a video without them.
"""

from __future__ import annotations

import html

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
    with gr.Row():
        get_transcript = gr.Button("Transcript (words and times)", size="sm", scale=1)
        transcript_out = gr.File(label="Transcript .tsv: correct it and give it back as the transcript", scale=2,
                                 interactive=False)
    page.add(tribe_box=box, tribe_precision=precision, tribe_modalities=modalities, tribe_estimate=estimate,
             get_transcript=get_transcript, transcript_out=transcript_out)


def transcript_tsv(media_file, transcript_file, service):
    """The words of the uploaded media (its transcript, or WhisperX's, cached) as a .tsv to download.

    The file reads back as a transcript (start, duration, word), so a corrected copy can be uploaded.
    """
    from pathlib import Path

    from nforge_app._files import atomic_path
    from nforge_app.stimuli import load_stimulus
    from nforge_app.stimuli._transcribe import words_tsv

    if not media_file:
        raise UserInputError("upload a video or audio file first")
    path = Path(getattr(media_file, "name", media_file))
    transcript = getattr(transcript_file, "name", transcript_file) or None
    stimulus = load_stimulus(path, service.engine.settings, transcript=transcript)
    if not stimulus.words:
        raise UserInputError(f"{path.name} has no words: {'; '.join(stimulus.notes) or 'no transcript'}")
    target = Path(service.ui_dir) / "transcripts" / f"{stimulus.content_hash[:16]}-{path.stem}.tsv"
    with atomic_path(target) as tmp:
        tmp.write_text(words_tsv(stimulus.words), encoding="utf-8")
    return str(target)


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

    def on_transcript(media_file, transcript_file):
        try:
            return transcript_tsv(media_file, transcript_file, page.service)
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return None

    page["get_transcript"].click(on_transcript, inputs=page("media_file", "transcript_file"),
                                 outputs=page["transcript_out"], api_visibility="private")
    for name in ("model", "media_file", "tribe_modalities"):
        page[name].change(on_inputs, inputs=page("model", "media_file", "tribe_modalities"),
                          outputs=page["tribe_estimate"], api_visibility="private")
