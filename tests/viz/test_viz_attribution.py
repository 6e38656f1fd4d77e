"""The analysis panels' payload: the RGB colouring of modality attribution, regions' shares, the heat map part."""

import numpy as np
import pytest

from nforge_app.spaces import get_space
from nforge_app.values import Attribution, RoiAttention
from nforge_app.viz import attribution_payload, modality_channels, modality_rgb, region_parts, unpack_payload


def test_channels_red_text_green_audio_blue_video():
    assert modality_channels(("text", "audio", "video")) == [0, 1, 2]
    assert modality_channels(("video", "text")) == [2, 0]
    assert modality_channels(("audio", "stream a", "stream b")) == [1, 0, 2]  # other names take the free ones
    with pytest.raises(ValueError, match="at most 3"):
        modality_channels(("a", "b", "c", "d"))


def test_hue_is_the_mix_and_brightness_the_magnitude():
    # outputs: text only, audio + video alike, all three alike, text at half the bound, nothing, NaN
    scores = np.array([[4.0, 0.0, 1.0, 2.0, 0.0, np.nan],
                       [0.0, 2.0, -1.0, 0.0, 0.0, np.nan],
                       [0.0, -2.0, 1.0, 0.0, 0.0, np.nan]], dtype=np.float32)[:, None, :]  # (M, T=1, V)
    rgb, bound = modality_rgb(scores, ("text", "audio", "video"), bound=4.0)
    rgb = rgb[0]
    assert bound == 4.0
    assert rgb[0].tolist() == [255, 0, 0]  # text alone, at the bound: full red
    assert rgb[1].tolist() == [0, 255, 255]  # audio and video alike (signs do not matter): cyan
    assert rgb[2].tolist() == [191, 191, 191]  # all three alike, 3/4 of the bound: grey at 3/4
    assert rgb[3].tolist() == [128, 0, 0]  # half the bound: half as bright
    assert rgb[4].tolist() == rgb[5].tolist() == [0, 0, 0]
    # by default the bound is the 99th percentile of the magnitudes
    _, default = modality_rgb(scores, ("text", "audio", "video"))
    assert default == pytest.approx(np.percentile([4, 4, 3, 2], 99))


def _attribution(space, roi_names=("V1", "A1")):
    """A planted split on fsaverage5: V1 driven by video, A1 by audio then text, the rest by nothing."""
    v1, a1 = space.select(["V1"]), space.select(["A1"])
    indices = np.concatenate([v1, a1])
    n_steps = 6
    scores = np.zeros((3, n_steps, len(indices)), dtype=np.float32)
    scores[2, :, :len(v1)] = 2.0  # video in V1
    scores[1, :3, len(v1):] = -1.0  # audio in A1 early (negative parts count by size)
    scores[0, 3:, len(v1):] = 1.0  # text in A1 late
    attention = RoiAttention(roi_names=tuple(roi_names), attention=np.full((2, n_steps, 4), 0.25, np.float32),
                             times_s=np.arange(n_steps, dtype=float), stimulus_times_s=np.arange(4.0),
                             method="planted")
    return Attribution(modalities=("text", "audio", "video"), scores=scores,
                       baseline=np.zeros((n_steps, len(indices)), np.float32), times_s=np.arange(n_steps, dtype=float),
                       tr_s=1.0, indices=indices, space_id="fsaverage5", method="shapley", model_id="nforge-lite",
                       subject="average", hrf_offset_s=0.0, time_axis="bold", roi_attention=attention), v1, a1


def test_region_parts_follow_the_planted_split():
    space = get_space("fsaverage5")
    attribution, _, _ = _attribution(space)
    names, parts, shares = region_parts(attribution, space, ["V1", "A1"])
    assert names == ("V1", "A1") and shares.shape == parts.shape == (2, 3, 6)
    np.testing.assert_allclose(parts.sum(1), space.roi_time_series(attribution.prediction(), attribution.indices,
                                                                  names=["V1", "A1"])[1].T, rtol=1e-5)
    np.testing.assert_allclose(shares[0, 2], 1.0)  # V1: all video
    np.testing.assert_allclose(shares[1, 1], [1, 1, 1, 0, 0, 0])  # A1: audio, then text
    np.testing.assert_allclose(shares[1, 0], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(shares.sum(1), 1.0)


def test_payload_holds_the_layer_the_shares_and_the_heat_map():
    space = get_space("fsaverage5")
    attribution, v1, a1 = _attribution(space)
    words = [(0.5, 0.9, "hello"), (1.2, 1.6, "<b>world</b>")]
    meta, arrays = unpack_payload(attribution_payload(attribution, space, ["V1", "A1"], words=words))
    assert arrays["rgb"].shape == (6, 20484, 3) and arrays["selected"].sum() == len(v1) + len(a1)
    assert arrays["selected"][v1].all() and not arrays["selected"][np.setdiff1d(np.arange(20484), np.r_[v1, a1])].any()
    assert arrays["rgb"][0, v1].tolist() == [[0, 0, 255]] * len(v1)  # video: blue, the strongest: full
    assert arrays["rgb"][0, a1].tolist() == [[0, 128, 0]] * len(a1)  # audio at half the bound: half green
    assert arrays["rgb"][5, a1].tolist() == [[128, 0, 0]] * len(a1)
    assert meta["modalities"] == ["text", "audio", "video"] and meta["channels"] == [0, 1, 2]
    assert meta["regions"] == ["V1", "A1"] and arrays["shares"].shape == (2, 3, 6)
    attention = meta["attention"]
    assert attention["roi_names"] == ["V1", "A1"] and attention["words"][1] == [1.2, 1.6, "<b>world</b>"]
    np.testing.assert_allclose(arrays["attention"] * attention["scale"], 0.25, atol=0.25 / 127)
    assert len(attention["lut"]) == 768
    # without attention, no heat map part
    from dataclasses import replace

    meta, arrays = unpack_payload(attribution_payload(replace(attribution, roi_attention=None), space, ["V1"]))
    assert meta["attention"] is None and "attention" not in arrays and arrays["shares"].shape == (1, 3, 6)
