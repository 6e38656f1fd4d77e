"""The hostile corpus through the page: its API (gradio_client against a real server on 127.0.0.1), and a
sample in headless Chromium. Each case ends in a message in the page (or gradio's own refusal) naming no
server path, within a bounded time, with nothing half-written in the cache, and the server answers the next
request."""

from __future__ import annotations

import re
import time

import pytest
from _corpus import CASES, by_name, planted_path
from _hostile import LINES, MAX_S, SERVER_PATH, assert_clean, cache_files, page_call

pytestmark = pytest.mark.slow
PAGE_CASES = [case for case in CASES if "page" in case.faces]
BROWSER_CASES = ("text_named_mp4", "latin1_text", "per_tr_100000_lines", "symlink_to_etc_passwd")


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.local_url, verbose=False)


@pytest.fixture(scope="module")
def prediction_id(client):
    """A 12-TR prediction kept by the page, that the measured-data cases are scored against."""
    _, prediction_id, status, *_ = client.predict("per-TR text", None, None, None, "\n".join(LINES * 3), 1.0,
                                                  "nforge-lite", "average", [], api_name="/predict")
    assert "time steps" in status
    return prediction_id


def _still_serving(client) -> None:
    _, prediction_id, status, *_ = client.predict("per-TR text", None, None, None, "\n".join(LINES), 1.0,
                                                  "nforge-lite", "average", [], api_name="/predict")
    assert re.fullmatch(r"[0-9a-f]{16}", prediction_id) and "time steps" in status


@pytest.mark.parametrize("case", PAGE_CASES, ids=lambda case: case.name)
def test_page_api(case, corpus, client, prediction_id, _private_cache):
    inputs = corpus[case.name]
    if "skip" in inputs:
        pytest.skip(inputs["skip"])
    before = cache_files(_private_cache)
    start = time.monotonic()
    message = page_call(case, inputs, client, prediction_id)
    assert time.monotonic() - start < MAX_S["page"]
    if case.accepted:
        assert message == "accepted", message
    else:
        assert re.search(case.page_expect or case.expect, message), message
        assert "Traceback" not in message and not SERVER_PATH.search(message), message
    assert_clean(_private_cache, before, case.accepted)
    assert not planted_path(inputs["folder"]).exists()
    _still_serving(client)


@pytest.mark.browser
def test_a_sample_in_the_browser(server, corpus):
    """Uploads and text as a person gives them: the message shows in the status line, no traceback, no path,
    and the page still runs the next input."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.local_url)
        page.wait_for_selector(".nfv[data-state]", timeout=120_000)
        status = page.locator(".nforge-status")
        for name in BROWSER_CASES:
            case, inputs = by_name(name), corpus[name]
            if case.kind == "per_tr":
                page.get_by_role("tab", name="Text per TR").click()
                # set at once (typing 100,000 lines into the box takes minutes), as a paste does
                page.get_by_label("One line of text per TR").evaluate(
                    "(box, text) => { box.value = text; box.dispatchEvent(new Event('input', {bubbles: true})); }",
                    "\n".join(inputs["lines"]))
            elif inputs["path"].suffix == ".txt":
                page.get_by_role("tab", name="Text file").click()
                page.locator(".block", has_text="Text or transcript (.txt").locator("input[type=file]").first \
                    .set_input_files(inputs["path"])
            else:
                page.get_by_role("tab", name="Video / audio").click()
                page.locator("input[type=file]").first.set_input_files(inputs["path"])
            page.wait_for_timeout(500)  # the upload lands before Run
            page.get_by_role("button", name="Run", exact=True).click()
            shown = status.filter(has_text=re.compile(case.expect)).first
            shown.wait_for(timeout=MAX_S["page"] * 1000)
            text = shown.inner_text()
            assert "Traceback" not in page.content() and not SERVER_PATH.search(text), text
        page.get_by_role("tab", name="Text per TR").click()
        page.get_by_label("One line of text per TR").fill("\n".join(LINES))
        page.get_by_role("button", name="Run", exact=True).click()
        status.filter(has_text="time steps").first.wait_for(timeout=MAX_S["page"] * 1000)
        browser.close()
    assert not errors
