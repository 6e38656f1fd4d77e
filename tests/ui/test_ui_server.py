"""The web app's API (``predict``, ``export``) through gradio_client, against the real launched server."""

import csv
import json
import re
import subprocess
import urllib.request

import imageio_ffmpeg
import nibabel as nib
import numpy as np
import pytest
from _ui_helpers import HOW_TO_GET, UNAVAILABLE_ID
from PIL import Image

from nforge_app.export import NPZ_KEYS
from nforge_app.viz._viewer import unpack_payload

pytestmark = pytest.mark.slow
N_STEPS = 20  # the example clip: 20 s at the lite model's 1 s TR


@pytest.fixture(scope="module")
def client(ui_server):
    from gradio_client import Client

    return Client(ui_server.url, verbose=False)


def _predict(client, source="media", media=None, transcript=None, text=None, tr_text="", model="nforge-lite",
             subject="average", roi=()):
    from gradio_client import handle_file

    files = [handle_file(path) if path else None for path in (media, transcript, text)]
    return client.predict(source, *files, tr_text, 1.0, model, subject, list(roi), api_name="/predict")


@pytest.fixture(scope="module")
def example(client, ui_server):
    """The example clip predicted through the API: (viewer value, prediction id, status)."""
    viewer, prediction_id, status, *_ = _predict(client, media=ui_server.clip, transcript=ui_server.transcript)
    return json.loads(viewer), prediction_id, status


def test_api_names_are_stable(client):
    assert {"/predict", "/export"} <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_predict_an_example(example, ui_server):
    viewer, prediction_id, status = example
    assert re.fullmatch(r"[0-9a-f]{16}", prediction_id)
    assert "nforge-lite" in status and "not trained on fMRI" in status and "BOLD time" in status
    assert "nforge_example_clip" in viewer["title"] and viewer["prediction_id"] == prediction_id
    with urllib.request.urlopen(f"{ui_server.url}{viewer['payload']}") as response:
        meta, arrays = unpack_payload(response.read())
    assert arrays["frames"].shape == (N_STEPS, 20484) and meta["model_id"] == "nforge-lite"
    with urllib.request.urlopen(f"{ui_server.url}{viewer['geometry']}") as response:
        geometry, _ = unpack_payload(response.read())
    assert geometry["n_vertices"] == 20484


def _ffmpeg_info(path) -> str:
    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def test_export_every_format(client, example):
    _, prediction_id, _ = example
    files, note = client.predict(prediction_id, ["npz", "gif", "mp4", "gifti", "csv", "json"], "surface",
                                 "inflated", ["lateral_left", "lateral_right"], "symmetric", 20, 160,
                                 api_name="/export")
    by_suffix = {path.split(".", 1)[1].split(".", 1)[-1] if "hemi-" in path else path.rsplit(".", 1)[1]: path
                 for path in files}
    assert len(files) == 7 and "7 files ready" in note
    with np.load(by_suffix["npz"], allow_pickle=False) as npz:
        assert set(NPZ_KEYS) <= set(npz.files) and npz["data"].shape == (N_STEPS, 20484)
    with Image.open(by_suffix["gif"]) as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        assert gif.n_frames == N_STEPS and sum(durations) == N_STEPS * 1000  # one TR (1 s) per frame
    info = _ffmpeg_info(by_suffix["mp4"])
    assert re.search(r"Video: h264.*yuv420p.*25 fps", info), info
    assert "Audio: aac" in info and "Duration: 00:00:20.0" in info, info
    gifti = [path for path in files if path.endswith(".func.gii")]
    assert sorted(p.rsplit("_", 1)[1] for p in gifti) == ["hemi-L.func.gii", "hemi-R.func.gii"]
    for path in gifti:
        image = nib.load(path)
        assert len(image.darrays) == N_STEPS and image.darrays[0].data.shape == (10242,)
    with open(by_suffix["csv"], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "time_s" and len(rows[0]) == 181 and len(rows) == N_STEPS + 1
    facts = json.loads(open(by_suffix["json"], encoding="utf-8").read())
    assert facts["model_id"] == "nforge-lite" and facts["time_axis"] == "bold" and facts["n_time_steps"] == N_STEPS


def test_glass_brain_export_of_a_surface_model_draws_its_vertices(client, example):
    files, note = client.predict(example[1], ["gif"], "glass", "inflated", ["dorsal"], "symmetric", 20, 160,
                                 api_name="/export")
    assert len(files) == 1 and files[0].endswith(".gif") and "Could not export" not in note
    with Image.open(files[0]) as gif:
        assert gif.n_frames == N_STEPS and gif.info["duration"] == 1000


def test_bad_input_gives_a_message_and_the_server_keeps_serving(client, ui_server, tmp_path):
    from gradio_client.exceptions import AppError

    empty = _predict(client, source="per-TR text", tr_text="  \n\n ")
    assert "text box is empty" in empty[2] and "Traceback" not in empty[2]
    unknown = _predict(client, media=ui_server.clip, roi=["NoSuchRegion"])
    assert "unknown region name" in unknown[2] and "NoSuchRegion" in unknown[2]
    nothing = _predict(client, media=None)
    assert "no video or audio file yet" in nothing[2]
    no_weights = _predict(client, source="per-TR text", tr_text="hello there\nagain", model=UNAVAILABLE_ID,
                          subject="average")
    assert HOW_TO_GET in no_weights[2] and "nforge-lite" in no_weights[2]
    wrong_type = tmp_path / "notes.xyz"
    wrong_type.write_text("not a stimulus")
    with pytest.raises(AppError, match="Invalid file type"):
        _predict(client, media=wrong_type)
    too_big = tmp_path / "big.mp4"
    too_big.write_bytes(b"\0" * 4_000_000)  # over the test server's 3 MB limit
    with pytest.raises(Exception, match="(?i)size|large|exceed"):
        _predict(client, media=too_big)
    files, note = client.predict("../../etc/passwd", ["npz"], "surface", "inflated", ["dorsal"], "symmetric", 20, 160,
                                 api_name="/export")
    assert files is None and "unknown prediction id" in note
    # Still serving: the example runs again (from the cache).
    again = _predict(client, media=ui_server.clip, transcript=ui_server.transcript)
    assert re.fullmatch(r"[0-9a-f]{16}", again[1])
