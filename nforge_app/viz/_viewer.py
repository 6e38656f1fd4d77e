"""What the web viewer downloads: the mesh once, and every frame of a prediction once, quantised.

Both payloads use one small binary container (:func:`pack_payload`): the magic ``NFV1``, the length of a
JSON header, the header (padded to 8 bytes), then the arrays, each starting on an 8-byte boundary so that
the browser can view them as typed arrays without copying. The header lists each array's dtype, shape and
offset (from the end of the header) under ``"arrays"`` and everything else under ``"meta"``.

* :func:`geometry_payload`: the fsaverage5 mesh (pial, half-inflated, inflated; int16 positions, int8
  normals, uint16 triangles wound counter-clockwise seen from outside and ordered by place, uint8 sulcal
  depth). About 0.8 MB, sent once per page and cached by the browser.
* :func:`prediction_payload`: one uint8 per vertex and time step (20.5 KB per TR for fsaverage5; parcel
  values are painted on their vertices), the region of each vertex, outlines of the selected regions,
  the points of a glass brain and the ROI mean time courses. Byte 255 means "no value": the anatomy shows.
* :func:`evaluation_payload`: an r map (an :class:`~nforge_app.values.Evaluation`) as a one-frame prediction
  payload whose ``meta["map"]`` gives its label, a symmetric colour scale of its own and a histogram of r;
  the viewer then shows the histogram instead of the ROI time series.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from nforge_app.checks import check_in, check_range
from nforge_app.errors import UserInputError
from nforge_app.spaces import SURFACES, OutputSpace, SurfaceMesh, describe_region
from nforge_app.values import Evaluation, Prediction
from nforge_app.viz._colors import DIVERGING_DEFAULT, get_colormap
from nforge_app.viz._raster import vertex_normals

MAGIC = b"NFV1"
NO_VALUE = 255  # the byte of a missing value; values use 0..254
_LEVELS = NO_VALUE - 1
_ALIGN = 8
MAX_ROI_LINES = 12
# The viewer's two colour scales: values around 0 (symmetric limits), and positive values only.
VIEWER_COLORMAPS = {"symmetric": DIVERGING_DEFAULT, "one-sided": "hot"}


BASELINE_UNIT = "z-scored predicted BOLD"
MODEL_UNIT = "predicted BOLD (a.u.)"


def value_unit(prediction: Prediction) -> str:
    """What a prediction's values are, for colour bars and tables.

    The prediction's own ``metadata["unit"]`` when a model records one; else ``"z-scored predicted BOLD"``
    for a baseline (its channels are z-scored over the stimulus) and ``"predicted BOLD (a.u.)"`` for a model
    trained on fMRI (arbitrary units: the scale of the training targets).
    """
    unit = prediction.metadata.get("unit")
    if unit:
        return str(unit)
    return BASELINE_UNIT if prediction.metadata.get("baseline") else MODEL_UNIT


def _padding(size: int) -> int:
    return -size % _ALIGN


def pack_payload(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Pack JSON-ready ``meta`` and named arrays into one binary payload.

    Parameters
    ----------
    meta : dict
        JSON-serialisable facts.
    arrays : dict
        ``{name: ndarray}``; dtypes the browser can view: (u)int8, (u)int16, (u)int32, float32.

    Returns
    -------
    bytes
        ``NFV1``, uint32 little-endian header length, the JSON header (space-padded to 8 bytes), the arrays.
    """
    table, offset, blobs = {}, 0, []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype.name not in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32"):
            raise ValueError(f"array {name!r} has dtype {array.dtype}, which the viewer cannot read")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        table[name] = {"dtype": array.dtype.name, "shape": list(array.shape), "offset": offset}
        blobs += [data, b"\0" * _padding(len(data))]
        offset += len(data) + _padding(len(data))
    header = json.dumps({"meta": meta, "arrays": table}, separators=(",", ":"), allow_nan=False).encode()
    header += b" " * _padding(len(MAGIC) + 4 + len(header))
    return b"".join([MAGIC, struct.pack("<I", len(header)), header, *blobs])


