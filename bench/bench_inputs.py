"""Reading inputs: the content key of a clip (no decoding) and refusing a text too long to speak.

Targets: the key of a 60-s video at most 0.1 s (it hashes the bytes, decodes nothing); a 400-word text over
a 5-s limit refused within 1 s (speech synthesis stops just past the limit). The tests check what makes
these cheap; this script times them. Run: ``.venv/bin/python bench/bench_inputs.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import media_helpers, report


def _best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    media = media_helpers()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["NFORGE_CACHE_DIR"] = str(tmp / "cache")
        from nforge_app.config import Settings
        from nforge_app.errors import UserInputError
        from nforge_app.stimuli import load_stimulus, stimulus_key

        clip = media.make_video(tmp / "clip.mp4", 60.0, size=(320, 240))
        text = tmp / "long.txt"
        text.write_text("word " * 400, encoding="utf-8")

        def refuse() -> None:
            try:
                load_stimulus(text, Settings(max_duration_s=5))
            except UserInputError:
                return
            raise AssertionError("the long text was accepted")

        refuse()  # loads espeak-ng once
        report("inputs", [
            ("content key of a 60-s video (best of 5)", _best_of(5, lambda: stimulus_key(clip)), "s", "<= 0.1"),
            ("refusing a 400-word text over a 5-s limit (best of 3)", _best_of(3, refuse), "s", "<= 1"),
        ], extra={"clip_mb": clip.stat().st_size / 1e6})


if __name__ == "__main__":
    main()
