"""The stimulus player beside the brain, in Debian's headless chromium (Playwright): playing the example clip
moves the time slider and the brain, moving the slider seeks the video, the words of the moment (read from the
clip's own .srt) show under it, and on BOLD time the words of about 5 s earlier show as what the brain answers.
Also what a newcomer reads around it: a new upload or model resets the regions (and the status line names
those predicted), every 3D view says where left, right, anterior... are, the title and colour bars never
cover the brain, the unit is on the colour bars, hovering and the ROI key put region codes in words.

Screenshots are saved under ``artifacts/`` (git-ignored) for people to look at.
"""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from _ui_helpers import open_page
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOAD_S = 120
_SRT_TIME = r"(\d+):(\d+):(\d+),(\d+)"


@pytest.fixture(scope="module")
def page(ui_server):
    with open_page(ui_server.url, extra_args=["--autoplay-policy=no-user-gesture-required"], load_s=LOAD_S) as page:
        yield page


def _cues(srt: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue of the example's transcript, read here on their own."""
    blocks = srt.read_text(encoding="utf-8").strip().split("\n\n")
    cues = []
    for block in blocks:
        lines = block.strip().splitlines()
        times = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
                 for h, m, s, ms in re.findall(_SRT_TIME, lines[1])]
        cues.append((times[0], times[1], " ".join(lines[2:])))
    return cues


def _bare(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _video(page, expression):
    return page.evaluate(f"() => {{ const v = document.querySelector('.nfv-media video'); return {expression}; }}")


def test_the_example_clip_plays_beside_the_brain(page, ui_server):
    assert page.locator(".nfv").get_attribute("data-player") == "video"
    assert page.locator(".nfv-media").is_visible()
    page.wait_for_function("document.querySelector('.nfv-media video').readyState >= 2", timeout=LOAD_S * 1000)
    # the brain and the video side by side: the video's box is right of the brain's
    stage, video = page.locator(".nfv-stage").bounding_box(), page.locator(".nfv-media video").bounding_box()
    assert video["x"] >= stage["x"] + stage["width"] - 1 and video["width"] > 100

    # Moving the slider seeks the video to that frame's time (the lite model's frames are 1 s apart from 0 s).
    slider = page.locator(".nfv-time")
    for frame in (9, 3):
        slider.fill(str(frame))
        page.wait_for_function(f"Math.abs(document.querySelector('.nfv-media video').currentTime - {frame}) < 0.1")
    page.wait_for_selector(".nfv[data-frame='3']")

    # Words of the moment: at 3 s the first cue is being spoken; what shows is among its words.
    cues = _cues(Path(ui_server.transcript))
    spoken = next(text for start, end, text in cues if start <= 3.0 < end)
    now = _bare(page.locator(".nfv-words-now").inner_text())
    assert now and set(now) <= set(_bare(spoken))
    assert page.locator(".nfv-word-now").count() == 1
    # Lite is on BOLD time: the delay is stated, and 5 s earlier (-2 s) is before the stimulus.
    assert page.locator(".nfv").get_attribute("data-delay") == "5"
    assert "about 5 s earlier" in page.locator(".nfv-delay-note").inner_text()
    assert "before the stimulus" in page.locator(".nfv-words-then").inner_text()
    slider.fill("17")  # 17 s: silence since 13 s... and 12 s, 5 s earlier, was silent too; 17 - 5 = 12
    page.wait_for_function("Math.abs(document.querySelector('.nfv-media video').currentTime - 17) < 0.1")
    # ...and a mark on the slider shows where: 12 s, 5/19 of the way before the thumb at 17 s
    page.wait_for_selector(".nfv[data-delay-mark='12.00']")
    mark, track = page.locator(".nfv-delay-mark").bounding_box(), slider.bounding_box()
    at = (mark["x"] + mark["width"] / 2 - track["x"] - 8) / (track["width"] - 16) * 19
    assert abs(at - 12) < 0.5
    speech_then = [text for start, end, text in cues if start <= 12.0 < end]
    assert speech_then or "(no words)" in page.locator(".nfv-words-then").inner_text()

    # Playing moves the slider and the brain with the video.
    slider.fill("0")
    page.wait_for_function("document.querySelector('.nfv-media video').currentTime < 0.1")
    page.locator(".nfv-play").click()
    page.wait_for_function("Number(document.querySelector('.nfv').dataset.frame) >= 3", timeout=30_000)
    assert page.locator(".nfv-play").get_attribute("aria-label") == "Pause"
    assert not _video(page, "v.paused")
    page.locator(".nfv-play").click()
    page.wait_for_function("document.querySelector('.nfv-media video').paused")
    page.wait_for_timeout(100)  # the last drawn frame
    stopped_at = _video(page, "v.currentTime")
    shown = int(page.locator(".nfv").get_attribute("data-frame"))
    assert stopped_at > 2.5 and abs(shown - stopped_at) <= 0.6  # the frame nearest the video's time (1 s apart)
    assert int(slider.input_value()) == shown
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".nfv").screenshot(path=ARTIFACTS / "ui-player.png")
    assert not page.errors


def _regions(page) -> list[str]:
    """The regions picked in the model section (the page's only multiselect picker shows them as tokens)."""
    return [text.strip(" ×\n") for text in page.locator(".token").all_inner_texts()]


