"""Time grids of the TRIBE v2 extractors: audio/video chunks, word bins, video frame times."""

import numpy as np
import pytest

from nforge_app.features.tribe import TribeVideoExtractor, _fit_steps, chunk_bounds, word_bins


@pytest.mark.parametrize("duration, expected", [
    (100.0, [(0.0, 60.0), (60.0, 100.0)]),
    (80.0, [(0.0, 80.0)]),
    (130.0, [(0.0, 60.0), (60.0, 130.0)]),
    (150.0, [(0.0, 60.0), (60.0, 120.0), (120.0, 150.0)]),
    (120.0, [(0.0, 60.0), (60.0, 120.0)]),
    (45.0, [(0.0, 45.0)]),
    (12.5, [(0.0, 12.5)]),
])
def test_chunks_split_on_a_60_s_grid_and_never_leave_one_under_30_s(duration, expected):
    assert chunk_bounds(duration, 30.0, 60.0) == expected


def test_chunks_cover_the_whole_duration_without_gaps():
    for duration in np.linspace(0.5, 400, 57):
        bounds = chunk_bounds(float(duration))
        assert bounds[0][0] == 0 and bounds[-1][1] == pytest.approx(duration)
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert all(stop - start <= 90 for start, stop in bounds)


def test_a_word_spanning_bins_goes_into_each_and_a_short_word_into_one():
    assert word_bins(1.0, 1.6, 2.0, 20) == (2, 5)  # [1.0, 2.6] -> bins 2, 3, 4
    assert word_bins(1.0, 0.1, 2.0, 20) == (2, 3)  # shorter than a bin: still one bin
    assert word_bins(1.3, 0.0, 2.0, 20) == (3, 4)  # round(2.6) = 3
    assert word_bins(9.8, 1.0, 2.0, 20) == (20, 20)  # starts past the last bin: nowhere
    assert word_bins(9.6, 1.0, 2.0, 20) == (19, 20)  # runs past the end: clipped


def test_fit_steps_crops_or_zero_pads_the_time_axis():
    x = np.ones((2, 3, 5), dtype=np.float32)
    assert _fit_steps(x, 4).shape == (2, 3, 4)
    padded = _fit_steps(x, 7)
    assert padded.shape == (2, 3, 7) and padded[..., 5:].sum() == 0 and padded[..., :5].all()


def test_video_frame_times_follow_the_release():
    extractor = TribeVideoExtractor("unused")
    times = extractor.step_times(10.0, 64)
    assert times.shape == (20, 64)
    for i in (1, 7, 20):
        t_i = 10.0 * i / 20
        assert np.allclose(times[i - 1], np.maximum(0.0, t_i - (63 - np.arange(64)) / 16))
    assert times[0, -1] == 0.5 and times[0, 0] == 0.0 and times[-1, 0] == pytest.approx(10.0 - 63 / 16)


def test_video_steps_of_a_duration_off_the_grid_end_exactly_at_its_end():
    times = TribeVideoExtractor("unused").step_times(10.3, 64)
    assert len(times) == round(2 * 10.3)
    assert np.allclose(times[:, -1], 10.3 * np.arange(1, 22) / 21)


def test_video_windows_are_clamped_at_the_start_of_their_chunk():
    times = TribeVideoExtractor("unused").step_times(100.0, 64)
    assert len(times) == 200
    assert times[120, -1] == 60.5 and times[120, 0] == 60.0  # the second chunk starts at 60 s
    assert times[119, 0] == pytest.approx(60.0 - 63 / 16)
