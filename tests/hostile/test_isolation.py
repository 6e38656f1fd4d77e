"""The page reads only what was uploaded to it, names no server path, and keeps visitors apart (issue 17, items
3 and 4), tried as a client of its API would: raw ``FileData`` requests and gradio_client, against a real
server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from _corpus import LIMITS
from _hostile import LINES, SERVER_PATH

from nforge_app.config import Settings
from nforge_app.ui._confine import GONE, NOT_UPLOADED

from _media import make_video

EXPORT_ARGS = ("surface", "inflated", ["lateral_left"], "symmetric", 20, 160)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The server account's "home": a video no one uploaded."""
    folder = tmp_path_factory.mktemp("home")
    make_video(folder / "holiday.mp4", 2.0, audio="tone")
    return folder


def _call(url: str, api: str, data: list) -> tuple[str, object]:
    """Call an API event over plain HTTP (as any client may); ``(event, data)`` of its last message."""
    request = urllib.request.Request(f"{url}gradio_api/call/{api}", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event_id}", timeout=120) as response:
        stream = response.read().decode()
    event, data = re.findall(r"event: (\w+)\ndata: (.*)", stream)[-1]
    return event, json.loads(data)


def _file_data(path) -> dict:
    return {"path": str(path), "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def _predict_media(url: str, path) -> tuple[str, object]:
    return _call(url, "predict", ["media", _file_data(path), None, None, "", 1.0, "nforge-lite", "average", [],
                                  "fp32", []])


def _fetch(url: str, path) -> int:
    try:
        with urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _still_serving(url: str) -> None:
    event, data = _call(url, "predict", ["per-TR text", None, None, None, "\n".join(LINES), 1.0, "nforge-lite",
                                         "average", [], "fp32", []])
    assert event == "complete" and re.fullmatch(r"[0-9a-f]{16}", data[1]), data


def _message(data) -> str:
    return json.dumps(data)


def test_a_server_file_no_one_uploaded_is_refused_without_naming_it(server, home):
    url = server.local_url
    for path in (home / "holiday.mp4", home / "missing.mp4", Path("/etc/passwd")):
        event, data = _predict_media(url, path)
        assert event == "error", data  # refused before anything reads it
        said = _message(data)
        assert str(path.parent) not in said and not SERVER_PATH.search(said), said
    _still_serving(url)


def test_what_gradio_lets_through_is_confined_by_the_page(server, home):
    """Gradio refuses those itself (above); the page's own check holds whatever a gradio version lets through:
    each event of the running page, called with a symlink in gradio's upload folder that leads out of it, or a
    path there that is gone, is refused with a message that names no path."""
    import gradio as gr
    from gradio.utils import get_upload_folder

    predict = next(fn.fn for fn in server.fns.values() if fn.api_name == "predict")
    folder = Path(get_upload_folder()) / "nforge-hostile-test"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        link = folder / "link.mp4"
        link.unlink(missing_ok=True)
        link.symlink_to(home / "holiday.mp4")
        for path, said in ((link, NOT_UPLOADED), (folder / "gone.mp4", GONE), (home / "holiday.mp4", NOT_UPLOADED)):
            with pytest.raises(gr.Error) as caught:
                predict("media", str(path), None, None, "", 1.0, "nforge-lite", "average", [], "fp32", [])
            assert caught.value.message == said
    finally:
        shutil.rmtree(folder)
    _still_serving(server.local_url)


def test_the_page_serves_only_its_own_folders(server, _private_cache):
    from nforge_app.ui._app import launch_options
    from nforge_app.ui._service import served_dirs

    settings = Settings.from_env(**LIMITS)
    served = [Path(path).resolve() for path in launch_options(settings)["allowed_paths"]]
    assert served == [path.resolve() for path in served_dirs(settings)]
    assert all(path != _private_cache.resolve() and _private_cache.resolve() in path.parents for path in served)
    url = server.local_url
    _still_serving(url)
    secret = _private_cache / "ui" / "secret"
    kept = next((_private_cache / "ui" / "predictions").glob("*.npz"))
    cached = next((_private_cache / "predictions").glob("*.npz"))
    for path in (secret, kept, cached, _private_cache / "ui" / "exports", Path("/etc/passwd"),
                 Path(os.__file__)):
        assert _fetch(url, path) in (403, 404), path


def test_one_visitor_cannot_find_another_visitors_files(server, home, tmp_path):
    """Visitor A uploads a clip and exports its prediction; visitor B, with only the page, finds neither: the
    upload lies under a seeded hash, the export under 128 random bits, and the folders above are not served."""
    from gradio_client import Client, handle_file

    url = server.local_url
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    clip = make_video(tmp_path / "alice.mp4", 2.0, audio="tone")
    _, prediction_id, status, *_ = alice.predict("media", handle_file(clip), None, None, "", 1.0, "nforge-lite",
                                                 "average", [], api_name="/predict")
    assert "time steps" in status
    for _ in range(2):
        files, _ = alice.predict(prediction_id, ["npz"], *EXPORT_ARGS, api_name="/export")
        assert len(files) == 1
    # each export in a folder of its own, named by 32 random hexadecimal characters
    exports = Settings.from_env(**LIMITS).cache_dir / "ui" / "exports" / prediction_id
    folders = [path.name for path in exports.iterdir() if path.is_dir()]
    assert len(folders) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", name) for name in folders), folders
    served_first = str(next((exports / folders[0]).iterdir()))
    assert _fetch(url, served_first) == 200  # the one who has the link can fetch it...
    assert _fetch(url, Path(served_first).parent) in (403, 404)  # ...no one can list the folders above it
    assert _fetch(url, Path(served_first).parent.parent) in (403, 404)
    # Alice's upload: under a hash seeded by the server, so its content alone does not find it
    from gradio.utils import get_upload_folder

    uploads = Path(get_upload_folder())
    stored = [path for path in uploads.rglob("alice.mp4") if path.read_bytes() == clip.read_bytes()]
    assert stored and _fetch(url, stored[0]) == 200  # the one who has the path can fetch it...
    unseeded = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert stored[0].parent.name != unseeded and _fetch(url, uploads / unseeded / "alice.mp4") in (403, 404)
    assert _fetch(url, uploads) in (403, 404) and _fetch(url, stored[0].parent) in (403, 404)  # ...no listing
    # Bob sees none of Alice's results in what the page gives him.
    _, bob_id, *_ = bob.predict("per-TR text", None, None, None, "\n".join(LINES), 1.0, "nforge-lite", "average",
                                [], api_name="/predict")
    assert bob_id != prediction_id
    files, _ = bob.predict(bob_id, ["npz"], *EXPORT_ARGS, api_name="/export")
    assert len(files) == 1 and len(list(exports.iterdir())) == 2  # Bob's export is not among Alice's
