"""Glass brain: one coloured disc per parcel at its MNI centroid, over the outline of the brain.

The outline is the silhouette of the fsaverage5 pial surface projected onto each view. fsaverage's space is
MNI305 (Talairach-registered), a few millimetres from the MNI152 space of the Schaefer centroids: close
enough for a glass brain, whose outline only has to place the discs.

Letters name the views as nilearn's ``display_mode`` does: ``x`` sagittal (both hemispheres, seen from the
right), ``l`` / ``r`` one hemisphere seen from its own side, ``y`` coronal (seen from behind, left on the
left), ``z`` axial (seen from above, left on the left). Discs nearer the viewer paint over farther ones. Each view
has its name above it and letters in its margins saying where left, right, anterior and posterior are.

Everything that depends only on the views and the size (outline, disc pixels, depth order) is computed once
and cached, so a frame is a colour look-up and a few array gathers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nforge_app.checks import check_all_in
from nforge_app.errors import UserInputError
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.viz._canvas import Grid, Painter, Tile, check_size, frame_times, frames_data, pack_rgb
from nforge_app.viz._colors import DIVERGING_DEFAULT, Colormap, color_limits, get_colormap
from nforge_app.viz._raster import (
    FROM_ABOVE,
    FROM_BEHIND,
    FROM_LEFT,
    FROM_RIGHT,
    Camera,
    Frame2D,
    edge_of,
    fit_frame,
    rasterize,
)

VIEW_LETTERS = "xlryz"
# camera, hemisphere shown ("lh", "rh" or None for both), caption
_VIEWS: dict[str, tuple[Camera, str | None, str]] = {
    "x": (FROM_RIGHT, None, "sagittal"),
    "l": (FROM_LEFT, "lh", "left hemisphere"),
    "r": (FROM_RIGHT, "rh", "right hemisphere"),
    "y": (FROM_BEHIND, None, "coronal"),
    "z": (FROM_ABOVE, None, "axial"),
}
_FILL = np.array((232, 232, 234), dtype=np.float32)
_FILL_ALPHA = 0.55
_EDGE = np.array((120, 120, 126), dtype=np.float32)
_RIM_SHADE = 0.8  # disc rims are drawn darker, so overlapping discs stay apart


@dataclass(frozen=True, eq=False)
class _Stack:
    """The discs over each covered sheet pixel, as flat entries grouped by pixel, nearest disc first.

    ``pixels[group[e]]`` is the sheet pixel of entry ``e``; ``codes[e]`` its palette row: the disc's point
    index, plus ``n_points`` where the pixel is on the disc's rim. ``discs[e]`` is the point index alone.
    """

    pixels: np.ndarray  # (P,) flat sheet indices
    group: np.ndarray  # (E,) int32, non-decreasing
    discs: np.ndarray  # (E,) int32
    codes: np.ndarray  # (E,) int32
    first: np.ndarray  # (P,) index of each pixel's first (nearest) entry


def check_glass_views(views) -> str:
    """Glass brain views as a string of distinct letters from :data:`VIEW_LETTERS` (``"lyrz"``; a sequence of
    letters is joined, a repeated letter kept once); else ``UserInputError`` listing them."""
    letters = list(views) if isinstance(views, str) else [str(v) for v in views] if isinstance(views, list | tuple) \
        else [str(views)]
    return "".join(check_all_in("glass brain views (x sagittal, l/r left/right hemisphere, y coronal, z axial)",
                                letters, tuple(VIEW_LETTERS)))


@functools.lru_cache(maxsize=1)
def _pial() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    mesh = load_fsaverage5()
    return {hemi: mesh.hemispheres[hemi]["pial"] for hemi in ("lh", "rh")}


def _scale(size_px: int, margin_px: int) -> float:
    """px/mm shared by every view: the brain's longest extent fills ``size_px`` less the margins."""
    coords = np.concatenate([xyz for xyz, _ in _pial().values()])
    return (size_px - 2 * margin_px) / float(np.ptp(coords, axis=0).max())


