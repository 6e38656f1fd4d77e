import threading

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError

from _media import make_audio, make_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", 8.0, text="the quick brown fox jumps over the dog")


@pytest.fixture()
def engine(tmp_path):
    return Engine(Settings.from_env(cache_dir=tmp_path / "cache"), device="cpu")


def test_lite_end_to_end_and_cache(engine, clip):
    stages = []
    pred = engine.predict(clip, "nforge-lite", progress=lambda f, s: stages.append((f, s)))
    assert pred.data.shape == (8, 20484) and pred.data.dtype == np.float32
    assert pred.model_id == "nforge-lite" and pred.time_axis == "bold"
    assert pred.metadata["stimulus"]["kind"] == "video"
    assert [s for _, s in stages][0] == "decoding stimulus" and stages[-1] == (1.0, "done")
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions)
    # features were cached on disk, a repeat comes from memory, and a new engine reads the disk cache
    assert any((engine.cache_dir / "features").rglob("*.npy"))
    repeat_stages = []
    again = engine.predict(clip, "nforge-lite", progress=lambda f, s: repeat_stages.append(s))
    assert again is pred and repeat_stages == ["cached"]  # from memory (its time: bench/bench_lite.py)
    fresh = Engine(engine.settings, device="cpu")
    np.testing.assert_array_equal(fresh.predict(clip, "nforge-lite").data, pred.data)


def test_selection_is_a_slice_of_the_full_prediction(engine, clip):
    full = engine.predict(clip, "nforge-lite")
    sub = engine.predict(clip, "nforge-lite", roi=["V1", "A1"])
    space_sel = engine.select("nforge-lite", ["V1", "A1"])
    np.testing.assert_array_equal(sub.indices, space_sel)
    np.testing.assert_allclose(sub.data, full.data[:, space_sel])
    mask = np.zeros(20484, dtype=bool)
    mask[:10] = True
    both = engine.predict(clip, "nforge-lite", roi="V1", mask=mask)
    assert set(both.indices) == set(space_sel[np.isin(space_sel, engine.select("nforge-lite", "V1"))]) | set(range(10))


def test_audio_only_and_concurrent_requests_share_one_result(engine, tmp_path):
    audio = make_audio(tmp_path / "a.wav", 4.0)
    results = []
    threads = [threading.Thread(target=lambda: results.append(engine.predict(audio, "nforge-lite"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r is results[0] for r in results)
    assert results[0].data.shape == (4, 20484)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"model": "no-such-model"}, "unknown model"),
    ({"roi": ["V1", "NotARegion"]}, "NotARegion"),
    ({"mask": np.ones(10)}, "20484"),
    ({"subject": "7"}, "not valid for nforge-lite; accepted: average"),
    ({"fsat": True}, "nforge-lite has no option 'fsat'; accepted options: none"),
    ({"model": "tribe-v2", "fsat": True}, "tribe-v2 has no option 'fsat'; accepted options: fast "),
])
def test_bad_requests_are_user_errors(engine, clip, kwargs, match):
    with pytest.raises(UserInputError, match=match):
        engine.predict(clip, **kwargs)
    assert not [p for p in engine.cache_dir.rglob("*") if p.is_file()]  # nothing half-written


@pytest.mark.parametrize(("name", "content", "match"), [
    ("empty.mp4", b"", "empty"),
    ("broken.mp4", None, "broken.mp4"),
    ("bad.txt", b"caf\xe9", "UTF-8"),
    ("notes.xyz", b"hello", "accepted"),
])
def test_bad_files_leave_nothing_in_the_cache(engine, clip, tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content if content is not None else clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(UserInputError, match=match):
        engine.predict(path, "nforge-lite")
    assert not [p for p in engine.cache_dir.rglob("*") if p.is_file()]


def test_a_silent_video_is_predicted_from_its_pictures(engine, tmp_path):
    silent = make_video(tmp_path / "silent.mp4", 3.0, audio=None)
    pred = engine.predict(silent, "nforge-lite")
    assert pred.data.shape == (3, 20484)
    assert pred.metadata["channels"] == ["luminance", "contrast", "motion", "colourfulness"]


def test_what_the_model_resolves_its_options_to_is_part_of_the_cache_key(engine, clip, monkeypatch):
    from nforge_app.models.lite import LiteModel

    def stages_of_a_prediction():
        stages = []
        engine.predict(clip, "nforge-lite", roi="V1", progress=lambda f, s: stages.append(s))
        return stages

    monkeypatch.setattr(LiteModel, "params", lambda self: {"precision": "int8"})
    assert stages_of_a_prediction()[-1] == "done"
    assert stages_of_a_prediction() == ["cached"]
    monkeypatch.setattr(LiteModel, "params", lambda self: {"precision": "fp32"})  # e.g. NFORGE_TRIBE_FP32=1 set
    assert stages_of_a_prediction()[-1] == "done"