def unpack_payload(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a payload written by :func:`pack_payload`: ``(meta, {name: array})`` (arrays are read-only views)."""
    if payload[:4] != MAGIC:
        raise ValueError("not a viewer payload (missing the NFV1 magic)")
    (length,) = struct.unpack("<I", payload[4:8])
    header = json.loads(payload[8:8 + length])
    start = 8 + length
    arrays = {}
    for name, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        count = int(np.prod(spec["shape"], dtype=np.int64))
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=count,
                                     offset=start + spec["offset"]).reshape(spec["shape"])
    return header["meta"], arrays


def quantise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map finite values linearly onto bytes 0..254 (NaN -> 255): ``value ~ offset + byte * scale``.

    Returns
    -------
    (bytes, scale, offset)
        uint8 array of ``values``' shape, and the two floats that undo the mapping (scale 0 when constant).
    """
    values = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(values.shape, NO_VALUE, dtype=np.uint8), 0.0, 0.0
    low, high = float(values[finite].min()), float(values[finite].max())
    scale = (high - low) / _LEVELS
    steps = np.zeros(values.shape, dtype=np.float32) if scale == 0 else (values - np.float32(low)) / np.float32(scale)
    quantised = np.where(finite, np.clip(np.rint(np.nan_to_num(steps)), 0, _LEVELS), NO_VALUE).astype(np.uint8)
    return quantised, scale, low


def value_stats(values: np.ndarray) -> dict:
    """Statistics of the finite values that set the viewer's colour limits (zeros when there are none).

    Returns
    -------
    dict
        ``min``, ``max``, ``p1``, ``p99`` (percentiles) and ``abs_p99`` (99th percentile of ``|values|``).
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"min": 0.0, "max": 0.0, "abs_p99": 0.0, "p1": 0.0, "p99": 0.0}
    p1, p99 = np.percentile(finite, [1, 99])
    return {"min": float(finite.min()), "max": float(finite.max()), "abs_p99": float(np.percentile(np.abs(finite), 99)),
            "p1": float(p1), "p99": float(p99)}


def viewer_limits(stats: dict, color_scale: str, threshold_pct: float) -> tuple[float, float, float]:
    """Colour limits and threshold as the web viewer sets them (``limits()`` in ``ui/static/viewer.js``).

    Parameters
    ----------
    stats : dict
        From :func:`value_stats`.
    color_scale : str
        A key of :data:`VIEWER_COLORMAPS`: ``"symmetric"`` maps ``±`` the robust maximum of ``|values|``;
        ``"one-sided"`` maps the threshold to the 99th percentile (positive values only).
    threshold_pct : float
        Values under this percentage of the robust maximum show the anatomy (``|value|`` when symmetric).

    Returns
    -------
    (vmin, vmax, threshold) : tuple of float
    """
    check_in("colour scale", color_scale, tuple(VIEWER_COLORMAPS))
    fraction = check_range("threshold (% of the robust maximum)", threshold_pct, 0, 100) / 100
    if color_scale == "symmetric":
        bound = stats["abs_p99"] if stats["abs_p99"] > 0 else max(abs(stats["min"]), abs(stats["max"]), 1e-9)
        return -bound, bound, fraction * bound
    top = stats["p99"] if stats["p99"] > 0 else max(stats["max"], 1e-9)
    return fraction * top, max(top, fraction * top + 1e-9), fraction * top


def _outward_faces(coords: np.ndarray, faces: np.ndarray, n_lh: int) -> np.ndarray:
    """The triangles wound counter-clockwise seen from outside (per hemisphere, on the inflated surface)."""
    faces = np.array(faces, dtype=np.int64)
    for in_hemi in (faces[:, 0] < n_lh, faces[:, 0] >= n_lh):
        part = faces[in_hemi]
        a, b, c = (coords[part[:, k]].astype(np.float64) for k in range(3))
        normal = np.cross(b - a, c - a)
        centre = coords[np.unique(part)].mean(axis=0)
        if np.mean(np.einsum("ij,ij->i", normal, (a + b + c) / 3 - centre) > 0) < 0.5:
            faces[in_hemi] = part[:, ::-1]
    return faces


def _morton_codes(points: np.ndarray) -> np.ndarray:
    """Z-order code of each point: 10 bits per axis of its cell in the points' bounding box, interleaved."""
    low, high = points.min(axis=0), points.max(axis=0)
    cells = np.clip(((points - low) / np.maximum(high - low, 1e-12) * 1023).astype(np.int64), 0, 1023)
    codes = np.zeros(len(points), dtype=np.int64)
    for bit in range(10):
        for axis in range(3):
            codes |= ((cells[:, axis] >> bit) & 1) << (3 * bit + axis)
    return codes


def _local_order(coords: np.ndarray, faces: np.ndarray, n_lh: int) -> np.ndarray:
    """The faces in Z-order of their centroids, per hemisphere (left first): neighbours follow one another,
    so that a renderer finds most vertices of a triangle in its small vertex cache."""
    order = []
    for in_hemi in (faces[:, 0] < n_lh, faces[:, 0] >= n_lh):
        index = np.flatnonzero(in_hemi)
        order.append(index[np.argsort(_morton_codes(coords[faces[index]].mean(axis=1)), kind="stable")])
    return faces[np.concatenate(order)]


def geometry_payload(mesh: SurfaceMesh) -> bytes:
    """The mesh the viewer draws: every surface of both hemispheres, with sulcal depth.

    Parameters
    ----------
    mesh : SurfaceMesh
        From :func:`nforge_app.spaces.load_fsaverage5`.

    Returns
    -------
    bytes
        A payload (see :func:`pack_payload`) with arrays ``faces`` uint16 (F, 3) (left hemisphere first, each
        in Z-order of the triangles' centres, so that neighbouring triangles follow one another),
        ``sulc`` uint8 (V,) (0 = most gyral, 255 = deepest sulcus), and per surface ``<surface>:position``
        int16 (V, 3) and ``<surface>:normal`` int8 (V, 3); ``meta`` holds the vertex and face counts per
        hemisphere, per surface the ``scale`` and ``offset`` (mm) that turn positions back into mm, and the
        colour tables of :data:`VIEWER_COLORMAPS` (``{"name", "lut": 768 ints}``).
    """
    if mesh.n_vertices > 65535:
        raise ValueError("the viewer indexes vertices with uint16; this mesh has too many")
    inflated = np.asarray(mesh.surfaces["inflated"][0], dtype=np.float64)
    faces = _local_order(inflated, _outward_faces(inflated, mesh.surfaces["inflated"][1], mesh.n_lh), mesh.n_lh)
    arrays: dict[str, np.ndarray] = {"faces": faces.astype(np.uint16)}
    sulc = np.asarray(mesh.sulc, dtype=np.float64)
    low, high = np.percentile(sulc, [1, 99])
    arrays["sulc"] = np.rint(np.clip((sulc - low) / (high - low), 0, 1) * 255).astype(np.uint8)
    surfaces = {}
    for name in SURFACES:
        coords = np.asarray(mesh.surfaces[name][0], dtype=np.float64)
        centre = (coords.min(axis=0) + coords.max(axis=0)) / 2
        scale = float(np.abs(coords - centre).max()) / 32767
        arrays[f"{name}:position"] = np.rint((coords - centre) / scale).astype(np.int16)
        arrays[f"{name}:normal"] = np.rint(vertex_normals(coords, faces) * 127).astype(np.int8)
        surfaces[name] = {"scale": scale, "offset": centre.tolist()}
    n_faces_lh = int(np.count_nonzero(faces[:, 0] < mesh.n_lh))
    meta = {"n_vertices": mesh.n_vertices, "n_lh": mesh.n_lh, "n_faces": len(faces), "n_faces_lh": n_faces_lh,
            "surfaces": surfaces,
            "colormaps": {scale: {"name": name, "lut": get_colormap(name).lut.ravel().tolist()}
                          for scale, name in VIEWER_COLORMAPS.items()}}
    return pack_payload(meta, arrays)


def _edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) of a triangle mesh."""
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(pairs, axis=1), axis=0)


def _selection_groups(space: OutputSpace, indices: np.ndarray, roi) -> np.ndarray:
    """Per vertex: which name of ``roi`` selected it (its position; later names win), -1 when unselected."""
    picked = np.zeros(space.n_outputs, dtype=np.int64) - 1
    picked[indices] = len(roi or ())  # selected by a mask or by no name
    for group, name in enumerate(roi or ()):
        outputs = space.select(name)
        picked[outputs[np.isin(outputs, indices)]] = group
    if space.parcel_of_vertex is None:
        return picked
    vertex_parcel = np.asarray(space.parcel_of_vertex)
    return np.where(vertex_parcel >= 0, picked[np.maximum(vertex_parcel, 0)], -1)


def _outline(groups: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """uint8 (V,): 1 on selected vertices (``groups >= 0``) that have a neighbour in another group."""
    a, b = _edges(faces).T
    border = groups[a] != groups[b]
    outline = np.zeros(len(groups), dtype=np.uint8)
    outline[a[border & (groups[a] >= 0)]] = 1
    outline[b[border & (groups[b] >= 0)]] = 1
    return outline


def _glass_points(prediction: Prediction, space: OutputSpace, mesh: SurfaceMesh) -> dict:
    """Points of the glass brain: parcels at their centroids, or per-hemisphere region means on the surface."""
    data = np.asarray(prediction.data, dtype=np.float32)
    indices = np.asarray(prediction.indices)
    if space.centroids_mni is not None:
        return {"names": [space.roi_labels[i] for i in indices], "xyz": space.centroids_mni[indices],
                "values": data, "what": f"{len(indices)} {space.parcellation} parcels at their MNI centroids"}
    pial = np.asarray(mesh.surfaces["pial"][0], dtype=np.float64)
    regions = space.roi_assignment[indices]
    hemis = np.where(indices < space.n_lh, "L", "R")
    names, xyz, columns = [], [], []
    for hemi in ("L", "R"):
        for region in np.unique(regions[(hemis == hemi) & (regions >= 0)]):
            picked = np.flatnonzero((hemis == hemi) & (regions == region))
            names.append(f"{hemi} {space.roi_labels[region]}")
            xyz.append(pial[indices[picked]].mean(axis=0))
            columns.append(data[:, picked].mean(axis=1))
    if not names:
        return {"names": [], "xyz": np.zeros((0, 3)), "values": np.zeros((len(data), 0), np.float32),
                "what": "no region of the selection lies outside the medial wall"}
    return {"names": names, "xyz": np.array(xyz), "values": np.stack(columns, axis=1),
            "what": (f"mean of each selected {space.parcellation} region, per hemisphere, at its centroid on "
                     "the pial surface")}


def _roi_lines(prediction: Prediction, space: OutputSpace, roi, max_lines: int) -> dict:
    """ROI mean time courses: one per name asked for, else the regions with the strongest responses."""
    names, means = space.roi_time_series(prediction.data, prediction.indices, names=roi or None)
    total = len(names)
    names, means, _ = _merge_coinciding(list(names), np.asarray(means, dtype=np.float64))
    if len(names) > max_lines:
        keep = np.sort(np.argsort(-np.nanmax(np.abs(means), axis=0), kind="stable")[:max_lines])
        names, means = [names[i] for i in keep], means[:, keep]
    shown_regions = sum(len(name.split(" = ")) for name in names)
    lines = f" in {len(names)} lines" if len(names) < shown_regions else ""
    shown = (f"{shown_regions} of {total} regions with the largest responses{lines} (the CSV export has all)"
             if total > shown_regions else f"{total} region{'s' * (total != 1)}{lines}")
    together = [name for name in names if " = " in name]
    if together:
        shown += (f"; regions whose time courses coincide share a line, named together "
                  f"({'; '.join(together)})")
    return {"names": names, "values": np.asarray(means, dtype=np.float32), "what": shown}


COINCIDE = 1e-3
"""Lines whose root-mean-square difference is under this share of the largest |value| coincide on screen."""


def _merge_coinciding(names: list[str], means: np.ndarray) -> tuple[list[str], np.ndarray, int]:
    """Lines that coincide (see :data:`COINCIDE`) drawn once, named ``"A1 = PBelt"``; and how many regions
    were folded into another's line."""
    values = np.nan_to_num(np.asarray(means, dtype=np.float64))
    if values.shape[1] < 2:
        return names, means, 0
    squares = np.einsum("tj,tj->j", values, values)
    distance = np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2 * values.T @ values, 0) / len(values))
    close = distance <= COINCIDE * max(float(np.abs(values).max()), 1e-12)
    groups, taken = [], np.zeros(len(names), dtype=bool)
    for j in range(len(names)):
        if not taken[j]:
            group = np.flatnonzero(close[j] & ~taken)
            taken[group] = True
            groups.append(group)
    return ([" = ".join(names[k] for k in group) for group in groups], means[:, [group[0] for group in groups]],
            len(names) - len(groups))


