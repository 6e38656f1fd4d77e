"""The flow-matching encoder's public side: resampling, checkpoints and the model (training: tests/analysis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.features import FeatureSet
from nforge_app.models.flow import (
    FORMAT,
    FlowMatchingModel,
    find_checkpoint_files,
    load_checkpoint,
    resample_to_tr,
)
from nforge_app.stimuli import Stimulus

from _releases import write_flow_release

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _audio_features(duration_s=10.0, seed=0):
    n = int(np.ceil(duration_s * 2))
    array = np.random.default_rng(seed).standard_normal((1, 8, n)).astype(np.float32)
    return FeatureSet({"audio": array}, rate_hz=2.0, n_steps=n, duration_s=duration_s,
                      extractor_ids={"audio": "lite-audio"})


STIMULUS = Stimulus(kind="audio", source="clip.wav", content_hash="0" * 64, duration_s=10.0)


# ---------------------------------------------------------------------------------------------------------
# Resampling


def test_resample_to_tr_averages_steps_per_tr():
    array = np.arange(10, dtype=np.float32)[None, None]  # steps at 0, 0.5, ... 4.5 s
    out = resample_to_tr(array, rate_hz=2.0, n_tr=4, tr_s=1.49)
    # TR k takes steps whose start lies in [1.49 k, 1.49 (k + 1)).
    np.testing.assert_allclose(out[:, 0], [np.mean([0, 1, 2]), np.mean([3, 4, 5]), np.mean([6, 7, 8]), 9.0])
    slow = resample_to_tr(np.array([[[1.0, 2.0]]]), rate_hz=0.25, n_tr=5, tr_s=1.49)  # one step per 4 s
    # TR 2 (2.98-4.47 s) receives the step at 4 s; empty TRs take the step covering their centre.
    np.testing.assert_allclose(slow[:, 0], [1, 1, 2, 2, 2])
    assert resample_to_tr(np.zeros((2, 3, 7)), 2.0, 3).shape == (3, 6)


# ---------------------------------------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_round_trip(tmp_path):
    stage1, stage2 = write_flow_release(tmp_path, n_outputs=12)
    raw = torch.load(tmp_path / "stage1_best.pt", weights_only=True)
    assert raw["format"] == FORMAT and raw["config"]["kind"] == "stage1"
    assert raw["config"]["extractors"] == ["lite-audio"] and raw["config"]["feature_dims"] == {"audio": 8}
    loaded1 = load_checkpoint(tmp_path / "stage1_best.pt")
    loaded2 = load_checkpoint(tmp_path / "stage2.pt")
    assert not loaded1.training and loaded1.config["extractors"] == ["lite-audio"]
    x = {"audio": torch.randn(1, 9, 8)}
    with torch.no_grad():
        assert torch.equal(loaded1(x), stage1(x))
    mu, subjects = torch.randn(2, 12, 9), torch.tensor([0, 2])

    def draw(model):
        return model.sample(mu, subjects, n_steps=3, generator=torch.Generator().manual_seed(5))

    assert torch.equal(draw(loaded2), draw(stage2))


def test_highest_stage2_epoch_is_used(tmp_path):
    write_flow_release(tmp_path, stage2_name="stage2_epoch_5.pt", n_outputs=12)
    for n in (10, 15):
        (tmp_path / f"stage2_epoch_{n}.pt").write_bytes((tmp_path / "stage2_epoch_5.pt").read_bytes())
    assert find_checkpoint_files(tmp_path)[1].name == "stage2_epoch_15.pt"
    (tmp_path / "stage2.pt").write_bytes(b"")
    assert find_checkpoint_files(tmp_path)[1].name == "stage2.pt"


def test_missing_or_foreign_checkpoints_are_explained(tmp_path):
    with pytest.raises(ModelUnavailableError, match=r"stage1_best\.pt.*stage2\.pt.*nforge-lite"):
        find_checkpoint_files(tmp_path / "nothing")
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "stage1_best.pt")  # a bare state dict
    with pytest.raises(ModelUnavailableError, match="not a nforge-flow-v1 checkpoint"):
        load_checkpoint(tmp_path / "stage1_best.pt")
    (tmp_path / "stage2.pt").write_bytes(b"not a pickle")
    with pytest.raises(ModelUnavailableError, match="not a readable"):
        load_checkpoint(tmp_path / "stage2.pt")


# ---------------------------------------------------------------------------------------------------------
# The encoding model


def test_model_predicts_mean_and_spread(tmp_path):
    write_flow_release(tmp_path / "flow-matching")
    settings = Settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path)
    model = FlowMatchingModel(settings, n_samples=3, n_steps=4, seed=7)
    assert [e.extractor_id for e in model.extractors()] == ["lite-audio"]  # loads on demand
    assert model.card.modalities == ("audio",) and FlowMatchingModel.card.modalities == ("text", "audio", "video")
    steps = []
    indices = np.array([0, 5, 999])
    prediction = model.predict(_audio_features(), STIMULUS, "sub-02", indices,
                               progress=lambda fraction, stage: steps.append(fraction))
    n_tr = int(np.ceil(10.0 / 1.49))
    assert prediction.data.shape == prediction.spread.shape == (n_tr, 3)
    assert (prediction.spread > 0).all()
    np.testing.assert_allclose(prediction.times_s, np.arange(n_tr) * 1.49)
    assert prediction.subject == "2" and prediction.space_id == "schaefer1000" and prediction.time_axis == "bold"
    assert prediction.metadata["n_samples"] == 3 and prediction.metadata["missing_streams"] == []
    assert steps[-1] == 1.0
    again = model.predict(_audio_features(), STIMULUS, 2, indices)
    np.testing.assert_array_equal(again.data, prediction.data)
    other_seed = FlowMatchingModel(settings, n_samples=3, n_steps=4, seed=8).predict(
        _audio_features(), STIMULUS, 2, indices)
    assert not np.allclose(other_seed.data, prediction.data)
    single = FlowMatchingModel(settings, n_samples=1, n_steps=2).predict(_audio_features(), STIMULUS, None, None)
    assert single.data.shape == (n_tr, 1000) and single.spread is None and single.subject == "1"


def test_model_rejects_bad_input(tmp_path):
    write_flow_release(tmp_path)
    settings = Settings(cache_dir=tmp_path / "cache")
    model = FlowMatchingModel(settings, variant=str(tmp_path), n_steps=1, n_samples=1)
    with pytest.raises(UserInputError, match="accepted: 1, 2, 3, 5"):
        model.predict(_audio_features(), STIMULUS, 4, None)
    with pytest.raises(UserInputError, match="accepted: 0 to 999"):
        model.predict(_audio_features(), STIMULUS, 1, np.array([1000]))
    text_only = FeatureSet({"text": np.zeros((1, 385, 4), np.float32)}, 2.0, 4, 2.0, {"text": "lite-text"})
    with pytest.raises(UserInputError, match="reads audio"):
        model.predict(text_only, STIMULUS, 1, None)
    with pytest.raises(UserInputError, match="n_samples"):
        FlowMatchingModel(settings, n_samples=0)
    with pytest.raises(UserInputError, match="n_steps"):
        FlowMatchingModel(settings, n_steps=2.5)
    assert FlowMatchingModel(settings, n_samples=4.0, seed="3").params() == {
        "variant": None, "n_samples": 4, "n_steps": 25, "seed": 3}
    with pytest.raises(UserInputError, match="accepted"):
        FlowMatchingModel(settings, temperature=1.0)


def test_model_without_weights_says_what_it_needs(tmp_path):
    with pytest.raises(ModelUnavailableError, match="NFORGE_WEIGHTS_DIR is not set"):
        FlowMatchingModel(Settings(cache_dir=tmp_path)).load()
    with pytest.raises(ModelUnavailableError, match="stage1_best.pt"):
        FlowMatchingModel(Settings(cache_dir=tmp_path, weights_dir=tmp_path)).load()
    with pytest.raises(ModelUnavailableError, match="not a directory"):
        FlowMatchingModel(Settings(cache_dir=tmp_path), variant=str(tmp_path / "missing")).load()


def test_model_needs_extractors_it_can_build(tmp_path):
    write_flow_release(tmp_path, extractors=("whisper",))
    with pytest.raises(ModelUnavailableError, match="whisper"):
        FlowMatchingModel(Settings(cache_dir=tmp_path / "cache"), variant=str(tmp_path)).load()
    write_flow_release(tmp_path, extractors=("lite-video",))
    with pytest.raises(ModelUnavailableError, match="do not match"):
        FlowMatchingModel(Settings(cache_dir=tmp_path / "cache"), variant=str(tmp_path)).load()
