"""Bad input: each gets a UserInputError naming the problem and what is accepted; and the content key."""

from __future__ import annotations

import pytest

from nforge_app._files import file_sha256
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.stimuli import SUPPORTED_EXTENSIONS, _load, load_stimulus, stimulus_key

from _media import make_audio, make_video

ALL_EXTENSIONS = [ext for extensions in SUPPORTED_EXTENSIONS.values() for ext in extensions]


def _refused(source, match, **kwargs) -> str:
    with pytest.raises(UserInputError, match=match) as error:
        load_stimulus(source, **kwargs)
    return str(error.value)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("errors") / "clip.mp4", 2.0, audio="tone")


def test_missing_file(tmp_path):
    message = _refused(tmp_path / "nowhere.mp4", "no file at")
    assert "nowhere.mp4" in message
    assert "list with one string per TR" in _refused("just some words", "no file at")
    _refused("a very long text typed in place of a file name " * 100, "no file at")


def test_zero_byte_file_lists_accepted_extensions(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    message = _refused(tmp_path / "empty.mp4", r"empty \(0 bytes\)")
    assert all(ext in message for ext in ALL_EXTENSIONS)


def test_unknown_extension_lists_accepted_ones(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    message = _refused(tmp_path / "notes.docx", r"'\.docx' are not accepted")
    assert all(ext in message for ext in ALL_EXTENSIONS)
    (tmp_path / "README").write_text("hello")
    _refused(tmp_path / "README", "no extension")


def test_truncated_mp4(tmp_path, mp4):
    data = mp4.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    message = _refused(tmp_path / "half.mp4", "could not be read as audio or video")
    assert "damaged, truncated" in message and "ffmpeg says" in message


def test_truncated_mp4_with_index_first(tmp_path):
    # With the index at the start the file still opens, but its sound stops half-way.
    whole = make_video(tmp_path / "whole.mp4", 4.0, audio="tone", faststart=True)
    data = whole.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "half.mp4", "could not be decoded .* damaged or truncated")


def test_not_media_inside(tmp_path):
    (tmp_path / "fake.wav").write_text("this is not sound")
    _refused(tmp_path / "fake.wav", "could not be read as audio or video")


def test_text_with_invalid_utf8(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    message = _refused(tmp_path / "latin1.txt", "not UTF-8 text")
    assert "byte 3 is 0xe9" in message


def test_text_with_only_whitespace_or_symbols(tmp_path):
    (tmp_path / "blank.txt").write_text("  \n\t \n")
    _refused(tmp_path / "blank.txt", "holds no text")
    (tmp_path / "symbols.txt").write_text("... — !!")
    _refused(tmp_path / "symbols.txt", "holds no words")


def test_media_over_the_duration_limit_is_refused_before_decoding(tmp_path):
    long_clip = make_audio(tmp_path / "long.flac", 12.0)
    message = _refused(long_clip, "more than the limit of 10 s", settings=Settings(max_duration_s=10))
    assert "12.0 s" in message and "NFORGE_MAX_DURATION_S" in message and "max_duration_s" in message


def test_file_over_the_size_limit(tmp_path, mp4):
    message = _refused(mp4, "MB, more than the limit", settings=Settings(max_file_mb=0.001))
    assert "max_file_mb" in message and "NFORGE_MAX_FILE_MB" in message


def test_limits_come_from_the_environment(tmp_path, mp4, monkeypatch):
    monkeypatch.setenv("NFORGE_MAX_DURATION_S", "1.5")
    _refused(mp4, "more than the limit of 1.5 s")


def test_stimulus_key_decodes_nothing_and_matches_the_content_hash(tmp_path, mp4, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("stimulus_key decoded the file")

    with monkeypatch.context() as patched:
        for name in ("probe", "decode_audio", "measure_duration", "FfmpegVideoReader"):
            patched.setattr(_load, name, no_decoding)
        key = stimulus_key(str(mp4))
    assert key == file_sha256(mp4) == load_stimulus(mp4).content_hash
    copy = tmp_path / "copy.MP4"
    copy.write_bytes(mp4.read_bytes())
    assert stimulus_key(copy) == key  # the bytes, not the name
    with pytest.raises(UserInputError, match="no file at"):
        stimulus_key(tmp_path / "nowhere.mp4")
    with pytest.raises(UserInputError, match="needs tr_s"):
        stimulus_key(["hello"])
