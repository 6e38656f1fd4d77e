"""An in-silico experiment on a stimulus-time model (TRIBE v2, tiny random weights): a sequence of videos and
spoken text goes through its three extractors, and the GLM puts its rows back on the BOLD clock."""

from __future__ import annotations

import numpy as np
import pytest
from test_tribe_end_to_end import weights_dir  # noqa: F401 (the fixture)

from nforge_app.analysis import block_design, contrast
from nforge_app.config import Settings
from nforge_app.engine import Engine

from _media import make_video


@pytest.mark.slow
def test_a_block_contrast_runs_on_tribe_with_its_offset(weights_dir, tmp_path):  # noqa: F811
    videos = [make_video(tmp_path / f"clip{i}.mp4", 2.0, size=(96, 72), text=text)
              for i, text in enumerate(("hello there", "good morning"))]
    texts = []
    for i, sentence in enumerate(("The cat sat.", "A dog ran.")):
        texts.append(tmp_path / f"line{i}.txt")
        texts[-1].write_text(sentence, encoding="utf-8")
    engine = Engine(Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=weights_dir), device="cpu")
    design = block_design(videos, texts, names=("video", "text"), rest_s=2.0, settings=engine.settings)
    assert design.stimulus.modalities == ("text", "audio", "video")
    result = contrast(videos, texts, engine=engine, model="tribe-v2", names=("video", "text"), rest_s=2.0,
                      roi=["V1", "A1"])
    prediction = engine.predict(design.stimulus, "tribe-v2", roi=["V1", "A1"])
    assert prediction.time_axis == "stimulus" and prediction.hrf_offset_s == 5.0
    np.testing.assert_allclose(result.frame_times_s, prediction.times_s + 5.0)
    assert "t + 5 s" in result.metadata["time_axis_handling"]
    assert result.n_permutations == 6 and result.smallest_p == pytest.approx(2 / 6)
    assert np.isfinite(result.effect).all() and np.isfinite(result.t).all()
    assert np.all(result.p_corrected >= 2 / 6)
