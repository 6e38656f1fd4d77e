"""Faults (issue 17, item 5): a prediction process killed midway, a full disk, a model whose load fails. After
each, the cache holds only whole entries and the next request gives the right answer."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _hostile import LINES, assert_clean, cache_files

from nforge_app._cache_budget import STALE_TEMPORARY_S, CacheBudget
from nforge_app.config import Settings
from nforge_app.errors import DiskFullError, UserInputError

WORKER = Path(__file__).with_name("_fault_worker.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The prediction made in a cache of its own, with nothing going wrong."""
    from nforge_app.engine import Engine

    return Engine(Settings(cache_dir=tmp_path_factory.mktemp("reference")), device="cpu").predict(LINES, tr_s=1.0)


def _kill_at(moment: str, cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / f"reached-{moment.replace(':', '-')}"
    env = {**os.environ, "NFORGE_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen([sys.executable, str(WORKER), moment, str(marker)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker never reached the moment"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.parametrize("moment", ["features", "write:features", "write:predictions"])
def test_a_prediction_killed_midway_leaves_a_valid_cache(moment, reference, tmp_path):
    cache = tmp_path / "cache"
    _kill_at(moment, cache, tmp_path)
    temporaries = [path for path in cache_files(cache) if path.name.startswith(".")]
    if moment.startswith("write:"):  # the killed write left its temporary file, and nothing at the final name
        assert len(temporaries) == 1 and moment.split(":")[1] in temporaries[0].parts
    assert not [path for path in cache_files(cache) if "predictions" in path.parts and path not in temporaries]
    from nforge_app.engine import Engine

    engine = Engine(Settings(cache_dir=cache), device="cpu")
    prediction = engine.predict(LINES, tr_s=1.0)  # the next request: right, from a cache that is still valid
    np.testing.assert_array_equal(prediction.data, reference.data)
    again = Engine(Settings(cache_dir=cache), device="cpu").predict(LINES, tr_s=1.0)  # read from the disk cache
    np.testing.assert_array_equal(again.data, reference.data)
    # a killed write's temporary file goes once stale (the budget's sweep), whatever the cache's size
    stale = time.time() - STALE_TEMPORARY_S - 60
    for path in temporaries:
        os.utime(path, (stale, stale))
    assert sorted(CacheBudget(cache, max_bytes=0).enforce()) == sorted(temporaries)
    assert not [path for path in cache_files(cache) if path.name.startswith(".")]


@pytest.mark.parametrize("folder", ["features", "predictions"])
def test_a_full_disk_gives_a_clear_message_and_no_corrupt_entry(folder, reference, tmp_path, monkeypatch):
    from nforge_app import _files
    from nforge_app.engine import Engine

    cache = tmp_path / "cache"
    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):
        if "w" in mode and folder in Path(path).parts:
            handle = real_open(path, mode, *args, **kwargs)
            handle.write(b"\0" * 10)  # a few bytes got out before the disk filled up
            handle.close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, mode, *args, **kwargs)

    engine = Engine(Settings(cache_dir=cache), device="cpu")
    before = cache_files(cache)
    module = "nforge_app.features._cache" if folder == "features" else "nforge_app.export._npz"
    monkeypatch.setattr(f"{module}.open", full_disk_open, raising=False)
    with pytest.raises(DiskFullError, match=r"the disk is full: .* could not be written \(nothing was kept\).*"
                                            r"NFORGE_CACHE_MAX_GB"):
        engine.predict(LINES, tr_s=1.0)
    assert_clean(cache, before, accepted=False)
    assert not [path for path in cache_files(cache) if folder in path.parts and path.suffix in (".npy", ".npz")]
    assert issubclass(DiskFullError, UserInputError) and _files.atomic_path
    monkeypatch.undo()
    engine.memory_items = 0  # the next request is served from the disk, as after a restart
    np.testing.assert_array_equal(engine.predict(LINES, tr_s=1.0).data, reference.data)


def test_a_full_disk_through_the_command_line(tmp_path, monkeypatch, capsys):
    from nforge_app.cli import EXIT_USER_ERROR, main

    monkeypatch.setenv("NFORGE_CACHE_DIR", str(tmp_path / "cache"))
    text = tmp_path / "lines.txt"
    text.write_text("\n".join(LINES))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("nforge_app.features._cache.np.save", full)
    code = main(["predict", str(text), "--per-tr", "--tr", "1", "--quiet", "--out", str(tmp_path / "out.npz")])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "Traceback" not in err and "the disk is full" in err, err
    assert not (tmp_path / "out.npz").exists()


