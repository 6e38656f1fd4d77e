"""The Live tab's service: microphone chunks (as gradio streams them) in, a brain picture, ROI traces and a
latency line out each second; at the end, the whole recording's prediction equals the offline one."""

import wave

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.ui._live import HISTORY_S, TRACE_REGIONS, LiveService, read_chunk
from nforge_app.ui._service import AppService

from _media import ffmpeg, make_audio

RATE_HZ = 16000


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return AppService(settings=Settings.from_env(cache_dir=tmp_path_factory.mktemp("live-cache")))


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    spoken = make_audio(folder / "spoken.wav", 6.5, text="one two three, a quiet voice reads to the microphone")
    path = folder / "talk.wav"
    ffmpeg("-i", str(spoken), "-ar", str(RATE_HZ), "-ac", "1", "-c:a", "pcm_s16le", str(path))
    with wave.open(str(path), "rb") as file:
        samples = np.frombuffer(file.readframes(file.getnframes()), dtype=np.int16)
    return path, samples


def _chunk(path, samples, rate_hz=RATE_HZ, channels=1):
    """A .wav as gradio streams it: 16-bit PCM whose header declares an endless data block."""
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate_hz)
        file.writeframes(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
    raw = bytearray(path.read_bytes())
    raw[40:44] = (0xFFFFFFD3).to_bytes(4, "little")  # what the browser's recorder writes
    path.write_bytes(bytes(raw))
    return path


def test_read_chunk_reads_to_the_end_and_mixes_channels(tmp_path):
    stereo = np.stack([np.full(480, 16384), np.zeros(480)], axis=1).astype(np.int16)
    rate, samples = read_chunk(_chunk(tmp_path / "c.wav", stereo, rate_hz=48000, channels=2))
    assert rate == 48000 and samples.shape == (480,)
    np.testing.assert_allclose(samples, 0.25)
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    with pytest.raises(UserInputError, match="not a PCM .wav"):
        read_chunk(tmp_path / "bad.wav")


def test_chunks_update_the_picture_traces_and_latency_then_the_whole_equals_offline(service, speech, tmp_path):
    path, samples = speech
    live = LiveService(service)
    session, views = None, []
    for i, start in enumerate(range(0, len(samples), RATE_HZ)):
        session, view = live.push(session, _chunk(tmp_path / f"chunk-{i}.wav", samples[start:start + RATE_HZ]))
        views.append(view)
    # a row per second, once the 16 ms after that second are in: the first chunk completes none
    assert views[0] is None and all(v is not None for v in views[1:])
    assert session.updates == len(views) - 1 == 6
    last = views[-1]
    assert last.brain.size[0] > 300 and np.asarray(last.brain).std() > 10  # a picture, not a blank
    assert sorted(set(last.traces["region"])) == sorted(TRACE_REGIONS)
    assert len(last.traces["time_s"]) == 6 * len(TRACE_REGIONS)
    assert "update 6" in last.status and "latency" in last.status and "ms" in last.status
    assert "subject average" in last.status
    assert len(session.compute_s) == 6  # one compute time per update (speed: bench/bench_adapt.py)
    # the traces are the ROI means of the rows the stream emitted
    space_rows = np.asarray(session.rows)
    from nforge_app.spaces import get_space

    names, means = get_space("fsaverage5").roi_time_series(space_rows, None, names=list(TRACE_REGIONS))
    got = np.asarray(last.traces["value"]).reshape(len(space_rows), len(names))
    np.testing.assert_allclose(got, means, atol=1e-4)

    result = live.finish(session)
    offline = service.engine.predict(str(path), "nforge-lite")
    assert result.prediction.data.shape == offline.data.shape
    assert np.abs(result.prediction.data - offline.data).max() <= 1e-5 * np.abs(offline.data).max()
    assert '"prediction_id"' in result.viewer_value and result.prediction_id
    assert live.finish(session) is None  # finished once


def test_regions_from_the_menu_and_a_note_when_none_fits(service):
    live = LiveService(service)
    assert live.start(["A1", "V1"]).regions == ("A1", "V1")
    assert live.start(["Vis", "no-such-region"]).regions == ("Vis",)  # a network; what does not fit is left out
    session = live.start(["no-such-region"])
    assert session.regions == TRACE_REGIONS and "tracing A1" in session.note
    assert live.start(None).regions == TRACE_REGIONS and not live.start([]).note
    assert HISTORY_S >= 30


def test_the_page_reads_only_microphone_chunks_uploaded_to_it(tmp_path, speech):
    import gradio as gr

    from nforge_app.ui import build_app
    from nforge_app.ui._confine import NOT_UPLOADED, upload_roots

    settings = Settings.from_env(cache_dir=tmp_path / "cache")
    demo = build_app(settings=settings)
    stream = next(fn for fn in demo.fns.values()
                  if any(getattr(block, "elem_id", None) == "nforge-live-microphone" for block in fn.inputs)
                  and fn.fn.__name__ == "push")
    outside = _chunk(tmp_path / "elsewhere.wav", speech[1][:RATE_HZ])  # a file the page never received
    with pytest.raises(gr.Error, match=NOT_UPLOADED[:30]):
        stream.fn(str(outside), None, [], "nforge-lite", "average")
    inside = upload_roots(settings)[0] / "nforge-test-live" / "chunk.wav"
    inside.parent.mkdir(parents=True, exist_ok=True)
    try:
        session, *_ = stream.fn(str(_chunk(inside, speech[1][:RATE_HZ])), None, [], "nforge-lite", "average")
        assert session.stream is not None
    finally:
        inside.unlink()
        inside.parent.rmdir()


def test_a_subject_the_lite_model_lacks_is_refused(service, speech, tmp_path):
    with pytest.raises(UserInputError, match="subject 'nobody'"):
        LiveService(service).push(None, _chunk(tmp_path / "c.wav", speech[1][:RATE_HZ]), subject="nobody")
