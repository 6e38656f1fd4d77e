import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.viz import render_surface, surface_frames
from nforge_app.viz._canvas import frame_times
from nforge_app.viz.surface import SURFACE_VIEWS, _painter, _view_raster, check_views

SIZE = 200
N_LH = 10242


@pytest.fixture(scope="module")
def pial():
    return np.asarray(load_fsaverage5().surfaces["pial"][0])


def _changed(before, after) -> np.ndarray:
    return np.abs(np.asarray(before, dtype=int) - np.asarray(after, dtype=int)).sum(axis=2) > 30


def test_left_occipital_shows_on_the_right_of_the_lateral_left_view(pial):
    values = np.full(20484, np.nan, dtype=np.float32)
    bare = render_surface(values, views="lateral_left", size_px=SIZE, vmin=-1, vmax=1)
    occipital = np.zeros(20484, dtype=bool)
    occipital[:N_LH] = pial[:N_LH, 1] < -75  # far back of the left hemisphere
    values[occipital] = 0.6
    image = render_surface(values, views="lateral_left", size_px=SIZE, vmin=-1, vmax=1)
    rows, cols = np.nonzero(_changed(bare, image))
    assert cols.size > 100
    brain_cols = np.nonzero(_changed(np.full_like(np.asarray(bare), 255), bare))[1]
    middle = (brain_cols.min() + brain_cols.max()) / 2
    assert cols.min() > middle  # posterior is on the right when the left hemisphere is seen from the left
    r, g, b = np.asarray(image)[rows, cols].astype(int).mean(axis=0)
    assert r > b + 60  # a warm colour


def test_right_frontal_shows_on_the_right_of_the_lateral_right_view(pial):
    values = np.full(20484, np.nan, dtype=np.float32)
    bare = render_surface(values, views="lateral_right", size_px=SIZE, vmin=-1, vmax=1)
    values[N_LH:][pial[N_LH:, 1] > 40] = -1.0
    cols = np.nonzero(_changed(bare, render_surface(values, views="lateral_right", size_px=SIZE, vmin=-1,
                                                    vmax=1)))[1]
    assert cols.size > 100 and cols.min() > np.asarray(bare).shape[1] / 2


def test_values_on_hidden_vertices_change_no_pixel():
    raster = _view_raster("inflated", "lateral_left", SIZE)
    hidden = np.setdiff1d(np.arange(20484), raster.vertices.ravel())
    assert (hidden < N_LH).sum() > 1000  # medial left vertices are not seen from the left...
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20484).astype(np.float32)
    changed = values.copy()
    changed[hidden] = 50.0  # ...nor anything of the right hemisphere
    first, second = (render_surface(v, views="lateral_left", size_px=SIZE, vmin=-2, vmax=2) for v in (values, changed))
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_threshold_and_nan_show_the_sulcal_grey():
    values = np.full(20484, 0.05, dtype=np.float32)
    image = np.asarray(render_surface(values, views="dorsal", size_px=SIZE, vmin=-1, vmax=1, threshold=0.1))
    bare = _view_raster("inflated", "dorsal", SIZE).tile
    height, width = bare.shape[:2]
    painter = _painter(values, ("dorsal",), "inflated", SIZE, -1, 1, "RdBu_r", None, {"header": False})
    top, left = painter.canvas.sheet.tile_origin(0)
    on_brain = (bare != 255).any(axis=2)
    brain = bare[on_brain].astype(int)
    assert np.abs(brain - brain.mean(axis=1, keepdims=True)).max() == 0 and brain.mean() < 200  # greys
    assert np.array_equal(image[top:top + height, left:left + width], bare)  # no label over the brain
    nan = np.asarray(render_surface(np.full(20484, np.nan), views="dorsal", size_px=SIZE, vmin=-1, vmax=1))
    assert np.array_equal(image, nan)


def test_parcel_values_are_painted_on_their_vertices():
    parcels = np.linspace(-1, 1, 1000)
    on_vertices = get_space("schaefer1000").to_surface(parcels)
    kwargs = dict(views=("medial_left", "ventral"), surface="pial", size_px=SIZE, vmin=-1, vmax=1)
    assert np.array_equal(np.asarray(render_surface(parcels, **kwargs)),
                          np.asarray(render_surface(on_vertices, **kwargs)))


