import json
import zipfile

import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.export import NPZ_KEYS, load_npz, save_npz
from nforge_app.models import Prediction


def _prediction(spread=False):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((7, 5)).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(7) * 1.49, tr_s=1.49, space_id="schaefer1000",
                      indices=np.array([3, 10, 11, 500, 999]), model_id="text2fmri", subject="1",
                      hrf_offset_s=0.0, time_axis="bold", metadata={"note": "é", "n": np.int64(3)},
                      spread=np.abs(data) if spread else None)


@pytest.mark.parametrize("spread", [False, True])
def test_round_trip_without_pickles(tmp_path, spread):
    pred = _prediction(spread)
    path = save_npz(pred, tmp_path / "p.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert set(NPZ_KEYS) <= set(npz.files)
        assert npz["data"].dtype == np.float32 and npz["data"].shape == (7, 5)
        assert str(npz["model_id"]) == "text2fmri" and str(npz["space"]) == "schaefer1000"
        assert json.loads(str(npz["metadata_json"]))["time_axis"] == "bold"
    back = load_npz(path)
    np.testing.assert_array_equal(back.data, pred.data)
    np.testing.assert_array_equal(back.indices, pred.indices)
    np.testing.assert_allclose(back.times_s, pred.times_s)
    assert (back.tr_s, back.hrf_offset_s, back.subject, back.time_axis) == (1.49, 0.0, "1", "bold")
    assert back.metadata == {"note": "é", "n": 3}
    assert (back.spread is not None) == spread


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        save_npz(_prediction(), tmp_path / "p.npz")
    assert list(tmp_path.iterdir()) == []


def test_bad_files_are_user_errors_in_our_words(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    (tmp_path / "array.npy").write_bytes(b"")
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    np.savez(tmp_path / "objects.npz", **{key: np.array([{"a": 1}], dtype=object) for key in NPZ_KEYS})
    cases = {"junk.npz": "not an .npz file at all", "array.npy": "single numpy array",
             "other.npz": "an .npz file but not an NForge prediction: it lacks data, times_s",
             "objects.npz": "not a readable NForge prediction", ".": "is a folder"}
    for name, words in cases.items():
        with pytest.raises(UserInputError, match=words) as caught:
            load_npz(tmp_path / name)
        assert "allow_pickle" not in str(caught.value) and "nforge predict" in str(caught.value)
    assert zipfile.is_zipfile(tmp_path / "other.npz")
