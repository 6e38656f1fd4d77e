"""Transcripts with times: SubRip, WebVTT, word tables and the Algonauts per-TR table."""

from __future__ import annotations

import pytest

from nforge_app.errors import UserInputError
from nforge_app.stimuli import load_stimulus, stimulus_key

SRT = """1
00:00:01,000 --> 00:00:03,000
<i>Hello</i> there,
world!

2
00:00:04,500 --> 00:00:05,500
Again.
"""

VTT = """WEBVTT
Kind: captions

NOTE a comment
that spans lines

intro
00:01.000 --> 00:03.000 align:start
<v Ann>Hello there world

00:00:04.500 --> 00:00:05.500
Again
"""

# As pandas writes it (DataFrame.to_csv(sep="\t")): an index column, and cells holding quotes quoted.
ALGONAUTS = "\n".join("\t".join(row) for row in [
    ["", "text_per_tr", "words_per_tr", "onsets_per_tr", "durations_per_tr"],
    ["0", "", "[]", "[]", "[]"],
    ["1", "Hello there", "['Hello', 'there']", "[1.6, 2.2]", "[0.5, 0.4]"],
    ["2", '"it\'s ""fine"""', '"[""it\'s"", \'""fine""\']"', "[3.1, 3.5]", "[0.3, 0.4]"],
]) + "\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _timeline(stimulus):
    return [(w.text, round(w.start_s, 4), round(w.duration_s, 4)) for w in stimulus.words]


@pytest.mark.parametrize(("name", "text"), [("subs.srt", SRT), ("subs.vtt", VTT), ("subs.srt", SRT.replace("\n", "\r\n"))])
def test_subtitles_spread_words_over_each_cue(tmp_path, name, text):
    stimulus = load_stimulus(_write(tmp_path, name, text))
    assert stimulus.kind == "transcript" and stimulus.word_timing == "transcript"
    assert stimulus.audio is None and stimulus.modalities == ("text",)
    assert _timeline(stimulus) == [("Hello", 1.0, 0.6667), ("there", 1.6667, 0.6667), ("world", 2.3333, 0.6667),
                                   ("Again", 4.5, 1.0)]
    assert stimulus.duration_s == pytest.approx(5.5)
    assert stimulus.content_hash == stimulus_key(tmp_path / name)


# As players take them: a byte-order mark, CRLF, one-digit fields, "." for ",", cue settings, a cue name, and
# cues with no blank line between them (the next cue's number closes the one before).
SRT_AS_PLAYERS_TAKE_IT = ("\ufeff1\r\n0:0:1,000 --> 00:00:3.000 X1:10\r\n<i>Hello</i> there,\r\nworld!\r\n"
                          "2\r\n00:00:4.500 --> 00:0:5,500\r\nAgain.\r\n")


@pytest.mark.parametrize("text", [SRT_AS_PLAYERS_TAKE_IT, SRT_AS_PLAYERS_TAKE_IT.replace("\r\n", "\r"),
                                  SRT_AS_PLAYERS_TAKE_IT.replace("\r\n", "\n")])
def test_subtitles_as_players_take_them(tmp_path, text):
    path = tmp_path / "subs.srt"
    path.write_bytes(text.encode("utf-8"))
    assert _timeline(load_stimulus(path)) == [("Hello", 1.0, 0.6667), ("there", 1.6667, 0.6667),
                                              ("world", 2.3333, 0.6667), ("Again", 4.5, 1.0)]


def test_word_table_with_onset_or_start(tmp_path):
    table = "onset\tduration\tword\n0.5\t0.3\tHello\n1.0\t0.4\tthere\n2.0\t1.0\ttwo words\n"
    stimulus = load_stimulus(_write(tmp_path, "words.tsv", table))
    assert _timeline(stimulus) == [("Hello", 0.5, 0.3), ("there", 1.0, 0.4), ("two", 2.0, 0.5), ("words", 2.5, 0.5)]
    assert stimulus.duration_s == pytest.approx(3.0)
    assert stimulus.tr_texts is None
    other = load_stimulus(_write(tmp_path, "words2.tsv", "Start\tText\tDuration\n1.0\tHi\t0.5\n"))
    assert _timeline(other) == [("Hi", 1.0, 0.5)]


