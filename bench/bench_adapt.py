"""Subject adaptation and live prediction on this CPU.

Targets (issue #13):

- adapt the lite model on 3 runs of 300 TRs (speech, 20,484 vertices; the last run held out, then the weights
  refitted on all three; the subject saved): <= 10 s with the features cached (the first run, which extracts
  them, is reported too);
- adapt TRIBE v2's head at its real sizes (encoder hidden 1,152 columns, 20,484 outputs) on 3 x 300 TRs, with
  random weights written in the release format and random features at the release's feature sizes standing in
  for the cached extractor outputs (the encoder runs; the extractors do not): <= 60 s;
- live: the compute of one Live-tab update (a 1-s microphone chunk through the lite model's streaming
  predictor, the surface picture and the ROI traces): <= 0.3 s, median after 60 s and after 300 s of talk.

Each measured response is planted: the run's own hidden features times fixed random weights plus noise; the
held-out r is reported beside each time as a check that the fit is right. Run:
``.venv/bin/python bench/bench_adapt.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from _common import TESTS, media_helpers, report

N_RUNS, RUN_S = 3, 300
N_VERTICES = 20484
TEXTS = ("the old lighthouse keeper counted ships at dawn and wrote their names in a blue book",
         "rain fell on the market square while a violin played a slow song near the fountain",
         "seven students argued about the map, then walked north along the river until dark")


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _cpu_timed(fn):
    """``fn()``, its wall time and the CPU time of this process meanwhile (every thread: on a machine shared
    with other jobs, the CPU time over the cores used bounds the wall time this work takes alone)."""
    cpu = time.process_time()
    result, wall_s = _timed(fn)
    return result, wall_s, time.process_time() - cpu


def _planted(hidden: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Measured runs: hidden features times fixed random weights, plus noise at half the signal's spread."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((hidden[0].shape[1], N_VERTICES)).astype(np.float32)
    runs = []
    for x in hidden:
        x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1)
        signal = x.astype(np.float32) @ weights
        runs.append(signal + 0.5 * signal.std(axis=0) * rng.standard_normal(signal.shape).astype(np.float32))
    return runs


def _lite(folder: Path, engine) -> tuple[list, dict]:
    from nforge_app.analysis import adapt
    from nforge_app.analysis._adapt import hidden_features
    from nforge_app.stimuli import load_stimulus

    media = media_helpers()
    stimuli = [str(media.make_audio(folder / f"run-{i}.wav", RUN_S, text=TEXTS[i])) for i in range(N_RUNS)]
    model = engine.load_model("nforge-lite")
    cold = engine.settings.cache_dir
    hidden, features_s = _timed(lambda: [hidden_features(engine, model, load_stimulus(s, engine.settings)).data
                                         for s in stimuli])
    measured = _planted(hidden, seed=1)
    # the first adaptation of these stimuli in a fresh cache extracts their features...
    from nforge_app.config import Settings
    from nforge_app.engine import Engine

    fresh = Engine(Settings.from_env(cache_dir=cold.parent / "fresh-cache"), device="cpu")
    fresh.load_model("nforge-lite")
    _, first_s = _timed(lambda: adapt("nforge-lite", stimuli, measured, name="bench-first", engine=fresh))
    # ...later ones read them from the cache (the engine's cache was filled above)
    subject, cached_s, cached_cpu_s = _cpu_timed(
        lambda: adapt("nforge-lite", stimuli, measured, name="bench-lite", engine=engine))
    return [
        (f"lite: adapt 3 x {RUN_S} TRs x {N_VERTICES:,} vertices, features cached", cached_s, "s", "<= 10"),
        ("  the same, CPU time of the process (all threads)", cached_cpu_s, "s", "-"),
        ("  held-out mean r of that fit (planted: at most 0.89)", subject.card["held_out_mean_r"], "r", "-"),
        ("lite: the same, first time (features extracted)", first_s, "s", "-"),
        ("lite: hidden features of the 3 runs alone (cold)", features_s, "s", "-"),
    ], {"lite_solver": subject.card["solver"], "lite_alpha_median": subject.card["alpha_median"]}


def _tribe(folder: Path, settings) -> tuple[list, dict]:
    from nforge_app.analysis import adapt
    from nforge_app.features import FeatureSet
    from nforge_app.models.tribe import TribeModel
    from nforge_app.stimuli import Stimulus

    sys.path.insert(0, str(TESTS))
    from _releases import write_tribe_release

    feature_dims = {"text": (2, 3072), "audio": (2, 1024), "video": (2, 1408)}
    build_args = {"feature_dims": feature_dims, "n_outputs": N_VERTICES, "n_output_timesteps": 100}
    release = write_tribe_release(folder / "tribe", (TESTS / "data" / "tribev2_config.yaml").read_text(),
                                  build_args, seed=0)
    model = TribeModel(settings, variant=str(release), device="cpu")
    _, load_s = _timed(model.load)

    class CachedFeatures:  # the engine's part, as a feature cache gives them: seeded random features per stimulus
        def __init__(self):
            self.settings = settings

        def load_model(self, *args, **kwargs):
            return model

        def extract_features(self, loaded, stimulus, progress=None):
            rng = np.random.default_rng(int(stimulus.content_hash))
            n = int(stimulus.duration_s * 2)
            arrays = {m: rng.standard_normal((*dims, n)).astype(np.float32) for m, dims in feature_dims.items()}
            return FeatureSet(arrays, rate_hz=2.0, n_steps=n, duration_s=stimulus.duration_s,
                              extractor_ids={m: "cached" for m in arrays})

    source = CachedFeatures()
    stimuli = [Stimulus(kind="video", source=f"run-{i}", content_hash=str(i), duration_s=float(RUN_S))
               for i in range(N_RUNS)]
    hidden, transform_s = _timed(lambda: [model.transform(source.extract_features(model, s), s) for s in stimuli])
    # measured volumes on BOLD time: the stimulus' hidden rows 5 s later (TRIBE's hidden features are on
    # stimulus time), the first volumes before the response noise
    planted = _planted([h.data for h in hidden], seed=2)
    shift = round(hidden[0].hrf_offset_s)
    rng = np.random.default_rng(3)
    measured = []
    for run in planted:
        data = rng.standard_normal((RUN_S, N_VERTICES)).astype(np.float32)
        data[shift:] = run[: RUN_S - shift]
        measured.append(data)
    subject, adapt_s, adapt_cpu_s = _cpu_timed(lambda: adapt(model, stimuli, measured, name="bench-tribe",
                                                             engine=source, tr_s=1.0))
    return [
        (f"TRIBE v2 head: adapt 3 x {RUN_S} TRs, hidden {hidden[0].data.shape[1]:,} -> {N_VERTICES:,}, "
         "features cached", adapt_s, "s", "<= 60"),
        ("  the same, CPU time of the process (all threads)", adapt_cpu_s, "s", "-"),
        ("  held-out mean r of that fit (planted: at most 0.89)", subject.card["held_out_mean_r"], "r", "-"),
        ("  of which the encoder (hidden features of the 3 runs, once)", transform_s, "s", "-"),
        ("TRIBE v2: load the real-size release (once)", load_s, "s", "-"),
    ], {"tribe_solver": subject.card["solver"]}


def _chunk_file(path: Path, samples: np.ndarray, rate_hz: int) -> Path:
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate_hz)
        file.writeframes(np.clip(samples * 32768, -32768, 32767).astype(np.int16).tobytes())
    return path


def _live(folder: Path, settings) -> list:
    from nforge_app.ui._live import LiveService
    from nforge_app.ui._service import AppService

    media = media_helpers()
    rate_hz = 48000  # what a browser's microphone streams
    talk = media.make_audio(folder / "talk.wav", 30.0, text=TEXTS[0])
    resampled = folder / "talk-48k.wav"
    media.ffmpeg("-i", str(talk), "-ar", str(rate_hz), "-ac", "1", "-c:a", "pcm_s16le", str(resampled))
    with wave.open(str(resampled), "rb") as file:
        samples = np.frombuffer(file.readframes(file.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    live = LiveService(AppService(settings=settings))
    session, chunk = None, folder / "chunk.wav"
    after = {}
    for second in range(RUN_S):
        start = (second * rate_hz) % (len(samples) - rate_hz)  # the talk, looped
        session, _ = live.push(session, _chunk_file(chunk, samples[start:start + rate_hz], rate_hz))
        if second + 1 in (60, RUN_S):
            after[second + 1] = list(session.compute_s[-20:])
    stream = session.stream.latency_s
    return [
        ("live: one update (1-s chunk -> stream, picture, traces) after 60 s", statistics.median(after[60]), "s",
         "<= 0.3"),
        ("live: the same after 300 s of talk", statistics.median(after[RUN_S]), "s", "<= 0.3"),
        ("live: the same, slowest of the last 20 updates", max(after[RUN_S]), "s", "-"),
        ("live: the first update (mesh and raster set up once)", session.compute_s[0], "s", "-"),
        ("live: the streaming predictor alone, median", statistics.median(stream[1:]), "s", "-"),
    ]


def main() -> None:
    from nforge_app.config import Settings
    from nforge_app.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings.from_env(cache_dir=folder / "cache")
        engine = Engine(settings, device="cpu")
        rows, extra = _lite(folder, engine)
        tribe_rows, tribe_extra = _tribe(folder, settings)
        rows += tribe_rows + _live(folder, settings)
    report("adapt", rows, extra={**extra, **tribe_extra, "n_runs": N_RUNS, "run_s": RUN_S,
                                 "cpu_count": os.cpu_count(), "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
