"""TribeModel: release resolution, 100-s windows, stitching to 1 Hz, selection, metadata, extractors."""

from __future__ import annotations

import shutil
import sys
import types

import numpy as np
import pytest
import torch

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet
from nforge_app.models._tribe_net import resolve_precision
from nforge_app.models.tribe import TribeModel, stack_windows, stitch_windows

from _releases import small_inputs, write_tribe_release


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_tribe_release(tmp_path_factory.mktemp("tribe-model-release"), seed=3)


@pytest.fixture(scope="module")
def model(release, tmp_path_factory):
    model = TribeModel(Settings(cache_dir=tmp_path_factory.mktemp("cache")), variant=str(release), device="cpu",
                       fast=False)
    model.load()
    return model


def test_card():
    card = TribeModel.card
    assert card.model_id == "tribe-v2" and card.name == "TRIBE v2 (Meta FAIR)"
    assert card.aliases == ("fmri-dascoli_2026-tribe_v2", "fmri-multi_study-tribe_v2")
    assert card.modalities == ("text", "audio", "video") and card.space_id == "fsaverage5"
    assert (card.tr_s, card.hrf_offset_s, card.time_axis) == (1.0, 5.0, "stimulus")
    assert card.licence == "CC-BY-NC-4.0" and card.weights == "facebook/tribev2" and card.subjects == ("average",)
    assert "d'Ascoli" in card.citation and "2026" in card.citation


def test_250_s_uses_three_windows_stitched_at_1_hz(model):
    features, stimulus = small_inputs(250.0)
    prediction = model.predict(features, stimulus, "average", None)
    assert prediction.data.shape == (250, 40) and prediction.data.dtype == np.float32
    np.testing.assert_array_equal(prediction.times_s, np.arange(250.0))
    assert (prediction.tr_s, prediction.hrf_offset_s, prediction.time_axis) == (1.0, 5.0, "stimulus")
    assert prediction.space_id == "fsaverage5" and prediction.subject == "average"
    np.testing.assert_array_equal(prediction.indices, np.arange(40))
    meta = prediction.metadata
    assert meta["n_windows"] == 3 and meta["precision"] == "fp32" and meta["window_s"] == 100.0
    assert meta["zero_modalities"] == []
    # Each 100-s window on its own (the last one zero-padded from 50 s of features) gives the same rows.
    padded = {m: np.concatenate([a, np.zeros((*a.shape[:2], 100), np.float32)], axis=-1)
              for m, a in features.features.items()}
    for window in range(3):
        chunk = {m: torch.from_numpy(a[None, ..., 200 * window: 200 * (window + 1)].copy()) for m, a in padded.items()}
        rows = model.encoder_(chunk, fast=False)[0].numpy().T
        keep = min(100, 250 - 100 * window)
        np.testing.assert_allclose(prediction.data[100 * window: 100 * window + keep], rows[:keep], atol=1e-5)


@pytest.mark.parametrize(("duration_s", "rows"), [(3.0, 3), (2.5, 3), (0.4, 1), (200.0, 200)])
def test_short_and_exact_durations(model, duration_s, rows):
    features, stimulus = small_inputs(duration_s, modalities=("audio",))
    prediction = model.predict(features, stimulus, None, None)
    assert prediction.data.shape == (rows, 40)
    assert prediction.metadata["n_windows"] == (2 if duration_s == 200.0 else 1)
    assert prediction.metadata["zero_modalities"] == ["text", "video"]


def test_selection_equals_slicing(model):
    features, stimulus = small_inputs(30.0)
    indices = np.array([5, 39, 0, 12])
    full = model.predict(features, stimulus, "average", None)
    part = model.predict(features, stimulus, "average", indices)
    np.testing.assert_array_equal(part.indices, indices)
    np.testing.assert_allclose(part.data, full.data[:, indices], atol=1e-5)


