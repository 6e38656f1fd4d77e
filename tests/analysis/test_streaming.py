"""StreamingPredictor: its rows are the offline prediction of the stimulus so far, and in the end of all of it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nforge_app.analysis import StreamingPredictor
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet
from nforge_app.stimuli import load_stimulus

from _media import make_audio


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(Settings.from_env(cache_dir=tmp_path_factory.mktemp("stream-cache")), device="cpu")


@pytest.fixture(scope="module")
def speech(engine, tmp_path_factory):
    path = make_audio(tmp_path_factory.mktemp("stream") / "talk.wav", 23.3,
                      text="one two three, a quiet voice reads numbers and words to the microphone")
    return load_stimulus(path, engine.settings)


def _relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def _stream(engine, samples, sizes, **kwargs):
    stream = StreamingPredictor(engine, "nforge-lite", **kwargs)
    rows, start, i = [], 0, 0
    while start < len(samples):
        size = sizes[i % len(sizes)]
        out = stream.push_audio(samples[start:start + size])
        rows += [] if out is None else [out]
        start, i = start + size, i + 1
    out = stream.finish()
    return stream, rows + ([] if out is None else [out])


@pytest.mark.parametrize("sizes", [[1600], [16000], [777, 12345, 4000, 30000]])
def test_lite_stream_equals_the_offline_prediction(engine, speech, sizes):
    offline = engine.predict(speech, "nforge-lite")
    stream, rows = _stream(engine, speech.audio.samples.reshape(-1), sizes)
    final = stream.prediction()
    assert final.data.shape == offline.data.shape == (24, 20484)
    assert _relative(final.data, offline.data) <= 1e-5
    np.testing.assert_array_equal(final.times_s, offline.times_s)
    emitted = np.concatenate([r.data for r in rows])
    assert emitted.shape == offline.data.shape
    assert np.array_equal(np.concatenate([r.times_s for r in rows]), offline.times_s)
    # each emitted row is the offline prediction of the stimulus cut at that row's end (its statistics so far)
    model = engine.load_model("nforge-lite")
    features = engine.extract_features(model, speech)
    for row in (3, 10, 22):
        n = 2 * (row + 1)
        cut = FeatureSet({m: a[..., :n] for m, a in features.features.items()}, rate_hz=2.0, n_steps=n,
                         duration_s=n / 2)
        expected = model.predict(cut, dataclasses.replace(speech, duration_s=n / 2), None, None).data[row]
        assert _relative(emitted[row], expected) <= 1e-5
    assert _relative(emitted[-1], offline.data[-1]) <= 1e-5  # the last row: the whole stimulus
    assert len(stream.latency_s) == len(rows)


def test_a_row_waits_for_its_inputs_and_the_roi_is_kept(engine, speech):
    samples = speech.audio.samples.reshape(-1)
    stream = StreamingPredictor(engine, "nforge-lite", roi=["A1"])
    assert stream.push_audio(samples[:16000]) is None  # 1 s in, but the last frame reads 16 ms past it
    rows = stream.push_audio(samples[16000:16000 + 256])
    assert rows is not None and rows.data.shape == (1, len(engine.select("nforge-lite", "A1")))
    assert stream.push_audio(samples[16256:20000]) is None
    stream.finish()
    with pytest.raises(UserInputError, match="finished"):
        stream.push_audio(samples[:100])


def test_tribe_windows_rerun_the_encoder_and_end_as_offline(tmp_path):
    from nforge_app.models.tribe import TribeModel
    from nforge_app.stimuli import Stimulus

    from _releases import SMALL_BUILD_ARGS, write_tribe_release

    model = TribeModel(Settings.from_env(cache_dir=tmp_path), variant=str(write_tribe_release(tmp_path / "t", seed=2)),
                       device="cpu", fast=False)
    model.load()
    n = 2 * 230
    rng = np.random.default_rng(0)
    arrays = {m: rng.standard_normal((*dims, n)).astype(np.float32)
              for m, dims in SMALL_BUILD_ARGS["feature_dims"].items()}

    def offline(steps):
        features = FeatureSet({m: a[..., :steps] for m, a in arrays.items()}, rate_hz=2.0, n_steps=steps,
                              duration_s=steps / 2)
        return model.predict(features, Stimulus(kind="video", source="x", content_hash="x", duration_s=steps / 2))

    stream = StreamingPredictor(model)
    rows, start = [], 0
    for size in (30, 170, 64, 136, 60):  # ends at 50, 100, 132, 200 and 230 s
        out = stream.push_features({m: a[..., start:start + size] for m, a in arrays.items()})
        assert out is not None
        rows.append(out)
        cut = offline(start + size)  # what the stream has seen: the stimulus cut there
        assert _relative(out.data, cut.data[round(out.times_s[0]):]) <= 1e-5
        start += size
    stream.finish()
    full = offline(n)
    assert _relative(stream.prediction().data, full.data) <= 1e-5
    emitted = np.concatenate([r.data for r in rows])
    assert _relative(emitted[132:200], full.data[132:200]) <= 1e-5  # emitted once their window was complete
    assert stream.prediction().time_axis == "stimulus"
