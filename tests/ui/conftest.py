"""One real NForge web server for the whole test session (gradio_client and browser tests share it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from _ui_helpers import UNAVAILABLE_ID, free_port

MAX_FILE_MB = 3.0  # small, so that a test can send a file over the limit


@pytest.fixture(scope="session")
def ui_server(_private_cache):
    """The app launched on 127.0.0.1 (a free port) with a private cache and a model without weights."""
    from nforge_app import models
    from nforge_app.config import Settings
    from nforge_app.engine import Engine
    from nforge_app.ui import launch
    from nforge_app.ui._examples import EXAMPLES, example_inputs

    models._REGISTRY[UNAVAILABLE_ID] = "_ui_helpers:UnavailableModel"
    engine = Engine(Settings.from_env(max_file_mb=MAX_FILE_MB), device="cpu")
    demo = launch(engine, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        clip = example_inputs(EXAMPLES[0], engine.settings.cache_dir / "examples")
        yield SimpleNamespace(url=demo.local_url, settings=engine.settings, clip=clip["media_file"],
                              transcript=clip["transcript_file"])
    finally:
        demo.close()
        models._REGISTRY.pop(UNAVAILABLE_ID, None)
