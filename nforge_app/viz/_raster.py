"""Orthographic cameras and a numpy software rasteriser (z-buffer) for triangle meshes.

A view is rasterised once; what comes out (which triangle covers each pixel, with barycentric weights) turns
every later frame into array look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Candidate pixels handled per batch (bounds memory to a few tens of MB).
_BATCH_CANDIDATES = 1 << 22


@dataclass(frozen=True)
class Camera:
    """An orthographic camera: ``right`` and ``up`` span the image, ``forward`` points into the scene.

    ``right x up = -forward`` (a right-handed camera), so images are never mirrored.
    """

    right: tuple[float, float, float]
    up: tuple[float, float, float]
    forward: tuple[float, float, float]

    def project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image-plane coordinates in mm (``u`` to the right, ``v`` up; (N, 2)) and depth (larger = farther)."""
        xyz = np.asarray(xyz, dtype=np.float64)
        return xyz @ np.array([self.right, self.up]).T, xyz @ np.array(self.forward)

    @property
    def toward_viewer(self) -> np.ndarray:
        return -np.array(self.forward, dtype=np.float64)

    def side_letters(self) -> tuple[str, str, str, str]:
        """Which way each side of the image faces, as L/R (x) and A/P (y) letters: (left, right, top, bottom).

        Sides along the vertical axis (superior / inferior) get ``""``: the labels say left from right and
        front from back, which a picture of a brain cannot show by itself.
        """
        def letter(direction) -> str:
            axis = int(np.argmax(np.abs(direction)))
            return {0: "RL", 1: "AP"}.get(axis, "  ")[0 if direction[axis] > 0 else 1].strip()

        right, up = np.array(self.right), np.array(self.up)
        return letter(-right), letter(right), letter(up), letter(-up)


