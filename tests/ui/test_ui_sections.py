"""The page's parts without a server: its sections and how to add one, its texts (escaped, from the cards'
capabilities), and the message when gradio is missing."""

import dataclasses
import sys

import pytest

from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.models import get_card
from nforge_app.ui import _app, _texts
from nforge_app.ui._gradio import MISSING_GRADIO, import_gradio
from nforge_app.ui._page import Page, Section
from nforge_app.ui._texts import error_markdown, escape_markdown, panel_texts


def test_messages_keep_angle_brackets_and_marks():
    text = "put them in <NFORGE_WEIGHTS_DIR>/tribe-v2 & retry; regions *STS* or V_1 [x]"
    escaped = escape_markdown(text)
    assert r"&lt;NFORGE\_WEIGHTS\_DIR&gt;/tribe-v2 &amp; retry" in escaped
    assert r"\*STS\*" in escaped and r"V\_1 \[x\]" in escaped
    assert error_markdown(UserInputError(text), "export").startswith("**Could not export.** put them in &lt;")
    unavailable = error_markdown(ModelUnavailableError("no weights in <DIR>"))
    assert "&lt;DIR&gt;" in unavailable and "Run with nforge-lite instead" in unavailable


def test_panel_texts_follow_the_card_capabilities(monkeypatch):
    card = dataclasses.replace(get_card("tribe-v2"), baseline=False, capabilities=frozenset())
    monkeypatch.setattr(_texts, "get_card", lambda model_id: card)
    attribution, attention = panel_texts("any id")
    assert "does not offer it" in attribution and "does not offer temporal attention" in attention
    card = dataclasses.replace(card, capabilities=frozenset({"attribution", "attention"}))
    attribution, attention = panel_texts("any id")
    assert "Press *Explain*" in attribution and "text · audio · video" in attribution
    assert "Press *Explain*" in attention and "baseline" not in attribution
    card = dataclasses.replace(card, modalities=("text",), capabilities=frozenset({"attention"}))
    attribution, attention = panel_texts("any id")
    assert "reads text only" in attribution and "Press *Explain*" in attention
    card = dataclasses.replace(card, modalities=("text", "audio"), baseline=True,
                               capabilities=frozenset({"attribution"}))
    assert "not trained on fMRI" in panel_texts("any id")[0]
    assert not any("Not available" in text for text in panel_texts("any id"))


def test_a_section_added_to_the_tabs_shows_as_a_tab(monkeypatch, tmp_path):
    gr = import_gradio()
    seen = {}

    def layout(page: Page) -> None:
        page.add(example_tab_text=gr.Markdown("A tab added by a test."))

    def events(page: Page) -> None:  # wired after every section: may use any component by name
        seen["prediction_id"] = page["prediction_id"]
        seen["service"] = page.service

    titles = [section.title for section in _app.TABS]
    monkeypatch.setattr(_app, "TABS", _app.TABS + (Section("example-tab", layout, events, title="Example tab"),))
    demo = _app.build_app(settings=Settings.from_env(cache_dir=tmp_path))
    config = demo.get_config_file()
    labels = [c["props"].get("label") for c in config["components"] if c["type"] == "tabitem"]
    assert titles[:3] == ["Modality attribution", "ROI attention", "Evaluate"] and "Compare" in titles
    assert labels[-len(titles) - 1:] == [*titles, "Example tab"]
    assert seen["prediction_id"].label == "prediction id" and seen["service"].settings.cache_dir == tmp_path
    names = {d["api_name"] for d in config["dependencies"] if d.get("api_name")}
    assert {"predict", "export", "evaluate", "contrast", "export_contrast", "explain"} <= names


def test_a_component_name_is_registered_once():
    page = Page(service=None, examples=None)
    page.add(status="a")
    with pytest.raises(ValueError, match="already on the page"):
        page.add(status="b")
    assert page("status") == ["a"]


def test_without_gradio_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(ImportError) as caught:
        import_gradio()
    assert str(caught.value) == MISSING_GRADIO and 'pip install "nforge-app[ui]"' in MISSING_GRADIO


def test_tribe_options_and_estimate_on_the_page(tmp_path, monkeypatch):
    from nforge_app.models import _tribe_estimate
    from nforge_app.ui._sections.tribe import estimate_text, options_for

    assert options_for("nforge-lite", "bf16", ["audio"]) == {}
    assert options_for("tribe-v2", "fp32", ["text", "audio", "video"]) == {"precision": "fp32"}
    assert options_for("tribe-v2", "bf16", ["audio", "text"]) == {"precision": "bf16", "modalities": ["audio", "text"]}
    monkeypatch.setattr(_tribe_estimate, "machine_tflops", lambda dtype="float32": 0.1)
    from _media import make_video

    clip = make_video(tmp_path / "clip.mp4", 2.0, audio="tone")

    class Service:
        class engine:
            device = "cpu"
            settings = None

    assert estimate_text("nforge-lite", str(clip), None, Service) == ""
    full = estimate_text("tribe-v2", str(clip), ["text", "audio", "video"], Service)
    lean = estimate_text("tribe-v2", str(clip), ["audio", "text"], Service)
    assert full.startswith("TRIBE v2 on this machine (cpu): about") and "video" in full and "video" not in lean


def test_the_transcript_of_an_upload_downloads_and_reads_back(tmp_path):
    from nforge_app.config import Settings
    from nforge_app.errors import UserInputError
    from nforge_app.stimuli import load_stimulus
    from nforge_app.ui._sections.tribe import transcript_tsv

    from _media import make_audio

    clip = make_audio(tmp_path / "talk.wav", 3.0)
    (tmp_path / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nhello brave world\n", encoding="utf-8")

    class Service:
        ui_dir = tmp_path / "ui"

        class engine:
            settings = Settings(cache_dir=tmp_path / "cache")

    path = transcript_tsv(str(clip), None, Service)
    assert path.endswith(".tsv")
    words = load_stimulus(str(clip), Service.engine.settings, transcript=path).words
    assert [w.text for w in words] == ["hello", "brave", "world"]
    assert words == load_stimulus(str(clip), Service.engine.settings).words
    bare = make_audio(tmp_path / "bare.wav", 2.0)
    with pytest.raises(UserInputError, match="has no words"):
        transcript_tsv(str(bare), None, Service)
