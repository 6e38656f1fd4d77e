"""Text2fMRI: head architecture and weight names, loading from folders, prediction end to end, subjects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.features import FeatureSet
from nforge_app.features.lm_tr import LMPerTRExtractor
from nforge_app.models._text2fmri_net import Text2fMRIConfig, Text2fMRIHead
from nforge_app.models.text2fmri import VARIANTS, Text2fMRIModel
from nforge_app.stimuli import load_stimulus

from _tiny_models import TINY_TEXT2FMRI, filled_state, save_tiny_qwen2, save_tiny_text2fmri


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory) -> Path:
    return save_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="module")
def release(tmp_path_factory, lm_dir) -> Path:
    return save_tiny_text2fmri(tmp_path_factory.mktemp("text2fmri") / "tiny", lm_dir)


def settings(tmp_path, weights_dir=None) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", weights_dir=weights_dir)


# --- the head ---------------------------------------------------------------------------------------------------


def test_default_head_has_the_published_size_and_weight_names():
    with torch.device("meta"):
        head = Text2fMRIHead(Text2fMRIConfig())
    # 4 x (attention 4 x 1024^2 + feed-forward 2 x 1024 x 4096 + 4096 + 1024 + 2 norm scalars) + final norm
    # + input 1024 x 1024 + 1024 + subject embedding 4 x 128 + output 1000 x 1024 + subject bias 4 x 1000
    assert sum(p.numel() for p in head.parameters()) == 52_430_249
    expected = {"subj_emb.weight": (4, 128), "inp.weight": (1024, 1024), "inp.bias": (1024,),
                "encoder.rotary_pos_emb.inv_freq": (64,), "encoder.final_norm.g": (1,),
                "out.weight": (1000, 1024), "out_bias.weight": (4, 1000)}
    for block in range(4):
        attn, ff = f"encoder.layers.{2 * block}", f"encoder.layers.{2 * block + 1}"
        expected |= {f"{attn}.0.0.g": (1,), f"{ff}.0.0.g": (1,)}
        expected |= {f"{attn}.1.to_{p}.weight": (1024, 1024) for p in ("q", "k", "v", "out")}
        expected |= {f"{ff}.1.ff.0.0.weight": (4096, 1024), f"{ff}.1.ff.0.0.bias": (4096,),
                     f"{ff}.1.ff.2.weight": (1024, 4096), f"{ff}.1.ff.2.bias": (1024,)}
    assert {name: tuple(t.shape) for name, t in head.state_dict().items()} == expected


def test_head_numbers_match_the_reference_encoder():
    # Expected values computed once with x-transformers 2.8.4 (Encoder, use_scalenorm, rotary, dim_head 8)
    # holding the same weights: pins the norm offset, the rotary layout and the block order.
    config = Text2fMRIConfig(num_rois=12, num_transformer_layers=2, num_transformer_heads=2, transformer_dim=16,
                             subject_embedding_dim=4, extractor_LLM_feature_size=8)
    head = Text2fMRIHead(config).eval()
    head.load_state_dict(filled_state(head))
    x = torch.as_tensor(np.random.default_rng(1).standard_normal((1, 5, 8)), dtype=torch.float32)
    with torch.no_grad():
        out = head(x, torch.tensor([2]))
    expected = np.array([[0.788895, -1.325968, 2.082685, -1.9364],
                         [1.024664, -2.355738, 1.840242, -2.694799],
                         [-0.516745, -1.622101, 1.751323, -2.838722],
                         [0.461567, -1.268732, 2.362372, -2.083623],
                         [-0.38767, -1.921688, 1.948169, -2.333432]])
    np.testing.assert_allclose(out[0, :, :4].numpy(), expected, atol=2e-5)


def test_head_is_bidirectional_and_selects_parcels_exactly():
    head = Text2fMRIHead(Text2fMRIConfig(**TINY_TEXT2FMRI)).eval()
    head.load_state_dict(filled_state(head, seed=3))
    x = torch.randn(1, 6, TINY_TEXT2FMRI["extractor_LLM_feature_size"])
    later = x.clone()
    later[0, -1] += 1.0
    with torch.no_grad():
        full, changed = head(x, torch.tensor([1])), head(later, torch.tensor([1]))
        subset = head(x, torch.tensor([1]), torch.tensor([999, 0, 500]))
    assert not torch.allclose(full[0, 0], changed[0, 0])  # a later TR changes the first one
    torch.testing.assert_close(subset, full[..., [999, 0, 500]])
    assert not Text2fMRIHead(Text2fMRIConfig(**TINY_TEXT2FMRI)).out_bias.weight.any()  # zero-initialised


def test_config_checks_its_fields():
    assert Text2fMRIConfig.from_dict({"tr": 1.49, "unused": 1}) == Text2fMRIConfig()
    for bad in ({"transformer_dim": 100, "num_transformer_heads": 8}, {"num_rois": 0}, {"tr": -1},
                {"num_subjects": 2.5}):
        with pytest.raises(ValueError):
            Text2fMRIConfig(**bad)


# --- the model --------------------------------------------------------------------------------------------------


def test_card():
    card = Text2fMRIModel.card
    assert (card.model_id, card.name, card.space_id, card.tr_s, card.time_axis) == (
        "text2fmri", "Text2fMRI (Dixit 2026)", "schaefer1000", 1.49, "bold")
    assert card.aliases == ("fmri-cneuromod_algo2025-text2fmri",) and card.modalities == ("text",)
    assert card.subjects == (1, 2, 3, 5) and card.default_subject == 1 and card.hrf_offset_s == 0.0
    assert card.weights == VARIANTS[0] == card.variants[0] == "ShreyDixit/Text2fMRI-Qwen-2.5-0.5B"
    assert len(card.variants) == 3


def test_subjects_map_to_head_rows(tmp_path):
    model = Text2fMRIModel(settings(tmp_path))
    assert [model.subject_index(s) for s in (1, 2, 3, 5, "5", "sub-05", "sub-1", None)] == [0, 1, 2, 3, 3, 3, 0, 0]
    for bad in (4, 0, "sub-04", "x", True, 6):
        with pytest.raises(UserInputError, match="1, 2, 3, 5"):
            model.subject_index(bad)


def test_subject_four_is_refused_before_anything_loads(tmp_path):
    features = FeatureSet({"text": np.zeros((1, 896, 2), np.float32)}, rate_hz=1 / 1.49, n_steps=2, duration_s=2.98)
    with pytest.raises(UserInputError, match="1, 2, 3, 5"):
        Text2fMRIModel(settings(tmp_path)).predict(features, load_stimulus(["a", "b"], tr_s=1.49), subject=4)


def test_predicts_parcels_from_per_tr_text_end_to_end(tmp_path, release, lm_dir):
    model = Text2fMRIModel(settings(tmp_path), variant=str(release))
    model.load()
    (extractor,) = model.extractors()
    assert isinstance(extractor, LMPerTRExtractor)
    assert (extractor.model, extractor.tr_s, extractor.num_last_hidden_states) == (str(lm_dir), 1.49, 4)
    texts = ["Hello, are you", "awake? Yes,", "", "I am here.", "日本語 😀"]
    stimulus = load_stimulus(texts, tr_s=1.49)
    array = extractor.extract(stimulus)
    features = FeatureSet({"text": array}, rate_hz=extractor.rate_hz, n_steps=5, duration_s=stimulus.duration_s,
                          extractor_ids={"text": extractor.extractor_id})
    prediction = model.predict(features, stimulus, subject=3)
    assert prediction.data.shape == (5, 1000) and prediction.data.dtype == np.float32
    np.testing.assert_allclose(prediction.times_s, np.arange(5) * 1.49)
    assert (prediction.space_id, prediction.time_axis, prediction.hrf_offset_s, prediction.subject) == (
        "schaefer1000", "bold", 0.0, "3")
    assert prediction.indices.tolist() == list(range(1000))
    assert "lag" in prediction.metadata["hrf"] and prediction.metadata["language_model"] == str(lm_dir)
    # The same numbers as the head built by hand from the release files, for subject row 2.
    reference = Text2fMRIHead(Text2fMRIConfig.from_json(release / "config.json")).eval()
    reference.load_state_dict(torch.load(release / "model.pt", weights_only=True))
    with torch.no_grad():
        expected = reference(torch.as_tensor(array[0].T)[None], torch.tensor([2]))[0].numpy()
    np.testing.assert_allclose(prediction.data, expected, atol=1e-5)
    picked = model.predict(features, stimulus, subject="sub-03", indices=np.array([10, 3]))
    np.testing.assert_allclose(picked.data, prediction.data[:, [10, 3]], atol=1e-6)
    with pytest.raises(UserInputError, match="accepted: 0 to 999"):
        model.predict(features, stimulus, subject=1, indices=np.array([1000]))
    with pytest.raises(UserInputError, match="text"):
        model.predict(FeatureSet({}, rate_hz=1 / 1.49, n_steps=5, duration_s=7.45), stimulus, subject=1)


def test_weights_dir_layout_is_found(tmp_path, lm_dir):
    weights = tmp_path / "weights"
    save_tiny_text2fmri(weights / "text2fmri" / "Text2fMRI-Qwen-2.5-1.5B", lm_dir)
    model = Text2fMRIModel(settings(tmp_path, weights), variant="ShreyDixit/Text2fMRI-Qwen-2.5-1.5B")
    model.load()
    assert model.model_config().extractor_LLM == str(lm_dir)
    save_tiny_text2fmri(weights / "text2fmri", lm_dir, num_rois=7)  # the default variant may sit in the folder itself
    default = Text2fMRIModel(settings(tmp_path, weights))
    default.load()
    assert default.model_config().num_rois == 7


def test_missing_or_wrong_weights_are_clear_errors(tmp_path, release, lm_dir):
    with pytest.raises(ModelUnavailableError, match="nforge-lite"):
        Text2fMRIModel(settings(tmp_path)).load()  # hub offline in tests, nothing local
    only_config = tmp_path / "only-config"
    only_config.mkdir()
    (only_config / "config.json").write_text((release / "config.json").read_text())
    with pytest.raises(ModelUnavailableError, match="model.pt"):
        Text2fMRIModel(settings(tmp_path), variant=str(only_config)).load()
    wrong = save_tiny_text2fmri(tmp_path / "wrong", lm_dir)
    (wrong / "config.json").write_text(json.dumps({**json.loads((release / "config.json").read_text()),
                                                   "transformer_dim": 32}))
    with pytest.raises(ModelUnavailableError, match="does not fit"):
        Text2fMRIModel(settings(tmp_path), variant=str(wrong)).load()
    with pytest.raises(UserInputError, match="known variants"):
        Text2fMRIModel(settings(tmp_path), variant="not a repo").load()
    with pytest.raises(UserInputError, match="options"):
        Text2fMRIModel(settings(tmp_path), n_samples=3)


def test_list_variants_never_fails_offline():
    assert Text2fMRIModel.list_variants(online=False) == list(VARIANTS)
    assert Text2fMRIModel.list_variants(online=True) == list(VARIANTS)  # sockets blocked: falls back
    assert Text2fMRIModel.list_variants() == list(VARIANTS)


@pytest.mark.gpu
def test_cuda_half_precision_matches_the_cpu(tmp_path, release):
    stimulus = load_stimulus(["Hello, are you", "awake? Yes,", "", "I am here."], tr_s=1.49)
    results = {}
    for device in ("cpu", "cuda"):
        model = Text2fMRIModel(settings(tmp_path), variant=str(release), device=device)
        (extractor,) = model.extractors()
        array = extractor.extract(stimulus)
        features = FeatureSet({"text": array}, rate_hz=extractor.rate_hz, n_steps=4, duration_s=stimulus.duration_s)
        results[device] = model.predict(features, stimulus, subject=5).data
        assert extractor.params()["dtype"] == ("float16" if device == "cuda" else "float32")
    assert results["cuda"].shape == (4, 1000) and np.isfinite(results["cuda"]).all()
    assert np.corrcoef(results["cuda"].ravel(), results["cpu"].ravel())[0, 1] > 0.99
