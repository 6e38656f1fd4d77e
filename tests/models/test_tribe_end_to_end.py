"""TRIBE v2 from a generated video with speech to a (T, 20484) prediction, through the engine, on tiny models.

The release folder has the real structure (config.yaml with its python tags, best.ckpt with 'model.' keys);
its extractor model names point at tiny random Llama / w2v-BERT / V-JEPA2 models saved to folders, which
load through the same code as the hub ids.
"""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.engine import Engine

from _media import make_video
from _releases import small_config, write_tribe_release
from _tiny_models import HIDDEN, save_tiny_llama, save_tiny_vjepa2, save_tiny_w2v_bert

BUILD_ARGS = {"feature_dims": {"text": (2, HIDDEN), "audio": (2, HIDDEN), "video": (2, HIDDEN)},
              "n_outputs": 20484, "n_output_timesteps": 100}


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("tiny")
    text = small_config()
    for hub_id, path in (("meta-llama/Llama-3.2-3B", save_tiny_llama(models / "llama")),
                         ("facebook/w2v-bert-2.0", save_tiny_w2v_bert(models / "w2v")),
                         ("facebook/vjepa2-vitg-fpc64-256", save_tiny_vjepa2(models / "vjepa2"))):
        text = text.replace(hub_id, str(path))
    root = tmp_path_factory.mktemp("weights")
    write_tribe_release(root / "tribe-v2", text, BUILD_ARGS)
    return root


@pytest.mark.slow
def test_video_with_speech_to_a_surface_prediction(weights_dir, tmp_path):
    clip = make_video(tmp_path / "talk.mp4", 6.5, text="the quick brown fox jumps over the lazy dog")
    (tmp_path / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:03,000\nthe quick brown fox\n\n"
                                       "2\n00:00:03,500 --> 00:00:06,000\njumps over the lazy dog\n", encoding="utf-8")
    engine = Engine(Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=weights_dir), device="cpu")
    stages = []
    pred = engine.predict(clip, "fmri-dascoli_2026-tribe_v2", progress=lambda f, s: stages.append(s))
    assert pred.model_id == "tribe-v2" and pred.data.shape == (7, 20484) and np.isfinite(pred.data).all()
    assert pred.time_axis == "stimulus" and pred.hrf_offset_s == 5.0 and "shifted back 5 s" in pred.time_label
    assert {"text features", "audio features", "video features"} <= set(stages)
    features = list((tmp_path / "cache" / "features").rglob("*.npy"))
    assert {p.parts[-3] for p in features} == {"tribev2-text", "tribev2-audio", "tribev2-video"}
    # computed with the selection applied before the predictor (fresh caches), it matches the full prediction
    fresh = Engine(Settings.from_env(cache_dir=tmp_path / "other", weights_dir=weights_dir), device="cpu")
    sub = fresh.predict(clip, "tribe-v2", roi=["V1", "A1"])
    assert sub.data.shape == (7, fresh.select("tribe-v2", ["V1", "A1"]).size)
    np.testing.assert_allclose(sub.data, pred.data[:, sub.indices], rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_tribe_card_example_runs_as_written(weights_dir, tmp_path, monkeypatch):
    from nforge_app.api import BERG

    monkeypatch.setenv("NFORGE_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("NFORGE_CACHE_DIR", str(tmp_path / "cache"))
    stimulus = str(make_video(tmp_path / "video.mp4", 3.0, text="hello there"))
    berg = BERG(berg_dir="path/to/brain-encoding-response-generator")
    vertex_mask = np.zeros(20484, dtype=int)
    vertex_mask[100:200] = 1
    model = berg.get_encoding_model("fmri-dascoli_2026-tribe_v2",
                                    selection={"roi": ["V1", "V2", "FFC"], "vertices": vertex_mask})
    responses = berg.encode(model, stimulus, show_progress=True)
    n_selected = len(set(range(100, 200)) | set(model.engine.select("tribe-v2", ["V1", "V2", "FFC"])))
    assert responses.shape == (3, n_selected)
    responses, metadata = berg.encode(model, stimulus, return_metadata=True)
    assert metadata["fmri"]["n_vertices"] == 20484 and metadata["fmri"]["output_frequency_hz"] == 1.0
    metadata = berg.get_model_metadata("fmri-multi_study-tribe_v2")
    assert metadata["roi"]["roi_labels"].shape == (180,) and metadata["fmri"]["subject_id"] == "average"
