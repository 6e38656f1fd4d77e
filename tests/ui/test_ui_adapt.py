"""The Adapt tab's service: a subject fitted from uploaded runs, its held-out r map, and the subject menu."""

import json

import numpy as np
import pytest

from nforge_app.analysis._adapt import hidden_features
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.models import get_card
from nforge_app.stimuli import load_stimulus
from nforge_app.ui._adapt import AdaptService, subject_choices
from nforge_app.ui._service import AppService
from nforge_app.viz._viewer import unpack_payload

from _media import make_scene


@pytest.fixture()
def service(tmp_path):
    return AppService(settings=Settings.from_env(cache_dir=tmp_path / "cache"))


def test_fit_a_subject_from_uploads_then_pick_it(service, tmp_path):
    engine = service.engine
    model = engine.load_model("nforge-lite")
    rng = np.random.default_rng(0)
    stimuli, measured, weights = [], [], None
    for i in range(3):
        stimuli.append(str(make_scene(tmp_path / f"run-{i}.mp4", 30.0, seed=20 + i)))
        hidden = hidden_features(engine, model, load_stimulus(stimuli[-1], engine.settings)).data
        weights = rng.standard_normal((hidden.shape[1], 20484)) if weights is None else weights
        signal = hidden @ weights
        measured.append(str(tmp_path / f"run-{i}.npz"))
        np.savez(measured[-1], data=signal + 0.3 * signal.std(axis=0) * rng.standard_normal(signal.shape), tr_s=1.0)
    card = get_card("nforge-lite")
    assert subject_choices(card, service.settings) == [("average", "average")]
    stages = []
    view = AdaptService(service).fit("nforge-lite", stimuli[::-1], measured, "sub-me", 0, False,
                                     lambda fraction, stage: stages.append((fraction, stage)))
    assert view.subject.card["held_out_mean_r"] >= 0.8 and view.subject.card["held_out_stimulus"] == "run-2.mp4"
    assert "**Subject sub-me (adapted)**" in view.summary and "sub-me (adapted)" in view.summary
    assert stages[-1] == (1.0, "done") and all(a[0] <= b[0] for a, b in zip(stages, stages[1:]))
    value = json.loads(view.viewer_value)
    assert value["title"] == "held-out r · subject sub-me (adapted) · nforge-lite"
    meta, arrays = unpack_payload((service.ui_dir / "payloads" / value["payload"].rsplit("/", 1)[1]).read_bytes())
    assert meta["map"]["label"] == "Pearson r" and arrays["frames"].shape == (1, 20484)
    assert view.file.name == "sub-me.held-out.eval.npz"
    assert subject_choices(card, service.settings) == [("average", "average"), ("sub-me (adapted)", "sub-me")]
    kept = service.predict(stimuli[0], None, "nforge-lite", "sub-me")
    assert kept.prediction.subject == "sub-me"
    with pytest.raises(UserInputError, match="exists already"):
        AdaptService(service).fit("nforge-lite", stimuli, measured, "sub-me")
    with pytest.raises(UserInputError, match="upload the stimulus of each run"):
        AdaptService(service).fit("nforge-lite", [], measured, "other")
