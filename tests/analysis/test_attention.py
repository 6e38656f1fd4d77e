"""ROI temporal attention: planted truth on a tiny TRIBE v2, the lite model's exact decomposition, rollout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nforge_app.analysis import roi_attention
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet
from nforge_app.stimuli import Stimulus

from _planted import (
    AUDIO_EVENT_S,
    REGION_A,
    REGION_B,
    REGION_MIXED,
    TEXT_EVENT_S,
    planted_inputs,
    planted_model,
)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    return planted_model(folder / "release", folder / "cache")


@pytest.fixture(scope="module")
def planted_attention(planted):
    features, stimulus = planted_inputs()
    fractions = []
    result = roi_attention(planted, features, stimulus, {"A": REGION_A, "B": REGION_B, "mixed": REGION_MIXED},
                           progress=lambda fraction, stage: fractions.append(fraction))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 2
    return result


def _chunk_of(result, time_s: float) -> int:
    return int(np.searchsorted(result.stimulus_times_s, time_s, side="right") - 1)


def test_planted_regions_peak_at_their_events_with_different_profiles(planted_attention):
    result = planted_attention
    assert result.roi_names == ("A", "B", "mixed") and result.attention.shape == (3, 40, 20)
    np.testing.assert_array_equal(result.times_s, np.arange(40.0))
    np.testing.assert_array_equal(result.stimulus_times_s, np.arange(0.0, 40.0, 2.0))
    assert "occlusion" in result.method and result.metadata["chunk_s"] == 2.0
    peaks = np.abs(result.attention).argmax(-1)  # (R, T_out): the moment that drives each region most
    assert (peaks[0] == _chunk_of(result, AUDIO_EVENT_S)).all()
    assert (peaks[1] == _chunk_of(result, TEXT_EVENT_S)).all()
    profile_a, profile_b = result.attention[0].mean(0), result.attention[1].mean(0)
    assert np.corrcoef(profile_a, profile_b)[0, 1] < 0.5
    # The mixed region hears both events: each carries a large share at every output time.
    events = [_chunk_of(result, AUDIO_EVENT_S), _chunk_of(result, TEXT_EVENT_S)]
    assert (result.attention[2][:, events] > 0.2).all()


def test_shares_are_the_drops_of_the_prediction_when_a_chunk_is_absent(planted, planted_attention):
    result = planted_attention
    np.testing.assert_allclose(np.abs(result.attention).sum(-1), 1.0, atol=1e-5)
    abs_sum = np.asarray(result.metadata["abs_sum"])
    assert abs_sum.shape == (3, 40) and (abs_sum > 0).all()
    assert result.by_modality is None and result.modalities == ()
    # The planted projectors have no bias, so zero features are absent ones: occluding a chunk is then the
    # prediction of the features with that chunk zeroed, which the model's own predict gives.
    features, stimulus = planted_inputs()
    contributions = result.attention * abs_sum[..., None]
    full = planted.predict(features, stimulus).data
    for chunk in (0, 4, 13):
        cut = FeatureSet({m: a.copy() for m, a in features.features.items()}, 2.0, features.n_steps,
                         features.duration_s)
        for array in cut.features.values():
            array[..., 4 * chunk:4 * chunk + 4] = 0.0
        drop = full - planted.predict(cut, stimulus).data
        for row, region in enumerate((REGION_A, REGION_B, REGION_MIXED)):
            np.testing.assert_allclose(contributions[row, :, chunk], drop[:, region].mean(1), atol=2e-5)


def test_tribe_windows_are_independent(tmp_path):
    from nforge_app.models.tribe import TribeModel

    from _releases import SMALL_BUILD_ARGS, write_tribe_release

    model = TribeModel(Settings(cache_dir=tmp_path / "cache"), variant=str(write_tribe_release(tmp_path / "r", seed=4)),
                       device="cpu")
    n = 260  # 130 s: two windows, the second zero-padded
    rng = np.random.default_rng(2)
    features = FeatureSet({m: rng.standard_normal((*dims, n)).astype(np.float32)
                           for m, dims in SMALL_BUILD_ARGS["feature_dims"].items()}, 2.0, n, 130.0)
    stimulus = Stimulus(kind="video", source="<two windows>", content_hash="w", duration_s=130.0)
    result = roi_attention(model, features, stimulus, {"some": np.arange(5), "others": np.arange(30, 40)},
                           chunk_s=5)
    assert result.attention.shape == (2, 130, 26) and result.rollout.shape == (130, 26)
    np.testing.assert_array_equal(result.attention[:, :100, 20:], 0.0)
    np.testing.assert_array_equal(result.attention[:, 100:, :20], 0.0)
    np.testing.assert_array_equal(result.rollout[:100, 20:], 0.0)
    assert (np.abs(result.attention[:, :100, :20]).sum(-1) > 0.999).all()
    np.testing.assert_allclose(result.rollout[:100].sum(1), 1.0, atol=1e-5)


def test_rollout_is_where_the_model_looks_and_leaves_predictions_unchanged(planted, planted_attention):
    rollout = planted_attention.rollout
    assert rollout.shape == (40, 20) and (rollout >= 0).all()
    # The planted layers attend uniformly over the 100-s window: a step keeps half of itself (the residual),
    # so each output second looks most at its own chunk, and the 40-s stimulus gets its share of the window.
    assert (rollout.argmax(1) == np.arange(40) // 2).all()
    assert "where the model looks" in planted_attention.metadata["rollout"]
    encoder = planted.encoder_
    features, _ = planted_inputs()
    inputs = {m: torch.from_numpy(np.concatenate([a, np.zeros((*a.shape[:2], 120), np.float32)], -1))[None]
              for m, a in features.features.items()}
    plain = encoder.hidden(inputs, fast="fp32")
    maps: list = []
    recorded = encoder.hidden(inputs, fast="fp32", attention_maps=maps)
    assert torch.equal(plain, recorded) and len(maps) == encoder.spec.depth
    assert maps[0].shape == (1, 200, 200)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(1, 200))


def test_rollout_hook_is_bit_identical_on_random_weights(tmp_path):
    from nforge_app.models.tribe import load_encoder

    from _releases import write_tribe_release

    encoder = load_encoder(write_tribe_release(tmp_path / "random", seed=5), precision="fp32")
    rng = np.random.default_rng(1)
    inputs = {m: torch.from_numpy(rng.standard_normal((2, *dims, 200)).astype(np.float32))
              for m, dims in encoder.spec.feature_dims.items()}
    maps: list = []
    assert torch.equal(encoder(inputs, fast="fp32"), encoder.readout(encoder.hidden(inputs, fast="fp32",
                                                                                    attention_maps=maps)))
    assert len(maps) == encoder.spec.depth and not torch.isnan(maps[-1]).any()


def test_tribe_chunks_of_other_lengths(planted):
    features, stimulus = planted_inputs()
    result = roi_attention(planted, features, stimulus, {"A": REGION_A}, chunk_s=5)
    assert result.attention.shape == (1, 40, 8) and result.metadata["forwards_per_window"] == 21
    assert (np.abs(result.attention[0]).argmax(-1) == int(AUDIO_EVENT_S // 5)).all()
    with pytest.raises(UserInputError, match="accepted: a multiple"):
        roi_attention(planted, features, stimulus, {"A": REGION_A}, chunk_s=0.7)


# --------------------------------------------------------------------------------------------------------
# nforge-lite: exact


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    from nforge_app.models.lite import LiteModel

    return LiteModel(Settings(cache_dir=tmp_path_factory.mktemp("lite-cache")))


def _lite_inputs(duration_s: float = 30.0, seed: int = 0):
    n = round(duration_s * 2)
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((1, 8, n)).astype(np.float32)
    audio[:, :, 20:24] += 4.0  # a loud moment at 10-12 s
    text = np.zeros((1, 9, n), np.float32)
    words = slice(min(40, n - 4), min(44, n))  # words at 20-22 s (at the end of a shorter stimulus)
    text[0, :8, words] = rng.standard_normal((8, 4))
    text[0, 8, words] = 3.0
    video = rng.random((1, 4, n)).astype(np.float32)
    features = FeatureSet({"audio": audio, "text": text, "video": video}, rate_hz=2.0, n_steps=n,
                          duration_s=duration_s, extractor_ids={"audio": "lite-audio", "text": "lite-text",
                                                                "video": "lite-video"})
    return features, Stimulus(kind="video", source="<lite>", content_hash="lite", duration_s=duration_s)


def test_lite_is_exact(lite):
    features, stimulus = _lite_inputs()
    rois = ["A1", "45", "MT"]
    result = roi_attention(lite, features, stimulus, rois)
    assert result.roi_names == tuple(rois) and result.attention.shape == (3, 30, 30)
    assert result.method.startswith("exact") and result.metadata["additive"] is True
    contributions = result.attention * np.asarray(result.metadata["abs_sum"])[..., None]
    prediction = lite.predict(features, stimulus)
    from nforge_app.spaces import get_space

    space = get_space("fsaverage5", lite.settings)
    for row, name in enumerate(rois):
        expected = prediction.data[:, space.select(name)].mean(1)
        np.testing.assert_allclose(contributions[row].sum(-1), expected, rtol=1e-4, atol=1e-5)
    # by modality: exact split; the auditory region hears only audio, STS only text, MT only video.
    assert result.modalities == ("text", "audio", "video")
    np.testing.assert_allclose(result.by_modality.sum(1), result.attention, atol=1e-6)
    share = np.abs(result.by_modality).sum((2, 3))
    share /= share.sum(1, keepdims=True)
    assert share[0, 1] > 0.95 and share[1, 0] > 0.95 and share[2, 2] > 0.95
    # The HRF is causal: BOLD at t comes from stimulus moments before t only.
    assert np.allclose(np.triu(result.attention[0], 1), 0.0)
    # Regions driven by different modalities get different profiles (not one flat profile scaled).
    late = result.attention[:, 20:]  # BOLD after both events
    assert (np.abs(late[0]).argmax(-1) != np.abs(late[1]).argmax(-1)).all()
    assert np.corrcoef(late[0].mean(0), late[1].mean(0))[0, 1] < 0.5


def test_lite_takes_index_selections(lite):
    features, stimulus = _lite_inputs(8.0)
    result = roi_attention(lite, features, stimulus, {"few": np.array([0, 5, 9])})
    assert result.attention.shape == (1, 8, 8) and result.roi_names == ("few",)


@pytest.mark.parametrize(("rois", "message"), [
    ({}, "no regions given"),
    ([], "no regions given"),
    (["NotARegion"], "unknown region name"),
    ({"empty": np.array([], dtype=int)}, "has no outputs"),
    ({"far": np.array([20484])}, "accepted: 0 to 20483"),
])
def test_bad_regions_are_refused_with_what_is_accepted(lite, rois, message):
    features, stimulus = _lite_inputs(4.0)
    with pytest.raises(UserInputError, match=message):
        roi_attention(lite, features, stimulus, rois)


def test_chunk_s_is_only_for_tribe(lite):
    features, stimulus = _lite_inputs(4.0)
    with pytest.raises(UserInputError, match="tribe-v2 only"):
        roi_attention(lite, features, stimulus, ["A1"], chunk_s=2)


# --------------------------------------------------------------------------------------------------------
# Text2fMRI and the flow model


def test_text2fmri_occludes_each_trs_text(tmp_path):
    from nforge_app.models.text2fmri import Text2fMRIModel

    from _tiny_models import HIDDEN, save_tiny_text2fmri

    release = save_tiny_text2fmri(tmp_path / "t2f", tmp_path / "no-lm-needed")
    model = Text2fMRIModel(Settings(cache_dir=tmp_path / "cache"), variant=str(release))
    model.load()
    n = 12
    text = np.random.default_rng(0).standard_normal((1, HIDDEN, n)).astype(np.float32)
    text[..., [2, 7]] = 0.0  # two TRs without words
    features = FeatureSet({"text": text}, rate_hz=1 / 1.49, n_steps=n, duration_s=n * 1.49)
    stimulus = Stimulus(kind="text", source="<tr text>", content_hash="t", duration_s=n * 1.49)
    result = roi_attention(model, features, stimulus, {"first": np.arange(10), "last": np.arange(990, 1000)},
                           subject=2)
    assert result.attention.shape == (2, n, n) and "TR" in result.method
    np.testing.assert_allclose(result.stimulus_times_s, np.arange(n) * 1.49)
    # A TR without words has nothing to take away: exactly no share, at every TR and region.
    np.testing.assert_array_equal(result.attention[..., [2, 7]], 0.0)
    np.testing.assert_allclose(np.abs(result.attention).sum(-1), 1.0, atol=1e-5)
    # The head sees the whole context window: earlier and later TRs' text both count.
    assert (np.abs(result.attention[:, 6, :6]).sum(-1) > 0.05).all()


def test_flow_anchor_is_exact_per_tr_and_stream(tmp_path):
    import torch

    from nforge_app.models.flow import FlowMatchingModel

    from _releases import write_flow_release

    write_flow_release(tmp_path / "flow", feature_dims={"audio": 8, "video": 4},
                       extractors=("lite-audio", "lite-video"))
    model = FlowMatchingModel(Settings(cache_dir=tmp_path / "cache"), variant=str(tmp_path / "flow"), n_steps=1,
                              n_samples=1)
    model.load()
    n = 24
    rng = np.random.default_rng(3)
    arrays = {"audio": rng.standard_normal((1, 8, n)).astype(np.float32),
              "video": rng.random((1, 4, n)).astype(np.float32)}
    features = FeatureSet(arrays, rate_hz=2.0, n_steps=n, duration_s=12.0,
                          extractor_ids={"audio": "lite-audio", "video": "lite-video"})
    stimulus = Stimulus(kind="video", source="<flow>", content_hash="f", duration_s=12.0)
    regions = {"a": np.arange(0, 50), "b": np.arange(500, 520)}
    result = roi_attention(model, features, stimulus, regions, subject=3)
    assert result.attention.shape == (2, 9, 9) and result.modalities == ("audio", "video")
    np.testing.assert_allclose(result.by_modality.sum(1), result.attention, atol=1e-5)
    contributions = result.attention * np.asarray(result.metadata["abs_sum"])[..., None]

    def anchor(arrays):
        cut = FeatureSet(arrays, 2.0, n, 12.0, features.extractor_ids)
        embedding = torch.as_tensor(model.transform(cut, stimulus).data[None])
        with torch.no_grad():
            return model.stage1_.readout(embedding)[0, 2].numpy()  # subject 3 is the third

    full, zero = anchor(arrays), anchor({m: 0 * a for m, a in arrays.items()})
    for row, indices in enumerate(regions.values()):
        expected = (full - zero)[:, indices].mean(1)
        np.testing.assert_allclose(contributions[row].sum(-1), expected, rtol=1e-4, atol=1e-5)
    assert "mean anchor" in result.method
