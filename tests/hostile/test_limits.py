"""The limits as settings: each refuses what passes it with a message naming its setting, and nothing else;
job slots and the cooperative time limit; the cache budget's least-recently-used eviction."""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import pytest

from nforge_app._cache_budget import CacheBudget, in_use, touch
from nforge_app._jobs import Jobs, JobTimeout
from nforge_app._limits import (
    PAGE_JOB_TIMEOUT_S,
    check_attribution_steps,
    check_n_trs,
    check_roi_count,
    check_text_length,
    job_timeout_s,
)
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.stimuli import load_stimulus


def test_settings_read_the_limits_from_the_environment(monkeypatch):
    for name, value in (("NFORGE_MAX_TEXT_CHARS", "10"), ("NFORGE_MAX_TRS", "3"), ("NFORGE_MAX_ROIS", "2"),
                        ("NFORGE_MAX_ATTRIBUTION_STEPS", "8"), ("NFORGE_MAX_JOBS", "4"),
                        ("NFORGE_JOB_TIMEOUT_S", "5"), ("NFORGE_CACHE_MAX_GB", "0.5")):
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.max_text_chars, settings.max_trs, settings.max_rois, settings.max_attribution_steps,
            settings.max_jobs, settings.job_timeout_s, settings.cache_max_gb) == (10, 3, 2, 8, 4, 5.0, 0.5)
    monkeypatch.setenv("NFORGE_MAX_TRS", "-1")
    with pytest.raises(UserInputError, match="NFORGE_MAX_TRS"):
        Settings.from_env()


def test_each_limit_refuses_only_what_passes_it():
    settings = Settings(max_text_chars=10, max_trs=3, max_rois=2, max_attribution_steps=8)
    check_text_length("x" * 10, "t", settings)
    with pytest.raises(UserInputError, match="11 characters.*max_text_chars.*NFORGE_MAX_TEXT_CHARS"):
        check_text_length("x" * 11, "t", settings)
    check_n_trs(3, "t", settings)
    with pytest.raises(UserInputError, match="4 TRs.*NFORGE_MAX_TRS"):
        check_n_trs(4, "t", settings)
    check_roi_count(["V1", "V2"], settings)
    check_roi_count("V*", settings)
    with pytest.raises(UserInputError, match="3 regions.*NFORGE_MAX_ROIS"):
        check_roi_count(["V1", "V2", "MT"], settings)
    assert check_attribution_steps(8, settings) == 8
    assert check_attribution_steps(512, settings, face="cli") == 512  # the page's limit only
    assert check_attribution_steps(512, settings, face="api") == 512
    for bad in (9, 0, 2.5, "many"):
        with pytest.raises(UserInputError, match="steps"):
            check_attribution_steps(bad, settings)
    unlimited = Settings(max_text_chars=0, max_trs=0, max_rois=0, max_attribution_steps=0)
    check_text_length("x" * 1000, "t", unlimited)
    check_n_trs(10**6, "t", unlimited)
    assert check_attribution_steps(10**4, unlimited) == 10**4


def test_the_page_has_a_time_limit_and_the_command_line_none():
    assert job_timeout_s(Settings(), "page") == PAGE_JOB_TIMEOUT_S
    assert job_timeout_s(Settings(), "cli") == math.inf and job_timeout_s(Settings(), "api") == math.inf
    assert job_timeout_s(Settings(job_timeout_s=5), "cli") == 5
    assert job_timeout_s(Settings(job_timeout_s=0), "page") == math.inf


def test_the_stimulus_loader_applies_the_text_and_tr_limits(tmp_path):
    settings = Settings(cache_dir=tmp_path, max_text_chars=50, max_trs=4)
    with pytest.raises(UserInputError, match="5 TRs"):
        load_stimulus(["a"] * 5, settings, tr_s=1.0)
    with pytest.raises(UserInputError, match="60 characters"):
        load_stimulus(["word " * 12], settings, tr_s=1.0)
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    with pytest.raises(UserInputError, match="big.txt holds at least 1,250 characters"):
        load_stimulus(big, settings)
    assert load_stimulus(["a b", "", "c"], settings, tr_s=1.0).duration_s == 3.0


def test_a_job_past_its_time_is_cancelled_at_its_next_progress_report():
    jobs = Jobs(max_jobs=1, timeout_s=0.05)
    seen = []
    with pytest.raises(JobTimeout, match="job_timeout_s"), jobs.run("predict", lambda f, s: seen.append(f)) as progress:
        progress(0.1, "start")
        time.sleep(0.1)
        progress(0.5, "later")
    assert seen == [0.1] and jobs.running("predict") == 0
    assert issubclass(JobTimeout, UserInputError)


def test_jobs_of_one_kind_wait_for_a_slot_and_other_kinds_do_not():
    jobs = Jobs(max_jobs=2)
    inside, release, peak = [], threading.Event(), []

    def work(kind):
        with jobs.run(kind):
            inside.append(kind)
            peak.append(jobs.running("predict"))
            release.wait(5)

    threads = [threading.Thread(target=work, args=("predict",)) for _ in range(3)]
    threads.append(threading.Thread(target=work, args=("export",)))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(inside) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(inside) == ["export", "predict", "predict"]  # the third predict waits for a slot
    release.set()
    for thread in threads:
        thread.join(5)
    assert inside.count("predict") == 3 and max(peak) == 2


def _file(path, size, age_s):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_the_cache_budget_evicts_least_recently_used_files_across_every_cache_folder(tmp_path):
    old = [_file(tmp_path / folder / "a.bin", 100, age)
           for folder, age in (("features/x", 5000), ("predictions", 4000), ("ui/payloads", 3000),
                               ("ui/exports/id", 2000), ("transcripts", 1000))]
    weights = _file(tmp_path / "hub" / "model.bin", 10_000, 9000)  # never counted
    example = _file(tmp_path / "examples" / "clip.mp4", 10_000, 9000)
    young = _file(tmp_path / "predictions" / "young.npz", 100, 0)  # just written: in use by its job
    temporary = _file(tmp_path / "features" / ".x.npy.tmp", 100, 9000)  # an atomic write under way
    touch(old[0])  # read just now: the most recently used
    budget = CacheBudget(tmp_path, max_bytes=350, min_age_s=60)
    assert budget.size() == 700
    with in_use(old[1]):
        removed = budget.enforce()
    # oldest first, until within 350 bytes or only files in use are left: the one registered, the ones used
    # in the last minute, the temporary file of a write under way
    assert removed == [old[2], old[3], old[4]]
    assert all(p.exists() for p in (old[0], old[1], weights, example, young, temporary))
    assert budget.size() == 400
    budget.min_age_s = 0
    assert budget.enforce() == [old[1]]  # no longer in use: the least recently used goes
    assert budget.size() == 300
    assert CacheBudget(tmp_path, max_bytes=0).enforce() == []


def test_the_engine_keeps_the_cache_in_its_budget(tmp_path):
    from nforge_app.engine import Engine

    engine = Engine(Settings(cache_dir=tmp_path, cache_max_gb=1e-9), device="cpu")  # 1 byte
    engine.cache_budget.min_age_s = 0
    prediction = engine.predict(["the ship left", "", "the harbour"], tr_s=1.0)
    assert np.isfinite(prediction.data).all()
    assert engine.cache_budget.size() <= 1