def prediction_payload(prediction: Prediction, space: OutputSpace, mesh: SurfaceMesh, roi=None,
                       max_lines: int = MAX_ROI_LINES) -> bytes:
    """Everything the viewer shows for one prediction, every time step at once.

    Parameters
    ----------
    prediction : Prediction
        Surface (fsaverage5) or parcel (schaefer1000) outputs, any selection.
    space : OutputSpace
        The prediction's output space (``get_space(prediction.space_id)``).
    mesh : SurfaceMesh
        The fsaverage5 mesh (its edges give the outlines, its pial surface the glass-brain positions).
    roi : str or list of str, optional
        The region names the user asked for: one ROI time course and one outline each. Without them, the
        regions of the selection with the largest responses (at most ``max_lines``).
    max_lines : int
        Most ROI time courses drawn.

    Returns
    -------
    bytes
        A payload (see :func:`pack_payload`). Arrays: ``frames`` uint8 (T, 20484) (value = ``offset + byte *
        scale``, 255 = none), ``region`` int16 (20484,) (index into ``meta["region_names"]``, -1 none),
        ``outline`` uint8 (20484,), ``glass_xyz`` float32 (P, 3), ``glass`` uint8 (T, P) (own scale and
        offset), ``roi_lines`` float32 (T, R). ``meta``: times, TR, time label, model, space, the
        quantisation constants, value statistics for colour limits, and the names of regions, glass
        points and ROI lines with a sentence saying what each shows.
    """
    if prediction.space_id != space.space_id:
        raise UserInputError(f"the prediction is in {prediction.space_id} but the space given is {space.space_id}")
    indices = np.asarray(prediction.indices)
    roi = [roi] if isinstance(roi, str) else list(roi or ())
    on_surface = space.to_surface(prediction.data, indices)
    frames, scale, offset = quantise(on_surface)
    region = np.asarray(space.parcel_of_vertex if space.parcel_of_vertex is not None else space.roi_assignment)
    whole = len(indices) == space.n_outputs
    outline = (np.zeros(mesh.n_vertices, np.uint8) if whole else
               _outline(_selection_groups(space, indices, roi), mesh.surfaces["pial"][1]))
    glass = _glass_points(prediction, space, mesh)
    glass_bytes, glass_scale, glass_offset = quantise(glass["values"])
    lines = _roi_lines(prediction, space, roi, max_lines)
    stats = value_stats(on_surface)

    meta = {
        "n_frames": int(len(prediction.times_s)), "n_vertices": int(on_surface.shape[1]),
        "times_s": [float(t) for t in prediction.times_s], "tr_s": float(prediction.tr_s),
        "time_label": prediction.time_label, "time_axis": prediction.time_axis,
        "model_id": prediction.model_id, "subject": str(prediction.subject), "space_id": space.space_id,
        "space_kind": space.kind, "n_selected": int(len(indices)), "whole_space": bool(whole),
        "baseline": bool(prediction.metadata.get("baseline", False)),
        "scale": scale, "offset": offset, "stats": stats,  # viewer.js limits() = viewer_limits()
        "unit": value_unit(prediction),
        "region_names": list(space.roi_labels),
        "region_descriptions": [describe_region(label) for label in space.roi_labels], "region_kind": "parcel" if space.kind == "parcels" else "region",
        "glass": {"names": glass["names"], "what": glass["what"], "scale": glass_scale, "offset": glass_offset},
        "roi_lines": {"names": lines["names"], "what": lines["what"]},
    }
    arrays = {"frames": frames, "region": region.astype(np.int16), "outline": outline,
              "glass_xyz": np.asarray(glass["xyz"], dtype=np.float32), "glass": glass_bytes,
              "roi_lines": np.nan_to_num(lines["values"]).astype(np.float32)}
    return pack_payload(meta, arrays)


