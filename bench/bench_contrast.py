"""In-silico experiment: a 4 + 4 block contrast (speech vs reversed speech) on nforge-lite, 20,484 vertices.

Target (issue #14): the GLM with all 70 relabellings takes at most 10 s once the sequence is predicted.
Run: ``.venv/bin/python bench/bench_contrast.py`` (or ``python bench/run.py contrast``).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import report


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["NFORGE_CACHE_DIR"] = str(tmp / "cache")
        from nforge_app.analysis import block_design, contrast, fit_contrast
        from nforge_app.engine import Engine
        from nforge_app.stimuli._teaching import make_speech_stimuli

        started = time.perf_counter()
        texts, backwards = make_speech_stimuli(tmp / "speech")
        make_s = time.perf_counter() - started
        engine = Engine(device="cpu")
        started = time.perf_counter()
        design = block_design(texts, backwards, names=("speech", "reversed"), settings=engine.settings)
        prediction = engine.predict(design.stimulus, "nforge-lite")
        predict_s = time.perf_counter() - started
        fit_contrast(prediction, design.events, "speech - reversed", n_permutations=2)  # imports nilearn's GLM
        glm_runs = []
        for _ in range(3):  # the machine is shared: the median of three
            started = time.perf_counter()
            result = fit_contrast(prediction, design.events, "speech - reversed")
            glm_runs.append(time.perf_counter() - started)
        glm_s = statistics.median(glm_runs)
        started = time.perf_counter()
        contrast(texts, backwards, engine=engine, names=("speech", "reversed"))
        whole_s = time.perf_counter() - started
        report("contrast", [
            ("make 4 sentences + 4 reversed (espeak-ng, ffmpeg)", make_s, "s", ""),
            (f"load + predict the {design.stimulus.duration_s:.0f}-s sequence (lite, cold)", predict_s, "s", ""),
            (f"GLM, {result.n_permutations} relabellings, {len(result.indices)} vertices (median of 3)", glm_s, "s",
             "<= 10"),
            ("  fastest of the 3", min(glm_runs), "s", ""),
            ("contrast() again (prediction cached)", whole_s, "s", ""),
        ], extra={"n_permutations": result.n_permutations, "n_vertices": int(len(result.indices)),
                  "n_rows": int(len(result.frame_times_s)), "cpu_count": os.cpu_count()})


if __name__ == "__main__":
    main()
