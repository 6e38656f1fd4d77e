"""The viewer's binary payloads: container, quantisation, mesh and prediction payloads."""

import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.models import Prediction
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.viz import _viewer as viewer


@pytest.fixture(scope="module")
def mesh():
    return load_fsaverage5()


def _prediction(space, indices, n_steps=6, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n_steps, len(indices))).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(n_steps) * 1.5, tr_s=1.5, space_id=space.space_id,
                      indices=np.asarray(indices), model_id="nforge-lite", subject="average", hrf_offset_s=5.0,
                      time_axis="stimulus", metadata={"baseline": True})


def test_container_round_trip_and_alignment():
    arrays = {"a": np.arange(5, dtype=np.uint8), "b": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3),
              "c": np.array([-3, 7], dtype=np.int16)}
    payload = viewer.pack_payload({"x": [1, "é"]}, arrays)
    meta, back = viewer.unpack_payload(payload)
    assert meta == {"x": [1, "é"]}
    for name, array in arrays.items():
        np.testing.assert_array_equal(back[name], array)
    header_end = 8 + int.from_bytes(payload[4:8], "little")
    assert header_end % 8 == 0  # typed arrays in the browser need aligned starts
    with pytest.raises(ValueError, match="float64"):
        viewer.pack_payload({}, {"bad": np.zeros(2)})
    with pytest.raises(ValueError, match="NFV1"):
        viewer.unpack_payload(b"XXXX" + payload[4:])


def test_quantise_error_bound_and_missing_values():
    values = np.array([[-2.0, 0.5, np.nan], [3.0, 1.0, 0.0]], dtype=np.float32)
    q, scale, offset = viewer.quantise(values)
    assert q.dtype == np.uint8 and q[0, 2] == viewer.NO_VALUE and q[1, 0] == viewer.NO_VALUE - 1 and q[0, 0] == 0
    restored = offset + q.astype(np.float64) * scale
    finite = np.isfinite(values)
    assert np.max(np.abs(restored[finite] - values[finite])) <= scale / 2 + 1e-6
    constant, scale, offset = viewer.quantise(np.full((2, 3), 4.0))
    assert scale == 0 and offset == 4.0 and (constant == 0).all()
    assert (viewer.quantise(np.full(3, np.nan))[0] == viewer.NO_VALUE).all()


def test_geometry_payload(mesh):
    meta, arrays = viewer.unpack_payload(viewer.geometry_payload(mesh))
    assert meta["n_vertices"] == 20484 and meta["n_faces"] == 40960 and meta["n_faces_lh"] == 20480
    assert set(meta["colormaps"]) == {"symmetric", "one-sided"}
    assert all(len(table["lut"]) == 768 for table in meta["colormaps"].values())
    faces = arrays["faces"].astype(np.int64)
    assert faces[:20480].max() < meta["n_lh"] <= faces[20480:].min()
    for surface, info in meta["surfaces"].items():
        coords = arrays[f"{surface}:position"] * info["scale"] + np.array(info["offset"])
        np.testing.assert_allclose(coords, mesh.surfaces[surface][0], atol=info["scale"])
        normals = arrays[f"{surface}:normal"].astype(np.float64) / 127
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=0.02)
    # Counter-clockwise seen from outside: face normals point away from each hemisphere's centre.
    coords = mesh.surfaces["inflated"][0].astype(np.float64)
    for part in (faces[:20480], faces[20480:]):
        a, b, c = (coords[part[:, k]] for k in range(3))
        outward = np.einsum("ij,ij->i", np.cross(b - a, c - a), (a + b + c) / 3 - coords[np.unique(part)].mean(0))
        assert np.mean(outward > 0) > 0.95
    assert len(viewer.geometry_payload(mesh)) < 900_000


def test_surface_prediction_payload_with_regions(mesh):
    space = get_space("fsaverage5")
    roi = ["V1", "A1"]
    indices = space.select(roi)
    prediction = _prediction(space, indices)
    payload = viewer.prediction_payload(prediction, space, mesh, roi=roi)
    meta, arrays = viewer.unpack_payload(payload)
    frames = arrays["frames"]
    assert frames.shape == (6, 20484) and frames.dtype == np.uint8
    outside = np.setdiff1d(np.arange(20484), indices)
    assert (frames[:, outside] == viewer.NO_VALUE).all()
    restored = meta["offset"] + frames[:, indices].astype(np.float64) * meta["scale"]
    assert np.max(np.abs(restored - prediction.data)) <= meta["scale"] / 2 + 1e-5
    assert meta["time_label"] == prediction.time_label and meta["times_s"] == [0, 1.5, 3, 4.5, 6, 7.5]
    assert meta["roi_lines"]["names"] == roi and arrays["roi_lines"].shape == (6, 2)
    _, means = space.roi_time_series(prediction.data, indices, names=roi)
    np.testing.assert_allclose(arrays["roi_lines"], means, rtol=1e-5)
    # Outlines lie on the selection, on both regions, and not inside them.
    outline = arrays["outline"].astype(bool)
    assert outline.any() and np.isin(np.flatnonzero(outline), indices).all()
    assert outline.sum() < 0.5 * len(indices)
    for name in roi:
        assert outline[space.select(name)].any()
    # Glass brain: one point per region and hemisphere.
    assert sorted(meta["glass"]["names"]) == ["L A1", "L V1", "R A1", "R V1"]
    assert arrays["glass"].shape == (6, 4) and arrays["glass_xyz"].shape == (4, 3)
    assert not meta["whole_space"] and meta["region_names"][arrays["region"][indices[0]]] in roi
    assert len(payload) / 6 < 45_000


