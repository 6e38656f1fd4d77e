"""Evaluation against measured fMRI: Pearson r per output after the time alignment, numpy only.

Target (issue #13): evaluate 20,484 fsaverage5 vertices x 600 TRs in at most 0.5 s (the median of 5 runs, the
atlases loaded). Also measured, without targets: a measured TR other than the model's (resampling), two
repeated runs (noise ceiling), the lag search (16 lags), 1000 Schaefer parcels, reading a 600-TR npz run. Run:
``.venv/bin/python bench/bench_evaluate.py`` (or ``make bench``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import report

N_TRS = 600
REPEATS = 5


def _median_s(fn, repeats: int = REPEATS, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        started = clock()
        fn()
        times.append(clock() - started)
    return statistics.median(times)


def _case(space_id: str, n_outputs: int, seed: int):
    from nforge_app.values import Prediction

    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((N_TRS, n_outputs)).astype(np.float32)
    prediction = Prediction(data=signal, times_s=np.arange(N_TRS) * 1.0, tr_s=1.0, space_id=space_id,
                            indices=np.arange(n_outputs), model_id="bench", subject="1", hrf_offset_s=0.0,
                            time_axis="bold")
    runs = [signal + rng.standard_normal(signal.shape).astype(np.float32) for _ in range(2)]
    return prediction, runs


def main() -> None:
    from nforge_app.analysis import evaluate, read_measured
    from nforge_app.spaces import get_space

    get_space("fsaverage5"), get_space("schaefer1000")  # the atlases, read once per process
    surface, runs = _case("fsaverage5", 20484, 0)
    parcels, parcel_runs = _case("schaefer1000", 1000, 1)
    evaluate(surface, runs[0], tr_s=1.0)  # warm-up (first allocation of the large buffers)

    plain_s = _median_s(lambda: evaluate(surface, runs[0], tr_s=1.0))
    # CPU time of this process: the same work without the waits for cores that other programs hold
    plain_cpu_s = _median_s(lambda: evaluate(surface, runs[0], tr_s=1.0), clock=time.process_time)
    coarse = runs[0][: int(N_TRS / 1.49)]  # the same number of seconds' worth of volumes, read at TR 1.49 s
    resampled_s = _median_s(lambda: evaluate(surface, coarse, tr_s=1.49))
    ceiling_s = _median_s(lambda: evaluate(surface, runs, tr_s=1.0))
    lag_s = _median_s(lambda: evaluate(surface, runs[0], tr_s=1.0, lag_search=True), repeats=1)
    parcels_s = _median_s(lambda: evaluate(parcels, parcel_runs[0], tr_s=1.0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.npz"
        np.savez(path, data=runs[0], tr_s=1.0)
        read_s = _median_s(lambda: read_measured(path))
    report("evaluate", [
        ("fsaverage5 20,484 x 600 TRs, same TR", plain_s, "s", "<= 0.5"),
        ("  the same, CPU time of the process", plain_cpu_s, "s", "-"),
        ("fsaverage5, measured TR 1.49 s (resampled)", resampled_s, "s", "-"),
        ("fsaverage5, 2 runs (noise ceiling)", ceiling_s, "s", "-"),
        ("fsaverage5, lag search (16 lags)", lag_s, "s", "-"),
        ("schaefer1000 1000 x 600 TRs", parcels_s, "s", "-"),
        ("read a 600 x 20,484 npz run", read_s, "s", "-"),
    ])


if __name__ == "__main__":
    main()
