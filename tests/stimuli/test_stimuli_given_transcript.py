"""A transcript given with a media file (the manifest's ``transcript`` column) in place of one beside it."""

import pytest

from nforge_app.errors import UserInputError
from nforge_app.stimuli import load_stimulus, stimulus_key

from _media import make_audio

CUES = "1\n00:00:00,000 --> 00:00:00,800\nhello\n\n2\n00:00:01,000 --> 00:00:01,800\nworld\n"


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return make_audio(tmp_path_factory.mktemp("given") / "tone.wav", 2.0)


def test_a_given_transcript_gives_the_words_and_is_part_of_the_key(sound, tmp_path):
    transcript = tmp_path / "words.srt"
    transcript.write_text(CUES)
    stimulus = load_stimulus(sound, transcript=transcript)
    assert [word.text for word in stimulus.words] == ["hello", "world"] and stimulus.word_timing == "transcript"
    assert stimulus.content_hash == stimulus_key(sound, transcript=transcript) != stimulus_key(sound)
    beside = sound.with_suffix(".srt")
    beside.write_text(CUES)
    try:  # the same words beside the file: the same content
        assert stimulus_key(sound) == stimulus.content_hash
    finally:
        beside.unlink()


@pytest.mark.parametrize(("source", "transcript", "match"), [
    ("story.txt", "words.srt", "a transcript goes with a video or audio file; story.txt is text"),
    ("{sound}", "notes.txt", r"notes.txt is not a transcript; accepted: .srt .vtt .tsv"),
    ("{sound}", "missing.srt", "no file at"),
])
def test_a_given_transcript_is_checked(sound, tmp_path, source, transcript, match):
    (tmp_path / "story.txt").write_text("Once upon a time.")
    (tmp_path / "words.srt").write_text(CUES)
    (tmp_path / "notes.txt").write_text("not cues")
    source = sound if source == "{sound}" else tmp_path / source
    with pytest.raises(UserInputError, match=match):
        stimulus_key(source, transcript=tmp_path / transcript)
    with pytest.raises(UserInputError, match=match):
        load_stimulus(source, transcript=tmp_path / transcript)
