"""Evaluation against planted truths: known SNR, known lag, known TR, known noise ceiling, known best region."""

import numpy as np
import pytest

from nforge_app.analysis import evaluate
from nforge_app.errors import UserInputError
from nforge_app.spaces import get_space
from nforge_app.values import MeasuredRun, Prediction


def _prediction(data, tr_s=1.0, space_id="schaefer1000", indices=None, time_axis="bold", hrf_offset_s=0.0,
                start_s=0.0):
    data = np.asarray(data, dtype=np.float32)
    indices = np.arange(data.shape[1]) if indices is None else np.asarray(indices)
    return Prediction(data=data, times_s=start_s + np.arange(len(data)) * tr_s, tr_s=tr_s, space_id=space_id,
                      indices=indices, model_id="planted", subject="1", hrf_offset_s=hrf_offset_s,
                      time_axis=time_axis)


def _smooth(rng, n_steps, n_outputs, width=3.0):
    """Slow random time courses (unit variance): white noise smoothed by a Gaussian of ``width`` samples."""
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / width) ** 2)
    noise = rng.standard_normal((n_steps + 24, n_outputs))
    data = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="valid"), 0, noise)
    return (data - data.mean(0)) / data.std(0)


def _wave(t, phases):
    """A smooth signal of time (s), one column per phase: sums of slow sines."""
    t = np.asarray(t)[:, None]
    return np.sin(2 * np.pi * t / 23.0 + phases) + 0.7 * np.sin(2 * np.pi * t / 9.7 + 2 * phases)


def test_known_snr_gives_the_analytic_r_per_output():
    # measured = signal + noise, signal of unit variance, noise of variance 1/SNR: E[r] = 1/sqrt(1 + 1/SNR).
    rng = np.random.default_rng(1)
    n_steps, snr = 20000, np.geomspace(0.25, 8.0, 30)
    signal = rng.standard_normal((n_steps, len(snr)))
    measured = signal + rng.standard_normal(signal.shape) / np.sqrt(snr)
    evaluation = evaluate(_prediction(signal), measured, tr_s=1.0)
    expected = 1 / np.sqrt(1 + 1 / snr)
    assert np.abs(evaluation.r - expected).max() < 0.02
    assert evaluation.n_timepoints == n_steps and evaluation.lag_s == 0
    assert evaluation.mean_r == pytest.approx(expected.mean(), abs=0.005)
    assert evaluation.median_r == pytest.approx(np.median(expected), abs=0.01)
    assert "no resampling" in evaluation.alignment and "no lag applied" in evaluation.alignment


@pytest.mark.parametrize("n_runs", [2, 3])
def test_noise_ceiling_of_repeated_runs(n_runs):
    # Each run = signal + noise of variance 1 (SNR 1): the average of k runs has r = 1/sqrt(1 + 1/k) with the
    # signal, which is the ceiling; a perfect prediction (the signal) reaches r / ceiling = 1.
    rng = np.random.default_rng(2)
    signal = rng.standard_normal((8000, 20))
    runs = [MeasuredRun(signal + rng.standard_normal(signal.shape), 1.0, f"run {k}") for k in range(n_runs)]
    evaluation = evaluate(_prediction(signal), runs)
    ceiling = 1 / np.sqrt(1 + 1 / n_runs)
    assert np.abs(evaluation.noise_ceiling - ceiling).max() < 0.02
    assert np.abs(evaluation.r - ceiling).max() < 0.02
    assert evaluation.mean_r_over_ceiling == pytest.approx(1.0, abs=0.01)
    assert np.nanmax(np.abs(evaluation.r_over_ceiling - 1)) < 0.04
    assert evaluation.metadata["n_runs"] == n_runs
    # a worse prediction: half signal, half unrelated: r / ceiling = 1/sqrt(2)
    worse = (signal + rng.standard_normal(signal.shape)) / np.sqrt(2)
    assert evaluate(_prediction(worse), runs).mean_r_over_ceiling == pytest.approx(1 / np.sqrt(2), abs=0.02)


