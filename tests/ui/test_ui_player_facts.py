"""What the stimulus player is given (``ui/_player.py``): the media served from the page's folder, the words
with their times (from the transcript beside a media file, or the text of each TR) and the delay between the
stimulus and a brain on BOLD time."""

import json
from pathlib import Path

import numpy as np

from nforge_app.stimuli import AudioTrack
from nforge_app.ui._player import HAEMODYNAMIC_DELAY_S, player_facts, player_value
from nforge_app.values import Prediction

SRT = "1\n00:00:01,000 --> 00:00:03,000\nhello there\n\n2\n00:00:04,500 --> 00:00:05,500\nbye\n"


def _prediction(time_axis: str, hrf_offset_s: float) -> Prediction:
    return Prediction(data=np.zeros((3, 2), np.float32), times_s=np.arange(3.0), tr_s=1.0, space_id="schaefer1000",
                      indices=np.arange(2), model_id="m", subject="average", hrf_offset_s=hrf_offset_s,
                      time_axis=time_axis)


def test_a_media_file_is_served_with_the_words_of_its_transcript(tmp_path):
    clip = tmp_path / "in" / "clip.wav"
    clip.parent.mkdir()
    AudioTrack(np.zeros(16000 * 6, np.float32), 16000).write_wav(clip)
    (tmp_path / "in" / "clip.srt").write_text(SRT)
    served = tmp_path / "media"
    facts = player_facts(str(clip), served)
    assert facts["kind"] == "audio" and facts["media"].startswith(str(served))
    assert open(facts["media"], "rb").read() == clip.read_bytes()
    # the two words of the first cue share its 2 s; the second cue is one word
    assert facts["words"] == [[1.0, 2.0, "hello"], [2.0, 3.0, "there"], [4.5, 5.5, "bye"]]
    assert facts["words_from"] == "clip.srt"
    assert json.loads(next(served.glob("*.player.json")).read_text()) == facts  # made once, then read
    Path(facts["media"]).unlink()  # evicted by the cache budget: made again
    assert player_facts(str(clip), served) == facts and Path(facts["media"]).is_file()


def test_per_tr_text_shows_each_line_over_its_tr(tmp_path):
    facts = player_facts(None, tmp_path, tr_texts=["The ship left.", "", "Gulls cried."], tr_s=1.5)
    assert facts["media"] is None and facts["words"] == [[0.0, 1.5, "The ship left."], [3.0, 4.5, "Gulls cried."]]


def test_the_delay_follows_the_time_axis():
    facts = {"kind": "audio", "words": [], "words_from": ""}
    bold = player_value(facts, _prediction("bold", 0.0), "gradio_api/file=/x.wav")
    assert bold["delay_s"] == HAEMODYNAMIC_DELAY_S == 5.0 and "about 5 s earlier" in bold["delay_note"]
    shifted = player_value(facts, _prediction("stimulus", 5.0), None)
    assert shifted["delay_s"] == 0.0 and "shifted its BOLD back 5 s" in shifted["delay_note"]
    assert shifted["media"] is None and shifted["kind"] is None
