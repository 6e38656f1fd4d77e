"""The inputs section: a video or audio file (with an optional transcript), a text file, lines of text per TR,
or an example (the examples' buttons are wired with the predictions, in ``run.py``)."""

from __future__ import annotations

import json

from nforge_app.models import get_card
from nforge_app.ui._examples import EXAMPLES
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._inputs import MEDIA_EXTENSIONS, SOURCES, TEXT_EXTENSIONS, TRANSCRIPT_EXTENSIONS
from nforge_app.ui._page import Page
from nforge_app.ui._texts import LITE, REGIONS_RESET

gr = import_gradio()


def layout(page: Page) -> None:
    """The input tabs (the hidden ``source`` follows the chosen tab) and the example buttons."""
    source = gr.Radio(list(SOURCES), value="media", label="Input", visible=False)
    # The input tabs are rendered from the start (gradio renders a tab's children when first shown by
    # default): an example fills a hidden tab's inputs, and a text box first mounted later took that value
    # again after the user had typed into it (a flaky browser test: 3 of 11 runs failed so, none of 10 after).
    with gr.Tabs(selected="media"):
        with gr.Tab("Video / audio", id="media", render_children=True) as media_tab:
            media_file = gr.File(label=f"Video or audio ({' '.join(MEDIA_EXTENSIONS)})",
                                 file_types=list(MEDIA_EXTENSIONS), type="filepath")
            transcript_file = gr.File(label="Transcript, optional (.srt .vtt .tsv): gives the words and their times",
                                      file_types=list(TRANSCRIPT_EXTENSIONS), type="filepath")
        with gr.Tab("Text file", id="text file", render_children=True) as text_tab:
            text_file = gr.File(label=f"Text or transcript ({' '.join(TEXT_EXTENSIONS)})",
                                file_types=list(TEXT_EXTENSIONS), type="filepath")
            gr.Markdown("Plain text is spoken offline by espeak-ng, which also gives each word its time; "
                        "transcripts (.srt .vtt .tsv) keep their own times.")
        with gr.Tab("Text per TR", id="per-TR text", render_children=True) as lines_tab:
            tr_text = gr.Textbox(label="One line of text per TR (an empty line: a TR without words)", lines=8,
                                 placeholder="The ship left the harbour at dawn.\nGulls cried over the grey water.")
            tr_s = gr.Number(label="TR (s)", value=get_card(LITE).tr_s, minimum=0.1, maximum=10)
        with gr.Tab("Examples", id="examples"):
            buttons = []
            for example in EXAMPLES:
                with gr.Group(elem_classes="nforge-examples"):
                    buttons.append(gr.Button(example.label, size="sm"))
                    gr.Markdown(example.description)
    page.add(source=source, media_file=media_file, transcript_file=transcript_file, text_file=text_file,
             tr_text=tr_text, tr_s=tr_s, media_tab=media_tab, text_tab=text_tab, lines_tab=lines_tab,
             example_buttons=buttons)


def events(page: Page) -> None:
    """The tab picks the input kind in the browser: no request (the first tab's select fires as the page
    mounts, and a request then would wait for gradio's first-call set-up while the page still loads)."""
    for tab, name in (("media_tab", "media"), ("text_tab", "text file"), ("lines_tab", "per-TR text")):
        page[tab].select(None, outputs=page["source"], js=f"() => {json.dumps(name)}")

    def new_input(roi):
        """A file the user uploads is a new stimulus: the regions go back to the model's default (the whole
        brain), and the status line says so when some were picked (examples set their own: ``.upload`` is
        the user's upload only)."""
        return ([], REGIONS_RESET) if roi else (gr.skip(), gr.skip())

    for name in ("media_file", "text_file"):
        page[name].upload(new_input, inputs=page["roi"], outputs=page("roi", "status"), api_visibility="private",
                          queue=False)
