import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.viz import COLORMAPS, color_limits, get_colormap


@pytest.mark.parametrize("name", COLORMAPS)
def test_builtin_maps_are_read_only_luts(name):
    cmap = get_colormap(name)
    assert cmap.lut.shape == (256, 3) and cmap.lut.dtype == np.uint8
    with pytest.raises(ValueError):
        cmap.lut[0, 0] = 1


def test_diverging_default_is_white_in_the_middle_and_warm_at_the_top():
    cmap = get_colormap("RdBu_r")
    middle, top = cmap.colors(np.array([0.0, 1.0]), -1, 1)
    assert middle.min() > 230
    assert top[0] > top[2] + 50
    assert np.array_equal(cmap.colors(np.array([5.0, -5.0]), -1, 1), cmap.lut[[255, 0]])  # clipped


def test_matplotlib_names_are_sampled_and_unknown_names_refused():
    assert get_colormap("magma").lut.shape == (256, 3) and not get_colormap("magma").diverging
    assert get_colormap("coolwarm_r").diverging
    with pytest.raises(UserInputError, match="colour map"):
        get_colormap("no-such-map")


def test_default_limits_are_symmetric_percentiles_for_diverging_maps():
    data = np.r_[np.linspace(-1, 3, 999), 100.0, np.nan]
    low, high = color_limits(data, get_colormap("RdBu_r"))
    assert low == -high and 2.9 < high < 3.1  # the outlier does not set the scale
    low, high = color_limits(data, get_colormap("viridis"))
    assert -1 < low < 0 and 2.9 < high < 3.1
    assert color_limits(data, get_colormap("RdBu_r"), vmax=2) == (-2, 2)
    assert color_limits(np.ones(4), get_colormap("viridis")) == (0.0, 2.0)


def test_bad_limits_are_refused():
    with pytest.raises(UserInputError, match="vmin"):
        color_limits([1.0], get_colormap("RdBu_r"), vmin=1, vmax=1)
    with pytest.raises(UserInputError, match="NaN"):
        color_limits([np.nan], get_colormap("RdBu_r"))


def test_threshold_keeps_strong_values_only():
    values = np.array([-2.0, -0.5, 0.1, 0.7, np.nan])
    assert get_colormap("RdBu_r").drawn(values, 0.6).tolist() == [True, False, False, True, False]
    assert get_colormap("viridis").drawn(values, 0.6).tolist() == [False, False, False, True, False]
    assert get_colormap("viridis").drawn(values, None).tolist() == [True, True, True, True, False]
