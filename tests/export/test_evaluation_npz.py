"""The eval.npz format: plain arrays (no pickle), every field back as it was, told apart from predictions."""

import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.export import EVALUATION_KEYS, is_evaluation_npz, load_evaluation, load_npz, save_evaluation
from nforge_app.values import Evaluation


def _evaluation(ceiling=True):
    r = np.array([0.5, np.nan, -0.1, 0.3])
    return Evaluation(
        r=r, indices=np.array([3, 7, 9, 11]), space_id="schaefer1000", n_timepoints=280, lag_s=2.0,
        alignment="prediction on BOLD time; no lag applied.", roi_names=("Vis", "Default"),
        roi_r=np.array([0.4, -0.1]), roi_n=np.array([2, 1]),
        noise_ceiling=np.array([0.8, np.nan, 0.5, 0.6]) if ceiling else None,
        lag_curve=np.array([[0.0, 0.1], [2.0, 0.23]]), metadata={"model_id": "text2fmri", "n_runs": 2})


@pytest.mark.parametrize("ceiling", [True, False])
def test_round_trip_without_pickles(tmp_path, ceiling):
    evaluation = _evaluation(ceiling)
    path = save_evaluation(evaluation, tmp_path / "eval.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert set(EVALUATION_KEYS) <= set(npz.files)
        assert float(npz["mean_r"]) == pytest.approx(0.7 / 3) and float(npz["lag_s"]) == 2.0
        assert int(npz["n_timepoints"]) == 280 and npz["indices"].tolist() == [3, 7, 9, 11]
        assert ("noise_ceiling" in npz.files) == ceiling
    back = load_evaluation(path)
    np.testing.assert_array_equal(back.r, evaluation.r)
    np.testing.assert_array_equal(back.lag_curve, evaluation.lag_curve)
    assert back.roi_names == evaluation.roi_names and back.metadata == evaluation.metadata
    assert back.alignment == evaluation.alignment and back.mean_r == evaluation.mean_r
    if ceiling:
        assert back.mean_noise_ceiling == pytest.approx(np.mean([0.8, 0.5, 0.6]))
        assert back.mean_r_over_ceiling == pytest.approx((0.5 - 0.1 + 0.3) / (0.8 + 0.5 + 0.6))
        np.testing.assert_allclose(back.r_over_ceiling, [0.5 / 0.8, np.nan, -0.2, 0.5])


def test_told_apart_from_predictions(tmp_path):
    path = save_evaluation(_evaluation(), tmp_path / "eval.npz")
    assert is_evaluation_npz(path) and not is_evaluation_npz(tmp_path / "missing.npz")
    with pytest.raises(UserInputError, match="an .npz file but not an NForge prediction: it lacks data"):
        load_npz(path)
    np.savez(tmp_path / "other.npz", r=np.zeros(3))
    assert not is_evaluation_npz(tmp_path / "other.npz")
    with pytest.raises(UserInputError, match="an .npz file but not an NForge evaluation: it lacks kind"):
        load_evaluation(tmp_path / "other.npz")
