"""The analysis panels without a browser: their sentences, and ``AppService.explain`` on a real lite prediction."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.models import get_card
from nforge_app.spaces import get_space
from nforge_app.ui._service import FILE_URL_PREFIX, AppService
from nforge_app.ui._texts import attention_text, attribution_text, panel_texts
from nforge_app.viz import unpack_payload

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _media import make_video  # noqa: E402


def test_panel_sentences_follow_the_card():
    for model_id in ("nforge-lite", "tribe-v2", "text2fmri", "flow-matching"):
        attribution, attention = panel_texts(model_id)
        card = get_card(model_id)
        assert "Not available" not in attribution + attention
        assert ("Explain" in attribution) == ("attribution" in card.capabilities)
        assert ("Explain" in attention) == ("attention" in card.capabilities)
    assert "reads text only" in panel_texts("text2fmri")[0]
    assert "baseline" in panel_texts("nforge-lite")[0]


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """A silent moving video (the picture only), predicted by nforge-lite and explained by the page's service."""
    folder = tmp_path_factory.mktemp("explain")
    video = make_video(folder / "silent.mp4", 12.0, audio=None)
    service = AppService(settings=Settings.from_env(cache_dir=folder / "cache"))
    run = service.predict(str(video), None, "nforge-lite")
    return service, run, service.explain(run.prediction_id)


def test_explain_a_silent_video(explained):
    service, run, result = explained
    attribution = result.attribution
    assert attribution.model_id == "nforge-lite" and attribution.modalities == ("video",)
    np.testing.assert_allclose(attribution.prediction(), run.prediction.data, atol=1e-5)
    value = json.loads(result.panel_value)
    assert value["prediction_id"] == run.prediction_id and value["map"] is True
    path = Path(value["payload"].removeprefix(FILE_URL_PREFIX))
    assert path.parent == service.ui_dir / "payloads"
    meta, arrays = unpack_payload(path.read_bytes())
    # the picture alone drives the visual regions: blue, and all of their shares are video
    space = get_space("fsaverage5")
    v1 = space.select(["V1"])
    strongest = int(np.argmax(np.abs(run.prediction.data[:, v1]).mean(axis=1)))
    rgb = arrays["rgb"][strongest, v1].astype(int)
    assert (rgb[:, 2] > 0).mean() > 0.9 and rgb[:, :2].max() == 0
    assert meta["channels"] == [2] and meta["n_frames"] == len(run.prediction.times_s)
    shares = arrays["shares"]
    assert len(meta["regions"]) == len(result.regions) > 0 and np.allclose(shares.sum(axis=1)[shares.sum(1) > 0], 1)
    # no region was asked for: the regions with the largest responses get a heat map, one row each
    assert result.attention is not None and meta["attention"]["roi_names"] == list(result.regions)
    assert arrays["attention"].shape[:2] == (len(result.regions), len(run.prediction.times_s))
    assert meta["attention"]["words"] == []  # a silent video has no words
    # the sentences name the method and what absent means for the model
    text = attribution_text(attribution, result.regions)
    assert "absent" in text and (attribution.metadata.get("method_words") or "")[:20] in text
    assert "ROI attention" in attention_text(result.attention, "nforge-lite", asked=False)
    # a second explanation is the same payload (the engine caches the attribution)
    assert service.explain(run.prediction_id).panel_value == result.panel_value


def test_explain_says_what_is_wrong(explained, tmp_path):
    service, run, _ = explained
    with pytest.raises(UserInputError, match="unknown prediction id"):
        service.explain("not-an-id")
    prediction, facts = service.load(run.prediction_id)
    gone = service.keep(prediction, [], str(tmp_path / "gone.mp4"), title="gone")
    with pytest.raises(UserInputError, match="no longer on this server"):
        service.explain(gone.prediction_id)


@pytest.mark.slow
def test_explain_through_the_api(ui_server):
    """``/explain`` of a per-TR text prediction with two regions: sentences, then the payload the panels read."""
    import urllib.request

    from gradio_client import Client

    client = Client(ui_server.url, verbose=False)
    lines = ["The storm passed.", "", "The sea was calm again.", "Birds came back to the shore.", ""]
    _, prediction_id, *_ = client.predict("per-TR text", None, None, None, "\n".join(lines), 1.0, "nforge-lite",
                                          "average", ["44", "V1"], api_name="/predict")
    attribution, attention, view, same = client.predict(prediction_id, api_name="/explain")
    assert "Modality attribution" in attribution and "absent" in attribution and "Not available" not in attribution
    assert "ROI attention" in attention and "regions asked for" in attention
    value = json.loads(view)
    assert value == json.loads(same) and value["prediction_id"] == prediction_id
    with urllib.request.urlopen(ui_server.url + value["payload"]) as response:
        meta, arrays = unpack_payload(response.read())
    assert meta["modalities"] == ["text"] and meta["regions"] == ["44", "V1"]
    assert meta["attention"]["roi_names"] == ["44", "V1"] and arrays["attention"].shape[:2] == (2, meta["n_frames"])
    assert [word[2] for word in meta["attention"]["words"]] == [line for line in lines if line]  # one per TR
    ablation, *_, view = client.predict(prediction_id, "ablation", api_name="/explain")
    assert "ablation" in ablation and json.loads(view)["payload"] != value["payload"]  # another method, another file
    error_text, *_ = client.predict("0123456789abcdef", api_name="/explain")  # an id this server never made
    assert error_text.startswith("**Could not explain.**") and "no prediction with id" in error_text


