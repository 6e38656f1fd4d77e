"""Modality attribution: exact lite parts on generated media, TRIBE v2 Shapley / IG / ablation against the
model's own predictions, the flow model's mean anchor, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nforge_app.analysis import attribute, tribe_window_attribution
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.features import FeatureSet
from nforge_app.models.flow import FlowMatchingModel
from nforge_app.models.tribe import TribeModel
from nforge_app.spaces import get_space
from nforge_app.stimuli import Stimulus, load_stimulus

from _media import ffmpeg
from _releases import SMALL_FEATURE_DIMS, small_inputs, write_flow_release, write_tribe_release

# -- nforge-lite on generated media ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attribution-media")
    tone = folder / "tone.mp4"  # a still grey picture and a tone switched on and off every 3 s
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=160x120:rate=25:duration=20", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=22050:duration=20", "-af", "volume='gt(mod(t,6),3)':eval=frame",
           "-t", "20", "-ac", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(tone))
    silent = folder / "silent.mp4"  # a moving test picture and a silent sound track
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=20", "-f", "lavfi", "-i",
           "anullsrc=r=22050:cl=mono", "-t", "20", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(silent))
    return {"tone": tone, "silent": silent}


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    engine = Engine(Settings(cache_dir=tmp_path_factory.mktemp("attribution-cache")))
    return engine, engine.load_model("nforge-lite")


def _share(attribution, indices, modality):
    columns = np.isin(attribution.indices, indices)
    magnitude = np.abs(attribution.scores[:, :, columns]).sum(axis=(1, 2))
    return magnitude[attribution.modalities.index(modality)] / magnitude.sum()


@pytest.mark.parametrize(("clip", "regions", "modality"), [
    ("tone", ["A1", "LBelt", "MBelt", "PBelt", "RI"], "audio"),
    ("silent", ["V1"], "video"),
    ("silent", ["MT"], "video"),
])
@pytest.mark.parametrize("method", ["shapley", "integrated-gradients", "ablation"])
def test_lite_gives_each_region_to_the_modality_that_drives_it(media, lite, clip, regions, modality, method):
    engine, model = lite
    stimulus = load_stimulus(media[clip], engine.settings)
    features = engine.extract_features(model, stimulus)
    attribution = attribute(model, features, stimulus, method)
    assert attribution.modalities == ("audio", "video") and attribution.method == method
    indices = get_space("fsaverage5", engine.settings).select(roi=regions)
    assert _share(attribution, indices, modality) >= 0.95
    # exact: the parts sum to the model's own prediction, whatever the method
    prediction = model.predict(features, stimulus)
    np.testing.assert_allclose(attribution.prediction(), prediction.data, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(attribution.baseline, 0)
    assert attribution.completeness_error < 1e-6 and attribution.metadata["exact"] is True
    assert attribution.scores.dtype == np.float32 and attribution.scores.shape == (2, *prediction.data.shape)
    np.testing.assert_array_equal(attribution.times_s, prediction.times_s)


def test_lite_selection_and_one_modality(media, lite):
    engine, model = lite
    stimulus = load_stimulus(media["tone"], engine.settings)
    features = engine.extract_features(model, stimulus)
    indices = np.array([5, 17, 9000])
    attribution = attribute(model, features, stimulus, indices=indices, modalities=["audio"])
    assert attribution.modalities == ("audio",) and attribution.scores.shape == (1, 20, 3)
    np.testing.assert_array_equal(attribution.indices, indices)
    audio_only = model.predict(features.subset(["audio"]), stimulus, indices=indices)
    np.testing.assert_allclose(attribution.scores[0], audio_only.data, atol=1e-6)


def test_bad_input_is_refused_with_the_allowed_values(media, lite):
    engine, model = lite
    stimulus = load_stimulus(media["tone"], engine.settings)
    features = engine.extract_features(model, stimulus)
    with pytest.raises(UserInputError, match="shapley, integrated-gradients, ablation"):
        attribute(model, features, stimulus, "lime")
    for steps in (1, 513, 2.5, "many"):
        with pytest.raises(UserInputError, match="from 2 to 512"):
            attribute(model, features, stimulus, steps=steps)
    with pytest.raises(UserInputError, match="no text .* carries audio, video"):
        attribute(model, features, stimulus, modalities=["text"])
    with pytest.raises(UserInputError, match="does not read smell"):
        attribute(model, features, stimulus, modalities=["smell"])


def test_a_single_modality_model_says_so_in_one_sentence():
    from nforge_app.models.text2fmri import Text2fMRIModel

    model = Text2fMRIModel.__new__(Text2fMRIModel)  # the card is all the check reads
    with pytest.raises(UserInputError) as caught:
        attribute(model, None, None)
    message = str(caught.value)
    assert "text2fmri reads text only" in message and "\n" not in message and message.count(". ") == 0


# -- TRIBE v2 -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tribe(tmp_path_factory):
    release = write_tribe_release(tmp_path_factory.mktemp("attribution-tribe"), seed=5)
    model = TribeModel(Settings(cache_dir=tmp_path_factory.mktemp("cache")), variant=str(release), device="cpu",
                       precision="fp32")
    model.load()
    return model




@pytest.mark.usefixtures("one_torch_thread")
def test_tribe_shapley_is_exactly_additive_and_matches_the_coalitions(tribe):
    features, stimulus = small_inputs(130.0)  # two windows, the second padded
    attribution = attribute(tribe, features, stimulus)
    prediction = tribe.predict(features, stimulus)
    assert attribution.method == "shapley" and attribution.modalities == ("text", "audio", "video")
    assert attribution.scores.shape == (3, 130, 40) and attribution.metadata["precision"] == "fp32"
    np.testing.assert_allclose(attribution.prediction(), prediction.data, atol=1e-5 * np.abs(prediction.data).max())
    assert attribution.completeness_error < 1e-5
    # the all-absent baseline (kept per encoder) is every modality scaled to 0 on any stimulus
    other, _ = small_inputs(100.0, seed=1)
    with torch.inference_mode():
        window = {m: torch.from_numpy(a[None]) for m, a in other.features.items()}
        hidden = tribe.encoder_.hidden(window, modality_scale={m: 0.0 for m in window}, fast="fp32")
        absent = tribe.encoder_.readout(hidden, fast="fp32")[0].numpy().T
    np.testing.assert_allclose(attribution.baseline[:100], absent, atol=1e-6)
    np.testing.assert_allclose(attribution.baseline[100:], absent[:30], atol=1e-6)
    # each Shapley value from the model's own predictions with modalities left out of the FeatureSet
    f = {tuple(c): tribe.predict(features.subset(c), stimulus).data.astype(np.float64)
         for c in (["text", "audio"], ["text", "video"], ["audio", "video"], ["text"], ["audio"], ["video"])}
    f[()] = attribution.baseline.astype(np.float64)
    f[("text", "audio", "video")] = prediction.data.astype(np.float64)
    text = (2 * (f[("text",)] - f[()]) + (f[("text", "audio")] - f[("audio",)])
            + (f[("text", "video")] - f[("video",)]) + 2 * (f[("text", "audio", "video")] - f[("audio", "video")])) / 6
    np.testing.assert_allclose(attribution.scores[0], text, atol=2e-5 * np.abs(text).max())


@pytest.mark.usefixtures("one_torch_thread")
def test_tribe_ablation_reports_the_interaction(tribe):
    features, stimulus = small_inputs(40.0)
    attribution = attribute(tribe, features, stimulus, "ablation", indices=np.arange(0, 40, 3))
    prediction = tribe.predict(features, stimulus, indices=np.arange(0, 40, 3)).data
    without_audio = tribe.predict(features.subset(["text", "video"]), stimulus, indices=np.arange(0, 40, 3)).data
    np.testing.assert_allclose(attribution.scores[1], prediction - without_audio, atol=1e-5)
    meta = attribution.metadata
    assert meta["interaction_relative"] == attribution.completeness_error > 1e-3  # random weights interact
    assert "interaction" in meta and meta["interaction_max_abs"] > 0


@pytest.mark.usefixtures("one_torch_thread")
def test_tribe_integrated_gradients_are_nearly_complete(tribe):
    features, stimulus = small_inputs(30.0, modalities=("audio", "text"))
    attribution = attribute(tribe, features, stimulus, "integrated-gradients", steps=16)
    assert attribution.modalities == ("text", "audio") and attribution.metadata["steps"] == 16
    assert attribution.completeness_error < 0.02
    shapley = attribute(tribe, features, stimulus)
    np.testing.assert_allclose(attribution.baseline, shapley.baseline, atol=1e-6)
    # both explain the same difference, and on a smooth model they agree on who did what
    assert np.corrcoef(attribution.scores.ravel(), shapley.scores.ravel())[0, 1] > 0.9


@pytest.mark.usefixtures("one_torch_thread")
def test_window_attribution_integrated_gradients_match_finite_differences():
    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder

    torch.manual_seed(0)
    spec = EncoderSpec(feature_dims=dict(SMALL_FEATURE_DIMS), n_outputs=12, n_output_timesteps=5, hidden=96, depth=1, heads=2,
                       low_rank=8, max_seq_len=32)
    encoder = TribeEncoder(spec).eval()
    windows = {m: torch.randn(2, *SMALL_FEATURE_DIMS[m], 10) for m in ("audio", "video")}
    out = tribe_window_attribution(encoder, windows, "integrated-gradients", steps=64)
    assert out["modalities"] == ["audio", "video"] and out["scores"].shape == (2, 2, 12, 5)
    # the audio part: the integral of d f / d alpha_audio along alpha (audio, video) = (a, a), by midpoints
    with torch.inference_mode():
        embeddings = encoder.project(windows, fast="fp32")

        def f(audio, video):
            hidden = encoder.hidden(embeddings=embeddings, modality_scale={"audio": audio, "video": video},
                                    fast="fp32")
            return encoder.readout(hidden, fast="fp32").double().numpy()

        eps, alphas = 1e-3, (np.arange(64) + 0.5) / 64
        audio = sum((f(a + eps, a) - f(a - eps, a)) / (2 * eps) for a in alphas) / 64
    np.testing.assert_allclose(out["scores"][0], audio, atol=2e-3 * np.abs(audio).max())
    total = out["scores"].sum(0) + out["baseline"] - out["prediction"]
    assert np.abs(total).max() < 0.02 * np.abs(out["prediction"] - out["baseline"]).max()


# -- flow-matching ----------------------------------------------------------------------------------------------

def test_flow_decomposes_its_mean_anchor_over_streams(tmp_path):
    stage1, _ = write_flow_release(tmp_path, {"text": 6, "audio": 8}, extractors=("lite-text", "lite-audio"))
    model = FlowMatchingModel(Settings(cache_dir=tmp_path / "cache"), variant=str(tmp_path), n_samples=1,
                              n_steps=1)
    model.load()
    rng = np.random.default_rng(0)
    features = FeatureSet({"text": rng.standard_normal((1, 6, 30)).astype(np.float32),
                           "audio": rng.standard_normal((1, 8, 30)).astype(np.float32)}, rate_hz=2.0, n_steps=30,
                          duration_s=15.0, extractor_ids={"text": "lite-text", "audio": "lite-audio"})
    stimulus = Stimulus(kind="video", source="<test>", content_hash="h", duration_s=15.0)
    by_method = {m: attribute(model, features, stimulus, m, subject=2)
                 for m in ("shapley", "integrated-gradients", "ablation")}
    shapley = by_method["shapley"]
    assert shapley.modalities == ("text", "audio") and shapley.subject == "2" and shapley.scores.shape[2] == 1000
    # the anchor of both streams, from stage 1 itself
    hidden = model.transform(features, stimulus)
    with torch.no_grad():
        mu = stage1.readout(torch.as_tensor(hidden.data[None]))[0, 1].numpy()
    np.testing.assert_allclose(shapley.prediction(), mu, atol=1e-5)
    assert shapley.completeness_error < 1e-5 and by_method["integrated-gradients"].completeness_error < 1e-5
    assert "mean anchor" in shapley.metadata["explains"]
    # two players: Shapley = ((v(m) - v(0)) + (v(all) - v(other))) / 2, the mean of IG-like and ablation parts
    np.testing.assert_allclose(shapley.scores, (by_method["ablation"].scores + _singles(model, features, stimulus,
                                                                                      shapley)) / 2, atol=1e-5)


def _singles(model, features, stimulus, shapley):
    return np.stack([attribute(model, features.subset([m]), stimulus, subject=2).scores[0] for m in
                     shapley.modalities])


# -- planted truth: region A reads only audio, region B only text (tests/_planted.py) --------------------------

@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("method", ["shapley", "integrated-gradients"])
def test_planted_regions_go_to_their_modality(tmp_path, method):
    from _planted import REGION_A, REGION_B, REGION_VIDEO, planted_inputs, planted_model

    model = planted_model(tmp_path / "planted", tmp_path / "cache")
    features, stimulus = planted_inputs()
    attribution = attribute(model, features, stimulus, method, steps=16)
    assert attribution.modalities == ("text", "audio", "video")
    assert _share(attribution, REGION_A, "audio") >= 0.9
    assert _share(attribution, REGION_B, "text") >= 0.9
    assert _share(attribution, REGION_VIDEO, "video") >= 0.9
    assert attribution.completeness_error < (1e-5 if method == "shapley" else 0.02)


@pytest.mark.slow
def test_real_size_random_weights_shapley_exact_and_ig_complete_at_32_steps():
    """The released sizes (hidden 1152, 8 layers, 20,484 outputs) with random weights, on a 4-s input (8
    steps) to keep it shorter: Shapley completeness to 1e-5 relative, integrated gradients within 2% at 32.
    About a minute on 2 cores (the fused head of 20,484 x 1152 is laid out once per path)."""
    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder

    torch.manual_seed(0)
    encoder = TribeEncoder(EncoderSpec()).eval()
    generator = torch.Generator().manual_seed(1)
    windows = {m: torch.randn(1, n_layers, dim, 8, generator=generator)
               for m, (n_layers, dim) in encoder.spec.feature_dims.items()}
    indices = np.arange(0, 20484, 7)
    shapley = tribe_window_attribution(encoder, windows, "shapley", indices=indices)
    ig = tribe_window_attribution(encoder, windows, "integrated-gradients", steps=32, indices=indices)
    with torch.inference_mode():
        prediction = encoder(windows, indices=torch.as_tensor(indices), fast="fp32").numpy()
    for out, tolerance in ((shapley, 1e-5), (ig, 0.02)):
        explained = out["scores"].astype(np.float64).sum(0) + out["baseline"]
        scale = np.abs(prediction - out["baseline"]).max()
        assert np.abs(explained - prediction).max() <= tolerance * scale
