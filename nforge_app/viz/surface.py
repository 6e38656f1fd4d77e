"""Values on the fsaverage5 surface, drawn from fixed views by a cached numpy rasteriser.

Each (surface, view, size) is rasterised once with a z-buffer (orthographic camera): every covered pixel
keeps the triangle in front and its barycentric weights, a Lambert shading factor and a sulcal grey. A frame
is then a look-up: interpolate the vertex values at each pixel, map them through the colour table, shade.
Pixels whose value is NaN or under the threshold show the sulcal grey (sulci dark, gyri light).

Views: ``lateral_left`` (front on the left), ``medial_left``, ``lateral_right`` (front on the right),
``medial_right``, ``dorsal`` (from above, front up, left on the left) and ``ventral`` (from below, front up,
so left on the right); ``lateral`` and ``medial`` name both hemispheres' views. Each view has its name above
it and letters in its margins saying where left, right, anterior and posterior are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nforge_app.checks import check_all_in, check_in
from nforge_app.errors import UserInputError
from nforge_app.spaces import SURFACES, get_space, load_fsaverage5
from nforge_app.viz._canvas import Grid, Painter, Tile, check_size, frame_times, frames_data, pack_rgb
from nforge_app.viz._colors import DIVERGING_DEFAULT, Colormap, color_limits, get_colormap
from nforge_app.viz._raster import (
    FROM_ABOVE,
    FROM_BELOW,
    FROM_LEFT,
    FROM_RIGHT,
    Camera,
    fit_frame,
    rasterize,
    vertex_normals,
)

# view: camera, hemisphere ("lh", "rh" or None for both)
SURFACE_VIEWS: dict[str, tuple[Camera, str | None]] = {
    "lateral_left": (FROM_LEFT, "lh"),
    "medial_left": (FROM_RIGHT, "lh"),
    "lateral_right": (FROM_RIGHT, "rh"),
    "medial_right": (FROM_LEFT, "rh"),
    "dorsal": (FROM_ABOVE, None),
    "ventral": (FROM_BELOW, None),
}
VIEW_GROUPS = {"lateral": ("lateral_left", "lateral_right"), "medial": ("medial_left", "medial_right")}
DEFAULT_VIEWS = ("lateral_left", "lateral_right", "medial_left", "medial_right")
_N_VERTICES = 20484
_N_PARCELS = 1000
_LIGHT_LEVELS = 64
_DATA_DARKEST = 0.45  # data colours go from 45 % (facing away from the light) to 100 % (facing it)


@dataclass(frozen=True, eq=False)
class _ViewRaster:
    """One rasterised view: tile image of the bare brain and, per covered pixel, what a frame needs."""

    tile: np.ndarray  # uint8 (h, w, 3): white page, sulcal grey brain
    pixels: np.ndarray  # (P,) flat tile indices
    vertices: np.ndarray  # int32 (P, 3)
    weights: np.ndarray  # float32 (P, 3)
    light: np.ndarray  # uint8 (P,): light level on the data colours, 0 .. _LIGHT_LEVELS - 1


def _mesh(surface: str):
    check_in("surface", surface, SURFACES)
    return load_fsaverage5()


@functools.lru_cache(maxsize=12)
def _view_raster(surface: str, view: str, size_px: int) -> _ViewRaster:
    mesh = _mesh(surface)
    coords, faces = (np.asarray(a) for a in mesh.surfaces[surface])
    camera, hemi = SURFACE_VIEWS[view]
    if hemi is not None:
        in_lh = faces[:, 0] < mesh.n_lh
        faces = faces[in_lh if hemi == "lh" else ~in_lh]
    margin = max(4, size_px // 40)
    scale = (size_px - 2 * margin) / float(np.ptp(coords, axis=0).max())  # same scale in every view
    uv, depth = camera.project(coords)
    frame = fit_frame(uv[np.unique(faces)], scale, margin)
    raster = rasterize(frame.to_pixels(uv), depth, faces, frame.shape)
    vertices = faces[raster.triangles].astype(np.int32)
    weights = raster.weights

    normals = (vertex_normals(coords, faces)[vertices] * weights[..., None]).sum(axis=1)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    to_light = camera.toward_viewer + 0.35 * np.array(camera.up) - 0.25 * np.array(camera.right)  # above left
    lambert = np.abs(normals @ (to_light / np.linalg.norm(to_light)))  # two-sided: winding does not matter
    sulc = (mesh.sulc[vertices] * weights).sum(axis=1)
    grey = (0.64 - 0.15 * np.tanh(2.5 * sulc)) * (0.30 + 0.70 * lambert)  # sulci (sulc > 0) darker
    tile = np.full(frame.shape + (3,), 255, dtype=np.uint8)
    tile.reshape(-1, 3)[raster.pixels] = np.round(255 * grey)[:, None].astype(np.uint8)
    light = np.round(lambert * (_LIGHT_LEVELS - 1)).astype(np.uint8)
    return _ViewRaster(tile, raster.pixels, vertices, weights, light)


def check_views(views) -> tuple[str, ...]:
    """Surface view names, with ``lateral`` and ``medial`` standing for both hemispheres' views (in order,
    each once); else ``UserInputError`` listing the names."""
    views = (views,) if isinstance(views, str) else tuple(views or ())
    views = check_all_in("surface views", views, tuple(SURFACE_VIEWS) + tuple(VIEW_GROUPS))
    return tuple(dict.fromkeys(name for view in views for name in VIEW_GROUPS.get(view, (view,))))


def _tile(view: str, raster: _ViewRaster) -> Tile:
    return Tile(raster.tile.shape[:2], view.replace("_", " "), SURFACE_VIEWS[view][0].side_letters())


class _SurfacePainter(Painter):
    """Draws values with fixed views and colour limits; ``frame(values)`` gives one image."""

    def __init__(self, surface: str, views: tuple[str, ...], size_px: int, cmap: Colormap, vmin: float,
                 vmax: float, threshold: float | None, sheet_text: dict) -> None:
        rasters = [_view_raster(surface, view, size_px) for view in views]
        ncols = 2 if len(views) in (2, 4) else min(len(views), 3)
        grid = Grid([_tile(v, r) for v, r in zip(views, rasters, strict=True)], ncols, size_px)
        pixels = np.concatenate([grid.flat_indices(i, r.pixels) for i, r in enumerate(rasters)])
        super().__init__(grid, [r.tile for r in rasters], pixels, cmap, vmin, vmax, threshold, sheet_text)
        self.background = self.canvas.under_pixels()
        self.vertices = [np.concatenate([r.vertices[:, k] for r in rasters]) for k in range(3)]
        self.weights = [np.concatenate([r.weights[:, k] for r in rasters]) for k in range(3)]
        # Colour table per light level, so that a pixel's colour is one look-up: table[level * 256 + row].
        levels = np.arange(_LIGHT_LEVELS, dtype=np.float32)[:, None, None] / (_LIGHT_LEVELS - 1)
        lit = cmap.lut[None].astype(np.float32) * (_DATA_DARKEST + (1 - _DATA_DARKEST) * levels)
        self.table = pack_rgb(np.round(lit).astype(np.uint8)).ravel()
        self.level_rows = np.concatenate([r.light for r in rasters]).astype(np.int32) * 256

    def colors(self, values: np.ndarray) -> np.ndarray:
        (i0, i1, i2), (w0, w1, w2) = self.vertices, self.weights
        at_pixel = values[i0] * w0
        at_pixel += values[i1] * w1
        at_pixel += values[i2] * w2
        colors = self.table[self.level_rows + self.cmap.indices(at_pixel, self.vmin, self.vmax)]
        shown = self.cmap.drawn(at_pixel, self.threshold)
        return colors if shown.all() else np.where(shown, colors, self.background)


def _on_vertices(data: np.ndarray) -> np.ndarray:
    """Vertex values (..., 20484) from vertex values or Schaefer-1000 parcel values."""
    if data.shape[-1] == _N_PARCELS:
        return get_space("schaefer1000").to_surface(data).astype(np.float32, copy=False)
    if data.shape[-1] != _N_VERTICES:
        raise UserInputError(f"surface values must be one per fsaverage5 vertex ({_N_VERTICES}) or per "
                             f"Schaefer-1000 parcel ({_N_PARCELS}), got shape {data.shape}")
    return data


def _painter(data, views, surface, size_px, vmin, vmax, cmap, threshold, sheet_text) -> _SurfacePainter:
    views = check_views(views)
    _mesh(surface)
    colormap = get_colormap(cmap)
    low, high = color_limits(data, colormap, vmin, vmax)
    return _SurfacePainter(surface, views, check_size(size_px), colormap, low, high, threshold, sheet_text)


def render_surface(values, *, views=DEFAULT_VIEWS, surface: str = "inflated", size_px: int = 640,
                   vmin: float | None = None, vmax: float | None = None, cmap: str = DIVERGING_DEFAULT,
                   threshold: float | None = None, title: str | None = None, unit: str | None = None) -> Image.Image:
    """Draw values on the fsaverage5 surface from one or more views, tiled in a grid.

    Parameters
    ----------
    values : array-like (20484,) or (1000,)
        One value per fsaverage5 vertex (left then right), or per Schaefer-1000 parcel (painted on its
        vertices). NaN shows the bare surface.
    views : str or sequence of str
        Names from :data:`SURFACE_VIEWS` (or ``lateral``, ``medial``: both hemispheres); four views make a
        2 x 2 grid, more make rows of three.
    surface : str
        ``"pial"``, ``"half-inflated"`` or ``"inflated"``.
    size_px : int
        Each view fits a ``size_px`` square; every view has the same mm-to-pixel scale.
    vmin, vmax : float, optional
        Colour limits; by default symmetric around 0 at the 99th percentile of ``|values|`` for diverging maps.
    cmap : str
        Colour map name (see :func:`nforge_app.viz.get_colormap`).
    threshold : float, optional
        Values with ``|value| < threshold`` (``value < threshold`` for sequential maps) show the surface.
    title, unit : str, optional
        Text at the top left, and what the values are (written along the colour bar).

    Returns
    -------
    PIL.Image.Image
        An RGB picture.
    """
    values = _on_vertices(np.asarray(values, dtype=np.float32))
    if values.ndim != 1:
        raise UserInputError(f"values must be 1-D (one value per vertex or parcel), got shape {values.shape}")
    painter = _painter(values, views, surface, size_px, vmin, vmax, cmap, threshold,
                       {"title": title, "unit": unit, "header": title is not None})
    return painter.frame(values)


def surface_frames(data, *, times_s=None, time_label: str | None = None, views=DEFAULT_VIEWS,
                   surface: str = "inflated", size_px: int = 640, vmin: float | None = None,
                   vmax: float | None = None, cmap: str = DIVERGING_DEFAULT, threshold: float | None = None,
                   title: str | None = None, unit: str | None = None) -> list[Image.Image]:
    """One surface picture per time step, all with the same colour limits and colour bar.

    Parameters
    ----------
    data : array-like (T, 20484) or (T, 1000)
        One row per time step (see ``values`` of :func:`render_surface`).
    times_s : array-like (T,), optional
        Time of each row: written on each frame as ``"t = 12.0 s"`` and marked on a time axis below the
        views (``"frame k / T"`` and no axis when omitted).
    time_label : str, optional
        What the times are, under the time axis (``Prediction.time_label``; ``"time (s)"`` by default).
    views, surface, size_px, vmin, vmax, cmap, threshold, title, unit :
        As in :func:`render_surface`; the default limits come from the whole run (never per frame).

    Returns
    -------
    list of PIL.Image.Image
        RGB frames of equal size.
    """
    data = _on_vertices(frames_data(data, "vertices"))
    times = frame_times(times_s, len(data), time_label)
    return _painter(data, views, surface, size_px, vmin, vmax, cmap, threshold,
                    {"title": title, "unit": unit, "times": times}).frames(data)
