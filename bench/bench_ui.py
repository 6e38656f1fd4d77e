"""The web app: start-up, viewer payload per TR, scrubbing redraw in headless Chromium, GIF export.

Targets (issue #5): page interactive within 5 s of server start; at most 45 KB per TR for fsaverage5 (nilearn's
hex colours take 225 KB, plotly float32 109 KB); scrubbing redraw at most 16 ms per frame in headless
Chromium; a GIF of 60 TRs x 4 views at 640 px in at most 5 s on 2 cores. Run:
``.venv/bin/python bench/bench_ui.py`` (or ``make bench``). Needs Debian's chromium and playwright.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from _common import TESTS, report

sys.path.insert(0, str(TESTS / "ui"))
from _ui_helpers import CHROMIUM_ARGS, free_port  # noqa: E402

N_TRS = 60
REPO = Path(__file__).resolve().parents[1]
SERVE = "from nforge_app.ui import launch; launch(server_name='127.0.0.1', server_port={port}, quiet=True)"


def _start_up(browser, cache: Path) -> dict:
    """Seconds from starting ``python -c launch()`` to: HTTP answers, page interactive (the Run button and the
    viewer's controls are there), example drawn; then the scrubbing costs on that page."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "NFORGE_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-c", SERVE.format(port=port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("the app stopped during start-up") from None
                time.sleep(0.05)
        http_s = time.perf_counter() - started
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.goto(url)
        page.get_by_role("button", name="Run", exact=True).wait_for()
        page.wait_for_selector(".nfv-toolbar")
        interactive_s = time.perf_counter() - started
        page.wait_for_selector(".nfv[data-state=ready]", timeout=300_000)
        example_s = time.perf_counter() - started
        scrub = _scrub(page)
        page.close()
        return {"http": http_s, "interactive": interactive_s, "example": example_s, **scrub}
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server we started, and only it
        server.wait(timeout=30)


def _scrub(page) -> dict:
    """Redraw cost of a time step: drawn and read back at once, and the pace of one step per display frame."""
    timed = page.evaluate("""() => { const v = window.nforgeViewer, out = [];
        for (let round = 0; round < 3; round++) for (let i = 0; i < v.nFrames; i++) out.push(v.drawFrameTimed(i));
        return out; }""")
    paced = page.evaluate("""() => new Promise((done) => { const v = window.nforgeViewer, stamps = [];
        let step = 0;
        const next = (now) => { stamps.push(now); v.setFrame(step++ % v.nFrames);
          if (stamps.length < 61) requestAnimationFrame(next); else done(stamps); };
        requestAnimationFrame(next); })""")
    return {"draw_median_ms": statistics.median(timed), "draw_p95_ms": float(np.percentile(timed, 95)),
            "paced_ms": float(np.mean(np.diff(paced)))}


def _payloads() -> list[tuple[str, float, str, str]]:
    from nforge_app.models import Prediction
    from nforge_app.spaces import get_space, load_fsaverage5
    from nforge_app.viz._viewer import geometry_payload, prediction_payload

    mesh = load_fsaverage5()
    rng = np.random.default_rng(0)
    rows = [("geometry payload (sent once per page)", len(geometry_payload(mesh)) / 1e3, "KB", "")]
    for space_id, roi, label in (("fsaverage5", None, "fsaverage5, whole brain"),
                                 ("fsaverage5", ["V*", "A1", "*STS*"], "fsaverage5, 3 selections"),
                                 ("schaefer1000", None, "schaefer1000, all parcels")):
        space = get_space(space_id)
        indices = space.select(roi) if roi else np.arange(space.n_outputs)
        prediction = Prediction(data=rng.standard_normal((N_TRS, len(indices))).astype(np.float32),
                                times_s=np.arange(N_TRS, dtype=float), tr_s=1.0, space_id=space_id, indices=indices,
                                model_id="bench", subject="average", hrf_offset_s=0.0, time_axis="bold")
        size = len(prediction_payload(prediction, space, mesh, roi=roi))
        rows.append((f"payload per TR, {label} ({N_TRS} TRs, all included)", size / N_TRS / 1e3, "KB", "<= 45"))
    return rows


def _gif_export(cache: Path) -> list[tuple[str, float, str, str]]:
    """The page's GIF export (colour limits, 60 frames x 4 views at 640 px, encoding) of a 60-TR prediction."""
    from nforge_app.config import Settings
    from nforge_app.engine import Engine
    from nforge_app.models import Prediction
    from nforge_app.spaces import load_fsaverage5
    from nforge_app.ui._service import AppService

    coords = np.asarray(load_fsaverage5().surfaces["pial"][0])
    rng = np.random.default_rng(1)
    centres = coords[rng.choice(len(coords), 8, replace=False)]
    blobs = np.exp(-((coords[None] - centres[:, None]) ** 2).sum(axis=2) / (2 * 20.0 ** 2))
    courses = np.sin(np.arange(N_TRS)[:, None] * rng.uniform(0.05, 0.4, 8) + rng.uniform(0, 6, 8))
    prediction = Prediction(data=(courses @ blobs).astype(np.float32), times_s=np.arange(N_TRS) * 1.0, tr_s=1.0,
                            space_id="fsaverage5", indices=np.arange(20484), model_id="nforge-lite",
                            subject="average", hrf_offset_s=0.0, time_axis="bold")
    service = AppService(Engine(Settings.from_env(cache_dir=cache), device="cpu"))
    prediction_id = service.keep(prediction, [], None, title="bench").prediction_id
    first = time.perf_counter()
    service.export(prediction_id, ["gif"], size_px=640)  # includes rasterising the 4 views once
    first_s = time.perf_counter() - first
    started = time.perf_counter()
    (gif,), _ = service.export(prediction_id, ["gif"], size_px=640)
    gif_s = time.perf_counter() - started
    return [("GIF export, first in a process (rasterises 4 views at 640 px)", first_s, "s", ""),
            ("GIF export, 60 TRs x 4 views at 640 px (frames + encoding)", gif_s, "s", "<= 5"),
            ("GIF size", gif.stat().st_size / 1e6, "MB", "")]


def main() -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    rows = _payloads()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        cache = Path(tmp) / "cache"
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        cold = _start_up(browser, cache)  # first start: makes the example media and predicts them
        warm = _start_up(browser, cache)
        browser.close()
        rows += [
            ("start-up, first ever: HTTP answers", cold["http"], "s", ""),
            ("start-up, first ever: page interactive", cold["interactive"], "s", "<= 5"),
            ("start-up, first ever: example drawn (media made + predicted)", cold["example"], "s", ""),
            ("start-up: HTTP answers", warm["http"], "s", ""),
            ("start-up: page interactive", warm["interactive"], "s", "<= 5"),
            ("start-up: page interactive, counted from the server answering", warm["interactive"] - warm["http"],
             "s", ""),
            ("start-up: example drawn (from the cache)", warm["example"], "s", ""),
            ("scrub: redraw of one time step, median (drawn + read back)", warm["draw_median_ms"], "ms", "<= 16"),
            ("scrub: redraw of one time step, p95", warm["draw_p95_ms"], "ms", ""),
            ("scrub: one time step per display frame, mean interval", warm["paced_ms"], "ms", "<= 16.7"),
        ]
        rows += _gif_export(Path(tmp) / "export-cache")
    report("ui", rows, extra={"n_trs": N_TRS, "cpu_count": os.cpu_count(),
                              "load_average": list(os.getloadavg())})


if __name__ == "__main__":
    main()