@pytest.mark.parametrize("lag_s", [3.0, -2.0])
def test_a_known_lag_is_found_and_reported(lag_s):
    rng = np.random.default_rng(3)
    signal = _smooth(rng, 400, 30, width=1.5)
    shift = int(lag_s)
    measured = np.roll(signal, shift, axis=0) + 0.5 * rng.standard_normal(signal.shape)  # measured later by lag
    plain = evaluate(_prediction(signal), measured, tr_s=1.0)
    searched = evaluate(_prediction(signal), measured, tr_s=1.0, lag_search=True)
    assert searched.lag_s == lag_s and plain.lag_s == 0
    assert searched.mean_r > plain.mean_r + 0.2
    lags, mean_r = searched.lag_curve.T
    assert lags[0] == -5 and lags[-1] == 10 and len(lags) == 16 and lags[np.argmax(mean_r)] == lag_s
    assert searched.n_timepoints == 400 - abs(shift)  # the rows the shifted prediction covers
    assert f"best {lag_s:+g} s" in searched.alignment


def test_a_measured_tr_other_than_the_models_is_resampled():
    # The same smooth signal sampled every 1 s (prediction) and every 1.49 s (measured): resampled onto the
    # measured grid, they agree; read at the wrong TR, they do not.
    phases = np.linspace(0, 3, 12)
    prediction = _prediction(_wave(np.arange(300.0), phases))
    measured = _wave(np.arange(180) * 1.49, phases)
    right = evaluate(prediction, measured, tr_s=1.49)
    wrong = evaluate(prediction, measured, tr_s=1.0)
    assert right.mean_r > 0.99 and wrong.mean_r < 0.5
    assert "resampled onto the measured times" in right.alignment and right.n_timepoints == 180
    assert right.metadata["measured_tr_s"] == 1.49
    # no TR given: the prediction's is assumed, and the alignment says so
    assumed = evaluate(prediction, measured)
    assert assumed.mean_r == pytest.approx(wrong.mean_r) and "the prediction's is assumed" in assumed.alignment


def test_a_longer_measured_run_is_trimmed_to_the_overlap():
    phases = np.linspace(0, 3, 8)
    prediction = _prediction(_wave(20 + np.arange(100.0), phases), start_s=20.0)  # covers 20..119 s
    measured = _wave(np.arange(200.0), phases)  # 0..199 s
    evaluation = evaluate(prediction, measured, tr_s=1.0)
    assert evaluation.n_timepoints == 100 and evaluation.mean_r == pytest.approx(1.0)
    assert "100 of 200 measured time points overlap the prediction (20 left out before, 80 after)" in \
        evaluation.alignment


def test_a_prediction_on_stimulus_time_is_moved_onto_bold_time():
    # TRIBE v2 style: row t holds BOLD at t + 5 s. Measured volume i is at i s of BOLD time.
    phases = np.linspace(0, 3, 8)
    bold = _wave(np.arange(120.0), phases)
    prediction = _prediction(bold[5:105], time_axis="stimulus", hrf_offset_s=5.0)
    evaluation = evaluate(prediction, bold, tr_s=1.0)
    assert evaluation.mean_r == pytest.approx(1.0) and evaluation.n_timepoints == 100
    assert "moved 5 s later onto BOLD time" in evaluation.alignment
    # read as if it were on BOLD time, it is 5 s off
    assert evaluate(_prediction(bold[5:105]), bold, tr_s=1.0).mean_r < 0.9


def test_measured_columns_every_output_or_the_selected_ones():
    space = get_space("schaefer1000")
    indices = space.select("Vis")
    rng = np.random.default_rng(4)
    signal = rng.standard_normal((60, len(indices)))
    full = rng.standard_normal((60, space.n_outputs))
    full[:, indices] = signal
    prediction = _prediction(signal, indices=indices)
    np.testing.assert_allclose(evaluate(prediction, full, tr_s=1.0).r, 1.0, atol=1e-6)
    np.testing.assert_allclose(evaluate(prediction, signal, tr_s=1.0).r, 1.0, atol=1e-6)
    turned = evaluate(prediction, np.ascontiguousarray(signal.T), tr_s=1.0)  # stored outputs x time
    np.testing.assert_allclose(turned.r, 1.0, atol=1e-6)
    assert "turned" in turned.alignment
    with pytest.raises(UserInputError, match=r"has 7 outputs per time point; accepted: 1000 \(every output of "
                                             r"schaefer1000\) or \d+ \(the \d+ outputs predicted\)"):
        evaluate(prediction, full[:, :7], tr_s=1.0)


