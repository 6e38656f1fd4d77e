"""The analysis panels' payload: the RGB layer, regions' shares over time, the heat map part; default regions."""

import numpy as np

from nforge_app.spaces import get_space
from nforge_app.values import Attribution, Prediction, RoiAttention
from nforge_app.viz import attribution_payload, default_regions, unpack_payload


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


def test_default_regions_are_the_strongest():
    space = get_space("fsaverage5")
    indices = np.concatenate([space.select(["V1"]), space.select(["A1"]), space.select(["MT"])])
    data = np.zeros((3, len(indices)), np.float32)
    v1, a1 = len(space.select(["V1"])), len(space.select(["A1"]))
    data[:, :v1], data[1, v1:v1 + a1], data[:, v1 + a1:] = 3.0, -5.0, 0.1
    prediction = Prediction(data=data, times_s=np.arange(3.0), tr_s=1.0, space_id="fsaverage5", indices=indices,
                            model_id="nforge-lite", subject="average", hrf_offset_s=0.0, time_axis="bold")
    assert set(default_regions(prediction, space, n=2)) == {"V1", "A1"}
    assert len(default_regions(prediction, space)) == 3


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
    shares = arrays["shares"]
    np.testing.assert_allclose(shares[0, 2], 1.0)  # V1: all video
    np.testing.assert_allclose(shares[1, 1], [1, 1, 1, 0, 0, 0])  # A1: audio (negative parts count), then text
    np.testing.assert_allclose(shares[1, 0], [0, 0, 0, 1, 1, 1])
    attention = meta["attention"]
    assert attention["roi_names"] == ["V1", "A1"] and attention["words"][1] == [1.2, 1.6, "<b>world</b>"]
    np.testing.assert_allclose(arrays["attention"] * attention["scale"], 0.25, atol=0.25 / 127)
    assert len(attention["lut"]) == 768
    # without attention, no heat map part
    from dataclasses import replace

    meta, arrays = unpack_payload(attribution_payload(replace(attribution, roi_attention=None), space, ["V1"]))
    assert meta["attention"] is None and "attention" not in arrays and arrays["shares"].shape == (1, 3, 6)
