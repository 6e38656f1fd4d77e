"""Offline, or with the hub unreachable, a model whose weights are missing fails at once, in our words.

The session blocks the network (tests/conftest.py). Each case checks the structure of "fast": the hub is
only read from the local cache (``local_files_only``), huggingface_hub never sleeps between retries, and it
logs nothing before our message. (Timings: bench, not tests.)
"""

from __future__ import annotations

import logging
import time

import huggingface_hub
import pytest
from huggingface_hub import constants

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.features import _hf
from nforge_app.models.text2fmri import Text2fMRIModel
from nforge_app.models.tribe import TribeModel

from _media import make_video


@pytest.fixture(params=["HF_HUB_OFFLINE", "no network"])
def offline(request, monkeypatch, caplog):
    """Either HF_HUB_OFFLINE=1, or online mode with every connection refused (conftest); no sleeping."""
    _hf._probes.clear()
    if request.param == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read at import; huggingface_hub would retry
        for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
    calls = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)

    def no_sleep(seconds):
        raise AssertionError(f"a retry slept {seconds} s")

    monkeypatch.setattr(time, "sleep", no_sleep)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    yield request.param, calls
    _hf._probes.clear()


def _no_hub_lines(caplog):
    hub_lines = [r.getMessage() for r in caplog.records if r.name.startswith("huggingface_hub")
                 and r.levelno >= logging.INFO]
    assert not hub_lines


def test_the_probe_names_why(offline):
    kind, _ = offline
    reason = _hf.hub_offline_reason()
    assert reason is not None and ("HF_HUB_OFFLINE" in reason if kind == "HF_HUB_OFFLINE" else "no network" in reason)


def test_tribe_without_weights_fails_at_once(offline, tmp_path, caplog):
    kind, calls = offline
    model = TribeModel(Settings(cache_dir=tmp_path / "cache"), device="cpu")
    with pytest.raises(ModelUnavailableError, match="cannot reach the Hugging Face hub .*nforge-lite"):
        model.load()
    assert calls and all(call.get("local_files_only") for call in calls)
    _no_hub_lines(caplog)


def test_text2fmri_without_weights_fails_at_once(offline, caplog):
    _, calls = offline
    model = Text2fMRIModel(Settings.from_env(), device="cpu")
    with pytest.raises(ModelUnavailableError, match="not in the cache and the hub cannot be reached"):
        model.load()
    assert calls and all(call.get("local_files_only") for call in calls)
    _no_hub_lines(caplog)


def test_a_hub_model_of_an_extractor_fails_at_once(offline, tmp_path, caplog):
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        _hf.load_hf_model("tokenizer", "facebook/w2v-bert-2.0", cache_dir=tmp_path)
    _no_hub_lines(caplog)


def test_text2fmri_given_a_video_says_it_reads_text_before_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("NFORGE_TRANSCRIBE", "0")
    video = make_video(tmp_path / "clip.mp4", 2.0, audio="tone")

    def no_weights(self, name):
        raise AssertionError("weights were looked for before the input was checked")

    monkeypatch.setattr(Text2fMRIModel, "_file", no_weights)
    engine = Engine(Settings(cache_dir=tmp_path / "cache"), device="cpu")
    with pytest.raises(UserInputError, match="text2fmri reads text only: its input must be text"):
        engine.predict(str(video), "text2fmri")
