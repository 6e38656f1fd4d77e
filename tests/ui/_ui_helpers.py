"""Shared by the web-app tests (and bench/bench_ui.py): a model whose weights are never available, a free
local port, and how chromium is started."""

from __future__ import annotations

import contextlib
import socket

from nforge_app.errors import ModelUnavailableError
from nforge_app.models import EncodingModel, ModelCard

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
UNAVAILABLE_ID = "test-no-weights"
HOW_TO_GET = "download them with: nforge fetch test-no-weights"
WHERE_TO_PUT = "<NFORGE_WEIGHTS_DIR>/test-no-weights"  # angle brackets: Markdown and toasts must keep them


class UnavailableModel(EncodingModel):
    """A registered model whose ``load`` always fails as a model without downloaded weights does."""

    card = ModelCard(model_id=UNAVAILABLE_ID, name="Test model without weights", modalities=("text",),
                     space_id="schaefer1000", tr_s=1.49, hrf_offset_s=0.0, time_axis="bold", licence="none",
                     weights="test/no-weights", description="Stands in for a model whose weights are missing.")

    def load(self) -> None:
        raise ModelUnavailableError(f"the weights of {UNAVAILABLE_ID} are not on this machine: {HOW_TO_GET}, or "
                                    f"put them in {WHERE_TO_PUT}; the offline nforge-lite model always works")

    def extractors(self):
        return []


@contextlib.contextmanager
def open_page(url: str, *, extra_args=(), height: int = 1200, load_s: float = 120, **page_options):
    """The page at ``url`` in headless Debian chromium, once its viewer is ready; ``page.errors`` collects
    the page's JavaScript errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, *extra_args])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": height}, **page_options)
            page.errors = []
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            page.goto(url)
            page.wait_for_selector(".nfv[data-state=ready]", timeout=load_s * 1000)
            yield page
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
