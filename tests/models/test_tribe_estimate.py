"""The CPU estimate said before a TRIBE v2 run, and running a video as audio + text only."""

from __future__ import annotations

import pytest

from nforge_app.cli import main
from nforge_app.models import _tribe_estimate
from nforge_app.models._tribe_estimate import estimate, estimate_for_file

from _media import make_video


@pytest.fixture(autouse=True)
def fixed_speed(monkeypatch):
    """A machine of 0.1 TFLOP/s (the calibration itself is timed by bench, not tests)."""
    monkeypatch.setattr(_tribe_estimate, "machine_tflops", lambda dtype="float32": 0.1)


def test_estimate_follows_the_stages_and_the_duration():
    one = estimate(60.0, {"text", "audio"})
    two = estimate(120.0, {"text", "audio"})
    assert set(one.seconds) == {"text", "audio", "encoder"}
    speed = 0.1 * _tribe_estimate.EFFICIENCY["audio"]
    assert one.seconds["audio"] == pytest.approx(3.6 / speed + _tribe_estimate.LOAD_S["audio"])
    loading = sum(_tribe_estimate.LOAD_S[s] for s in one.seconds)
    assert two.total_s - loading == pytest.approx(2 * (one.total_s - loading))
    video = estimate(60.0, {"text", "audio", "video"})
    assert video.seconds["video"] > 100 * one.seconds["audio"] / 2  # video dominates on a CPU
    assert "about" in one.sentence() and "on this machine" in one.sentence()


def test_a_video_file_offers_audio_and_text_only(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", 2.0, audio="tone")
    (tmp_path / "clip.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n", encoding="utf-8")
    full = estimate_for_file(clip)
    assert set(full.seconds) == {"text", "audio", "video", "encoder"} and full.duration_s == pytest.approx(2.0, 0.1)
    lean = estimate_for_file(clip, ["audio", "text"])
    assert set(lean.seconds) == {"text", "audio", "encoder"} and lean.total_s < full.total_s / 10


def test_cli_estimate_says_it_and_stops_before_any_weights(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NFORGE_CACHE_DIR", str(tmp_path / "cache"))
    clip = make_video(tmp_path / "clip.mp4", 2.0, audio="tone")
    assert main(["predict", str(clip), "--model", "tribe-v2", "--device", "cpu", "--estimate",
                 "--modalities", "audio", "text"]) == 0  # no release here: nothing was loaded
    said = capsys.readouterr().out
    assert said.startswith("TRIBE v2 on this machine (cpu): about") and "video" not in said


def test_the_modalities_option_keeps_only_those_extractors(tmp_path, monkeypatch):
    import sys
    import types

    from nforge_app.config import Settings
    from nforge_app.errors import UserInputError
    from nforge_app.models.tribe import TribeModel

    from _releases import write_tribe_release

    fake = types.ModuleType("nforge_app.features.tribe")
    fake.extractors_from_config = lambda config, **kwargs: [types.SimpleNamespace(modality=m)
                                                            for m in ("text", "audio", "video")]
    monkeypatch.setitem(sys.modules, "nforge_app.features.tribe", fake)
    release = write_tribe_release(tmp_path / "release")
    settings = Settings(cache_dir=tmp_path / "cache")
    model = TribeModel(settings, variant=str(release), device="cpu", modalities=["audio", "text"])
    assert [e.modality for e in model.extractors()] == ["text", "audio"]
    assert model.params()["modalities"] == ["audio", "text"]  # in the cache key
    with pytest.raises(UserInputError, match="unknown: 'image'"):
        TribeModel(settings, variant=str(release), device="cpu", modalities=["image"]).extractors()
