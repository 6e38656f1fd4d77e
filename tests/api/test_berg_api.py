"""The BERG-style API, exercised as the BERG model cards' example usage does (local weights via a setting)."""

import numpy as np
import pytest
from PIL import Image

from nforge_app import api
from nforge_app.api import BERG
from nforge_app.errors import UserInputError

from _media import make_video
from _tiny_models import save_tiny_qwen2, save_tiny_text2fmri


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    lm = save_tiny_qwen2(tmp_path_factory.mktemp("qwen"))
    save_tiny_text2fmri(root / "text2fmri" / "Text2fMRI-Qwen-2.5-0.5B", lm)
    return root


@pytest.fixture()
def berg(weights_dir, monkeypatch):
    monkeypatch.setenv("NFORGE_WEIGHTS_DIR", str(weights_dir))
    return BERG(berg_dir="path/to/brain-encoding-response-generator")


def test_text2fmri_card_example_runs_as_written(berg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    variants = berg.get_model_variants("fmri-cneuromod_algo2025-text2fmri")
    assert variants[0] == "ShreyDixit/Text2fMRI-Qwen-2.5-0.5B"
    voxel_index = np.zeros(1000, dtype=int)
    voxel_index[[0, 1, 998]] = 1
    model = berg.get_encoding_model(
        "fmri-cneuromod_algo2025-text2fmri", subject=1, model_variant="ShreyDixit/Text2fMRI-Qwen-2.5-0.5B",
        selection={"roi": ["Vis"], "voxel_index": voxel_index})
    stimulus = ["Hello, are you", "awake? Yes,"]
    responses = berg.encode(model, stimulus, low_mem_use=True)
    n_vis = int(api.get_model_metadata("fmri-cneuromod_algo2025-text2fmri", 1)["roi_masks"]["Vis"].sum())
    assert responses.shape[0] == 2 and n_vis < responses.shape[1] <= n_vis + 3
    responses, metadata = berg.encode(model, stimulus, return_metadata=True)
    assert metadata["model"]["model_id"] == "text2fmri" and metadata["model"]["tr_s"] == 1.49
    metadata = berg.get_model_metadata("fmri-cneuromod_algo2025-text2fmri", subject=1)
    assert set(metadata["roi_masks"]) == {"Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic", "Cont", "Default"}
    assert all(mask.shape == (1000,) for mask in metadata["roi_masks"].values())
    gif_path = model.generate_glass_brain_animation(responses=responses, out_path="brain_activation.gif")
    with Image.open(tmp_path / gif_path) as gif:
        assert gif.n_frames == 2 and gif.info["duration"] == 1490


def test_tribe_style_selection_on_the_lite_model(tmp_path):
    vertex_mask = np.zeros(20484, dtype=int)
    vertex_mask[100:200] = 1
    model = api.get_encoding_model("nforge-lite", selection={"roi": ["V1", "V2", "FFC"], "vertices": vertex_mask})
    clip = make_video(tmp_path / "clip.mp4", 3.0, audio="tone")
    responses, metadata = api.encode(model, str(clip), return_metadata=True)
    expected = set(np.flatnonzero(vertex_mask)) | set(api._default_engine().select("nforge-lite", ["V1", "V2", "FFC"]))
    assert responses.shape == (3, len(expected))
    assert set(metadata["prediction"]["indices"]) == expected
    assert metadata["fmri"]["n_vertices"] == 20484 and metadata["roi"]["parcellation"] == "Glasser_HCP-MMP1.0"
    assert metadata["model"]["baseline"] is True


def test_list_models_has_the_berg_ids():
    ids = api.list_models()
    assert "nforge-lite" in ids and "fmri-cneuromod_algo2025-text2fmri" in ids


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"model_id": "fmri-cneuromod_algo2025-text2fmri", "subject": 4}, "1, 2, 3, 5"),
    ({"model_id": "nforge-lite", "selection": {"roi": ["V1"], "voxels": [1]}}, "selection keys: unknown: 'voxels'; accepted: roi, vertices, voxel_index"),
    ({"model_id": "nforge-lite", "selection": {"vertices": np.ones(1000)}}, "20484"),
    ({"model_id": "fmri-cneuromod_algo2025-text2fmri", "subject": 1, "selection": {"roi": ["Visual"]}}, "Vis"),
    ({"model_id": "unknown-model"}, "unknown model"),
])
def test_arguments_are_checked_against_the_card(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        api.get_encoding_model(**kwargs)
