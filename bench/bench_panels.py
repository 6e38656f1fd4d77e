"""The analysis panels: *Explain* on a 60-s nforge-lite prediction the page already shows, from the click to the
RGB layer, the region charts and the heat map drawn, in headless Chromium.

Target (issue #12): the attribution of a cached 60-s lite prediction shown in at most 2 s. The clip is the
20-s example looped three times (its transcript shifted to match), run through the page first, so that the
prediction is cached; the attribution itself is computed on the click (the engine caches it afterwards: the
server's side of a second click is in the table too). Run:
``.venv/bin/python bench/bench_panels.py`` (or ``python bench/run.py panels``). Needs chromium and playwright.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import TESTS, report

sys.path.insert(0, str(TESTS / "ui"))
from _ui_helpers import CHROMIUM_ARGS, free_port  # noqa: E402

LOOPS = 3
LOAD_MS = 600_000
DRAWN = """() => {
  const charts = document.querySelector('.nfa[data-panel=attribution]');
  return document.querySelector('.nfv').dataset.layer === 'attribution' && charts.dataset.state === 'ready'
    && Number(charts.dataset.charts) > 0;
}"""
ANSWERED = "() => document.querySelector('.nfa[data-panel=attribution]').dataset.state !== 'empty'"
HEAT_DRAWN = """() => {
  const heat = document.querySelector('.nfa[data-panel=attention]');
  return heat && heat.dataset.state === 'ready' && Number(heat.dataset.rows) > 0;
}"""
TWO_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def _shifted_srt(text: str, offsets_s) -> str:
    """The cues of an SRT file repeated at each offset (renumbered)."""
    blocks = [block for block in text.strip().split("\n\n") if "-->" in block]
    stamp = re.compile(r"(\d+):(\d+):(\d+),(\d+)")

    def shift(match, by):
        h, m, s, ms = (int(g) for g in match.groups())
        total = round((h * 3600 + m * 60 + s) * 1000 + ms + by * 1000)
        return f"{total // 3600000:02d}:{total // 60000 % 60:02d}:{total // 1000 % 60:02d},{total % 1000:03d}"

    out, number = [], 1
    for offset in offsets_s:
        for block in blocks:
            lines = block.splitlines()
            timing = next(line for line in lines if "-->" in line)
            words = lines[lines.index(timing) + 1:]
            out.append("\n".join([str(number), stamp.sub(lambda m, by=offset: shift(m, by), timing), *words]))
            number += 1
    return "\n\n".join(out) + "\n"


def _clip(folder: Path) -> tuple[Path, Path]:
    from nforge_app.stimuli import make_example_clip
    from nforge_app.stimuli._media import ffmpeg_exe

    clip, transcript = make_example_clip(folder / "example.mp4")
    long = folder / "story60.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", str(LOOPS - 1), "-i", str(clip), "-c", "copy",
                    str(long)], check=True)
    words = folder / "story60.srt"
    words.write_text(_shifted_srt(transcript.read_text(), [20.0 * k for k in range(LOOPS)]))
    return long, words


def _server_side_cached(service, prediction_id: str) -> float:
    """Seconds of the server's side of a second *Explain* (the engine's cached attribution, the payload kept)."""
    started = time.perf_counter()
    service.explain(prediction_id)
    return time.perf_counter() - started


def main() -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    from nforge_app.config import Settings
    from nforge_app.engine import Engine
    from nforge_app.ui import launch
    from nforge_app.ui._service import AppService

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        clip, words = _clip(folder)
        engine = Engine(Settings.from_env(cache_dir=folder / "cache"), device="cpu")
        demo = launch(engine, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.goto(demo.local_url)
            page.wait_for_selector(".nfv[data-state=ready]", timeout=LOAD_MS)
            page.locator("input[type=file][accept*='.srt']").set_input_files(words)
            page.locator("input[type=file][accept*='.mp4']").set_input_files(clip)
            page.wait_for_timeout(3000)  # the uploads
            page.get_by_role("button", name="Run", exact=True).click()
            page.wait_for_function("document.querySelector('.nfv-title').textContent.includes('story60')",
                                   timeout=LOAD_MS)
            page.wait_for_selector(".nfv[data-state=ready]", timeout=LOAD_MS)
            prediction_id = page.get_by_label("prediction id").input_value()
            n_frames = page.evaluate("() => window.nforgeViewer.nFrames")
            page.get_by_role("tab", name="Modality attribution").click()
            started = time.perf_counter()
            page.locator("#nforge-explain-attribution").click()
            page.wait_for_function(ANSWERED, timeout=LOAD_MS, polling="raf")
            answered_s = time.perf_counter() - started
            page.wait_for_function(DRAWN, timeout=LOAD_MS, polling="raf")
            page.evaluate(TWO_FRAMES)
            shown_s = time.perf_counter() - started
            started = time.perf_counter()
            page.get_by_role("tab", name="ROI attention").click()
            page.wait_for_function(HEAT_DRAWN, timeout=LOAD_MS, polling="raf")
            page.evaluate(TWO_FRAMES)
            heat_s = time.perf_counter() - started
            browser.close()
        finally:
            demo.close()
        cached_s = _server_side_cached(AppService(engine), prediction_id)
    rows = [(f"Explain of a cached {n_frames}-s lite prediction: click to RGB layer and region charts drawn",
             shown_s, "s", "<= 2"),
            ("  of which: click to the server's answer (engine attribution + payload + gradio)", answered_s, "s", ""),
            ("then the ROI attention tab: click to heat map drawn", heat_s, "s", ""),
            ("server side of a second Explain (attribution from the engine's cache, payload kept)", cached_s, "s",
             "")]
    report("panels", rows, extra={"n_frames": n_frames, "cpu_count": os.cpu_count(),
                                  "load_average": list(os.getloadavg())})


if __name__ == "__main__":
    main()
