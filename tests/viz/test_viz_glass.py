import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.viz import glass_brain_frames, plot_glass_brain
from nforge_app.viz.glass import _VIEWS, _outline, _painter

SIZE = 240
# Two points on one line of sight along x: seen from the left, the lateral one (x = -60) is in front;
# seen from the right ("x" view), the medial one (x = -20) is.
PAIR = np.array([[-60.0, -10.0, 20.0], [-20.0, -10.0, 20.0]])


def _pixel(view: str, point, views: str, coords=PAIR, radius_mm=6.0) -> tuple[int, int]:
    """(row, col) in the image (``plot_glass_brain`` without a title) of an MNI point drawn in ``view``."""
    frame, _ = _outline(view, SIZE)
    x, y = frame.to_pixels(_VIEWS[view][0].project(np.asarray([point], dtype=float))[0])[0]
    painter = _painter(np.zeros(len(coords)), views, -1, 1, "RdBu_r", SIZE, None, coords, radius_mm,
                       {"header": False})
    top, left = painter.canvas.sheet.tile_origin(views.index(view))
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
    assert SIZE * 0.6 < image.height <= SIZE + 60  # one panel, its caption and letters, no header
    wide = plot_glass_brain(np.linspace(-1, 1, 1000), views="lyrz", size_px=SIZE, title="four views")
    assert wide.width > 3 * image.width - SIZE and wide.height > image.height


def test_a_strong_parcel_paints_its_centroid_warm():
    values = np.zeros(1000)
    values[0] = 5.0  # parcel 1, a left-hemisphere visual parcel
    from nforge_app.spaces import get_space

    centroids = get_space("schaefer1000").centroids_mni
    image = np.asarray(plot_glass_brain(values, views="z", size_px=SIZE, vmin=-5, vmax=5, threshold=1.0))
    row, col = _pixel("z", centroids[0], "z", coords=centroids, radius_mm=3.5)
    assert _is_warm(image[row, col])
    assert not _is_warm(image[row, col + 40])  # the threshold hides every other parcel


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
    sheet = _painter(base, "z", None, None, "RdBu_r", SIZE, None, None, None, {"header": True}).canvas.sheet
    header, footer = 30, 60
    bar = slice(sheet.bar_left - 2, None)  # the colour bar column, between the time label and the time axis
    assert np.array_equal(small[header:-footer, bar], large[header:-footer, bar])
    assert not np.array_equal(small[:header], large[:header])  # "t = 0.0 s" vs "t = 1.5 s"
    assert not np.array_equal(small[-footer:], large[-footer:])  # the marker on the time axis moves


@pytest.mark.parametrize("views", ["", "q", "xw", 3])
def test_bad_views_are_rejected(views):
    with pytest.raises(UserInputError, match="glass brain views.*accepted: x, l, r, y, z"):
        plot_glass_brain(np.zeros(1000), views=views)


def test_the_colour_bar_says_its_unit():
    plain = np.asarray(plot_glass_brain(np.linspace(-1, 1, 1000), views="z", size_px=SIZE))
    named = np.asarray(plot_glass_brain(np.linspace(-1, 1, 1000), views="z", size_px=SIZE, unit="predicted BOLD"))
    assert named.shape[1] > plain.shape[1] and named.shape[0] == plain.shape[0]
    sheet = _painter(np.linspace(-1, 1, 1000), "z", None, None, "RdBu_r", SIZE, None, None, None,
                     {"unit": "predicted BOLD", "header": False}).canvas.sheet
    column = slice(sheet.unit_x - sheet.font_px // 2, None)  # the unit, written along the bar
    assert (named[:, column].min(axis=2) < 200).sum() > 60 and (plain[:, column].min(axis=2) < 200).sum() == 0


def test_views_may_be_a_list_of_letters():
    assert np.array_equal(np.asarray(plot_glass_brain(np.zeros(1000), views=["l", "z"], size_px=SIZE)),
                          np.asarray(plot_glass_brain(np.zeros(1000), views="lz", size_px=SIZE)))


def test_text_is_never_drawn_over_the_glass_brain():
    frames = glass_brain_frames(np.full((2, 1000), np.nan), times_s=[0.0, 1.0], views="lyrz", size_px=SIZE,
                                title="a title long enough to run the whole width of the picture " * 3, vmin=-1,
                                vmax=1, unit="predicted BOLD (a.u.)")
    painter = _painter(np.zeros(1000), "lyrz", -1, 1, "RdBu_r", SIZE, None, None, None, {"header": True})
    image = np.asarray(frames[1])
    for index, letter in enumerate("lyrz"):
        _, tile = _outline(letter, SIZE)
        top, left = painter.canvas.sheet.tile_origin(index)
        assert np.array_equal(image[top:top + tile.shape[0], left:left + tile.shape[1]], tile), letter


def test_bad_shapes_are_rejected():
    with pytest.raises(UserInputError, match="1000"):
        plot_glass_brain(np.zeros(17))
    with pytest.raises(UserInputError, match="coords_mni"):
        plot_glass_brain(np.zeros(3), coords_mni=PAIR)
    with pytest.raises(UserInputError, match="times_s"):
        glass_brain_frames(np.zeros((2, 1000)), times_s=[0.0])
    with pytest.raises(UserInputError, match="colour map"):
        plot_glass_brain(np.zeros(1000), cmap="no-such-map")
