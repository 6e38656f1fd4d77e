"""Text2fMRI's ScaleNorm convention is read off the weights: g near 0 means 1 + g, g near 1 means g."""

import logging

import pytest
import torch

from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError
from nforge_app.models._text2fmri_net import ScaleNorm
from nforge_app.models.text2fmri import Text2fMRIModel

from _tiny_models import save_tiny_text2fmri


def _release(folder, scales_as_stored):
    """A tiny release whose norms' effective scales are 1 + offsets; stored as offsets or as scales."""
    save_tiny_text2fmri(folder, folder / "no-lm")
    state = torch.load(folder / "model.pt", weights_only=True)
    offsets = {key: torch.tensor([0.05 * (i + 1) * (-1) ** i]) for i, key in enumerate(k for k in state
                                                                                        if k.endswith(".g"))}
    for key, offset in offsets.items():
        state[key] = offset + 1.0 if scales_as_stored else offset
    torch.save(state, folder / "model.pt")
    return folder, offsets


def _hidden(model):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 7, model.config_.extractor_LLM_feature_size, generator=generator)
    with torch.inference_mode():
        return model.head_.hidden(features, torch.tensor([1]))


@pytest.fixture()
def both(tmp_path):
    models = {}
    for name, as_scales in (("2.x", False), ("1.x", True)):
        folder, offsets = _release(tmp_path / name, as_scales)
        model = Text2fMRIModel(Settings(cache_dir=tmp_path / "cache"), variant=str(folder), device="cpu")
        models[name] = model
    return models, offsets


def test_both_conventions_give_the_same_head(both, caplog):
    models, offsets = both
    with caplog.at_level(logging.INFO, logger="nforge_app.models.text2fmri"):
        for model in models.values():
            model.load()
    assert models["2.x"].norm_convention_ == "1 + g" and models["1.x"].norm_convention_ == "g"
    assert "offsets from 1 (1 + g" in caplog.text and "scales (g, x-transformers 1.x)" in caplog.text
    torch.testing.assert_close(_hidden(models["2.x"]), _hidden(models["1.x"]), atol=1e-5, rtol=1e-5)
    # the planted scales: each norm multiplies by 1 + offset, whichever way it was stored
    norms = [m for m in models["1.x"].head_.modules() if isinstance(m, ScaleNorm)]
    x = torch.randn(3, round(norms[0].scale ** 2))
    for norm, offset in zip(norms, offsets.values()):
        want = x / x.norm(dim=-1, keepdim=True) * norm.scale * (1 + offset)
        torch.testing.assert_close(norm(x).detach(), want)


def test_misreading_the_convention_would_change_the_outputs(both):
    models, _ = both
    for model in models.values():
        model.load()
    right = _hidden(models["1.x"])
    for norm in models["1.x"].head_.modules():
        if isinstance(norm, ScaleNorm):
            norm.unit_offset = True  # reading g ~ 1 as an offset doubles every scale
    assert not torch.allclose(_hidden(models["1.x"]), right, atol=1e-3)


def test_a_file_whose_norms_disagree_is_refused(tmp_path):
    folder, _ = _release(tmp_path / "mixed", scales_as_stored=False)
    state = torch.load(folder / "model.pt", weights_only=True)
    state["encoder.final_norm.g"] = torch.tensor([0.97])
    torch.save(state, folder / "model.pt")
    model = Text2fMRIModel(Settings(cache_dir=tmp_path / "cache"), variant=str(folder), device="cpu")
    with pytest.raises(ModelUnavailableError, match="disagree.*encoder.final_norm.g are near 1"):
        model.load()