_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _neg(axis: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(-a for a in axis)


# Seen from the left (front on the left), from the right (front on the right), from behind (left on the
# left), from above (front up, left on the left), from below (front up, so left on the right).
FROM_LEFT = Camera(right=_neg(_Y), up=_Z, forward=_X)
FROM_RIGHT = Camera(right=_Y, up=_Z, forward=_neg(_X))
FROM_BEHIND = Camera(right=_X, up=_Z, forward=_Y)
FROM_ABOVE = Camera(right=_X, up=_Y, forward=_neg(_Z))
FROM_BELOW = Camera(right=_neg(_X), up=_Y, forward=_Z)


@dataclass(frozen=True)
class Frame2D:
    """Where a view's mm coordinates land in its tile: ``px = (u - u0) * scale``, ``py = (v0 - v) * scale``."""

    u0: float
    v0: float
    scale: float
    shape: tuple[int, int]

    def to_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Continuous pixel coordinates (x right, y down; pixel (i, j) has its centre at (j + .5, i + .5))."""
        return np.stack([(uv[:, 0] - self.u0) * self.scale, (self.v0 - uv[:, 1]) * self.scale], axis=1)


def fit_frame(uv: np.ndarray, scale: float, margin_px: int) -> Frame2D:
    """A tile just large enough for ``uv`` (mm) at ``scale`` px/mm, with ``margin_px`` on every side."""
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    width = int(np.ceil((hi[0] - lo[0]) * scale)) + 2 * margin_px
    height = int(np.ceil((hi[1] - lo[1]) * scale)) + 2 * margin_px
    return Frame2D(u0=float(lo[0] - margin_px / scale), v0=float(hi[1] + margin_px / scale), scale=scale,
                   shape=(height, width))


@dataclass(frozen=True)
class Raster:
    """The visible triangle under each covered pixel of one view.

    Attributes
    ----------
    shape : (height, width)
    pixels : ndarray of int64 (P,)
        Flat indices (``row * width + col``) of the covered pixels.
    triangles : ndarray of int64 (P,)
        Nearest triangle under each of them.
    weights : ndarray of float32 (P, 3)
        Barycentric weights of the pixel centre in that triangle (they sum to 1).
    """

    shape: tuple[int, int]
    pixels: np.ndarray
    triangles: np.ndarray
    weights: np.ndarray

    def mask(self) -> np.ndarray:
        covered = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        covered[self.pixels] = True
        return covered.reshape(self.shape)


def rasterize(xy: np.ndarray, depth: np.ndarray, faces: np.ndarray, shape: tuple[int, int]) -> Raster:
    """Z-buffer a triangle mesh already projected to pixel coordinates.

    Parameters
    ----------
    xy : ndarray (N, 2)
        Vertex positions in continuous pixel coordinates (x right, y down).
    depth : ndarray (N,)
        Vertex depth; the smallest depth wins where triangles overlap.
    faces : ndarray of int (F, 3)
        Triangles; their winding does not matter.
    shape : (height, width)
        Image size; parts outside are clipped.

    Returns
    -------
    Raster
    """
    height, width = shape
    corners = xy[faces]  # (F, 3, 2)
    # Pixel centres sit at (j + 0.5, i + 0.5): the columns a triangle can cover are ceil(min - .5)..floor(max - .5).
    col0 = np.maximum(np.ceil(corners[..., 0].min(1) - 0.5), 0).astype(np.int64)
    col1 = np.minimum(np.floor(corners[..., 0].max(1) - 0.5), width - 1).astype(np.int64)
    row0 = np.maximum(np.ceil(corners[..., 1].min(1) - 0.5), 0).astype(np.int64)
    row1 = np.minimum(np.floor(corners[..., 1].max(1) - 0.5), height - 1).astype(np.int64)
    span = np.maximum(col1 - col0, row1 - row0) + 1
    live = (col1 >= col0) & (row1 >= row0)
    # Bucket triangles by the power of two that holds their bounding box, then test every candidate pixel.
    side = 1 << np.ceil(np.log2(np.maximum(span, 1))).astype(np.int64)
    found = []
    for size in np.unique(side[live]):
        tris = np.flatnonzero(live & (side == size))
        d_col, d_row = (a.ravel() for a in np.meshgrid(np.arange(size), np.arange(size)))
        step = max(1, _BATCH_CANDIDATES // (size * size))
        for start in range(0, len(tris), step):
            found.append(_cover(tris[start:start + step], d_col, d_row, corners, depth[faces], col0, col1, row0,
                                row1, width))
    pixel, z, tri, weights = (np.concatenate(parts) for parts in zip(*found, strict=True)) if found else (
        np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 3), np.float32))
    order = np.lexsort((z, pixel))
    pixel, tri, weights = pixel[order], tri[order], weights[order]
    first = np.ones(len(pixel), dtype=bool)
    first[1:] = pixel[1:] != pixel[:-1]
    return Raster(shape=(height, width), pixels=pixel[first], triangles=tri[first], weights=weights[first])


def _cover(tris, d_col, d_row, corners, face_depth, col0, col1, row0, row1, width):
    """Candidate pixels of a batch of triangles that fall inside them: (pixel, depth, triangle, weights)."""
    cols = col0[tris, None] + d_col
    rows = row0[tris, None] + d_row
    in_box = (cols <= col1[tris, None]) & (rows <= row1[tris, None])
    (ax, ay), (bx, by), (cx, cy) = (corners[tris, k].T[:, :, None] for k in range(3))
    px, py = cols + 0.5, rows + 0.5
    det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
    safe = np.where(np.abs(det) > 1e-12, det, np.inf)
    w0 = ((by - cy) * (px - cx) + (cx - bx) * (py - cy)) / safe
    w1 = ((cy - ay) * (px - cx) + (ax - cx) * (py - cy)) / safe
    w2 = 1.0 - w0 - w1
    eps = -1e-6
    inside = in_box & (w0 >= eps) & (w1 >= eps) & (w2 >= eps) & np.isfinite(safe)
    hit_tri, hit_k = np.nonzero(inside)
    w = np.stack([w0[hit_tri, hit_k], w1[hit_tri, hit_k], w2[hit_tri, hit_k]], axis=1)
    w = np.clip(w, 0.0, None)
    w /= w.sum(axis=1, keepdims=True)
    z = (w * face_depth[tris[hit_tri]]).sum(axis=1)
    pixel = rows[hit_tri, hit_k] * width + cols[hit_tri, hit_k]
    return pixel, z, tris[hit_tri], w.astype(np.float32)


def vertex_normals(coords: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals per vertex (area-weighted mean of the faces around it)."""
    a, b, c = (coords[faces[:, k]] for k in range(3))
    face_normals = np.cross(b - a, c - a)
    normals = np.zeros_like(coords, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.where(length > 0, length, 1.0)


def edge_of(mask: np.ndarray, width_px: int = 1) -> np.ndarray:
    """Pixels of ``mask`` within ``width_px`` of its border (a filled shape's outline)."""
    inner = mask.copy()
    for _ in range(width_px):
        shrunk = inner.copy()
        shrunk[1:, :] &= inner[:-1, :]
        shrunk[:-1, :] &= inner[1:, :]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    return mask & ~inner
