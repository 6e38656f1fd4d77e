"""The TRIBE v2 quick start runs as written on a local release with random weights (tiny feature models)."""

from __future__ import annotations

import numpy as np
import pytest

from _media import make_audio
from _releases import small_config, write_tribe_release
from _tiny_models import HIDDEN, save_tiny_llama, save_tiny_vjepa2, save_tiny_w2v_bert

BUILD_ARGS = {"feature_dims": {"text": (2, HIDDEN), "audio": (2, HIDDEN), "video": (2, HIDDEN)},
              "n_outputs": 20484, "n_output_timesteps": 100}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    models = tmp_path_factory.mktemp("tiny")
    text = small_config()
    for hub_id, path in (("meta-llama/Llama-3.2-3B", save_tiny_llama(models / "llama")),
                         ("facebook/w2v-bert-2.0", save_tiny_w2v_bert(models / "w2v")),
                         ("facebook/vjepa2-vitg-fpc64-256", save_tiny_vjepa2(models / "vjepa2"))):
        text = text.replace(hub_id, str(path))
    return write_tribe_release(tmp_path_factory.mktemp("release") / "tribe-v2", text, BUILD_ARGS)


@pytest.fixture()
def clip(tmp_path):
    audio = make_audio(tmp_path / "talk.wav", 4.5)
    (tmp_path / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nthe quick brown\n\n"
                                       "2\n00:00:02,500 --> 00:00:04,000\nfox jumps\n", encoding="utf-8")
    return audio


def test_quick_start_as_written(release, clip, tmp_path):
    from nforge_app.compat.tribev2 import TribeModel

    model = TribeModel.from_pretrained(str(release), cache_folder=tmp_path / "cache")
    df = model.get_events_dataframe(audio_path=clip)
    assert list(df.columns) == ["type", "start", "duration", "text", "filepath"]
    assert df["type"].iloc[0] == "Audio" and df["filepath"].iloc[0] == str(clip)
    words = df[df["type"] == "Word"]
    assert list(words["text"]) == ["the", "quick", "brown", "fox", "jumps"]
    assert words["start"].iloc[0] == pytest.approx(0.5) and (np.diff(words["start"]) > 0).all()
    preds, segments = model.predict(events=df)
    assert preds.shape == (5, 20484) and preds.dtype == np.float32 and np.isfinite(preds).all()
    assert [s.start for s in segments] == [0.0, 1.0, 2.0, 3.0, 4.0] and segments[0].offset_s == 5.0
    # the same numbers as the engine gives for the file, float32 by default
    from nforge_app.config import Settings
    from nforge_app.engine import Engine

    direct = Engine(Settings.from_env(cache_dir=tmp_path / "other"), device="cpu").predict(
        str(clip), "tribe-v2", variant=str(release))
    np.testing.assert_allclose(preds, direct.data, rtol=1e-5, atol=1e-5)
    assert direct.metadata["precision"] == "fp32"
    # an edited transcript changes the text features, hence the prediction
    edited = df.copy()
    edited.loc[edited["text"] == "fox", "text"] = "dog"
    assert not np.allclose(model.predict(events=edited)[0], preds)


def test_one_path_is_asked_for(release, tmp_path):
    from nforge_app.compat.tribev2 import TribeModel
    from nforge_app.errors import UserInputError

    model = TribeModel.from_pretrained(str(release), cache_folder=tmp_path / "cache")
    with pytest.raises(UserInputError, match="exactly one of video_path, audio_path and text_path"):
        model.get_events_dataframe()


def test_quick_start_with_a_text_file(release, tmp_path):
    from nforge_app.compat.tribev2 import TribeModel

    story = tmp_path / "story.txt"
    story.write_text("The fox jumps over the lazy dog.", encoding="utf-8")
    model = TribeModel.from_pretrained(str(release), cache_folder=tmp_path / "cache")
    df = model.get_events_dataframe(text_path=story)
    assert df["type"].iloc[0] == "Text" and list(df[df["type"] == "Word"]["text"])[:2] == ["The", "fox"]
    preds, segments = model.predict(events=df)
    assert preds.shape == (len(segments), 20484) and len(segments) >= 1 and np.isfinite(preds).all()
