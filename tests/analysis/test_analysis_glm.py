"""The GLM of predicted series: planted betas come back, relabellings are nilearn's designs, events are checked."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nilearn.glm.first_level.hemodynamic_models import glover_hrf

from nforge_app.analysis import check_events, design_matrix, fit_contrast, read_events, relabellings
from nforge_app.errors import UserInputError
from nforge_app.values import Events, Prediction

BETAS = {"speech": 2.0, "music": 0.5, "noise": -1.0}
EVENTS = Events(np.array([10.0, 40.0, 70.0, 100.0, 130.0, 160.0, 190.0, 220.0, 250.0]),
                np.array([6.0, 4.0, 8.0, 6.0, 4.0, 8.0, 6.0, 4.0, 8.0]),
                ("speech", "music", "noise", "music", "speech", "noise", "speech", "noise", "music"))
N_ROWS = 290
DT = 0.01


def _planted_bold(bold_times: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """BOLD made by hand: each condition's boxcar (at 100 Hz) convolved with the Glover HRF, times its beta,
    plus a slow drift and an offset; one column per ``scale`` value."""
    fine = np.arange(0, bold_times.max() + 40, DT)
    hrf = glover_hrf(t_r=1.0, oversampling=int(1 / DT), time_length=32.0)
    signal = np.zeros_like(fine)
    for onset, duration, condition in zip(EVENTS.onsets_s, EVENTS.durations_s, EVENTS.trial_types, strict=True):
        boxcar = ((fine >= onset) & (fine < onset + duration)).astype(float)
        signal += BETAS[condition] * np.convolve(boxcar, hrf)[: len(fine)]
    bold = np.interp(bold_times, fine, signal) + 0.3 * np.cos(np.pi * bold_times / bold_times.max()) + 5.0
    return bold[:, None] * scale[None, :]


def _prediction(data: np.ndarray, time_axis: str = "bold", hrf_offset_s: float = 0.0) -> Prediction:
    return Prediction(data=data.astype(np.float32), times_s=np.arange(len(data), dtype=float), tr_s=1.0,
                      space_id="fsaverage5", indices=np.arange(data.shape[1]) + 4000, model_id="planted",
                      subject="average", hrf_offset_s=hrf_offset_s, time_axis=time_axis)


@pytest.mark.parametrize(("time_axis", "offset_s"), [("bold", 0.0), ("stimulus", 5.0)])
def test_planted_betas_come_back_per_condition(time_axis, offset_s):
    scale = np.array([1.0, 0.5, 2.0])
    rows = np.arange(N_ROWS, dtype=float)
    # A stimulus-time model reports at t the BOLD of t + offset.
    prediction = _prediction(_planted_bold(rows + offset_s, scale), time_axis, offset_s)
    result = fit_contrast(prediction, EVENTS, "speech - music", n_permutations=50)
    assert result.conditions == ("music", "noise", "speech")
    for row, condition in enumerate(result.conditions):
        np.testing.assert_allclose(result.betas[row], BETAS[condition] * scale, rtol=0.05)
    np.testing.assert_allclose(result.effect, (BETAS["speech"] - BETAS["music"]) * scale, rtol=0.05)
    assert np.all(result.t > 10)
    np.testing.assert_allclose(result.frame_times_s, rows + offset_s)
    assert (f"t + {offset_s:g} s" in result.metadata["time_axis_handling"]) == (offset_s > 0)


def test_ignoring_the_offset_of_a_stimulus_time_model_would_miss_the_betas():
    # The same series read as if it were on BOLD time: the regressors come 5 s late, the betas are wrong.
    rows = np.arange(N_ROWS, dtype=float)
    prediction = _prediction(_planted_bold(rows + 5.0, np.ones(1)), "bold")
    betas = fit_contrast(prediction, EVENTS, "speech - music", n_permutations=1).betas[:, 0]
    assert abs(betas[2] - BETAS["speech"]) > 0.1 * BETAS["speech"]


def test_a_planted_effect_passes_the_permutation_test_and_the_rest_does_not():
    # 4 + 4 blocks; outputs 0-4 respond to A only, outputs 5-59 to A and B alike (with noise).
    rng = np.random.default_rng(3)
    onsets = 12.0 + 18.0 * np.arange(8)
    labels = ("A", "B", "B", "A", "B", "A", "A", "B")
    events = Events(onsets, np.full(8, 6.0), labels)
    regressors = design_matrix(events, np.arange(160.0))
    data = rng.normal(0, 0.05, (160, 60))
    data[:, :5] += regressors[["A"]].to_numpy()
    data[:, 5:] += (regressors["A"] + regressors["B"]).to_numpy()[:, None]
    result = fit_contrast(_prediction(data), events, "A - B")
    assert result.n_permutations == math.comb(8, 4) == 70 and result.exhaustive
    assert result.n_a == result.n_b == 4
    assert result.smallest_p == pytest.approx(2 / 70)  # each relabelling's A/B swap has the same |t|
    assert np.all(result.p_corrected[:5] == pytest.approx(2 / 70))
    assert np.all(result.p_corrected[5:] > 0.05)
    assert np.all(result.effect[:5] > 0.8) and np.all(np.abs(result.effect[5:]) < 0.2)
    assert len(result.metadata["null_max_abs_t"]) == 70
    assert "70 relabellings (all" in result.metadata["permutation"]


def test_relabelled_designs_are_nilearns_designs():
    # Fitted with its own labels, a relabelling's largest |t| is one of the null maxima of the true labels
    # (there computed from summed per-event regressors, here from nilearn's design of the relabelled events).
    rng = np.random.default_rng(0)
    events = Events(12.0 + 20.0 * np.arange(6), np.array([5.0, 3.0, 6.0, 4.0, 5.0, 2.0]), ("A", "B", "A", "B", "A", "B"))
    data = rng.normal(size=(140, 30))
    true = fit_contrast(_prediction(data), events, "A - B")
    for labels in relabellings(events.trial_types)[0][1:4]:
        other = fit_contrast(_prediction(data), Events(events.onsets_s, events.durations_s, tuple(labels)), "A - B")
        np.testing.assert_allclose(sorted(other.metadata["null_max_abs_t"]), sorted(true.metadata["null_max_abs_t"]),
                                   rtol=1e-6)


def test_relabellings_are_all_distinct_when_few_and_random_when_many():
    labels, exhaustive = relabellings(["a"] * 4 + ["b"] * 4)
    assert exhaustive and len(labels) == 70 and len({tuple(x) for x in labels}) == 70
    assert tuple(labels[0]) == ("a",) * 4 + ("b",) * 4
    three, _ = relabellings(["a", "a", "b", "c"])
    assert len(three) == 12 and len({tuple(x) for x in three}) == 12
    drawn, exhaustive = relabellings(["a"] * 10 + ["b"] * 10, n_permutations=200, seed=1)
    assert not exhaustive and len(drawn) == 200
    assert tuple(drawn[0]) == ("a",) * 10 + ("b",) * 10
    assert all(sorted(x) == sorted(drawn[0]) for x in drawn)


def test_a_contrast_of_one_condition_has_betas_but_no_permutation_p():
    rows = np.arange(N_ROWS, dtype=float)
    result = fit_contrast(_prediction(_planted_bold(rows, np.ones(2))), EVENTS, "speech")
    np.testing.assert_allclose(result.effect, BETAS["speech"], rtol=0.05)
    assert np.isnan(result.p_corrected).all() and "no permutation test" in result.metadata["permutation"]


@pytest.mark.parametrize(("contrast", "message"), [("speech - silence", "silence"), ("speech -", "cannot be read"),
                                                   ("drift_1", "weighs no condition")])
def test_unreadable_contrasts_are_refused(contrast, message):
    with pytest.raises(UserInputError, match=message):
        fit_contrast(_prediction(np.ones((N_ROWS, 2))), EVENTS, contrast)


# -- events files -----------------------------------------------------------------------------------
def _write(tmp_path, text: str):
    path = tmp_path / "events.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bids_events_file_is_read(tmp_path):
    path = _write(tmp_path, "onset\tduration\ttrial_type\n2.5\t3\tspeech\n10\t0\tmusic\n\n20\t1.5\tspeech\n")
    events = read_events(path, duration_s=30.0)
    np.testing.assert_allclose(events.onsets_s, [2.5, 10.0, 20.0])
    np.testing.assert_allclose(events.durations_s, [3.0, 0.0, 1.5])
    assert events.trial_types == ("speech", "music", "speech") and events.modulation is None
    assert events.conditions == ("music", "speech") and events.count("speech") == 2
    modulated = read_events(_write(tmp_path, "trial_type\tonset\tduration\tmodulation\na\t1\t2\t0.5\n"))
    assert modulated.modulation.tolist() == [0.5] and modulated.onsets_s.tolist() == [1.0]


@pytest.mark.parametrize(("text", "message"), [
    ("onset\tduration\ttrial_type\tresponse_time\n1\t2\ta\t0.3\n", "unknown column.*'response_time'.*accepted"),
    ("onset\tduration\n1\t2\n", "lacks the column.*trial_type"),
    ("onset\tduration\ttrial_type\n1\t-2\ta\n", "event 1 has duration -2; durations must be 0 or more"),
    ("onset\tduration\ttrial_type\n1\t2\ta\n40\t2\tb\n", "event 2 starts at 40 s, at or past the end"),
    ("onset\tduration\ttrial_type\n1\tn/a\ta\n", "row 2: duration 'n/a' is not a number"),
    ("onset\tduration\ttrial_type\n1\t2\tmusic hall\n", "'music hall' cannot be named in a contrast"),
    ("onset\tduration\ttrial_type\n1\t2\n", "row 2: 2 field"),
    ("onset\tduration\ttrial_type\n1\t2\tn/a\n", "trial_type is empty or n/a"),
    ("onset\tduration\ttrial_type\n", "holds no event"),
    ("", "is empty"),
])
def test_bad_events_are_refused_clearly(tmp_path, text, message):
    with pytest.raises(UserInputError, match=message):
        read_events(_write(tmp_path, text), duration_s=30.0)


def test_missing_events_file_and_bad_arrays_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="no events file"):
        read_events(tmp_path / "absent.tsv")
    with pytest.raises(UserInputError, match="onsets must be 0 or more"):
        check_events([-1.0], [1.0], ["a"])
