"""The attribution npz (round trip with every optional field, refusals), the RGB colours and the region table."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.export import (
    export_attribution,
    is_attribution_npz,
    is_evaluation_npz,
    load_attribution,
    load_npz,
    save_attribution,
)
from nforge_app.spaces import get_space
from nforge_app.values import Attribution, RoiAttention
from nforge_app.viz import attribution_rgb, roi_modality_scores


def _attribution(with_attention: bool = True, n_outputs: int = 20484) -> Attribution:
    rng = np.random.default_rng(0)
    t = 4
    indices = np.arange(n_outputs)
    scores = rng.standard_normal((3, t, n_outputs)).astype(np.float32)
    attention = None
    if with_attention:
        attention = RoiAttention(
            roi_names=("A1", "V1"), attention=rng.standard_normal((2, t, 5)).astype(np.float32),
            times_s=np.arange(t, dtype=float), stimulus_times_s=np.arange(5) * 1.0, method="exact",
            modalities=("audio", "video"), by_modality=rng.standard_normal((2, 2, t, 5)).astype(np.float32),
            rollout=rng.random((t, 5)).astype(np.float32), metadata={"chunk_s": 1.0})
    return Attribution(modalities=("text", "audio", "video"), scores=scores,
                       baseline=rng.standard_normal((t, n_outputs)).astype(np.float32),
                       times_s=np.arange(t, dtype=float), tr_s=1.0, indices=indices, space_id="fsaverage5",
                       method="integrated-gradients", model_id="tribe-v2", subject="average", hrf_offset_s=5.0,
                       time_axis="stimulus", completeness_error=0.004, roi_attention=attention,
                       metadata={"steps": 32, "absent_modality": "zeros after the projector"})


@pytest.mark.parametrize("with_attention", [True, False])
def test_round_trip(tmp_path, with_attention):
    original = _attribution(with_attention)
    path = tmp_path / "a.npz"
    save_attribution(original, path)
    assert is_attribution_npz(path) and not is_evaluation_npz(path)
    loaded = load_attribution(path)
    for name in ("scores", "baseline", "times_s", "indices"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(original, name))
    assert loaded.modalities == original.modalities and loaded.method == "integrated-gradients"
    assert (loaded.tr_s, loaded.hrf_offset_s, loaded.time_axis) == (1.0, 5.0, "stimulus")
    assert loaded.completeness_error == pytest.approx(0.004) and loaded.metadata["steps"] == 32
    if with_attention:
        a, b = loaded.roi_attention, original.roi_attention
        assert a.roi_names == b.roi_names and a.modalities == b.modalities and a.metadata == b.metadata
        for name in ("attention", "by_modality", "rollout", "stimulus_times_s", "times_s"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    else:
        assert loaded.roi_attention is None
        with np.load(path) as npz:
            assert "roi_names" not in npz.files


def test_refusals(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        load_attribution(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", data=np.zeros(3))
    with pytest.raises(UserInputError, match="not an NForge attribution: it lacks kind"):
        load_attribution(tmp_path / "other.npz")
    path = tmp_path / "a.npz"
    save_attribution(_attribution(False), path)
    with pytest.raises(UserInputError, match="NForge prediction"):
        load_npz(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserInputError, match="NForge attribution"):
        load_attribution(path)


def test_rgb_puts_text_on_red_audio_on_green_video_on_blue():
    scores = np.zeros((3, 1, 5), np.float32)
    scores[0, 0, 0] = 2.0  # text only
    scores[1, 0, 1] = -2.0  # audio only (a negative part is as bright)
    scores[2, 0, 2] = 2.0  # video only
    scores[:2, 0, 3] = 1.0  # text and audio alike: yellow
    rgb, scale = attribution_rgb(scores, ("text", "audio", "video"), scale=2.0)
    np.testing.assert_allclose(rgb[0, :4], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(rgb[0, 4], 0)  # nothing explained: black (drawn as anatomy)
    half, _ = attribution_rgb(scores * 0.5, ("text", "audio", "video"), scale=2.0)
    np.testing.assert_allclose(half[0, 0], [0.5, 0, 0])  # brightness is the magnitude
    streams, _ = attribution_rgb(scores[:2], ("audio", "video"), scale=2.0)
    np.testing.assert_allclose(streams[0, 0], [0, 1, 0])


def test_region_table_and_export(tmp_path):
    attribution = _attribution()
    regions, scores, shares = roi_modality_scores(attribution)
    assert regions == ("A1", "V1") and scores.shape == (3, 4, 2)
    a1 = get_space("fsaverage5").select(roi=["A1"])
    np.testing.assert_allclose(scores[:, :, 0], attribution.scores[:, :, a1].mean(axis=2), rtol=1e-5)
    np.testing.assert_allclose(shares.sum(axis=0), 1.0, rtol=1e-5)
    files, notes = export_attribution(attribution, ["npz", "csv", "png"], tmp_path / "out" / "a", size_px=120)
    assert [f.name for f in files] == ["a.npz", "a.csv", "a.png"] and not notes
    with pytest.raises(UserInputError, match="accepted: npz, png, gif, csv"):
        export_attribution(attribution, ["mp4"], tmp_path / "b")
    assert not list(tmp_path.glob("b*"))
