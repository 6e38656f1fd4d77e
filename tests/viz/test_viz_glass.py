import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.viz import glass_brain_frames, plot_glass_brain
from nforge_app.viz.glass import _VIEWS, _layout, _outline

SIZE = 240
# Two points on one line of sight along x: seen from the left, the lateral one (x = -60) is in front;
# seen from the right ("x" view), the medial one (x = -20) is.
PAIR = np.array([[-60.0, -10.0, 20.0], [-20.0, -10.0, 20.0]])


def _pixel(view: str, point, views: str, header: bool = False) -> tuple[int, int]:
    """(row, col) in the image of an MNI point drawn in ``view``."""
    frame, _ = _outline(view, SIZE)
    x, y = frame.to_pixels(_VIEWS[view][0].project(np.asarray([point], dtype=float))[0])[0]
    layout = _layout(views, SIZE, header, PAIR.tobytes(), 6.0)
    top, left = layout.sheet.origins[views.index(view)]
    return top + int(y), left + int(x)


def _is_warm(rgb) -> bool:
    r, g, b = (int(c) for c in rgb)
    return r > g + 60 and r > b + 60


def _is_cold(rgb) -> bool:
    r, g, b = (int(c) for c in rgb)
    return b > r + 60


def test_schaefer_default_image_is_rgb_and_fits_the_size():
    image = plot_glass_brain(np.linspace(-1, 1, 1000), views="z", size_px=SIZE)
    assert image.mode == "RGB"
    assert SIZE * 0.6 < image.height <= SIZE + 30  # one panel, margins, no header
    wide = plot_glass_brain(np.linspace(-1, 1, 1000), views="lyrz", size_px=SIZE, title="four views")
    assert wide.width > 3 * image.width - SIZE and wide.height > image.height


def test_a_strong_parcel_paints_its_centroid_warm():
    values = np.zeros(1000)
    values[0] = 5.0  # parcel 1, a left-hemisphere visual parcel
    from nforge_app.spaces import get_space

    centroid = get_space("schaefer1000").centroids_mni[0]
    image = np.asarray(plot_glass_brain(values, views="z", size_px=SIZE, vmin=-5, vmax=5, threshold=1.0))
    frame, _ = _outline("z", SIZE)
    x, y = frame.to_pixels(_VIEWS["z"][0].project(centroid[None])[0])[0]
    layout = _layout("z", SIZE, False, get_space("schaefer1000").centroids_mni.tobytes(), 3.5)
    top, left = layout.sheet.origins[0]
    assert _is_warm(image[top + int(y), left + int(x)])
    assert not _is_warm(image[top + int(y), left + int(x) + 40])  # the threshold hides every other parcel


def test_nearer_discs_paint_over_farther_ones():
    image = np.asarray(plot_glass_brain([1.0, -1.0], views="lx", size_px=SIZE, coords_mni=PAIR, radius_mm=6.0,
                                        vmin=-1, vmax=1))
    assert _is_warm(image[_pixel("l", PAIR[0], "lx")])  # from the left, the lateral point is in front
    assert _is_cold(image[_pixel("x", PAIR[0], "lx")])  # from the right, the medial one is


def test_threshold_reveals_the_disc_behind():
    image = np.asarray(plot_glass_brain([0.1, -1.0], views="l", size_px=SIZE, coords_mni=PAIR, radius_mm=6.0,
                                        vmin=-1, vmax=1, threshold=0.5))
    assert _is_cold(image[_pixel("l", PAIR[0], "l")])


def test_nan_and_subthreshold_values_draw_nothing():
    empty = np.asarray(plot_glass_brain([np.nan, np.nan], views="y", size_px=SIZE, coords_mni=PAIR, vmin=-1, vmax=1))
    weak = np.asarray(plot_glass_brain([0.2, np.nan], views="y", size_px=SIZE, coords_mni=PAIR, vmin=-1, vmax=1,
                                       threshold=0.3))
    assert np.array_equal(empty, weak)


def test_frames_share_global_limits():
    base = np.sin(np.arange(1000) / 40.0)
    frames = glass_brain_frames(np.stack([0.2 * base, base]), times_s=[0.0, 1.49], views="z", size_px=SIZE)
    small, large = (np.asarray(f).astype(int) for f in frames)
    assert small.shape == large.shape
    colored = np.abs(large - large.max(axis=2, keepdims=True)).sum(axis=2) > 60  # saturated disc pixels
    # Distance from white: the weak frame is paler (never rescaled to its own range).
    assert (255 - small[colored]).sum() < 0.6 * (255 - large[colored]).sum()
    header = 30
    bar = slice(-70, None)  # the colour bar column, below the header (which holds the time label)
    assert np.array_equal(small[header:, bar], large[header:, bar])
    assert not np.array_equal(small[:header], large[:header])  # "t = 0.0 s" vs "t = 1.5 s"


@pytest.mark.parametrize("views", ["", "q", "xx", 3])
def test_bad_views_are_rejected(views):
    with pytest.raises(UserInputError, match="views"):
        plot_glass_brain(np.zeros(1000), views=views)


def test_bad_shapes_are_rejected():
    with pytest.raises(UserInputError, match="1000"):
        plot_glass_brain(np.zeros(17))
    with pytest.raises(UserInputError, match="coords_mni"):
        plot_glass_brain(np.zeros(3), coords_mni=PAIR)
    with pytest.raises(UserInputError, match="times_s"):
        glass_brain_frames(np.zeros((2, 1000)), times_s=[0.0])
    with pytest.raises(UserInputError, match="colour map"):
        plot_glass_brain(np.zeros(1000), cmap="no-such-map")
