"""The export section: formats, what the GIF and MP4 show, and the files to download (API name ``export``).

The files are written by ``nforge_app.export.export_prediction``, as for the Python API and ``nforge export``.
"""

from __future__ import annotations

import html

from nforge_app.errors import UserInputError
from nforge_app.export import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS
from nforge_app.spaces import SURFACES
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._page import Page
from nforge_app.ui._service import ATTRIBUTION_PAGE_FORMATS
from nforge_app.ui._texts import error_markdown, files_ready
from nforge_app.viz import DEFAULT_VIEWS, SURFACE_VIEWS, VIEWER_COLORMAPS

gr = import_gradio()

PICTURE_CHOICES = [("surface", "surface"), ("glass brain", "glass")]  # (label, value): values as in the API


def layout(page: Page) -> None:
    with gr.Accordion("Export", open=True):
        formats = gr.CheckboxGroup(list(EXPORT_FORMATS), value=list(DEFAULT_EXPORT_FORMATS), label="Formats")
        with gr.Accordion("Picture of the GIF and MP4", open=False):
            picture = gr.Radio(PICTURE_CHOICES, value="surface", label="Picture")
            surface = gr.Dropdown(list(SURFACES), value="inflated", label="Surface")
            views = gr.CheckboxGroup(list(SURFACE_VIEWS), value=list(DEFAULT_VIEWS), label="Views (surface)")
            color_scale = gr.Radio(list(VIEWER_COLORMAPS), value="symmetric", label="Colours")
            threshold = gr.Slider(0, 100, value=20, step=1, label="Threshold (% of the robust maximum)")
            size_px = gr.Slider(160, 800, value=400, step=16, label="Size of each view (px)")
        attribution_formats = gr.CheckboxGroup(list(ATTRIBUTION_PAGE_FORMATS), value=[],
                                               label="Modality attribution (after Explain): RGB map, frames, shares")
        button = gr.Button("Export")
        downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)
        status = gr.Markdown(label="export status")
    page.add(formats=formats, picture=picture, surface=surface, views=views, color_scale=color_scale,
             threshold=threshold, size_px=size_px, attribution_formats=attribution_formats, export_button=button,
             downloads=downloads, export_status=status)


def events(page: Page) -> None:
    def export(prediction_id, formats, picture, surface, views, color_scale, threshold_pct, size_px,
               attribution_formats=None, progress=gr.Progress()):  # noqa: B008 (gradio idiom)
        """Write the chosen formats (npz, gif, mp4, gifti, csv, json) of a prediction; returns the files."""
        progress(0.0, desc="rendering frames")
        try:
            files, notes = page.service.export(prediction_id, formats or [], picture, surface, views or [],
                                               color_scale, threshold_pct, size_px,
                                               attribution_formats=attribution_formats or [])
        except UserInputError as error:
            gr.Warning(html.escape(str(error)))
            return None, error_markdown(error, "export")
        return [str(path) for path in files], files_ready(files, notes)

    page["export_button"].click(
        export, inputs=page("prediction_id", "formats", "picture", "surface", "views", "color_scale", "threshold",
                            "size_px", "attribution_formats"),
        outputs=page("downloads", "export_status"), api_name="export", concurrency_limit=2)