def test_whole_brain_payload_is_small_per_time_step(mesh):
    space = get_space("fsaverage5")
    prediction = _prediction(space, np.arange(20484), n_steps=60)
    payload = viewer.prediction_payload(prediction, space, mesh)
    meta, arrays = viewer.unpack_payload(payload)
    assert meta["whole_space"] and not arrays["outline"].any()
    assert len(meta["roi_lines"]["names"]) == viewer.MAX_ROI_LINES and "of 180" in meta["roi_lines"]["what"]
    assert len(payload) / 60 <= 45_000  # the budget per TR


def test_parcel_prediction_is_painted_on_the_surface(mesh):
    space = get_space("schaefer1000")
    indices = space.select("Vis")
    prediction = _prediction(space, indices, n_steps=4)
    meta, arrays = viewer.unpack_payload(viewer.prediction_payload(prediction, space, mesh, roi="Vis"))
    parcel = space.parcel_of_vertex
    vertex = np.flatnonzero(parcel == indices[3])[0]
    restored = meta["offset"] + arrays["frames"][:, vertex] * meta["scale"]
    np.testing.assert_allclose(restored, prediction.data[:, 3], atol=meta["scale"])
    assert (arrays["frames"][:, parcel == -1] == viewer.NO_VALUE).all()
    np.testing.assert_allclose(arrays["glass_xyz"], space.centroids_mni[indices], atol=1e-4)
    assert meta["region_kind"] == "parcel" and meta["glass"]["names"][0] == space.roi_labels[indices[0]]
    assert arrays["region"][vertex] == indices[3]


def test_viewer_limits_follow_the_colour_scale():
    values = np.concatenate([np.linspace(-2, 4, 1000), [np.nan, 40.0]])
    stats = viewer.value_stats(values)
    assert stats["max"] == 40.0 and stats["abs_p99"] < 40.0  # robust: one outlier does not set the range
    vmin, vmax, threshold = viewer.viewer_limits(stats, "symmetric", 25)
    assert vmin == -vmax == -stats["abs_p99"] and threshold == pytest.approx(0.25 * vmax)
    vmin, vmax, threshold = viewer.viewer_limits(stats, "one-sided", 50)
    assert vmin == threshold == pytest.approx(0.5 * stats["p99"]) and vmax == stats["p99"]
    assert viewer.viewer_limits(viewer.value_stats(np.full(4, np.nan)), "symmetric", 0) == (-1e-9, 1e-9, 0.0)
    with pytest.raises(UserInputError, match="colour scale"):
        viewer.viewer_limits(stats, "rainbow", 10)
    with pytest.raises(UserInputError, match=r"threshold \(% of the robust maximum\) 120: accepted: a number from 0"):
        viewer.viewer_limits(stats, "symmetric", 120)


def test_geometry_payload_orders_each_hemisphere_by_place(mesh):
    _, arrays = viewer.unpack_payload(viewer.geometry_payload(mesh))
    faces = arrays["faces"].astype(np.int64)
    same = np.sort(faces, axis=1), np.sort(np.asarray(mesh.surfaces["inflated"][1], dtype=np.int64), axis=1)
    np.testing.assert_array_equal(*(part[np.lexsort(part.T[::-1])] for part in same))  # the mesh's triangles
    # Neighbours follow one another: 32 consecutive triangles share their vertices (about 31 vertices; 46 in
    # the mesh's own order), which a renderer's small vertex cache keeps.
    in_windows = [len(np.unique(faces[i:i + 32])) for i in range(0, len(faces) - 32, 32)]
    assert np.mean(in_windows) < 36


def test_coinciding_region_lines_share_one_line_and_the_unit_is_said(mesh):
    space = get_space("fsaverage5")
    roi = ["V1", "A1", "V2"]
    indices = space.select(roi)
    prediction = _prediction(space, indices)
    data = np.array(prediction.data)
    course = np.sin(np.arange(6.0))[:, None]  # V1 and A1: every vertex follows the same course
    for name in ("V1", "A1"):
        data[:, np.isin(indices, space.select(name))] = course
    prediction = Prediction(**{**prediction.__dict__, "data": data})
    meta, arrays = viewer.unpack_payload(viewer.prediction_payload(prediction, space, mesh, roi=roi))
    assert meta["roi_lines"]["names"] == ["V1 = A1", "V2"] and arrays["roi_lines"].shape == (6, 2)
    np.testing.assert_allclose(arrays["roi_lines"][:, 0], course[:, 0], atol=1e-5)
    assert "regions whose time courses coincide share a line, named together (V1 = A1)" in meta["roi_lines"]["what"]
    assert meta["unit"] == "z-scored predicted BOLD"  # a baseline's values (metadata["baseline"])