class _BrokenModel:
    """Stands for a model whose load fails as a damaged install does (not the user's input)."""

    loads = 0

    @classmethod
    def make(cls):
        from nforge_app.models.lite import LiteModel

        class BrokenModel(LiteModel):
            card = LiteModel.card.__class__(**{**LiteModel.card.__dict__, "model_id": "test-broken-load",
                                               "aliases": ()})

            def load(self):
                cls.loads += 1
                raise RuntimeError("CUDA error: an illegal memory access was encountered")

        return BrokenModel


def test_a_model_whose_load_fails_leaves_the_engine_usable(reference, tmp_path, monkeypatch):
    from nforge_app import models
    from nforge_app.engine import Engine

    _BrokenModel.loads = 0
    monkeypatch.setitem(models._REGISTRY, "test-broken-load", "test_faults:BROKEN")
    monkeypatch.setattr(sys.modules[__name__], "BROKEN", _BrokenModel.make(), raising=False)
    engine = Engine(Settings(cache_dir=tmp_path / "cache"), device="cpu")
    for _ in range(2):  # the failure is not kept as a loaded model: a second request tries again
        with pytest.raises(RuntimeError, match="illegal memory access"):
            engine.predict(LINES, "test-broken-load", tr_s=1.0)
    assert _BrokenModel.loads == 2 and not [key for key in engine._models if key[0] == "test-broken-load"]
    np.testing.assert_array_equal(engine.predict(LINES, tr_s=1.0).data, reference.data)
    # and a model without weights (a user-fixable failure) leaves it usable too
    monkeypatch.setitem(models._REGISTRY, "test-no-weights", "_ui_helpers:UnavailableModel")
    monkeypatch.syspath_prepend(str(REPO / "tests" / "ui"))
    with pytest.raises(UserInputError, match="weights"):
        engine.predict(LINES, "test-no-weights", tr_s=1.0)
    assert engine.predict(["another line"], tr_s=1.0).data.shape[0] == 1


@pytest.mark.slow
def test_a_job_past_the_page_time_limit_is_cancelled_cleanly(tmp_path):
    """A page whose jobs may run 10 ms: a new prediction is cancelled at its next progress report with a message
    naming the setting, nothing half-written is left, and cached answers (which take no job) still come."""
    from _hostile import SERVER_PATH, launch_page
    from gradio_client import Client, handle_file

    from nforge_app.engine import Engine

    from _media import make_video

    settings = Settings(cache_dir=tmp_path / "cache", job_timeout_s=0.01)
    Engine(settings, device="cpu").predict(LINES, tr_s=1.0)  # cached before the page starts
    before = cache_files(settings.cache_dir)
    clip = make_video(tmp_path / "clip.mp4", 20.0, audio="tone")
    demo = launch_page(settings)
    try:
        client = Client(demo.local_url, verbose=False)
        _, _, status, *_ = client.predict("media", handle_file(clip), None, None, "", 1.0, "nforge-lite", "average",
                                          [], api_name="/predict")
        assert "ran longer than the limit of 0.01 s and was cancelled" in status and "job\\_timeout\\_s" in status
        assert not SERVER_PATH.search(status)
        assert_clean(settings.cache_dir, before, accepted=False)
        _, prediction_id, status, *_ = client.predict("per-TR text", None, None, None, "\n".join(LINES), 1.0,
                                                      "nforge-lite", "average", [], api_name="/predict")
        assert "time steps" in status and prediction_id
    finally:
        demo.close()


@pytest.mark.slow
def test_a_full_disk_through_the_page(tmp_path, monkeypatch):
    """The page says the disk is full, names no server path, keeps nothing, and serves again once there is
    room."""
    from _hostile import SERVER_PATH, launch_page
    from gradio_client import Client

    settings = Settings(cache_dir=tmp_path / "cache")
    demo = launch_page(settings)
    try:
        client = Client(demo.local_url, verbose=False)
        before = cache_files(settings.cache_dir)

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr("nforge_app.features._cache.np.save", full)
        _, _, status, *_ = client.predict("per-TR text", None, None, None, "\n".join(LINES), 1.0, "nforge-lite",
                                          "average", [], api_name="/predict")
        assert "the disk is full" in status and "NFORGE\\_CACHE\\_MAX\\_GB" in status, status
        assert not SERVER_PATH.search(status) and str(tmp_path) not in status, status
        assert_clean(settings.cache_dir, before, accepted=False)
        monkeypatch.undo()
        _, prediction_id, status, *_ = client.predict("per-TR text", None, None, None, "\n".join(LINES), 1.0,
                                                      "nforge-lite", "average", [], api_name="/predict")
        assert "time steps" in status and prediction_id
    finally:
        demo.close()