def test_explain_text2fmri_shows_which_trs_text_drove_each_region(tmp_path):
    """Text2fMRI reads text only: Explain gives its ROI attention (occlusion of each TR's text), no modality map."""
    from _tiny_models import save_tiny_qwen2, save_tiny_text2fmri

    save_tiny_text2fmri(tmp_path / "weights" / "text2fmri", save_tiny_qwen2(tmp_path / "qwen"))
    service = AppService(settings=Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights"))
    run = service.predict(["Hello, are you", "awake? Yes,", "", "I am here."], 1.49, "text2fmri",
                          roi=["Vis", "Default"])
    result = service.explain(run.prediction_id)
    assert result.attribution is None and result.regions == ("Vis", "Default")
    attention = result.attention
    assert attention.roi_names == ("Vis", "Default") and attention.attention.shape == (2, 4, 4)
    np.testing.assert_array_equal(attention.attention[:, :, 2], 0.0)  # the TR without words drives nothing
    value = json.loads(result.panel_value)
    assert value["map"] is False and value["prediction_id"] == run.prediction_id
    meta, arrays = unpack_payload(Path(value["payload"].removeprefix(FILE_URL_PREFIX)).read_bytes())
    assert meta["modalities"] == [] and meta["regions"] == [] and "rgb" not in arrays
    assert meta["attention"]["roi_names"] == ["Vis", "Default"] and arrays["attention"].shape == (2, 4, 4)
    np.testing.assert_array_equal(arrays["attention"][:, :, 2], 0)
    assert "occlusion of each TR's text" in attention_text(attention, "text2fmri", asked=True)
    assert service.explain(run.prediction_id).panel_value == result.panel_value  # cached: the same payload


def test_export_writes_the_last_explanation(explained):
    """After Explain, the Export section also writes the attribution's PNG and CSV (export_attribution)."""
    import csv

    from PIL import Image

    service, run, result = explained
    files, notes = service.export(run.prediction_id, ["json"], attribution_formats=["png", "csv"])
    names = sorted(path.name for path in files)
    assert notes == [] and len(names) == 3 and names[0].endswith(".attr.csv") and names[1].endswith(".attr.png")
    png = next(path for path in files if path.suffix == ".png")
    with Image.open(png) as image:
        assert image.size[0] > 100 and image.mode in ("RGB", "RGBA")
    rows = list(csv.DictReader(next(path for path in files if path.name.endswith(".attr.csv")).open()))
    assert {row["region"] for row in rows} == set(result.regions)
    assert all(float(row["share_video"]) in (0.0, 1.0) for row in rows)  # a silent video: video or nothing
    with pytest.raises(UserInputError, match="press \\*Explain\\*"):  # another server process: nothing explained
        AppService(settings=service.settings).export(run.prediction_id, [], attribution_formats=["png"])
    with pytest.raises(UserInputError, match="mp4"):
        service.export(run.prediction_id, [], attribution_formats=["mp4"])


@pytest.mark.slow
def test_explain_text2fmri_through_the_api(tmp_path):
    """``/explain`` of a Text2fMRI prediction: the modality panel keeps its one sentence, the ROI panel its heat map."""
    from _ui_helpers import free_port
    from gradio_client import Client

    from nforge_app.engine import Engine
    from nforge_app.ui import launch

    from _tiny_models import save_tiny_qwen2, save_tiny_text2fmri

    save_tiny_text2fmri(tmp_path / "weights" / "text2fmri", save_tiny_qwen2(tmp_path / "qwen"))
    engine = Engine(Settings.from_env(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights"), device="cpu")
    demo = launch(engine, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        lines = ["Hello, are you", "awake? Yes,", "", "I am here."]
        _, prediction_id, *_ = client.predict("per-TR text", None, None, None, "\n".join(lines), 1.49, "text2fmri",
                                              None, ["Vis", "Default"], api_name="/predict")
        attribution, attention, view, same = client.predict(prediction_id, api_name="/explain")
        assert "reads text only" in attribution and "nothing to split" in attribution
        assert "occlusion of each TR's text" in attention and "regions asked for" in attention
        value = json.loads(view)
        assert value == json.loads(same) and value["map"] is False
    finally:
        demo.close()
