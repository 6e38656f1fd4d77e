"""Engine.roi_attention: Text2fMRI's ROI temporal attention (which TRs' text drove each region), cached."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.export import load_roi_attention

from _tiny_models import save_tiny_qwen2, save_tiny_text2fmri

TEXT = ["Hello, are you", "awake? Yes,", "", "I am here."]


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    save_tiny_text2fmri(root / "text2fmri", save_tiny_qwen2(tmp_path_factory.mktemp("qwen")))
    return root


def _engine(tmp_path, weights_dir) -> Engine:
    return Engine(Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=weights_dir), device="cpu")


def test_text2fmri_attention_is_cached_and_a_tr_without_words_gets_no_share(tmp_path, weights_dir):
    engine = _engine(tmp_path, weights_dir)
    stages = []
    first = engine.roi_attention(TEXT, "text2fmri", roi=["Vis", "Default"], progress=lambda f, s: stages.append(s))
    assert first.roi_names == ("Vis", "Default") and first.attention.shape == (2, 4, 4)
    np.testing.assert_allclose(first.stimulus_times_s, np.arange(4) * 1.49)
    np.testing.assert_array_equal(first.attention[:, :, 2], 0.0)  # TR 2 has no words: occluding it changes nothing
    assert np.abs(first.attention[:, :, [0, 1, 3]]).sum() > 0
    np.testing.assert_allclose(np.abs(first.attention).sum(-1), 1.0, atol=1e-5)
    assert "occlusion" in first.method and first.metadata["model_id"] == "text2fmri"
    assert stages[-1] == "done"
    stages.clear()
    again = engine.roi_attention(TEXT, "text2fmri", roi=["Vis", "Default"], progress=lambda f, s: stages.append(s))
    assert stages == ["cached"] and again is first
    files = list((tmp_path / "cache" / "attributions").glob("*.npz"))
    assert len(files) == 1
    np.testing.assert_array_equal(load_roi_attention(files[0]).attention, first.attention)
    fresh = _engine(tmp_path, weights_dir)  # a new engine reads the disk cache
    stages.clear()
    disk = fresh.roi_attention(TEXT, "text2fmri", roi=["Vis", "Default"], progress=lambda f, s: stages.append(s))
    assert stages == ["cached"]
    np.testing.assert_array_equal(disk.attention, first.attention)
    assert disk.method == first.method and disk.metadata["subject"] == "1"


def test_regions_are_required_and_checked(tmp_path, weights_dir):
    engine = _engine(tmp_path, weights_dir)
    with pytest.raises(UserInputError, match="needs regions"):
        engine.roi_attention(TEXT, "text2fmri", roi=[])
    with pytest.raises(UserInputError, match="NotARegion"):
        engine.roi_attention(TEXT, "text2fmri", roi=["NotARegion"])
    with pytest.raises(UserInputError, match="reads text only"):
        engine.attribute(TEXT, "text2fmri", roi=["Vis"])
