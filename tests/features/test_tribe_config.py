"""extractors_from_config: what the TRIBE v2 release config sets, and what it must not (devices)."""

import copy
import logging
from pathlib import Path

import pytest

from nforge_app.errors import UserInputError
from nforge_app.features.tribe import (
    TribeAudioExtractor,
    TribeTextExtractor,
    TribeVideoExtractor,
    extractors_from_config,
)

SPEC_CONFIG = Path(__file__).resolve().parents[1] / "data" / "tribev2_config.yaml"


@pytest.fixture(scope="module")
def release_config():
    from nforge_app.models._tribe_release import load_config

    return load_config(SPEC_CONFIG)


def test_the_release_config_gives_the_three_extractors_as_released(release_config):
    text, audio, video = extractors_from_config(release_config)
    assert isinstance(text, TribeTextExtractor) and isinstance(audio, TribeAudioExtractor)
    assert isinstance(video, TribeVideoExtractor)
    assert (text.model, audio.model, video.model) == (
        "meta-llama/Llama-3.2-3B", "facebook/w2v-bert-2.0", "facebook/vjepa2-vitg-fpc64-256")
    assert text.layers == audio.layers == video.layers == (0.5, 0.75, 1.0)
    assert text.cache_n_layers == 20 and video.cache_n_layers == 20
    assert audio.cache_n_layers is None  # set in the config, but the audio extractor never sub-selects
    assert text.batch_size == 4 and text.max_context_words == 1024 and text.reference_batching
    assert video.batch_size == 32 and video.clip_duration_s == 4.0 and video.frames_per_clip is None
    assert (audio.chunk_min_s, audio.chunk_max_s) == (video.chunk_min_s, video.chunk_max_s) == (30.0, 60.0)
    assert audio.normalize_waveform and all(e.rate_hz == 2.0 and e.device == "cpu" for e in (text, audio, video))


def test_model_paths_device_dtype_and_low_mem_use_are_passed_on(release_config):
    extractors = extractors_from_config(release_config, device="cpu", dtype="bf16", low_mem_use=True,
                                        model_paths={"audio": "/models/w2v"})
    assert [e.model for e in extractors][1] == "/models/w2v"
    assert all(e.low_mem_use and e.params()["dtype"] == "bfloat16" for e in extractors)
    assert extractors[2].batch_size == 32
    assert extractors_from_config(release_config, video_batch_size=4)[2].batch_size == 4
    with pytest.raises(UserInputError, match="unknown: 'speech'; accepted: text, audio, video"):
        extractors_from_config(release_config, model_paths={"speech": "x"})


def test_params_name_every_setting_of_the_numbers(release_config):
    text, audio, video = extractors_from_config(release_config)
    assert {"model", "layers", "cache_n_layers", "dtype", "batch_size", "max_context_words",
            "reference_batching"} <= set(text.params())
    assert audio.params()["chunk_s"] == [30.0, 60.0] and video.params()["clip_duration_s"] == 4.0
    assert len({text.extractor_id, audio.extractor_id, video.extractor_id}) == 3


def test_a_config_pinning_cuda_runs_on_the_cpu_asked_for_and_says_so(release_config, caplog):
    config = copy.deepcopy(release_config)
    config["data"]["text_feature"]["device"] = "cuda"
    config["data"]["video_feature"]["image"]["device"] = "cuda"
    with caplog.at_level(logging.INFO, logger="nforge_app.features.tribe"):
        extractors = extractors_from_config(config, device="cpu")
    assert all(e.device == "cpu" for e in extractors)
    assert "pins the text extractor to cuda" in caplog.text and "pins the video extractor" in caplog.text


def test_features_to_use_picks_and_orders_the_extractors(release_config):
    config = copy.deepcopy(release_config)
    config["data"]["features_to_use"] = ["audio", "text"]
    assert [e.modality for e in extractors_from_config(config)] == ["audio", "text"]
    config["data"]["features_to_use"] = ["smell"]
    with pytest.raises(UserInputError, match="features_to_use"):
        extractors_from_config(config)


def test_other_settings_of_the_config_are_read(release_config):
    config = copy.deepcopy(release_config)
    config["data"]["text_feature"].update(cache_n_layers=None, batch_size=8, layers=[0.25, 1.0])
    config["data"]["study"]["transforms"]["addcontext"]["max_context_len"] = 64
    config["data"]["study"]["transforms"]["chunkvideos"]["max_duration"] = 90.0
    text, _, video = extractors_from_config(config)
    assert (text.cache_n_layers, text.batch_size, text.layers, text.max_context_words) == (None, 8, (0.25, 1.0), 64)
    assert video.chunk_max_s == 90.0


def test_unsupported_or_missing_sections_are_user_errors(release_config):
    config = copy.deepcopy(release_config)
    config["data"]["audio_feature"]["layer_aggregation"] = "mean"
    with pytest.raises(UserInputError, match="group_mean"):
        extractors_from_config(config)
    del config["data"]["video_feature"]
    with pytest.raises(UserInputError, match="data.video_feature"):
        extractors_from_config(config)
