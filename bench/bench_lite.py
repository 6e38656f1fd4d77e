"""Lite model end to end: a 60-s test video with speech -> fsaverage5 prediction, cold and cached.

Targets (issue #2): at most 15 s per 60-s clip once models are loaded, a repeat at most 0.2 s, peak RSS at
most 2.5 GB; the model alone (trunk and readout, features given) at most 1 s for a minute on all vertices.
Run: ``.venv/bin/python bench/bench_lite.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from _common import media_helpers, report

TEXT = ("Once upon a time a small fox walked through the quiet forest looking for berries. "
        "The birds were singing and the river was cold and clear. ")


def main() -> None:
    media = media_helpers()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["NFORGE_CACHE_DIR"] = str(tmp / "cache")
        clip = media.make_video(tmp / "clip.mp4", 60.0, size=(320, 240), text=TEXT)
        # A transcript beside the clip gives it words (as WhisperX would), so all three modalities run.
        words = TEXT.split() * 8
        cues = "".join(f"{i + 1}\n00:00:{i // 2:02d},{(i % 2) * 500:03d} --> 00:00:{i // 2:02d},{(i % 2) * 500 + 450:03d}"
                       f"\n{w}\n\n" for i, w in enumerate(words[:120]))
        (tmp / "clip.srt").write_text(cues, encoding="utf-8")

        from nforge_app.engine import Engine
        from nforge_app.export import save_npz

        started = time.perf_counter()
        engine = Engine(device="cpu")
        warm_clip = media.make_video(tmp / "warm.mp4", 2.0, text="hello")
        (tmp / "warm.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n", encoding="utf-8")
        engine.predict(warm_clip, "nforge-lite")  # loads the sentence model, the mesh and the region weights
        load_s = time.perf_counter() - started

        started = time.perf_counter()
        pred = engine.predict(clip, "nforge-lite")
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        engine.predict(clip, "nforge-lite")
        cached_s = time.perf_counter() - started
        fresh = Engine(device="cpu")
        started = time.perf_counter()
        fresh.predict(clip, "nforge-lite")
        disk_s = time.perf_counter() - started
        npz_mb = Path(save_npz(pred, tmp / "pred.npz")).stat().st_size / 1e6
        roi = engine.predict(clip, "nforge-lite", roi=["V*", "*STS*", "A1"])
        roi_mb = Path(save_npz(roi, tmp / "roi.npz")).stat().st_size / 1e6
        model = engine.load_model("nforge-lite")
        from nforge_app.stimuli import load_stimulus

        stimulus = load_stimulus(clip)
        features = engine.extract_features(model, stimulus)
        model_s = []
        for _ in range(5):
            started = time.perf_counter()
            model.predict(features, stimulus)
            model_s.append(time.perf_counter() - started)
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        report("lite", [
            ("load models (first call, 2-s clip)", load_s, "s", ""),
            ("60-s video, cold (features computed)", cold_s, "s", "<= 15"),
            ("  = seconds per minute of stimulus", cold_s, "s/min", "<= 15"),
            ("same request again (memory cache)", cached_s, "s", "<= 0.2"),
            ("same request, new engine (disk cache)", disk_s, "s", ""),
            ("the model alone on 60 s of features, all vertices (best of 5)", min(model_s), "s", "<= 1"),
            ("peak RSS", peak_gb, "GB", "<= 2.5"),
            ("npz, all 20484 vertices x 60 s", npz_mb, "MB", ""),
            (f"npz, ROI selection ({roi.data.shape[1]} vertices)", roi_mb, "MB", ""),
        ], extra={"shape": list(pred.data.shape), "cpu_count": os.cpu_count()})


if __name__ == "__main__":
    main()