def test_window_helpers_round_trip():
    array = np.arange(2 * 3 * 450, dtype=np.float32).reshape(2, 3, 450)
    stacked = stack_windows({"audio": array}, 3, 200)["audio"]
    assert stacked.shape == (3, 2, 3, 200)
    np.testing.assert_array_equal(stacked[1], array[..., 200:400])
    assert not stacked[2, ..., 50:].any()
    outputs = np.stack([np.full((4, 100), w, np.float32) for w in range(3)])
    joined = stitch_windows(outputs, 250)
    assert joined.shape == (250, 4) and joined[99, 0] == 0 and joined[100, 0] == 1 and joined[249, 3] == 2


def test_bad_inputs_are_named(model):
    features, stimulus = small_inputs(10.0)
    with pytest.raises(UserInputError, match="not valid for tribe-v2; accepted: average"):
        model.predict(features, stimulus, "sub-01", None)
    slow = FeatureSet({"audio": np.zeros((2, 16, 10), np.float32)}, rate_hz=1.0, n_steps=10, duration_s=10.0)
    with pytest.raises(UserInputError, match="2 Hz"):
        model.predict(slow, stimulus, None, None)
    wrong = FeatureSet({"audio": np.zeros((2, 15, 20), np.float32)}, rate_hz=2.0, n_steps=20, duration_s=10.0)
    with pytest.raises(UserInputError, match=r"audio features have \(L, D\) = \(2, 15\)"):
        model.predict(wrong, stimulus, None, None)


def test_weights_dir_release_and_extractors_from_config(release, tmp_path, monkeypatch):
    shutil.copytree(release, tmp_path / "weights" / "tribe-v2")
    settings = Settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights")
    calls = []
    fake = types.ModuleType("nforge_app.features.tribe")
    fake.extractors_from_config = lambda config, device, dtype, low_mem_use, video_batch_size: calls.append(
        (config, device, dtype, low_mem_use, video_batch_size)) or ["extractor"]
    monkeypatch.setitem(sys.modules, "nforge_app.features.tribe", fake)
    model = TribeModel(settings, device="cpu", low_mem_use=True, extractor_dtype="bfloat16", video_batch_size=8)
    assert model.extractors() == ["extractor"]  # loads the release on first use
    assert model.release_path_ == str(tmp_path / "weights" / "tribe-v2")
    config, *passed = calls[0]
    assert passed == ["cpu", "bfloat16", True, 8]
    assert config["data"]["text_feature"]["device"] == "cpu"  # the release pins cuda
    assert config["data"]["video_feature"]["image"]["device"] == "cpu"
    assert model.params()["precision"] == resolve_precision(None, "cpu")
    assert TribeModel(settings, fast=False).params()["precision"] == "fp32"


def test_precision_is_fp32_by_default_opt_in_and_in_the_cache_key(release, tmp_path, monkeypatch):
    from nforge_app.engine import Engine
    from nforge_app.models import _tribe_net

    monkeypatch.delenv(_tribe_net.PRECISION_ENV, raising=False)
    settings = Settings(cache_dir=tmp_path / "cache")
    assert TribeModel(settings, variant=str(release)).params()["precision"] == "fp32"
    assert TribeModel(settings, variant=str(release), precision="bf16").params()["precision"] == "bf16"
    assert TribeModel(settings, variant=str(release), fast=True).params()["precision"] != "fp32"
    engine = Engine(settings, device="cpu")
    keys = {engine.prediction_key("h", "tribe-v2", variant=str(release)),
            engine.prediction_key("h", "tribe-v2", variant=str(release), precision="fp32"),
            engine.prediction_key("h", "tribe-v2", variant=str(release), precision="bf16")}
    assert len(keys) == 2  # fp32 named or not is one prediction; bf16 another
    monkeypatch.setenv(_tribe_net.PRECISION_ENV, "bf16")
    assert engine.prediction_key("h", "tribe-v2", variant=str(release)) in keys - {
        engine.prediction_key("h", "tribe-v2", variant=str(release), precision="fp32")}
    model = TribeModel(settings, variant=str(release), device="cpu")
    features, stimulus = small_inputs(12.0)
    assert model.predict(features, stimulus, "average", None).metadata["precision"] == "bf16"
    with pytest.raises(UserInputError, match="NFORGE_TRIBE_PRECISION must be one of"):
        monkeypatch.setenv(_tribe_net.PRECISION_ENV, "half")
        TribeModel(settings, variant=str(release)).params()
