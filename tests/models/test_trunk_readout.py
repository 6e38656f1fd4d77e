"""The seam every model offers the analyses: ``transform`` (features -> HiddenFeatures), ``readout`` (hidden
features -> Prediction), ``FeatureSet.subset`` and each model's absent-modality rule.

The models and inputs are the golden cases of ``tests/_golden.py`` (tiny seeded models of the four kinds).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.models import HiddenFeatures, get_model_class, list_model_ids

from _golden import build_cases

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The width of each model's hidden features in the golden cases.
WIDTHS = {"lite": 9, "tribe": 96, "text2fmri": 16, "flow": 8}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases(tmp_path_factory.mktemp("seam"))


def _with_data(hidden: HiddenFeatures, data: np.ndarray) -> HiddenFeatures:
    return dataclasses.replace(hidden, data=data.astype(hidden.data.dtype))


@pytest.mark.parametrize(("model_id", "capabilities"), [
    ("nforge-lite", {"attribution", "attention", "adaptation", "streaming"}),
    ("tribe-v2", {"attribution", "attention", "attention-rollout", "adaptation", "streaming"}),
    ("text2fmri", {"attention", "adaptation"}),
    ("flow-matching", {"attribution", "attention", "adaptation"}),
])
def test_cards_say_what_each_model_offers(model_id, capabilities):
    assert get_model_class(model_id).card.capabilities == capabilities


@pytest.mark.parametrize("model_id", list_model_ids())
def test_every_model_states_its_absent_rule_and_refuses_unknown_options(model_id, tmp_path):
    model_class = get_model_class(model_id)
    assert len(model_class.absent_modality.split()) > 8
    with pytest.raises(UserInputError, match=f"{model_id} has no option 'fsat'; accepted options: ") as refused:
        model_class(Settings(cache_dir=tmp_path), fsat=True)
    listed = str(refused.value).split("accepted options: ")[1]
    assert all(f"{name} (" in listed for name in model_class.accepted_options) and (
        model_class.accepted_options or listed == "none")


@pytest.mark.parametrize("kind", ["lite", "tribe", "text2fmri", "flow"])
def test_transform_describes_its_columns_and_readout_gives_the_prediction(cases, kind):
    model, features, stimulus, subject, _ = cases[f"{kind}-all"]
    hidden = model.transform(features, stimulus, subject)
    prediction = model.predict(features, stimulus, subject)
    card = model.card
    assert hidden.model_id == card.model_id and hidden.data.ndim == 2 and hidden.data.shape[1] == WIDTHS[kind]
    assert len(hidden.columns) == len(hidden.column_modalities) == hidden.data.shape[1]
    np.testing.assert_array_equal(hidden.times_s, prediction.times_s)
    assert (hidden.tr_s, hidden.hrf_offset_s, hidden.time_axis) == (
        prediction.tr_s, prediction.hrf_offset_s, prediction.time_axis)
    assert set(hidden.column_modalities) <= {*card.modalities, "mixed"} and np.isfinite(hidden.data).all()
    assert hidden.subject == (prediction.subject if kind == "text2fmri" else None)
    assert hidden.metadata["absent_modality"] == prediction.metadata["absent_modality"] == model.absent_modality
    again = model.readout(hidden, subject)
    assert np.array_equal(again.data, prediction.data) and again.metadata == prediction.metadata
    if kind == "lite":
        assert hidden.columns[:3] == ("loudness", "spectral_flux", "mel_energy")
        assert hidden.column_modalities == ("audio",) * 3 + ("text",) * 2 + ("video",) * 4


@pytest.mark.parametrize("kind", ["lite", "tribe", "text2fmri", "flow"])
def test_selecting_outputs_equals_slicing_all_of_them(cases, kind):
    model, features, stimulus, subject, _ = cases[f"{kind}-all"]
    hidden = model.transform(features, stimulus, subject)
    full = model.readout(hidden, subject)
    indices = np.array([7, 0, 39, 12])
    part = model.readout(hidden, subject, indices)
    np.testing.assert_array_equal(part.indices, indices)
    if kind in ("tribe", "text2fmri"):  # a smaller matrix product: the same sums, rounded differently
        np.testing.assert_allclose(part.data, full.data[:, indices], rtol=1e-5, atol=1e-5)
    else:  # lite: each vertex's column on its own; flow: the samples are sliced
        assert np.array_equal(part.data, full.data[:, indices])
    if full.spread is not None:
        assert np.array_equal(part.spread, full.spread[:, indices])
    with pytest.raises(UserInputError, match="accepted: 0 to"):
        model.readout(hidden, subject, np.array([full.data.shape[1]]))


@pytest.mark.parametrize(("kind", "bias_free"), [("lite", True), ("tribe", False)])
def test_the_readout_is_linear(cases, kind, bias_free):
    model, features, stimulus, subject, _ = cases[f"{kind}-all"]
    hidden = model.transform(features, stimulus, subject)
    rng = np.random.default_rng(0)
    other = _with_data(hidden, rng.standard_normal(hidden.data.shape))
    combined = _with_data(hidden, 0.4 * hidden.data + 1.5 * other.data)
    zero = 0.0 if bias_free else model.readout(_with_data(hidden, 0 * hidden.data), subject).data
    got = model.readout(combined, subject).data - zero
    want = 0.4 * (model.readout(hidden, subject).data - zero) + 1.5 * (model.readout(other, subject).data - zero)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_lite_absent_modality_drops_its_channels(cases):
    model, features, stimulus, subject, _ = cases["lite-all"]
    full = model.transform(features, stimulus, subject)
    audio = model.transform(features.subset(["audio"]), stimulus, subject)
    assert audio.columns == ("loudness", "spectral_flux", "mel_energy") and set(audio.column_modalities) == {"audio"}
    assert np.array_equal(audio.data, full.data[:, :3])  # each channel is standardised on its own
    dropped = model.readout(_with_data(full, np.where(np.isin(full.column_modalities, ["audio"]), full.data, 0.0)),
                            subject)
    np.testing.assert_allclose(model.readout(audio, subject).data, dropped.data, rtol=1e-6, atol=1e-6)
    assert model.transform(features.subset([]), stimulus, subject).data.shape == (31, 0)
    assert not model.readout(model.transform(features.subset([]), stimulus, subject), subject).data.any()


def test_tribe_absent_modality_is_zeros_after_the_projector(cases):
    model, features, stimulus, subject, _ = cases["tribe-selection"]
    without_audio = model.transform(features.subset(["text", "video"]), stimulus, subject)
    assert without_audio.metadata["zero_modalities"] == ["audio"] and "projector" in model.absent_modality
    # the encoder's own rule, on one window: the same as scaling the projected audio by 0 ...
    window = {m: torch.from_numpy(np.pad(a, ((0, 0), (0, 0), (0, 200 - a.shape[-1])))[None])
              for m, a in features.features.items()}
    encoder = model.encoder_
    scaled = encoder.hidden(window, fast=False, modality_scale={"audio": 0.0})[0, :31].numpy()
    assert np.array_equal(without_audio.data, scaled)
    # ... and not the same as audio features of zeros, which pass the projector's bias
    zeros = dataclasses.replace(features, features={**features.features,
                                                    "audio": np.zeros_like(features.features["audio"])})
    assert np.abs(model.transform(zeros, stimulus, subject).data - without_audio.data).max() > 1e-3


def test_flow_absent_stream_is_the_mean_over_fewer_streams(cases):
    model, features, stimulus, subject, _ = cases["flow-all"]
    both = model.transform(features, stimulus, subject)
    audio = model.transform(features.subset(["audio"]), stimulus, subject)
    video = model.transform(features.subset(["video"]), stimulus, subject)
    assert audio.metadata["missing_streams"] == ["video"] and set(audio.column_modalities) == {"audio"}
    assert set(both.column_modalities) == {"mixed"}
    np.testing.assert_allclose(both.data, (audio.data + video.data) / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(UserInputError, match="none of them"):
        model.transform(features.subset([]), stimulus, subject)


def test_text2fmri_trunk_depends_on_the_subject(cases):
    model, features, stimulus, _, _ = cases["text2fmri-all"]
    second, fifth = (model.transform(features, stimulus, s) for s in ("sub-02", 5))
    assert (second.subject, fifth.subject) == ("2", "5") and not np.allclose(second.data, fifth.data)
    with pytest.raises(UserInputError, match="computed for subject 2"):
        model.readout(second, 5)
    with pytest.raises(UserInputError, match="text only"):
        model.transform(features.subset([]), stimulus, 2)


def test_a_model_refuses_hidden_features_of_another(cases):
    lite, features, stimulus, _, _ = cases["lite-all"]
    hidden = lite.transform(features, stimulus)
    for kind in ("tribe", "text2fmri", "flow"):
        model, _, _, subject, _ = cases[f"{kind}-all"]
        with pytest.raises(UserInputError, match="come from nforge-lite"):
            model.readout(hidden, subject)
    tribe_hidden = cases["tribe-all"][0].transform(*cases["tribe-audio"][1:3])
    with pytest.raises(UserInputError, match="come from tribe-v2"):
        lite.readout(tribe_hidden)
