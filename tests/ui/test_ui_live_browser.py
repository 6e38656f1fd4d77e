"""The Live tab in Debian's headless chromium with a fake microphone playing generated speech: recording
streams a chunk a second, the brain picture, the ROI traces and the latency line update, and Stop puts the
whole recording in the viewer."""

from pathlib import Path

import pytest
from _ui_helpers import CHROMIUM_ARGS

from _media import ffmpeg, make_audio

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOAD_S = 120  # the examples may still be computing when the page opens


@pytest.fixture(scope="module")
def microphone_wav(tmp_path_factory):
    folder = tmp_path_factory.mktemp("microphone")
    spoken = make_audio(folder / "spoken.wav", 12.0, text="one two three, a quiet voice reads numbers and words")
    path = folder / "microphone.wav"  # what chromium's fake capture reads: 16-bit PCM at 48 kHz
    ffmpeg("-i", str(spoken), "-ar", "48000", "-ac", "1", "-c:a", "pcm_s16le", str(path))
    return path


def _status(page) -> str:
    return page.locator("#nforge-live-status").inner_text()


def _update(page) -> int:
    """The update count the status line shows (0 before the first)."""
    words = _status(page).split()
    return int(words[words.index("update") + 1]) if "update" in words else 0


def test_the_live_tab_follows_the_fake_microphone(ui_server, microphone_wav):
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-audio-capture={microphone_wav}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1440, "height": 1400})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(ui_server.url)
        page.wait_for_selector(".nfv[data-state=ready]", timeout=LOAD_S * 1000)
        page.get_by_role("tab", name="Live").click()
        assert "not trained on fMRI" in page.get_by_text("Speak into your").inner_text()
        page.locator("#nforge-live-microphone").get_by_role("button", name="Record").click()

        page.wait_for_function("document.querySelector('#nforge-live-status').innerText.includes('update 1 ')",
                               timeout=LOAD_S * 1000)
        first = page.locator("#nforge-live-brain img").get_attribute("src")
        page.wait_for_function("document.querySelector('#nforge-live-status').innerText.includes('update 3 ')",
                               timeout=60 * 1000)
        status = _status(page)
        assert "latency" in status and " ms " in status and "heard" in status, status
        assert _update(page) >= 3
        assert page.locator("#nforge-live-brain img").get_attribute("src") != first  # the picture changed
        traces = page.locator("#nforge-live-traces")
        assert traces.locator("canvas, svg").count() > 0  # the plot is drawn
        assert "A1" in traces.inner_text()  # its legend names the regions traced
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "ui-live.png", full_page=True)

        page.locator("#nforge-live-microphone").get_by_role("button", name="Stop").click()
        page.wait_for_function("document.querySelector('.nfv-title').textContent.includes('live microphone')",
                               timeout=LOAD_S * 1000)
        page.wait_for_selector(".nfv[data-state=ready]", timeout=LOAD_S * 1000)
        assert int(page.locator(".nfv-time").get_attribute("max")) >= 2  # every second heard, to scrub
        assert not errors
        browser.close()
