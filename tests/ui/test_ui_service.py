"""The page's service without a server: inputs, predictions kept by id, exports that need no rendering."""

import json
import time

import numpy as np
import pytest
from PIL import Image

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.models import Prediction, get_card
from nforge_app.spaces import get_space
from nforge_app.ui import _examples as examples_module
from nforge_app.ui import _service as service_module
from nforge_app.ui._examples import EXAMPLES, ExampleResults
from nforge_app.ui._inputs import parse_roi, stimulus_of
from nforge_app.ui._service import AppService, geometry_recipe
from nforge_app.viz._viewer import unpack_payload


@pytest.fixture()
def service(tmp_path):
    return AppService(settings=Settings.from_env(cache_dir=tmp_path / "cache"))


def _prediction():
    indices = get_space("fsaverage5").select(["V1"])
    data = np.random.default_rng(0).standard_normal((4, len(indices))).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(4.0), tr_s=1.0, space_id="fsaverage5", indices=indices,
                      model_id="nforge-lite", subject="average", hrf_offset_s=0.0, time_axis="bold")


def test_parse_roi():
    assert parse_roi(None) == [] and parse_roi("V1") == ["V1"]
    assert parse_roi(["V1, MT", " ", "A1"]) == ["V1", "MT", "A1"]


def test_inputs_are_checked(service, tmp_path):
    card = get_card("nforge-lite")
    with pytest.raises(UserInputError, match="text box is empty"):
        stimulus_of(service.ui_dir, "per-TR text", None, None, None, " \n\t\n", None, card)
    with pytest.raises(UserInputError, match="no video or audio file yet"):
        stimulus_of(service.ui_dir, "media", None, None, None, "", None, card)
    with pytest.raises(UserInputError, match="no text file yet"):
        stimulus_of(service.ui_dir, "text file", None, None, None, "", None, card)
    with pytest.raises(UserInputError, match="unknown input kind 'smell'; accepted: media, text file, per-TR text"):
        stimulus_of(service.ui_dir, "smell", None, None, None, "", None, card)
    lines, tr_s = stimulus_of(service.ui_dir, "per-TR text", None, None, None, "one\n\ntwo", None, card)
    assert lines == ["one", "", "two"] and tr_s == card.tr_s
    assert stimulus_of(service.ui_dir, "per-TR text", None, None, None, "one", 1.49, card)[1] == 1.49


def test_a_transcript_is_placed_beside_the_media(service, tmp_path):
    media, transcript = tmp_path / "clip.mp4", tmp_path / "words.SRT"
    media.write_bytes(b"video")
    transcript.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    paired, _ = stimulus_of(service.ui_dir, "media", str(media), str(transcript), None, "", None, get_card("nforge-lite"))
    assert paired.endswith("/clip.mp4") and (tmp_path / "cache").as_posix() in paired
    assert open(paired.replace("clip.mp4", "clip.srt")).read().startswith("1\n")
    with pytest.raises(UserInputError, match="unknown transcript suffix '.mp4'; accepted: .srt"):
        stimulus_of(service.ui_dir, "media", str(media), str(media), None, "", None, get_card("nforge-lite"))


def test_kept_predictions_are_found_by_id_and_exported(service):
    prediction = _prediction()
    result = service.keep(prediction, ["V1"], None, title="lines")
    assert result.prediction_id == service.keep(prediction, ["V1"], None, title="lines").prediction_id
    viewer = json.loads(result.viewer_value)
    assert viewer["title"].startswith("lines · nforge-lite (baseline")
    payload = service.ui_dir / "payloads" / f"{result.prediction_id}-{geometry_recipe()[:12]}.bin"
    assert viewer["payload"].endswith(payload.as_posix())
    assert unpack_payload(payload.read_bytes())[1]["frames"].shape == (4, 20484)
    assert "not trained on fMRI" in result.summary and "`V1`" in result.summary
    back, facts = service.load(result.prediction_id)
    np.testing.assert_array_equal(back.data, prediction.data)
    assert facts == {"stimulus_path": None, "roi": ["V1"], "title": "lines", "tr_texts": None, "tr_s": None}
    files, notes = service.export(result.prediction_id, ["npz", "csv", "json"])
    assert [f.name for f in files] == ["lines.nforge-lite.npz", "lines.nforge-lite.csv",
                                       "lines.nforge-lite.json"] and notes == []
    assert files[1].read_text().splitlines()[0] == "time_s,V1"
    (gif,), _ = service.export(result.prediction_id, ["gif"], picture="glass", size_px=200)
    with Image.open(gif) as image:  # a surface model's selected vertices drawn in the glass brain
        assert image.n_frames == 4 and image.info["duration"] == 1000
    for bad in ("../../etc/passwd", "0123456789abcdef"):
        with pytest.raises(UserInputError, match="prediction id|no prediction"):
            service.load(bad)
    with pytest.raises(UserInputError, match="export formats: unknown: 'docx'; accepted: npz, gif"):
        service.export(result.prediction_id, ["docx"])


def test_the_mesh_payload_is_made_once_and_then_served_from_its_file(service, monkeypatch):
    url = service.geometry_url()
    path = service.ui_dir / "payloads" / f"fsaverage5-{geometry_recipe()[:12]}.bin"
    assert url.endswith(path.as_posix()) and unpack_payload(path.read_bytes())[0]["n_vertices"] == 20484

    def not_again(*_args):
        raise AssertionError("the mesh payload was made again")

    monkeypatch.setattr(service_module, "geometry_payload", not_again)
    assert AppService(settings=service.settings).geometry_url() == url  # a later start: the file as it is


def test_examples_wait_for_the_first_page_or_their_delay(monkeypatch):
    computed = []
    monkeypatch.setattr(examples_module, "run_example",
                        lambda service, example: computed.append(example.key) or f"result of {example.key}")
    results = ExampleResults(service=None).start(delay_s=60)
    time.sleep(0.2)
    assert computed == []  # nobody asked yet
    # A page asks for the first example: computing starts now.
    assert results.wait(EXAMPLES[0].key, timeout_s=10) == f"result of {EXAMPLES[0].key}"
    results._thread.join(timeout=10)
    assert computed == [example.key for example in EXAMPLES]
