"""The web app (Gradio Blocks): ``launch()`` serves it, ``build_app()`` builds it without serving.

Only this package imports gradio. It talks to the engine alone; the 3D viewer runs in the browser.
"""

from nforge_app.ui._app import build_app, launch, launch_options

__all__ = ["build_app", "launch", "launch_options"]
