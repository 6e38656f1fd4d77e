"""A reduced load test (3 users x 5 requests, and cached requests while a long job runs) against a real server
on 127.0.0.1; the full size, with its latency targets, is ``bench/bench_load.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench_load():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_load

        yield bench_load
    finally:
        sys.path.remove(str(BENCH))


def test_the_page_holds_a_small_load(bench_load, tmp_path):
    result = bench_load.run_load(users=3, requests=5, work=tmp_path, long_clip_s=120.0, n_cached=5)
    assert result["failures"] == []
    assert {len(values) for values in result["latency"].values()} == {3}  # every kind ran for every user
    assert ("explain" in result["latency"]) == result["attribution"]
    assert result["overlapped"], "the cached requests did not run while the long job did"
    assert result["peak_rss_mb"] > 0


def test_a_cached_prediction_is_found_without_decoding(tmp_path, monkeypatch):
    """What lets the page answer cached requests without a job slot: ``Engine.cached``."""
    import numpy as np

    from nforge_app.config import Settings
    from nforge_app.engine import Engine

    engine = Engine(Settings(cache_dir=tmp_path), device="cpu")
    lines = ["the bell rang", "", "twice"]
    assert engine.cached(lines, tr_s=1.0) is None
    made = engine.predict(lines, tr_s=1.0, roi=["V1"])
    monkeypatch.setattr("nforge_app.engine.load_stimulus", None)  # nothing is decoded below
    np.testing.assert_array_equal(engine.cached(lines, tr_s=1.0, roi=["V1"]).data, made.data)
    engine.memory_items = 0
    engine._memory.clear()
    full = engine.cached(lines, tr_s=1.0)
    assert full is None  # only the selection was predicted


def test_an_experiment_takes_a_prediction_slot_and_the_time_limit(tmp_path, monkeypatch):
    """The page's experiments (Compare) share the prediction slots, and are cancelled past the time limit."""
    import time

    from nforge_app._jobs import JobTimeout
    from nforge_app.config import Settings
    from nforge_app.ui import _compare
    from nforge_app.ui._service import AppService

    service = AppService(settings=Settings(cache_dir=tmp_path, max_jobs=1, job_timeout_s=0.05))
    seen = []

    def slow_contrast(a, b, progress=None, **options):
        seen.append(service.jobs.running("predict"))
        time.sleep(0.1)
        progress(0.5, "relabelling")

    monkeypatch.setattr(_compare, "contrast", slow_contrast)
    with pytest.raises(JobTimeout, match="job_timeout_s"):
        _compare.CompareService(service).run("blocks", "nforge-lite", files_a=["a.wav"], files_b=["b.wav"])
    assert seen == [1] and service.jobs.running("predict") == 0
