"""Engine.evaluate: files in, an Evaluation out, cached on disk by content."""

import numpy as np

from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.export import save_gifti, save_npz
from nforge_app.values import Prediction


def test_evaluate_a_saved_prediction_against_gifti_hemispheres_cached(tmp_path):
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((40, 20484)).astype(np.float32)
    prediction = Prediction(data=signal, times_s=np.arange(40.0), tr_s=1.0, space_id="fsaverage5",
                            indices=np.arange(20484), model_id="tribe-v2", subject="average", hrf_offset_s=0.0,
                            time_axis="bold")
    measured = Prediction(data=signal + rng.standard_normal(signal.shape).astype(np.float32), times_s=np.arange(40.0),
                          tr_s=1.0, space_id="fsaverage5", indices=np.arange(20484), model_id="scan",
                          subject="average", hrf_offset_s=0.0, time_axis="bold")
    left, right = save_gifti(measured, tmp_path / "sub-01")
    path = save_npz(prediction, tmp_path / "pred.npz")
    engine = Engine(Settings.from_env(cache_dir=tmp_path / "cache"), device="cpu")
    evaluation = engine.evaluate(path, [str(right), str(left)])
    assert 0.65 < evaluation.mean_r < 0.76 and evaluation.n_timepoints == 40  # 1/sqrt(2) = 0.71
    assert evaluation.metadata["sources"] == [f"{left.name} + {right.name}"]
    cached = list((tmp_path / "cache" / "evaluations").glob("*.npz"))
    assert len(cached) == 1
    again = Engine(engine.settings, device="cpu").evaluate(prediction, [str(left), str(right)])
    np.testing.assert_array_equal(again.r, evaluation.r)
    assert len(list((tmp_path / "cache" / "evaluations").glob("*.npz"))) == 1  # read from the cache
    searched = engine.evaluate(prediction, [str(left), str(right)], lag_search=True)
    assert searched.lag_curve is not None and len(list((tmp_path / "cache" / "evaluations").glob("*.npz"))) == 2