def evaluation_payload(evaluation: Evaluation, space: OutputSpace, mesh: SurfaceMesh, bins: int = 40) -> bytes:
    """The r map of an evaluation as the viewer shows it: one frame, its own colour scale, a histogram of r.

    Parameters
    ----------
    evaluation : Evaluation
        r per output of a prediction (NaN outputs show the anatomy).
    space, mesh :
        As in :func:`prediction_payload`.
    bins : int
        Bars of the histogram, from the lowest r (or 0) to the highest (or 0).

    Returns
    -------
    bytes
        A :func:`prediction_payload` of the outputs with a finite r (one frame, no ROI lines) whose colour
        statistics make the symmetric scale ``±`` the 99th percentile of ``|r|`` (rounded up to 0.05), and
        whose ``meta["map"]`` holds ``label``, ``what``, ``mean``, ``median`` and ``histogram`` (``edges``,
        ``counts``).
    """
    finite = np.isfinite(evaluation.r)
    if not finite.any():
        raise UserInputError("the evaluation has no defined r to draw")
    r = evaluation.r[finite]
    layer = Prediction(data=r[None, :].astype(np.float32), times_s=np.zeros(1), tr_s=1.0,
                       space_id=evaluation.space_id, indices=np.asarray(evaluation.indices)[finite],
                       model_id=str(evaluation.metadata.get("model_id", "")),
                       subject=str(evaluation.metadata.get("subject", "")), hrf_offset_s=0.0, time_axis="bold")
    meta, arrays = unpack_payload(prediction_payload(layer, space, mesh, max_lines=0))
    arrays = {name: np.array(array) for name, array in arrays.items()}
    # outlines of the prediction's selection (not of the outputs where r is defined)
    whole = len(evaluation.indices) == space.n_outputs
    groups = _selection_groups(space, np.asarray(evaluation.indices), None)
    arrays["outline"] = np.zeros(mesh.n_vertices, np.uint8) if whole else _outline(groups, mesh.surfaces["pial"][1])
    meta["whole_space"] = whole
    bound = float(min(1.0, max(0.05, np.ceil(np.percentile(np.abs(r), 99) * 20) / 20)))
    low, high = min(float(r.min()), 0.0), max(float(r.max()), 0.0)
    counts, edges = np.histogram(r, bins=bins, range=(low, max(high, low + 1e-3)))
    meta["stats"] = dict(meta["stats"], abs_p99=bound, p99=bound)
    meta["time_label"] = "one map (Pearson r over time)"
    meta["unit"] = "Pearson r"
    meta["map"] = {
        "label": "Pearson r", "mean": evaluation.mean_r, "median": evaluation.median_r,
        "what": (f"Pearson r per {'vertex' if space.kind == 'surface' else 'parcel'} over "
                 f"{evaluation.n_timepoints} time points (lag {evaluation.lag_s:+g} s): mean {evaluation.mean_r:.3f}, "
                 f"median {evaluation.median_r:.3f}; colours ±{bound:g}"
                 + (f"; {int((~finite).sum()):,} outputs undefined (constant), shown as anatomy" if (~finite).any()
                    else "")),
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
                      "what": f"{len(r):,} outputs, {bins} bins"},
    }
    return pack_payload(meta, arrays)
