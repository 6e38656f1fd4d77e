"""The Compare tab: its service (experiments kept by id, shown at a threshold, exported) and the page in chromium
(the map drawn in the page's viewer, the prediction put back)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from _ui_helpers import CHROMIUM_ARGS
from PIL import Image

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.export import load_contrast_npz
from nforge_app.ui._compare import THRESHOLDS, CompareService
from nforge_app.ui._service import AppService
from nforge_app.viz._viewer import unpack_payload

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOAD_S = 180


@pytest.fixture(scope="module")
def compare(tmp_path_factory):
    settings = Settings.from_env(cache_dir=tmp_path_factory.mktemp("compare") / "cache")
    return CompareService(AppService(Engine(settings, device="cpu")))


@pytest.fixture(scope="module")
def sound_id(compare):
    a, b, names = compare.teaching_inputs("sound")
    return compare.run("blocks", "nforge-lite", files_a=a, files_b=b, names=names)


def _payload(compare, viewer_value):
    url = json.loads(viewer_value)["payload"]
    return unpack_payload(Path(url.split("file=", 1)[1]).read_bytes())


def test_an_experiment_is_kept_and_shown_at_a_threshold(compare, sound_id):
    result = compare.load(sound_id)
    assert result.contrast == "sound - silence" and result.n_permutations == 70
    shown = compare.show(sound_id, THRESHOLDS[0], 0.05, "effect")
    assert json.loads(shown.viewer_value)["title"].startswith("sound - silence (effect, p < 0.05)")
    meta, arrays = _payload(compare, shown.viewer_value)
    assert meta["n_frames"] == 1 and meta["n_selected"] == int(result.passing(p_below=0.05).sum()) > 0
    assert shown.rows[0][0] in ("A1", "LBelt", "MBelt", "PBelt", "RI", "A4") and shown.rows[0][3] < 0.05
    assert "70 relabellings" in shown.summary and "no scanner noise" in shown.summary
    assert "baseline, not trained on fMRI" in shown.summary
    assert set(shown.design["series"]) == {"silence (on)", "silence (regressor)", "sound (on)", "sound (regressor)"}
    assert shown.design_colours["sound (regressor)"] != shown.design_colours["silence (regressor)"]
    on = [v for v, name in zip(shown.design["value"], shown.design["series"], strict=True) if name == "sound (on)"]
    assert set(on) == {0.0, 1.0} and sum(on) == pytest.approx(4 * 6, abs=4)  # 4 blocks of 6 s, at 1 Hz
    # A threshold nothing passes shows the anatomy alone, and says so.
    empty = compare.show(sound_id, THRESHOLDS[1], 1e9, "t")
    assert "no output passes" in json.loads(empty.viewer_value)["title"]
    assert (_payload(compare, empty.viewer_value)[1]["frames"] == 255).all()


def test_exports_and_errors(compare, sound_id):
    files, notes = compare.export(sound_id, THRESHOLDS[0], 0.05, "effect")
    names = sorted(path.name for path in files)
    assert notes == [] and len(names) == 8
    assert [n for n in names if n.endswith(".npz")] == ["sound_-_silence.nforge-lite.npz"]
    assert [n for n in names if n.endswith(".png")] == ["sound_-_silence.nforge-lite.effect.glass.png",
                                                        "sound_-_silence.nforge-lite.effect.surface.png"]
    assert sum(n.endswith(".func.gii") for n in names) == 4 and any(n.endswith(".regions.csv") for n in names)
    for path in (p for p in files if p.suffix == ".png"):
        with Image.open(path) as picture:
            assert picture.size[0] > 300
    assert load_contrast_npz(next(p for p in files if p.suffix == ".npz")).contrast == "sound - silence"
    with pytest.raises(UserInputError, match="drop at least one stimulus"):
        compare.run("blocks", "nforge-lite", files_a=None, files_b=[])
    with pytest.raises(UserInputError, match="drop a stimulus and its events file"):
        compare.run("events", "nforge-lite", contrast_text="a - b")
    with pytest.raises(UserInputError, match="write the contrast"):
        compare.run("events", "nforge-lite", stimulus="s.wav", events="e.tsv", contrast_text=" ")
    with pytest.raises(UserInputError, match="unknown design"):
        compare.run("mixed", "nforge-lite")
    with pytest.raises(UserInputError, match="unknown threshold"):
        compare.show(sound_id, "z above", 3.0)
    with pytest.raises(UserInputError, match="run an experiment first"):
        compare.show("", THRESHOLDS[0], 0.05)


@pytest.mark.browser
def test_the_compare_tab_runs_a_teaching_example(ui_server):
    from playwright.sync_api import sync_playwright

    title = "document.querySelector('#nforge-viewer .nfv-title').textContent"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1300})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(ui_server.url)
        viewer = page.locator("#nforge-viewer")
        viewer.locator(".nfv[data-state=ready]").wait_for(timeout=LOAD_S * 1000)  # the first example
        example_title = page.evaluate(title)
        page.get_by_role("tab", name="Compare").click()
        back = page.get_by_role("button", name="Show the prediction again")
        assert not back.is_visible()
        page.get_by_role("button", name="Sound vs silence").click()
        page.wait_for_function(f"{title}.includes('sound - silence')", timeout=LOAD_S * 1000)
        viewer.locator(".nfv[data-state=ready]").wait_for(timeout=LOAD_S * 1000)
        page.wait_for_timeout(500)

        # The map is drawn in the page's viewer: warm colours (positive effects) on the brain.
        pixels = np.asarray(Image.open(io.BytesIO(viewer.locator(".nfv-gl").screenshot())).convert("RGB"), dtype=int)
        warm = (pixels[..., 0] > 150) & (pixels[..., 2] < 110)
        assert warm.mean() > 0.003
        # The table is filled, auditory regions first; the design is plotted.
        page.wait_for_function("document.querySelector('#nforge-compare-regions').innerText.includes('PBelt')",
                               timeout=LOAD_S * 1000)
        lines = [line.strip() for line in page.locator("#nforge-compare-regions").inner_text().splitlines()
                 if line.strip()]
        first = lines[lines.index("p (corrected)") + 1:][:4]  # the first row: region, effect, t, p
        assert first[0] in ("A1", "LBelt", "MBelt", "PBelt", "RI", "A4") and float(first[3]) < 0.05, lines[:12]
        assert page.locator("#nforge-compare-design canvas, #nforge-compare-design svg").count() > 0
        assert "70 relabellings" in page.locator(".prose.nforge-compare-status").inner_text()
        page.screenshot(path=ARTIFACTS / "ui-compare.png", full_page=True)

        # A stricter threshold redraws the map; then the downloads.
        page.get_by_label("|t| at least").check()
        page.wait_for_function(f"{title}.includes('|t| ≥ 0.05')", timeout=LOAD_S * 1000)
        page.get_by_role("button", name="Download the results").click()
        page.locator("a[data-testid=download-link][href$='.png']").first.wait_for(timeout=LOAD_S * 1000)
        assert page.locator("a[data-testid=download-link][href$='.func.gii']").count() == 4
        assert page.locator("a[data-testid=download-link][href$='.png']").count() == 2
        page.screenshot(path=ARTIFACTS / "ui-compare-export.png", full_page=True)

        # The prediction on show comes back.
        back.click()
        page.wait_for_function(f"{title} === {json.dumps(example_title)}", timeout=LOAD_S * 1000)
        page.wait_for_function("!document.evaluate(\"//button[normalize-space()='Show the prediction again']\", "
                               "document, null, 9, null).singleNodeValue?.checkVisibility()", timeout=30_000)
        browser.close()
    assert not errors
