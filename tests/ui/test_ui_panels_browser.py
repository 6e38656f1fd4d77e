"""The analysis panels in Debian's headless chromium: *Explain* on the example draws the modality-attribution
layer on the brain (it follows the slider), each region's shares, and the ROI x stimulus-time heat map, whose
cells move the slider. Screenshots go to ``artifacts/`` (git-ignored)."""

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from _ui_helpers import open_page
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOAD_S = 120


@pytest.fixture(scope="module")
def page(ui_server):
    with open_page(ui_server.url, load_s=LOAD_S) as page:
        yield page


def _brain(page, frame: int) -> np.ndarray:
    """The brain drawn at ``frame`` (now), as pixels."""
    url = page.evaluate(f"() => {{ window.nforgeViewer.drawFrameTimed({frame}); "
                        "return document.querySelector('.nfv-gl').toDataURL(); }")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",")[1]))).convert("RGB"), np.int16)


def test_explain_draws_the_layer_the_shares_and_the_heat_map(page):
    ARTIFACTS.mkdir(exist_ok=True)
    assert "Not available" not in page.content()
    plain = _brain(page, 8)
    page.get_by_role("tab", name="Modality attribution").click()
    page.locator("#nforge-explain-attribution").click()
    page.wait_for_selector(".nfa[data-panel=attribution][data-state=ready]", timeout=LOAD_S * 1000)
    page.wait_for_selector(".nfv[data-layer=attribution]", timeout=LOAD_S * 1000)

    # The RGB layer replaces the predicted values' colours, and follows the time steps.
    layer = _brain(page, 8)
    assert (np.abs(layer - plain).sum(axis=2) > 30).mean() > 0.01, "the attribution layer looks like the plain map"
    later = _brain(page, 16)
    assert (np.abs(layer - later).sum(axis=2) > 30).mean() > 0.001, "the layer does not follow the time steps"
    # the example has a picture and speech: some points are blue (video), some red or green (words, sound)
    bluish = (layer[..., 2] > layer[..., 0] + 40) & (layer[..., 2] > layer[..., 1] + 40)
    assert bluish.sum() > 50
    # the colour triangle stands in for the colour bar; the picker offers both layers
    assert page.locator(".nfv-layer-label").is_visible()
    charts = page.locator(".nfa[data-panel=attribution] .nfa-chart canvas")
    assert charts.count() == int(page.locator(".nfa[data-panel=attribution]").get_attribute("data-charts")) > 0
    panel = page.locator(".nfa[data-panel=attribution]")
    assert "when the stimulus lacks it" in page.content()  # the sentence says what absent means
    page.locator(".nfv-time").fill("12")
    page.wait_for_function("document.querySelector('.nfa[data-panel=attribution]').dataset.frame === '12'")
    page.screenshot(path=ARTIFACTS / "ui-attribution.png", full_page=True)
    assert panel.get_attribute("data-state") == "ready"

    # The heat map: one row per region, one column per stimulus moment, for the output time under the slider.
    page.get_by_role("tab", name="ROI attention").click()
    heat = page.locator(".nfa[data-panel=attention]")
    page.wait_for_selector(".nfa[data-panel=attention][data-state=ready]", timeout=LOAD_S * 1000)
    rows, cols = int(heat.get_attribute("data-rows")), int(heat.get_attribute("data-cols"))
    assert rows > 0 and cols > 1
    assert int(heat.get_attribute("data-words")) > 0  # the example's transcript on the stimulus-time axis
    assert heat.get_attribute("data-output-row") == "12"
    page.screenshot(path=ARTIFACTS / "ui-attention.png", full_page=True)

    # A click on a cell moves the slider (and the player) to that stimulus moment.
    canvas = page.locator(".nfa-heat")
    box = canvas.bounding_box()
    left, right, top, row_h = 120, 40, 6, 22  # panels.js HEAT
    column = cols // 4
    x = box["x"] + left + (box["width"] - left - right) * (column + 0.5) / cols
    page.mouse.click(x, box["y"] + top + row_h / 2)
    moment = float(heat.get_attribute("data-clicked"))
    frame = page.evaluate(f"() => {{ const t = window.nforgeViewer.times; let best = 0; t.forEach((v, i) => "
                          f"{{ if (Math.abs(v - {moment}) < Math.abs(t[best] - {moment})) best = i; }}); return best; }}")
    assert frame != 12
    page.wait_for_selector(f".nfv[data-frame='{frame}']", timeout=5000)
    assert page.locator(".nfv-time").input_value() == str(frame)
    page.wait_for_function(f"document.querySelector('.nfa[data-panel=attention]').dataset.outputRow === '{frame}'")
    assert "Not available" not in page.content()
    assert not page.errors
