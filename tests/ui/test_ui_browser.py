"""The page in Debian's headless chromium (Playwright): example, scrubbing, picking, a GIF download, errors.

Screenshots are saved under ``artifacts/`` (git-ignored) for people to look at.
"""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from _ui_helpers import HOW_TO_GET, WHERE_TO_PUT, open_page
from PIL import Image

from nforge_app.ui._examples import PER_TR_LINES

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOAD_S = 120  # the examples may still be computing when the page opens (the queue answers after them)


@pytest.fixture(scope="module")
def page(ui_server):
    with open_page(ui_server.url, load_s=LOAD_S, accept_downloads=True) as page:
        yield page


def _pixels(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), dtype=np.int16)


def _wait_for_title(page, text):
    page.wait_for_function(f"document.querySelector('.nfv-title').textContent.includes({text!r})", timeout=LOAD_S * 1000)
    page.wait_for_selector(".nfv[data-state=ready]", timeout=LOAD_S * 1000)


def test_example_scrub_pick_and_gif(page, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    assert "nforge_example_clip" in page.locator(".nfv-title").text_content()
    brain = page.locator(".nfv-gl")

    # Scrub with the slider: the picture changes between time steps, and the clock follows.
    slider = page.locator(".nfv-time")
    slider.fill("2")
    page.wait_for_selector(".nfv[data-frame='2']")
    early = _pixels(brain)
    slider.fill("9")
    page.wait_for_selector(".nfv[data-frame='9']")
    late = _pixels(brain)
    changed = np.abs(early - late).sum(axis=2) > 30
    assert changed.mean() > 0.01, "the brain looks the same at two time steps"
    assert "t = 9.0 s" in page.locator(".nfv-clock").text_content()

    # Click the left hemisphere: its time course is drawn below.
    box = brain.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    page.wait_for_function("document.querySelector('.nfv').dataset.picked > '-1'")
    assert "vertex" in page.locator(".nfv-pick-what").text_content()
    curve = _pixels(page.locator(".nfv-pick"))
    assert (curve[..., 1] - curve[..., 0] > 60).sum() > 100  # the green line of the time course
    page.screenshot(path=ARTIFACTS / "ui-example.png", full_page=True)

    # Run another example, then download its GIF.
    page.get_by_role("tab", name="Examples").click()
    page.get_by_role("button", name="One line per TR (text box)").click()
    _wait_for_title(page, "per-TR-text")
    for fmt in ("npz", "gifti", "json"):  # every format: the downloads list shows every file
        page.get_by_label(fmt, exact=True).check()
    page.get_by_role("button", name="Export", exact=True).click()
    link = page.locator("a[data-testid=download-link][href$='.gif']")
    link.wait_for(timeout=LOAD_S * 1000)
    links = page.locator("a[data-testid=download-link]")
    assert links.count() == 7  # npz, gif, mp4, two GIfTI, csv, json
    for index in range(links.count()):
        assert _unclipped(links.nth(index)), links.nth(index).text_content()
    assert "7 files ready" in page.get_by_text("files ready").first.text_content()
    with page.expect_download() as download:
        link.click()
    gif_path = tmp_path / "download.gif"
    download.value.save_as(gif_path)
    with Image.open(gif_path) as gif:
        assert gif.n_frames == len(PER_TR_LINES)  # one per line of the per-TR example (TR 1 s)
    page.screenshot(path=ARTIFACTS / "ui-per-tr-export.png", full_page=True)
    assert not page.errors


def _unclipped(locator) -> bool:
    """Whether no scrolling container between the element and the page hides any of it."""
    return locator.evaluate("""(node) => {
        const box = node.getBoundingClientRect();
        for (let up = node.parentElement; up && up !== document.body; up = up.parentElement) {
            const style = getComputedStyle(up);
            if (!/(auto|scroll|hidden)/.test(style.overflow + style.overflowY)) continue;
            const clip = up.getBoundingClientRect();
            if (box.top < clip.top - 1 || box.bottom > clip.bottom + 1) return false;
        }
        return true;
    }""")


def _canvas_pixels(page, script) -> np.ndarray:
    data_url = page.evaluate(f"() => {{ {script}; return document.querySelector('.nfv-gl').toDataURL(); }}")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",")[1]))).convert("RGB"), np.int16)