def test_a_new_upload_or_model_resets_the_regions(page, ui_server):
    picker = page.get_by_label("Regions (empty: whole brain)")
    for name in ("V1", "A1"):
        picker.fill(name)
        picker.press("Enter")
    page.wait_for_function("document.querySelectorAll('.token').length >= 2")
    assert {"V1", "A1"} <= set(_regions(page))
    page.get_by_role("tab", name="Video / audio").click()
    page.locator("input[type=file]").first.set_input_files(ui_server.clip)
    status = page.locator(".nforge-status").filter(has_text="back to the model's default").first
    status.wait_for(timeout=LOAD_S * 1000)
    assert _regions(page) == []
    # Run: the status line says which regions were predicted.
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator(".nforge-status").filter(has_text="Regions predicted").first.wait_for(timeout=LOAD_S * 1000)
    assert "the whole brain (all 20,484 vertices" in page.locator(".nforge-status").first.inner_text()
    # the uploaded video plays beside the brain too (served from the page's media folder)
    page.wait_for_function("document.querySelector('.nfv-media video')?.src.includes('/ui/media/') && "
                           "document.querySelector('.nfv-media video').readyState >= 1", timeout=LOAD_S * 1000)
    # A model change resets them too.
    picker.fill("V1")
    picker.press("Enter")
    page.wait_for_function("document.querySelectorAll('.token').length >= 1")
    page.get_by_label("Model").click()
    page.get_by_role("option", name=re.compile("Test model without weights")).click()
    page.get_by_text("Stands in for a model whose weights are missing").first.wait_for(timeout=LOAD_S * 1000)
    page.wait_for_function("document.querySelectorAll('.token').length === 0", timeout=LOAD_S * 1000)
    assert not page.errors


# Each view's letters at the left, right, top and bottom edges of each pane (mesh RAS: +x right, +y anterior).
ORIENTATION = {
    # the left hemisphere seen from the left, then the right one from the right: their posterior ends meet
    "lateral": [("left", "A"), ("between", "P"), ("top", "S"), ("bottom", "I"),
                ("right", "A"), ("top", "S"), ("bottom", "I")],
    "medial": [("left", "P"), ("between", "A"), ("top", "S"), ("bottom", "I"),
               ("right", "P"), ("top", "S"), ("bottom", "I")],
    "dorsal": [("left", "L"), ("right", "R"), ("top", "A"), ("bottom", "P")],  # from above, both hemispheres
    "ventral": [("left", "R"), ("right", "L"), ("top", "A"), ("bottom", "P")],  # from below
}


def test_views_are_labelled_and_nothing_covers_the_brain(page):
    from nforge_app.spaces import GLASSER_NAMES

    for view, expected in ORIENTATION.items():
        page.locator(f".nfv-views button[data-view={view}]").click()
        page.wait_for_function(f"document.querySelector('.nfv-views button[data-view={view}]').classList.contains('nfv-on')")
        page.wait_for_timeout(200)
        letters = page.eval_on_selector_all(".nfv-orient span", "spans => spans.map(s => [s.dataset.side, s.textContent])")
        assert [tuple(pair) for pair in letters] == expected, view
        brain = page.locator(".nfv-gl").bounding_box()
        title = page.locator(".nfv-title").bounding_box()
        colorbar = page.locator(".nfv-colorbar").bounding_box()
        assert title["y"] + title["height"] <= brain["y"] + 1, view  # the title never over the brain
        assert colorbar["y"] >= brain["y"] + brain["height"] - 1, view  # nor the colour bar
    page.locator(".nfv-views button[data-view=lateral]").click()
    assert page.locator(".nfv").get_attribute("data-unit") == "z-scored predicted BOLD"  # lite: a baseline
    # The region codes of the ROI lines are explained with the areas' full names.
    rows = page.locator(".nfv-lines-key div").all_inner_texts()
    assert rows
    for row in rows:
        code, words = row.split(": ", 1)
        assert GLASSER_NAMES[code] == words
    # Hovering the brain names the region under the pointer in words.
    brain = page.locator(".nfv-gl").bounding_box()
    page.mouse.move(brain["x"] + brain["width"] * 0.25, brain["y"] + brain["height"] * 0.5)
    page.mouse.move(brain["x"] + brain["width"] * 0.26, brain["y"] + brain["height"] * 0.5)
    hover = page.locator(".nfv-hover")
    hover.wait_for(state="visible")
    code, words = hover.inner_text().split(" · ")[0].split(" — ")
    assert GLASSER_NAMES[code] == words
    page.mouse.move(0, 0)
    # The glass brain's discs lie on the glass (the brain's outline), its colour bar beside it.
    page.locator(".nfv-time").fill("9")
    page.wait_for_selector(".nfv[data-frame='9']")
    page.wait_for_timeout(300)
    glass = np.asarray(Image.open(io.BytesIO(page.locator(".nfv-glass").screenshot())).convert("RGB"), np.int16)
    plot = glass[:, : glass.shape[1] - 70]  # left of the colour bar
    grey = (np.abs(plot - plot[..., :1]).max(axis=2) < 8) & (plot[..., 0] < 235)
    coloured = np.abs(plot[..., 0] - plot[..., 2]) > 60
    assert coloured.sum() > 200
    rows, cols = np.flatnonzero(grey.any(axis=1)), np.flatnonzero(grey.any(axis=0))
    inside = coloured[max(rows.min() - 6, 0):rows.max() + 7, max(cols.min() - 6, 0):cols.max() + 7].sum()
    assert inside == coloured.sum()
    right = glass[:, glass.shape[1] - 70:]
    assert (np.abs(right[..., 0] - right[..., 2]) > 60).sum() > 100  # the colour bar
    page.locator(".nfv").screenshot(path=ARTIFACTS / "ui-legibility.png")
    assert not page.errors