def test_algonauts_per_tr_table(tmp_path):
    stimulus = load_stimulus(_write(tmp_path, "friends_s01e01a.tsv", ALGONAUTS))
    assert stimulus.tr_s == 1.49
    assert stimulus.tr_texts == ("", "Hello there", "it's \"fine\"")
    assert stimulus.duration_s == pytest.approx(3 * 1.49)
    assert _timeline(stimulus) == [("Hello", 1.6, 0.5), ("there", 2.2, 0.4), ("it's", 3.1, 0.3),
                                   ('"fine"', 3.5, 0.4)]
    assert stimulus.word_timing == "transcript" and "1.49" in stimulus.notes[0]


def test_algonauts_onsets_counted_from_each_tr(tmp_path):
    table = ("text_per_tr\twords_per_tr\tonsets_per_tr\tdurations_per_tr\n"
             "hi\t['hi']\t[0.2]\t[0.3]\n"
             "yes\t['yes']\t[0.5]\t[0.3]\n")
    stimulus = load_stimulus(_write(tmp_path, "relative.tsv", table))
    assert [w.start_s for w in stimulus.words] == pytest.approx([0.2, 1.49 + 0.5])


def test_algonauts_cells_are_never_executed(tmp_path):
    table = ("text_per_tr\twords_per_tr\tonsets_per_tr\tdurations_per_tr\n"
             "x\t__import__('os').system('touch pwned')\t[0.1]\t[0.1]\n")
    with pytest.raises(UserInputError, match="line 2: words_per_tr must be a list of strings"):
        load_stimulus(_write(tmp_path, "evil.tsv", table))
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.srt", "1\n00:00:01,000 -> 00:00:02,000\nHello\n",
     r"line 2 \('00:00:01,000 -> 00:00:02,000'\) is outside any cue: no time line like 'HH:MM:SS,mmm"),
    ("bad.srt", "1\n00:00:01 --> 00:00:02\nHello\n",
     r"line 2 \('00:00:01 --> 00:00:02'\): cannot read the times; write them like 'HH:MM:SS,mmm"),
    ("bad.srt", "1\n00:00:03,000 --> 00:00:02,000\nHello\n", "line 2 .*: the cue ends before it starts"),
    ("bad.srt", SRT + "\n3\nLost words without times\n", r"line 11 \('Lost words without times'\) is outside"),
    ("bad.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n\n00:03.000 -> 00:04.000\nThere\n",
     r"line 6 \('00:03.000 -> 00:04.000'\) is outside any cue: no time line like 'HH:MM:SS.mmm"),
    ("bad.srt", "1\n00:00:01,000 --> 00:00:02,000\n\n", "no words"),
    ("bad.vtt", "00:01.000 --> 00:02.000\nHello\n", "must start with the line WEBVTT"),
    ("bad.tsv", "time\tsaid\n1\thi\n", "onset or start, duration and text or word"),
    ("bad.tsv", "onset\tduration\ttext\nabc\t1\thi\n", "line 2: onset 'abc' is not a time"),
    ("bad.tsv", "onset\tduration\ttext\n1\t-2\thi\n", "line 2: duration '-2' is not a time"),
    ("bad.tsv", "onset\tduration\ttext\n1\t2\n", "line 2 has 2 cells"),
    ("bad.tsv", "onset\tduration\ttext\n", "no words"),
    ("bad.tsv", "text_per_tr\twords_per_tr\tonsets_per_tr\tdurations_per_tr\nhi\t['hi']\t[0.1, 0.2]\t[0.1]\n",
     "same length"),
    ("bad.tsv", "text_per_tr\twords_per_tr\tonsets_per_tr\tdurations_per_tr\nhi\t['hi']\t['a']\t[0.1]\n",
     "onsets_per_tr must be a list of numbers"),
    ("bad.tsv", "text_per_tr\twords_per_tr\tonsets_per_tr\tdurations_per_tr\nhi\t['hi'\t[0.1]\t[0.1]\n",
     "words_per_tr must be a list of strings"),
])
def test_malformed_transcripts(tmp_path, name, text, message):
    with pytest.raises(UserInputError, match=message):
        load_stimulus(_write(tmp_path, name, text))
