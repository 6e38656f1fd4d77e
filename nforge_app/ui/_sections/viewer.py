"""The viewer section: the 3D brain (``static/viewer.*``, drawn in the browser) with the stimulus player beside it
(``static/player.js``, fed by ``ui/_player.py``) and the id of what it shows."""

from __future__ import annotations

import json
from pathlib import Path

from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._page import Page

gr = import_gradio()

STATIC = Path(__file__).resolve().parents[1] / "static"


def layout(page: Page) -> None:
    viewer = gr.HTML(json.dumps({"message": "Preparing the example…"}),
                     html_template=(STATIC / "viewer.html").read_text(encoding="utf-8"),
                     css_template=(STATIC / "viewer.css").read_text(encoding="utf-8"),
                     # one function body: player.js declares a function that viewer.js calls (hoisted)
                     js_on_load="\n".join((STATIC / name).read_text(encoding="utf-8")
                                          for name in ("viewer.js", "player.js")),
                     apply_default_css=False, elem_id="nforge-viewer", label="viewer")
    prediction_id = gr.Textbox(label="prediction id", info="what the export API takes", interactive=False,
                               max_lines=1)
    page.add(viewer=viewer, prediction_id=prediction_id)
