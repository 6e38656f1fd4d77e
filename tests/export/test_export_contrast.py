"""Exports of an in-silico experiment: npz without pickles, GIfTI of effect and t, region CSV, PNG of the map."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from nforge_app.analysis import design_matrix, fit_contrast
from nforge_app.errors import UserInputError
from nforge_app.export import (
    CONTRAST_NPZ_KEYS,
    load_contrast_npz,
    map_prediction,
    save_contrast_gifti,
    save_contrast_npz,
    save_contrast_png,
    save_region_csv,
)
from nforge_app.spaces import get_space
from nforge_app.values import Events, Prediction


@pytest.fixture(scope="module")
def result():
    """A 4 + 4 block contrast: A1 vertices respond to A only, V1 vertices to A and B alike."""
    space = get_space("fsaverage5")
    a1, v1 = space.select("A1"), space.select("V1")
    indices = np.concatenate([a1, v1])
    events = Events(12.0 + 18.0 * np.arange(8), np.full(8, 6.0), ("A", "B", "B", "A", "B", "A", "A", "B"))
    regressors = design_matrix(events, np.arange(160.0))
    rng = np.random.default_rng(0)
    data = rng.normal(0, 0.05, (160, len(indices)))
    data[:, : len(a1)] += regressors[["A"]].to_numpy()
    data[:, len(a1):] += (regressors["A"] + regressors["B"]).to_numpy()[:, None]
    prediction = Prediction(data=data.astype(np.float32), times_s=np.arange(160.0), tr_s=1.0, space_id="fsaverage5",
                            indices=indices, model_id="planted", subject="average", hrf_offset_s=0.0,
                            time_axis="bold")
    return fit_contrast(prediction, events, "A - B")


def test_npz_has_the_issue_keys_loads_without_pickles_and_round_trips(result, tmp_path):
    path = save_contrast_npz(result, tmp_path / "c.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert set(CONTRAST_NPZ_KEYS) <= set(npz.files)
        design = json.loads(str(npz["design"]))
        assert design == {"onsets": result.design.onsets_s.tolist(), "durations": [6.0] * 8,
                          "labels": list(result.design.trial_types)}
        np.testing.assert_array_equal(npz["design_labels"], result.design.trial_types)
    loaded = load_contrast_npz(path)
    for name in ("effect", "t", "p_corrected", "indices", "betas", "design_matrix", "region_t", "region_p_corrected"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(result, name))
    assert (loaded.n_a, loaded.n_b, loaded.n_permutations, loaded.exhaustive) == (4, 4, 70, True)
    assert loaded.regions == result.regions and loaded.design_columns == result.design_columns
    assert loaded.metadata["permutation"] == result.metadata["permutation"]
    with pytest.raises(UserInputError, match="not an NForge contrast"):
        np.savez(tmp_path / "other.npz", effect=np.zeros(2))
        load_contrast_npz(tmp_path / "other.npz")


def test_region_csv_and_threshold(result, tmp_path):
    keep = result.passing(p_below=0.05)
    a1 = np.isin(result.indices, get_space("fsaverage5").select("A1"))
    np.testing.assert_array_equal(keep, a1)
    assert result.passing(abs_t_from=np.abs(result.t).max() + 1).sum() == 0
    with open(save_region_csv(result, tmp_path / "regions.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["region", "effect", "t", "p_corrected"]
    assert rows[1][0] == "A1" and float(rows[1][3]) < 0.05 and float(rows[1][1]) > 0.8
    assert {row[0] for row in rows[1:]} == {"A1", "V1"}


def test_gifti_maps_of_effect_and_t(result, tmp_path):
    paths = save_contrast_gifti(result, tmp_path / "c")
    assert [p.name for p in paths] == ["c.effect_hemi-L.func.gii", "c.effect_hemi-R.func.gii",
                                       "c.t_hemi-L.func.gii", "c.t_hemi-R.func.gii"]
    space = get_space("fsaverage5")
    left = nib.load(paths[2]).darrays[0].data
    right = nib.load(paths[3]).darrays[0].data
    full = np.concatenate([left, right])
    assert full.shape == (space.n_outputs,)
    np.testing.assert_allclose(full[result.indices], result.t, rtol=1e-6)
    assert np.isnan(np.delete(full, result.indices)).all()


def test_png_of_the_thresholded_map(result, tmp_path):
    keep = result.passing(p_below=0.05)
    single = map_prediction(result, "t", keep)
    assert single.data.shape == (1, keep.sum()) and single.metadata["map"] == "t"
    with Image.open(save_contrast_png(result, tmp_path / "map.png", "effect", keep, size_px=200)) as picture:
        pixels = np.asarray(picture.convert("RGB"), dtype=int)
    reds = (pixels[..., 0] > 150) & (pixels[..., 1] < 120) & (pixels[..., 2] < 120)
    assert reds.sum() > 50  # A1 drawn in the warm colours of positive effects
    assert single.metadata["unit"] == "t statistic"
    # The glass brain: discs where the passing outputs are, coloured alike; all outputs draw more discs.
    glass = {}
    for name, shown in (("passing", keep), ("all", None)):
        with Image.open(save_contrast_png(result, tmp_path / f"{name}.png", "effect", shown, picture="glass",
                                          size_px=200)) as picture:
            glass[name] = np.asarray(picture.convert("RGB"), dtype=int)
    glass_reds = [((g[..., 0] > 150) & (g[..., 1] < 120) & (g[..., 2] < 120)).sum() for g in glass.values()]
    assert glass_reds[0] > 20 and not np.array_equal(glass["passing"], glass["all"])
    with pytest.raises(UserInputError, match="unknown picture 'flat'"):
        save_contrast_png(result, tmp_path / "flat.png", picture="flat")
    with pytest.raises(UserInputError, match="no output passes"):
        save_contrast_png(result, tmp_path / "none.png", keep=np.zeros_like(keep))
    with pytest.raises(UserInputError, match="unknown map"):
        map_prediction(result, "beta")