@functools.lru_cache(maxsize=16)
def _outline(letter: str, size_px: int) -> tuple[Frame2D, np.ndarray]:
    """The view's tile frame and its glass image (uint8 (h, w, 3)): filled silhouette and its edge."""
    camera, hemi, _ = _VIEWS[letter]
    parts = [mesh for key, mesh in _pial().items() if hemi in (None, key)]
    margin = max(4, size_px // 40)
    frame = fit_frame(np.concatenate([camera.project(xyz)[0] for xyz, _ in parts]), _scale(size_px, margin), margin)
    fill = np.zeros(frame.shape, dtype=bool)
    edge = np.zeros(frame.shape, dtype=bool)
    for xyz, faces in parts:  # each hemisphere's own edge, so the midline shows in y and z
        uv, depth = camera.project(xyz)
        mask = rasterize(frame.to_pixels(uv), depth, faces, frame.shape).mask()
        fill |= mask
        edge |= edge_of(mask, max(1, size_px // 320))
    tile = np.full(frame.shape + (3,), 255.0, dtype=np.float32)
    tile[fill] = 255.0 * (1 - _FILL_ALPHA) + _FILL * _FILL_ALPHA
    tile[edge] = _EDGE
    return frame, tile.round().astype(np.uint8)


def _starts(sorted_ids: np.ndarray) -> np.ndarray:
    """True where a run of equal values begins in a sorted array."""
    return np.diff(sorted_ids, prepend=sorted_ids[:1] - 1) != 0


def _disc_stack(grid: Grid, tile: int, frame: Frame2D, letter: str, coords: np.ndarray, radius_mm: float) -> _Stack:
    camera, hemi, _ = _VIEWS[letter]
    shown = np.flatnonzero({None: np.ones(len(coords), bool), "lh": coords[:, 0] < 0, "rh": coords[:, 0] >= 0}[hemi])
    uv, depth = camera.project(coords[shown])
    centre = frame.to_pixels(uv)
    radius = max(1.0, radius_mm * frame.scale)
    reach = int(np.ceil(radius)) + 1
    d_col, d_row = (a.ravel() for a in np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1)))
    cols = np.floor(centre[:, :1]).astype(np.int64) + d_col
    rows = np.floor(centre[:, 1:]).astype(np.int64) + d_row
    dist = np.hypot(cols + 0.5 - centre[:, :1], rows + 0.5 - centre[:, 1:])
    height, width = frame.shape
    hit = (dist <= radius) & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    disc, k = np.nonzero(hit)
    pixel = rows[disc, k] * width + cols[disc, k]
    rim = dist[disc, k] > radius - max(1.0, 0.2 * radius)
    order = np.lexsort((depth[disc], pixel))  # per pixel, nearest disc first
    pixel, disc, rim = pixel[order], shown[disc[order]], rim[order]
    starts = _starts(pixel)
    first, group = np.flatnonzero(starts), np.cumsum(starts) - 1
    codes = disc + len(coords) * rim
    return _Stack(grid.flat_indices(tile, pixel[first]), group.astype(np.int32), disc.astype(np.int32),
                  codes.astype(np.int32), first)


@dataclass(frozen=True, eq=False)
class _GlassLayout:
    grid: Grid
    tiles: list[np.ndarray]
    stack: _Stack  # its pixels are grid flat indices
    n_points: int


@functools.lru_cache(maxsize=8)
def _layout(views: str, size_px: int, coords_bytes: bytes, radius_mm: float) -> _GlassLayout:
    coords = np.frombuffer(coords_bytes, dtype=np.float64).reshape(-1, 3)
    outlines = [_outline(letter, size_px) for letter in views]
    grid = Grid([Tile(frame.shape, _VIEWS[letter][2], _VIEWS[letter][0].side_letters())
                 for letter, (frame, _) in zip(views, outlines, strict=True)], len(views), size_px)
    stacks = [_disc_stack(grid, i, frame, letter, coords, radius_mm)
              for i, (letter, (frame, _)) in enumerate(zip(views, outlines, strict=True))]
    pixel_offsets = np.cumsum([0] + [len(s.pixels) for s in stacks[:-1]])
    entry_offsets = np.cumsum([0] + [len(s.discs) for s in stacks[:-1]])
    stack = _Stack(
        pixels=np.concatenate([s.pixels for s in stacks]),
        group=np.concatenate([s.group + offset for s, offset in zip(stacks, pixel_offsets, strict=True)]),
        discs=np.concatenate([s.discs for s in stacks]),
        codes=np.concatenate([s.codes for s in stacks]),
        first=np.concatenate([s.first + offset for s, offset in zip(stacks, entry_offsets, strict=True)]),
    )
    return _GlassLayout(grid, [tile for _, tile in outlines], stack, len(coords))


class _GlassPainter(Painter):
    """Draws values of one layout with fixed colour limits; ``frame(values)`` gives one image."""

    def __init__(self, layout: _GlassLayout, cmap: Colormap, vmin: float, vmax: float, threshold: float | None,
                 sheet_text: dict) -> None:
        super().__init__(layout.grid, layout.tiles, layout.stack.pixels, cmap, vmin, vmax, threshold, sheet_text)
        self.layout = layout
        self.glass = self.canvas.under_pixels()
        self.first_codes = layout.stack.codes[layout.stack.first]

    def colors(self, values: np.ndarray) -> np.ndarray:
        stack = self.layout.stack
        visible = self.cmap.drawn(values, self.threshold)
        # Packed colours of the discs, then of their darker rims.
        rgb = self.cmap.colors(values, self.vmin, self.vmax)
        palette = pack_rgb(np.concatenate([rgb, (rgb * _RIM_SHADE).astype(np.uint8)]))
        if visible.all():
            return palette[self.first_codes]
        # Hidden discs (NaN, under the threshold) let the nearest visible disc behind them show, or the glass.
        drawn = np.flatnonzero(visible[stack.discs])
        group = stack.group[drawn]
        nearest = _starts(group)
        colors = self.glass.copy()
        colors[group[nearest]] = palette[stack.codes[drawn[nearest]]]
        return colors


def _prepare(values: np.ndarray, views: str, coords_mni, radius_mm: float | None,
             size_px: int) -> tuple[str, np.ndarray, float]:
    views = check_glass_views(views)
    n_points = values.shape[-1]
    if coords_mni is None:
        coords_mni = _default_coords(n_points)
    coords = np.ascontiguousarray(coords_mni, dtype=np.float64)
    if coords.shape != (n_points, 3):
        raise UserInputError(f"coords_mni must be ({n_points}, 3): one MNI point per value, got {coords.shape}")
    check_size(size_px)
    if radius_mm is None:
        radius_mm = 3.5 if n_points <= 2000 else 1.6
    if not radius_mm > 0:
        raise UserInputError(f"radius_mm must be positive, got {radius_mm}")
    return views, coords, float(radius_mm)


def _default_coords(n_points: int) -> np.ndarray:
    if n_points == 1000:
        return get_space("schaefer1000").centroids_mni
    if n_points == 20484:
        return load_fsaverage5().surfaces["pial"][0]
    raise UserInputError(f"a glass brain needs one value per Schaefer-1000 parcel (1000) or per fsaverage5 "
                         f"vertex (20484), or coords_mni for other points; got {n_points} values")


def plot_glass_brain(values, *, views: str = "lyrz", vmin: float | None = None, vmax: float | None = None,
                     cmap: str = DIVERGING_DEFAULT, size_px: int = 480, threshold: float | None = None,
                     title: str | None = None, coords_mni=None, radius_mm: float | None = None,
                     unit: str | None = None) -> Image.Image:
    """Draw one value per parcel as discs on a glass brain.

    Parameters
    ----------
    values : array-like (N,)
        One value per point: the 1000 Schaefer parcels (their centroids are used), the 20484 fsaverage5
        vertices (their pial positions), or any points given by ``coords_mni``. NaN draws nothing.
    views : str
        Letters from ``"xlryz"``: ``x`` sagittal, ``l`` / ``r`` left / right hemisphere, ``y`` coronal,
        ``z`` axial; one panel each, left to right.
    vmin, vmax : float, optional
        Colour limits; by default symmetric around 0 at the 99th percentile of ``|values|`` for diverging maps.
    cmap : str
        Colour map name (see :func:`nforge_app.viz.get_colormap`).
    size_px : int
        Each panel fits a ``size_px`` square; every panel has the same mm-to-pixel scale.
    threshold : float, optional
        Values with ``|value| < threshold`` (``value < threshold`` for sequential maps) draw no disc.
    title : str, optional
        Text at the top left.
    coords_mni : array-like (N, 3), optional
        MNI positions (mm) of the points, when they are not the Schaefer-1000 parcels or fsaverage5 vertices.
    radius_mm : float, optional
        Disc radius (3.5 mm for up to 2000 points, 1.6 mm above).
    unit : str, optional
        What the values are, written along the colour bar.

    Returns
    -------
    PIL.Image.Image
        RGB image.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 1:
        raise UserInputError(f"values must be one value per point (1-D), got shape {values.shape}")
    return _painter(values, views, vmin, vmax, cmap, size_px, threshold, coords_mni, radius_mm,
                    {"title": title, "unit": unit, "header": title is not None}).frame(values)


def glass_brain_frames(data, *, times_s=None, time_label: str | None = None, views: str = "lyrz",
                       vmin: float | None = None, vmax: float | None = None, cmap: str = DIVERGING_DEFAULT,
                       size_px: int = 480, threshold: float | None = None, title: str | None = None,
                       coords_mni=None, radius_mm: float | None = None, unit: str | None = None) -> list[Image.Image]:
    """One glass brain per time step, all with the same colour limits and colour bar.

    Parameters
    ----------
    data : array-like (T, N)
        One row per time step (see ``values`` of :func:`plot_glass_brain`).
    times_s, time_label : optional
        The time of each row and what the times are: on each frame and on a time axis below the views, as
        in :func:`nforge_app.viz.surface_frames`.
    views, vmin, vmax, cmap, size_px, threshold, title, coords_mni, radius_mm, unit :
        As in :func:`plot_glass_brain`; the default limits come from the whole run (never per frame).

    Returns
    -------
    list of PIL.Image.Image
        RGB frames of equal size.
    """
    data = frames_data(data, "points")
    times = frame_times(times_s, len(data), time_label)
    return _painter(data, views, vmin, vmax, cmap, size_px, threshold, coords_mni, radius_mm,
                    {"title": title, "unit": unit, "times": times}).frames(data)


def _painter(data: np.ndarray, views, vmin, vmax, cmap, size_px, threshold, coords_mni, radius_mm,
             sheet_text: dict) -> _GlassPainter:
    views, coords, radius_mm = _prepare(data, views, coords_mni, radius_mm, size_px)
    colormap = get_colormap(cmap)
    low, high = color_limits(data, colormap, vmin, vmax)
    layout = _layout(views, check_size(size_px), coords.tobytes(), radius_mm)
    return _GlassPainter(layout, colormap, low, high, threshold, sheet_text)
