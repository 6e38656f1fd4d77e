"""Engine.attribute: cached like predictions (memory and disk, atomic), ROI temporal attention with regions,
clear refusals before any work."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.export import load_attribution

from _media import make_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("attr-engine") / "clip.mp4", 12.0, audio="tone")


def _engine(tmp_path) -> Engine:
    return Engine(Settings(cache_dir=tmp_path / "cache"), device="cpu")


def test_cached_in_memory_and_on_disk_keyed_by_method_and_selection(tmp_path, clip):
    engine = _engine(tmp_path)
    first = engine.attribute(clip)
    assert engine.attribute(clip) is first  # memory
    files = list((tmp_path / "cache" / "attributions").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "cache" / "attributions").glob("*.tmp*"))
    again = _engine(tmp_path).attribute(clip)  # a fresh engine reads the disk cache
    np.testing.assert_array_equal(again.scores, first.scores)
    assert again.modalities == first.modalities and again.method == "shapley"
    assert again.metadata["stimulus"]["source"] == "clip.mp4"
    prediction = engine.predict(clip)
    np.testing.assert_allclose(first.prediction(), prediction.data, atol=1e-6)
    ablation = engine.attribute(clip, method="ablation")
    selected = engine.attribute(clip, roi=["V1"])
    assert ablation.method == "ablation" and selected.scores.shape[2] < first.scores.shape[2]
    assert len(list((tmp_path / "cache" / "attributions").glob("*.npz"))) == 3
    fresh = engine.attribute(clip, use_cache=False)
    assert fresh is not first and np.array_equal(fresh.scores, first.scores)


def test_regions_bring_roi_temporal_attention(tmp_path, clip):
    engine = _engine(tmp_path)
    attribution = engine.attribute(clip, roi=["A1", "V1"])
    attention = attribution.roi_attention
    assert attention is not None and attention.roi_names == ("A1", "V1")
    assert attention.attention.shape[:2] == (2, len(attribution.times_s))
    path = next((tmp_path / "cache" / "attributions").glob("*.npz"))
    loaded = load_attribution(path)
    assert loaded.roi_attention.roi_names == ("A1", "V1")
    np.testing.assert_array_equal(loaded.roi_attention.attention, attention.attention)
    with np.load(path) as npz:
        assert {"roi_names", "attention", "stimulus_times_s", "modalities", "scores", "baseline", "times_s",
                "indices", "method"} <= set(npz.files)


def test_bad_input_is_refused_before_any_work(tmp_path, clip):
    engine = _engine(tmp_path)
    for kwargs, match in ((dict(method="saliency"), "shapley, integrated-gradients, ablation"),
                          (dict(steps=1), "from 2 to 512"), (dict(steps=1000), "from 2 to 512"),
                          (dict(model="text2fmri"), "reads text only"),
                          (dict(roi=["NoSuchRegion"]), "NoSuchRegion")):
        with pytest.raises(UserInputError, match=match):
            engine.attribute(clip, **kwargs)
    assert not (tmp_path / "cache" / "attributions").exists()
    with pytest.raises(UserInputError, match="no text"):
        engine.attribute(clip, modalities=["text"])
    assert not list((tmp_path / "cache" / "attributions").glob("*"))


def test_a_failed_write_leaves_nothing_half_written(tmp_path, clip, monkeypatch):
    engine = _engine(tmp_path)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        engine.attribute(clip)
    assert not list((tmp_path / "cache" / "attributions").glob("*"))
    monkeypatch.undo()
    assert engine.attribute(clip).method == "shapley"  # nothing half-written is served
