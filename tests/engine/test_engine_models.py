"""Every registered model behind the same engine call, with local weights from NFORGE_WEIGHTS_DIR."""

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import ModelUnavailableError, UserInputError

from _media import make_audio
from _releases import write_flow_release
from _tiny_models import save_tiny_qwen2, save_tiny_text2fmri


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    save_tiny_text2fmri(root / "text2fmri", save_tiny_qwen2(tmp_path_factory.mktemp("qwen")))
    write_flow_release(root / "flow-matching")
    return root


@pytest.fixture()
def engine(tmp_path, weights_dir):
    return Engine(Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=weights_dir), device="cpu")


def test_text2fmri_with_per_tr_text_and_network_selection(engine):
    pred = engine.predict(["Hello, are you", "awake? Yes,", "", "I am here."], "fmri-cneuromod_algo2025-text2fmri",
                          subject=2, roi=["Default"])
    assert pred.model_id == "text2fmri" and pred.subject == "2" and pred.tr_s == 1.49
    assert pred.data.shape == (4, int(engine.select("text2fmri", "Default").size))
    np.testing.assert_allclose(pred.times_s, np.arange(4) * 1.49)


def test_flow_matching_from_an_audio_file_gives_mean_and_spread(engine, tmp_path):
    clip = make_audio(tmp_path / "talk.wav", 6.0)
    pred = engine.predict(clip, "flow-matching", subject=3, roi="Vis", n_samples=3, n_steps=4)
    assert pred.space_id == "schaefer1000" and pred.spread is not None and pred.spread.shape == pred.data.shape
    assert pred.data.shape[0] == int(np.ceil(6.0 / 1.49)) and (pred.spread > 0).all()
    again = engine.predict(clip, "flow-matching", subject=3, roi="Vis", n_samples=3, n_steps=4)
    np.testing.assert_array_equal(again.spread, pred.spread)


@pytest.mark.parametrize(("model", "subject", "expected"), [
    ("text2fmri", "sub-01", 1), ("text2fmri", "02", 2), ("text2fmri", None, 1), ("flow-matching", "sub-05", 5),
    ("flow-matching", 3, 3), ("fmri-cneuromod_algo2025-text2fmri", "sub-3", 3),
])
def test_the_engine_reads_sub_01_style_subjects(engine, model, subject, expected):
    assert engine.check_subject(model, subject) == expected


def test_sub_01_style_subjects_predict_through_the_engine(engine, tmp_path):
    text = engine.predict(["Hello, are you", "awake? Yes,", "", "I am here."], "text2fmri", subject="sub-01",
                          roi="Vis")
    assert text.subject == "1"
    clip = make_audio(tmp_path / "talk.wav", 3.0)
    assert engine.predict(clip, "flow-matching", subject="sub-05", roi="Vis", n_samples=1, n_steps=1).subject == "5"
    with pytest.raises(UserInputError, match="not valid for flow-matching; accepted: 1, 2, 3, 5"):
        engine.predict(clip, "flow-matching", subject="sub-04")


def test_tribe_without_weights_says_how_to_get_them(tmp_path):
    engine = Engine(Settings.from_env(cache_dir=tmp_path / "cache"), device="cpu")
    with pytest.raises(ModelUnavailableError, match="nforge-lite"):
        engine.load_model("tribe-v2")


def test_weights_replaced_in_place_are_not_served_from_the_cache(tmp_path, weights_dir):
    import shutil

    local = tmp_path / "weights"
    shutil.copytree(weights_dir / "flow-matching", local / "flow-matching")
    engine = Engine(Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=local), device="cpu")
    clip = make_audio(tmp_path / "talk.wav", 4.0)
    before = engine.predict(clip, "flow-matching", n_samples=2, n_steps=2)
    write_flow_release(local / "flow-matching", seed=1)
    engine.unload()
    after = engine.predict(clip, "flow-matching", n_samples=2, n_steps=2)
    assert not np.allclose(before.data, after.data)
