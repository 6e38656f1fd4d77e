"""The nforge-lite baseline: shapes, determinism, where and when it responds, selection, its card."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet
from nforge_app.features.lite import LiteAudioExtractor
from nforge_app.models import get_card, get_model_class
from nforge_app.models.lite import CHANNELS, LiteModel, hrf_peak_s, region_table
from nforge_app.spaces import get_space
from nforge_app.stimuli import AudioTrack, Stimulus

RATE = 16000


@pytest.fixture(scope="module")
def model():
    return LiteModel(Settings.from_env())


@pytest.fixture(scope="module")
def space():
    return get_space("fsaverage5")


def _features(duration_s: float, **arrays) -> FeatureSet:
    n = int(np.ceil(duration_s * 2 - 1e-9))
    return FeatureSet({m: a.astype(np.float32) for m, a in arrays.items()}, 2.0, n, duration_s)


def _stimulus(duration_s: float, **parts) -> Stimulus:
    return Stimulus(kind="video", source="<test>", content_hash="h", duration_s=duration_s, **parts)


def _random_features(duration_s: float, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    n = int(np.ceil(duration_s * 2 - 1e-9))
    return _features(duration_s, text=rng.random((1, 385, n)), audio=rng.random((1, 8, n)),
                     video=rng.random((1, 4, n)))


def _region_signal(prediction, space, region: str) -> np.ndarray:
    return prediction.data[:, space.select(region)].mean(axis=1)


def _sound_blocks(duration_s: float, on: list[tuple[float, float]]) -> Stimulus:
    samples = np.zeros(round(duration_s * RATE), dtype=np.float32)
    rng = np.random.default_rng(1)
    for start, stop in on:
        a, b = round(start * RATE), round(stop * RATE)
        samples[a:b] = 0.3 * rng.standard_normal(b - a)
    return Stimulus(kind="audio", source="<test>", content_hash="h", duration_s=duration_s,
                    audio=AudioTrack(samples, RATE))


def test_card_says_baseline_and_is_registered():
    card = get_card("nforge-lite")
    assert get_model_class("nforge-lite") is LiteModel
    assert card.baseline and card.weights == "embedded" and card.space_id == "fsaverage5"
    assert card.tr_s == 1.0 and card.time_axis == "bold" and card.hrf_offset_s == 0.0
    assert "NOT trained on fMRI" in card.description
    assert [e.modality for e in LiteModel(Settings.from_env()).extractors()] == ["text", "audio", "video"]


def test_region_table_names_glasser_regions(space):
    table = region_table()
    assert list(table) == [c.name for c in CHANNELS]
    for entry in table.values():
        assert set(entry["regions"]) <= set(space.roi_labels)


def test_prediction_shape_fields_and_determinism(model):
    features = _random_features(30.4)
    first = model.predict(features, _stimulus(30.4), "average", None)
    second = model.predict(features, _stimulus(30.4), None, None)
    assert first.data.shape == (31, 20484) and first.data.dtype == np.float32
    np.testing.assert_array_equal(first.times_s, np.arange(31.0))
    np.testing.assert_array_equal(first.indices, np.arange(20484))
    assert (first.space_id, first.subject, first.model_id, first.tr_s) == ("fsaverage5", "average", "nforge-lite", 1.0)
    assert first.metadata["baseline"] is True and len(first.metadata["channels"]) == len(CHANNELS)
    np.testing.assert_array_equal(first.data, second.data)
    assert np.isfinite(first.data).all() and np.abs(first.data).max() > 0


def test_index_selection_equals_slicing(model):
    features = _random_features(12.0, seed=3)
    full = model.predict(features, _stimulus(12.0), "average", None)
    indices = np.array([0, 5, 1000, 10241, 10242, 15000, 20483])
    part = model.predict(features, _stimulus(12.0), "average", indices)
    np.testing.assert_array_equal(part.indices, indices)
    np.testing.assert_allclose(part.data, full.data[:, indices], rtol=1e-6, atol=1e-7)


def test_audio_only_stimulus_drives_auditory_cortex_not_v1(model, space):
    stimulus = _sound_blocks(40.0, [(5.0, 10.0), (20.0, 25.0)])
    features = _features(40.0, audio=LiteAudioExtractor().extract(stimulus))
    prediction = model.predict(features, stimulus, "average", None)
    auditory, visual = _region_signal(prediction, space, "A1"), _region_signal(prediction, space, "V1")
    assert auditory.std() > 0.1 and visual.std() < 0.1 * auditory.std()
    assert prediction.metadata["channels"] == ["loudness", "spectral_flux", "mel_energy"]


def test_changing_luminance_drives_v1_more_than_auditory_cortex(model, space):
    n = 60
    video = np.zeros((1, 4, n))
    video[0, 0] = np.where((np.arange(n) // 10) % 2 == 0, 0.2, 0.8)  # 5-s blocks of dark and bright
    prediction = model.predict(_features(30.0, video=video), _stimulus(30.0), "average", None)
    visual, auditory = _region_signal(prediction, space, "V1"), _region_signal(prediction, space, "A1")
    assert visual.std() > 0.1 and auditory.std() < 0.1 * visual.std()


def test_response_peaks_about_five_seconds_after_a_sound(model, space):
    stimulus = _sound_blocks(30.0, [(10.0, 10.5)])
    features = _features(30.0, audio=LiteAudioExtractor().extract(stimulus))
    auditory = _region_signal(model.predict(features, stimulus, "average", None), space, "A1")
    lag_s = float(np.argmax(auditory)) - 10.0
    assert 4.0 <= lag_s <= 7.0


def test_text_channels_are_left_lateralised(model, space):
    n = 40
    text = np.zeros((1, 385, n))
    text[0, 0, n // 4: n // 2] = 1.0  # words from 5 to 10 s
    text[0, 384, n // 4: n // 2] = 2.0
    prediction = model.predict(_features(20.0, text=text), _stimulus(20.0), "average", None)
    sts = space.select("STSdp")
    left, right = sts[sts < space.n_lh], sts[sts >= space.n_lh]
    left_var, right_var = prediction.data[:, left].mean(axis=1).std(), prediction.data[:, right].mean(axis=1).std()
    assert left_var > right_var > 0


def test_rejects_other_subjects(model):
    with pytest.raises(UserInputError, match="average"):
        model.predict(_random_features(2.0), _stimulus(2.0), "sub-01", None)



def test_the_response_starts_from_rest_and_rises_after_the_delay(model, space):
    n = 60
    video = np.zeros((1, 4, n))
    video[0, 0] = np.where((np.arange(n) // 20) % 2 == 0, 0.8, 0.2)  # bright from the first step, 10-s blocks
    visual = _region_signal(model.predict(_features(30.0, video=video), _stimulus(30.0)), space, "V1")
    assert abs(visual[0]) < 1e-3 * np.abs(visual).max()  # no BOLD yet at t = 0 (the filter starts from rest)
    rising = np.abs(visual[:10])
    assert rising[:2].max() < 0.1 * rising.max() and 4 <= int(np.argmax(rising)) <= 9
    assert hrf_peak_s() == 5.5


def test_a_clip_shorter_than_the_hrf_peak_says_why_its_map_is_flat(model):
    short, longer = (model.predict(_random_features(seconds), _stimulus(seconds)) for seconds in (3.0, 20.0))
    assert "nearly flat" in short.metadata["note"] and "5.5 s" in short.metadata["note"]
    assert "flat" not in longer.metadata["note"] and "not trained on fMRI" in longer.metadata["note"]
    assert np.abs(short.data).max() < 0.1 * np.abs(longer.data).max()
