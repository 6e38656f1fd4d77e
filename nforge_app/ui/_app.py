"""The Gradio Blocks page: inputs on the left, the client-side brain viewer and the analysis tabs on the right.

The page is thin: every prediction goes through :class:`~nforge_app.engine.Engine` (via
:class:`~nforge_app.ui._service.AppService`); the viewer (``static/viewer.js``) draws in the browser.
It is made of sections (``ui/_sections/``), listed below in the order they appear; ``ui/_page.py`` says how
to add one (a tab of analyses goes in :data:`TABS`). Stable API names: ``predict``, ``export``, ``evaluate``,
``contrast``, ``export_contrast``, ``adapt`` and ``explain`` (the Live tab's events are private).
"""

from __future__ import annotations

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.ui._confine import confine_page
from nforge_app.ui._examples import ExampleResults
from nforge_app.ui._gradio import import_gradio
from nforge_app.ui._page import Page, Section
from nforge_app.ui._sections import (
    adapt,
    compare,
    evaluate,
    export,
    inputs,
    live,
    model,
    panels,
    run,
    tribe,
    viewer,
)
from nforge_app.ui._service import AppService, served_dirs
from nforge_app.ui._texts import INTRO

gr = import_gradio()

# The examples are computed once the first page has loaded (it asks for the first one), or this long after the
# page is built when nobody comes: on a first start they take seconds of CPU, which the first page load needs.
EXAMPLES_DELAY_S = 10.0
# Toasts (gr.Warning, gradio's upload errors) at the top left, over the inputs' column: never over the viewer,
# its colour bar or its legends, nor over the status line and buttons under Run that say what to do next.
APP_CSS = """
.nforge-status p { margin: 0.2em 0; }
.nforge-examples button { text-align: left; }
.toast-wrap { left: var(--size-3) !important; right: auto !important; align-items: flex-start !important; }
"""
LEFT = (Section("inputs", inputs.layout, inputs.events), Section("model", model.layout, model.events),
        Section("tribe", tribe.layout, tribe.events),
        Section("export", export.layout, export.events))
"""Sections of the left column, top to bottom."""
RIGHT = (Section("viewer", viewer.layout),)
"""Sections of the right column, above the tabs."""
TABS = (Section("attribution", panels.attribution_layout, panels.events, title="Modality attribution"),
        Section("attention", panels.attention_layout, title="ROI attention"),
        Section("evaluate", evaluate.layout, evaluate.events, title="Evaluate"),
        Section("compare", compare.layout, compare.events, title="Compare"),
        Section("adapt", adapt.layout, adapt.events, title="Adapt"),
        Section("live", live.layout, live.events, title="Live"))
"""The analysis tabs under the viewer, in order: one ``gr.Tab(title)`` each."""
EVENTS = (Section("run", events=run.events),)
"""Sections with events only: predictions (wired once every component exists)."""


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
    page = Page(service, ExampleResults(service).start(delay_s=EXAMPLES_DELAY_S))
    with gr.Blocks(title="NForge", delete_cache=(3600, 24 * 3600)) as demo:
        page.demo = demo
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=340):
                for section in LEFT:
                    section.layout(page)
            with gr.Column(scale=7, min_width=480):
                for section in RIGHT:
                    section.layout(page)
                with gr.Tabs():
                    for section in TABS:
                        with gr.Tab(section.title, id=section.name):
                            section.layout(page)
        for section in LEFT + RIGHT + TABS + EVENTS:
            if section.events is not None:
                section.events(page)
        confine_page(demo, service.settings)  # file inputs only from uploads and examples; no paths in messages
    return demo


def launch_options(settings: Settings) -> dict:
    """``Blocks.launch`` keyword arguments: upload limit, served folders (created), page style."""
    folders = served_dirs(settings)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return {"max_file_size": int(settings.max_file_mb * 1_000_000), "allowed_paths": [str(f) for f in folders],
            "css": APP_CSS}


def launch(engine: Engine | None = None, **kwargs):
    """Build the page and serve it (queue: new predictions in ``settings.max_jobs`` slots, cached ones at once;
    two exports; 64 waiting requests).

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
