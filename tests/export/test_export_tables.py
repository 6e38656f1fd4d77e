"""GIfTI, CSV and JSON exports of a Prediction."""

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.export._tables import metadata_dict, save_gifti, save_metadata_json, save_roi_csv
from nforge_app.models import Prediction
from nforge_app.spaces import get_space


def _prediction(space_id, indices, n_steps=5):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((n_steps, len(indices))).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(n_steps) * 1.49, tr_s=1.49, space_id=space_id,
                      indices=np.asarray(indices), model_id="m", subject="1", hrf_offset_s=0.0, time_axis="bold",
                      metadata={"note": "é", "count": np.int64(2)})


def test_gifti_per_hemisphere(tmp_path):
    space = get_space("fsaverage5")
    indices = space.select(["V1", "A1"])
    prediction = _prediction("fsaverage5", indices)
    left, right = save_gifti(prediction, tmp_path / "clip.m", space=space)
    assert left.name == "clip.m_hemi-L.func.gii" and right.name == "clip.m_hemi-R.func.gii"
    full = np.full((5, 20484), np.nan, dtype=np.float32)
    full[:, indices] = prediction.data
    for path, part, structure in ((left, slice(0, 10242), "CortexLeft"), (right, slice(10242, None), "CortexRight")):
        image = nib.load(path)
        assert len(image.darrays) == 5
        assert image.meta["AnatomicalStructurePrimary"] == structure and image.meta["TimeStep"] == "1490"
        stacked = np.stack([d.data for d in image.darrays])
        assert stacked.dtype == np.float32 and stacked.shape == (5, 10242)
        np.testing.assert_array_equal(stacked, full[:, part])
        assert image.darrays[0].intent == nib.nifti1.intent_codes["NIFTI_INTENT_TIME_SERIES"]
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_gifti_refuses_parcels(tmp_path):
    prediction = _prediction("schaefer1000", np.arange(1000))
    with pytest.raises(UserInputError, match="parcels.*CSV or npz"):
        save_gifti(prediction, tmp_path / "p")
    assert not list(tmp_path.iterdir())


def test_roi_csv(tmp_path):
    space = get_space("fsaverage5")
    indices = space.select(["V1", "MT"])
    prediction = _prediction("fsaverage5", indices)
    path = save_roi_csv(prediction, tmp_path / "r.csv", space=space)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    names, means = space.roi_time_series(prediction.data, indices)
    assert rows[0] == ["time_s", *names] and sorted(names) == ["MT", "V1"]
    assert len(rows) == 6 and float(rows[2][0]) == pytest.approx(1.49)
    np.testing.assert_allclose(np.array(rows[1:], dtype=float)[:, 1:], means, rtol=1e-5)
    asked = save_roi_csv(prediction, tmp_path / "asked.csv", names=["V*"], space=space)
    assert asked.read_text().splitlines()[0] == "time_s,V*"


def test_roi_csv_of_parcels_has_one_column_per_parcel(tmp_path):
    prediction = _prediction("schaefer1000", np.arange(1000), n_steps=2)
    rows = save_roi_csv(prediction, tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].split(",")[1] == "7Networks_LH_Vis_1" and len(rows[0].split(",")) == 1001


def test_metadata_json(tmp_path):
    prediction = _prediction("fsaverage5", np.arange(3), n_steps=2)
    path = save_metadata_json(prediction, tmp_path / "m.json", extra={"roi_asked": ["V1"]})
    facts = json.loads(path.read_text(encoding="utf-8"))
    assert facts["note"] == "é" and facts["count"] == 2 and facts["roi_asked"] == ["V1"]
    assert facts["time_label"] == prediction.time_label and facts["tr_s"] == 1.49
    assert facts["indices"] == [0, 1, 2] and facts["n_time_steps"] == 2 and facts["stochastic"] is False
    assert metadata_dict(prediction)["space"] == "fsaverage5"