def test_region_summaries_find_the_planted_region():
    space = get_space("fsaverage5")
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((80, space.n_outputs)).astype(np.float32)
    measured = rng.standard_normal(signal.shape).astype(np.float32)
    in_v1 = space.select("V1")
    measured[:, in_v1] += 2 * signal[:, in_v1]
    measured[:, space.roi_assignment < 0] = 0.0  # the medial wall, as real data have it
    evaluation = evaluate(_prediction(signal, space_id="fsaverage5"), measured, tr_s=1.0)
    best = evaluation.roi_names[int(np.argmax(evaluation.roi_r))]
    assert best == "V1" and evaluation.roi_r.max() > 0.8
    assert evaluation.best_regions(1)[0][0] == "V1" and len(evaluation.best_regions(5)) == 5
    assert all(n >= 10 for _, _, n in evaluation.best_regions(50))  # small regions' means are left out
    n_wall = int((space.roi_assignment < 0).sum())
    assert np.isnan(evaluation.r[space.roi_assignment < 0]).all() and evaluation.metadata["n_undefined"] == n_wall
    assert f"{n_wall:,} outputs constant" in evaluation.alignment
    assert set(evaluation.roi_names) >= {"V1", "MT", "Vis", "Default"}
    asked = evaluate(_prediction(signal, space_id="fsaverage5"), measured, tr_s=1.0, roi=["V*", "Default"])
    assert asked.roi_names == ("V*", "Default") and asked.roi_n[0] > len(in_v1)


def test_bad_measured_data_get_one_clear_message():
    rng = np.random.default_rng(6)
    signal = rng.standard_normal((40, 10))
    prediction = _prediction(signal)
    nan = signal.copy()
    nan[3, 4] = np.nan
    with pytest.raises(UserInputError, match=r"1 NaN or infinite values \(the first at time point 3, output 4\)"):
        evaluate(prediction, nan, tr_s=1.0)
    with pytest.raises(UserInputError, match="at least 10 are needed"):
        evaluate(prediction, signal[:6], tr_s=1.0)
    with pytest.raises(UserInputError, match="every measured output is constant"):
        evaluate(prediction, np.ones((40, 10)), tr_s=1.0)
    with pytest.raises(UserInputError, match="same length and TR"):
        evaluate(prediction, [signal, signal[:30]], tr_s=1.0)
    with pytest.raises(UserInputError, match="says its TR is 1.49 s but 1 s was given"):
        evaluate(prediction, MeasuredRun(signal.astype(np.float32), 1.49, "run.npz"), tr_s=1.0)
    with pytest.raises(UserInputError, match="overlap the prediction"):
        evaluate(_prediction(signal, start_s=500.0), signal, tr_s=1.0)
    with pytest.raises(UserInputError, match="must be an array"):
        evaluate(prediction, "not data")


def test_resample_rows_interpolates_between_rows_and_keeps_them_on_the_grid():
    from nforge_app.analysis import resample_rows

    data = np.arange(10.0)[:, None] * np.array([1.0, -2.0])
    rows, on_grid = resample_rows(data, np.arange(10.0), np.array([2.0, 3.0, 4.0]))
    assert on_grid and np.shares_memory(rows, data) and rows[:, 0].tolist() == [2, 3, 4]
    rows, on_grid = resample_rows(data, np.arange(10.0), np.array([0.0, 1.49, 2.98, 9.0]))
    assert not on_grid
    np.testing.assert_allclose(rows, [[0, 0], [1.49, -2.98], [2.98, -5.96], [9, -18]], rtol=1e-6)
