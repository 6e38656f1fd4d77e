"""The WhisperX path, with a stand-in ``whisperx`` module that records how it is called (no model here)."""

import importlib.machinery
import sys
import types

import numpy as np
import pytest

from nforge_app.errors import ModelUnavailableError
from nforge_app.stimuli import _transcribe, load_stimulus, stimulus_key

from _media import make_audio


@pytest.fixture()
def fake_whisperx(monkeypatch):
    calls = {}
    module = types.ModuleType("whisperx")
    module.__spec__ = importlib.machinery.ModuleSpec("whisperx", None)

    class Model:
        def transcribe(self, samples, batch_size):
            calls["samples"] = (samples.dtype, samples.ndim)
            return {"segments": [{"text": "hello brave new world"}]}

    def load_model(name, device, compute_type, language):
        calls["load"] = (name, device, compute_type, language)
        return Model()

    def load_align_model(language_code, device):
        return "aligner", {"language": language_code}

    def align(segments, model, meta, samples, device, return_char_alignments):
        return {"segments": [{"words": [{"word": " hello", "start": 0.5, "end": 0.9},
                                         {"word": "brave", "start": 1.0, "end": 1.4},
                                         {"word": "new"},  # alignment could not time it
                                         {"word": "world", "start": 1.9, "end": 2.3}]}]}

    module.load_model, module.load_align_model, module.align = load_model, load_align_model, align
    monkeypatch.setitem(sys.modules, "whisperx", module)
    _transcribe._models.cache_clear()
    yield calls
    _transcribe._models.cache_clear()


def test_words_come_from_whisperx_in_int8_on_the_cpu(fake_whisperx, tmp_path, monkeypatch):
    monkeypatch.setenv("NFORGE_DEVICE", "cpu")
    clip = make_audio(tmp_path / "talk.wav", 3.0)
    stimulus = load_stimulus(clip)
    assert [(w.text, w.start_s) for w in stimulus.words] == [("hello", 0.5), ("brave", 1.0), ("world", 1.9)]
    assert stimulus.word_timing == "whisperx" and "text" in stimulus.modalities
    assert fake_whisperx["load"] == ("large-v3", "cpu", "int8", "en")
    assert fake_whisperx["samples"] == (np.float32, 1)
    assert stimulus.content_hash == stimulus_key(clip)


def test_transcription_can_be_switched_off_and_a_transcript_wins(fake_whisperx, tmp_path, monkeypatch):
    clip = make_audio(tmp_path / "talk.wav", 3.0)
    with_whisper = stimulus_key(clip)
    monkeypatch.setenv("NFORGE_TRANSCRIBE", "0")
    assert stimulus_key(clip) != with_whisper and load_stimulus(clip).words == ()
    monkeypatch.delenv("NFORGE_TRANSCRIBE")
    (tmp_path / "talk.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nsidecar words\n", encoding="utf-8")
    assert [w.text for w in load_stimulus(clip).words] == ["sidecar", "words"]
    assert "load" not in fake_whisperx


def test_without_whisperx_nothing_is_transcribed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "whisperx", None)  # import fails as when it is not installed
    assert _transcribe.transcriber_id() is None
    assert load_stimulus(make_audio(tmp_path / "a.wav", 2.0)).words == ()


def test_whisperx_without_its_models_says_what_to_do(fake_whisperx, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(sys.modules["whisperx"], "load_model", offline)
    with pytest.raises(ModelUnavailableError, match=r"put a transcript beside the file.*NFORGE_TRANSCRIBE=0"):
        load_stimulus(make_audio(tmp_path / "a.wav", 2.0))


def test_transcripts_are_cached_by_audio_and_asr_settings(fake_whisperx, tmp_path, monkeypatch):
    from nforge_app.stimuli import AudioTrack

    runs = []
    real = _transcribe._recognise
    monkeypatch.setattr(_transcribe, "_recognise", lambda audio, device: runs.append(device) or real(audio, device))
    sound = AudioTrack(np.sin(np.arange(16000, dtype=np.float32) / 10), 16000)
    cache = tmp_path / "transcripts"
    first = _transcribe.transcribe(sound, "cpu", cache_dir=cache)
    assert [w.text for w in first] == ["hello", "brave", "world"] and runs == ["cpu"]
    assert _transcribe.transcribe(sound, "cpu", cache_dir=cache) == first and runs == ["cpu"]  # from the cache
    (tsv,) = cache.glob("*.tsv")
    assert tsv.read_text().splitlines()[:2] == ["start\tduration\tword", "0.5\t0.4\thello"]
    other = AudioTrack(sound.samples * 0.5, 16000)
    _transcribe.transcribe(other, "cpu", cache_dir=cache)  # other sound: recognised again
    assert runs == ["cpu", "cpu"] and len(list(cache.glob("*.tsv"))) == 2
    monkeypatch.setattr(_transcribe, "WHISPER_MODEL", "large-v2")  # other settings: recognised again
    _transcribe.transcribe(sound, "cpu", cache_dir=cache)
    assert len(runs) == 3
    assert _transcribe.asr_settings("cpu")["compute_type"] == "int8"