def test_a_time_step_from_the_vertex_map_looks_like_the_mesh(page):
    # Right after the camera changes, a time step is drawn from the mesh; drawn again with the camera still,
    # it comes from the vertex map. The two pictures agree, give or take a level of rounding.
    for view, other in (("medial", "dorsal"), ("ventral", "lateral"), ("lateral", "medial")):
        for frame in (1, 6):
            show = "(view) => document.querySelector(`.nfv-views button[data-view=${view}]`).click()"
            mesh = _canvas_pixels(page, f"const show = {show}; show('{other}'); window.nforgeViewer.drawFrameTimed(0); "
                                        f"show('{view}'); window.nforgeViewer.drawFrameTimed({frame})")
            still = _canvas_pixels(page, f"window.nforgeViewer.drawFrameTimed({frame})")
            difference = np.abs(mesh - still).max(axis=2)
            assert difference.max() <= 1 and (difference > 0).mean() < 1e-3, (view, frame)
            assert (mesh < 250).any(axis=2).mean() > 0.2  # the brain is there
    assert not page.errors


def test_errors_show_in_the_page(page, tmp_path):
    page.get_by_role("tab", name="Text per TR").click()
    page.get_by_label("One line of text per TR").fill("   ")
    page.get_by_role("button", name="Run", exact=True).click()
    status = page.locator(".nforge-status")
    status.filter(has_text="text box is empty").first.wait_for(timeout=LOAD_S * 1000)
    assert "Traceback" not in page.content()
    wrong = tmp_path / "notes.xyz"
    wrong.write_text("not a stimulus")
    page.get_by_role("tab", name="Video / audio").click()
    page.locator("input[type=file]").first.set_input_files(wrong)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Invalid file type").first.wait_for(timeout=LOAD_S * 1000)
    too_big = tmp_path / "big.mp4"
    too_big.write_bytes(b"\0" * 4_000_000)  # over the test server's 3 MB limit
    page.locator("input[type=file]").first.set_input_files(too_big)
    page.get_by_text("exceed the maximum allowed size").first.wait_for(timeout=LOAD_S * 1000)
    page.screenshot(path=ARTIFACTS / "ui-errors.png", full_page=True)
    assert page.locator(".nfv").get_attribute("data-state") == "ready"  # the last result is still shown


def test_a_model_without_weights_offers_the_lite_model(page):
    page.get_by_role("tab", name="Text per TR").click()
    page.get_by_label("One line of text per TR").fill("The storm passed.\nThe sea was calm again.")
    page.get_by_label("Model").click()
    page.get_by_role("option", name=re.compile("Test model without weights")).click()
    # as a user would, wait for the page to take the model (its card shows, the earlier regions are cleared)
    page.get_by_text("Stands in for a model whose weights are missing").first.wait_for(timeout=LOAD_S * 1000)
    page.get_by_role("button", name="Run", exact=True).click()
    status = page.locator(".nforge-status").filter(has_text=HOW_TO_GET).first
    status.wait_for(timeout=LOAD_S * 1000)
    assert WHERE_TO_PUT in status.inner_text()  # text in angle brackets is kept, in the status line...
    toast = page.locator("[data-testid=toast-body]").filter(has_text=HOW_TO_GET).first
    toast.wait_for(timeout=LOAD_S * 1000)
    assert WHERE_TO_PUT in toast.inner_text()  # ...and in the toast
    toast_box = toast.bounding_box()
    for covered in (".nfv-stage", ".nfv-colorbar", ".nfv-panels"):  # never over the brain, colour bar, legend
        box = page.locator(covered).bounding_box()
        assert (toast_box["x"] + toast_box["width"] <= box["x"] or box["x"] + box["width"] <= toast_box["x"]
                or toast_box["y"] + toast_box["height"] <= box["y"]
                or box["y"] + box["height"] <= toast_box["y"]), covered
    page.screenshot(path=ARTIFACTS / "ui-no-weights.png")
    page.get_by_role("button", name="Run with nforge-lite instead").click()
    # The two lines keep the TR they were written for (the other model's 1.49 s): 3 s at nforge-lite's 1 Hz.
    page.locator(".nforge-status").filter(has_text="3 time steps").first.wait_for(timeout=LOAD_S * 1000)
    assert "nforge-lite" in page.locator(".nfv-title").text_content()
    assert page.get_by_label("Model").input_value().startswith("NForge lite")