def test_frames_share_limits_and_layout():
    rng = np.random.default_rng(1)
    pattern = rng.standard_normal(20484).astype(np.float32)
    frames = surface_frames(np.stack([0.1 * pattern, pattern, -pattern]), times_s=[0, 1.49, 2.98],
                            surface="half-inflated", size_px=SIZE)
    assert len(frames) == 3 and len({f.size for f in frames}) == 1
    arrays = [np.asarray(f).astype(int) for f in frames]
    assert np.abs(arrays[0] - 255).sum() < np.abs(arrays[1] - 255).sum()  # weaker run is paler
    assert np.array_equal(arrays[1][30:-70, -60:], arrays[2][30:-70, -60:])  # same colour bar


def test_text_is_never_drawn_over_the_brain():
    views = tuple(SURFACE_VIEWS)
    frames = surface_frames(np.full((2, 20484), np.nan), times_s=[0.0, 1.0], views=views, size_px=SIZE, vmin=-1,
                            vmax=1, title="a long title " * 20, unit="z-scored predicted BOLD",
                            time_label="BOLD time (s), haemodynamic delay included")
    sheet = _painter(np.zeros(20484), views, "inflated", SIZE, -1, 1, "RdBu_r", None, {}).canvas.sheet
    image = np.asarray(frames[0])
    for index, view in enumerate(views):
        tile = _view_raster("inflated", view, SIZE).tile
        top, left = sheet.tile_origin(index)
        assert np.array_equal(image[top:top + tile.shape[0], left:left + tile.shape[1]], tile), view


def test_views_say_where_left_right_front_and_back_are():
    letters = {view: camera.side_letters() for view, (camera, _) in SURFACE_VIEWS.items()}
    assert letters["lateral_left"] == ("A", "P", "", "") and letters["lateral_right"] == ("P", "A", "", "")
    assert letters["medial_left"] == ("P", "A", "", "") and letters["medial_right"] == ("A", "P", "", "")
    assert letters["dorsal"] == ("L", "R", "A", "P") and letters["ventral"] == ("R", "L", "A", "P")


def test_the_time_axis_marker_moves_with_time():
    frames = surface_frames(np.zeros((3, 20484)), times_s=[0.0, 5.0, 10.0], views="dorsal", size_px=SIZE, vmin=-1,
                            vmax=1, time_label="BOLD time (s)")
    times = frame_times([0.0, 5.0, 10.0], 3, "BOLD time (s)")
    axis = _painter(np.zeros(20484), ("dorsal",), "inflated", SIZE, -1, 1, "RdBu_r", None,
                    {"times": times}).canvas.sheet.axis
    for frame, time_s in zip(frames, (0.0, 5.0, 10.0), strict=True):
        above_axis = np.asarray(frame)[axis.y - axis.marker:axis.y - 1].min(axis=2)  # only the marker is there
        columns = np.flatnonzero((above_axis < 80).any(axis=0))
        assert abs(columns.mean() - axis.x(time_s)) < 1.5 and columns.size < 3 * axis.marker


def test_lateral_and_medial_name_both_hemispheres():
    assert check_views(["lateral", "medial"]) == ("lateral_left", "lateral_right", "medial_left", "medial_right")
    assert check_views(("dorsal", "lateral", "lateral_left")) == ("dorsal", "lateral_left", "lateral_right")


def test_bad_arguments_are_rejected():
    with pytest.raises(UserInputError, match="surface views: unknown: 'side'; accepted: lateral_left"):
        render_surface(np.zeros(20484), views=("side",))
    with pytest.raises(UserInputError, match="surface"):
        render_surface(np.zeros(20484), surface="flat")
    with pytest.raises(UserInputError, match="20484"):
        render_surface(np.zeros(300))
    with pytest.raises(UserInputError, match="size_px"):
        render_surface(np.zeros(20484), size_px=10)
