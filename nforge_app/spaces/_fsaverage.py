"""The fsaverage5 cortical mesh (pial, half-inflated, inflated) with sulcal depth and curvature.

Everything comes from the nilearn wheel (``nilearn.datasets.load_fsaverage``), so nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

SURFACES = ("pial", "half-inflated", "inflated")
HEMISPHERES = ("lh", "rh")
# Inflated hemispheres are each centred on x = 0; when both are drawn at once they are moved apart along x so
# that this much space separates them (the pial ones already sit side by side and are left as they are).
SIDE_BY_SIDE_GAP_MM = 10.0
_NILEARN_PARTS = {"lh": "left", "rh": "right"}


@dataclass(frozen=True, eq=False)
class SurfaceMesh:
    """The fsaverage5 surfaces of both hemispheres, with sulcal depth and curvature.

    Attributes
    ----------
    surfaces : mapping
        ``{surface: (coords, faces)}`` for each name in :data:`SURFACES`, both hemispheres stacked left
        then right: ``coords`` float32 (20484, 3), ``faces`` int32 (40960, 3) with right-hemisphere indices
        offset by ``n_lh``. Inflated and half-inflated hemispheres are moved apart along x so that they do
        not overlap (see :data:`SIDE_BY_SIDE_GAP_MM`).
    hemispheres : mapping
        ``{"lh" | "rh": {surface: (coords (10242, 3), faces (20480, 3))}}``, each hemisphere in its own
        coordinates (nilearn's; half-inflated = mean of pial and inflated), faces indexing that hemisphere.
    sulc, curv : ndarray of float32 (20484,)
        Sulcal depth and curvature, left then right.
    n_lh, n_rh : int
        Vertices per hemisphere (10242 each).

    All arrays are read-only: the object is shared by every caller of :func:`load_fsaverage5`.
    """

    surfaces: Mapping[str, tuple[np.ndarray, np.ndarray]]
    hemispheres: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]]
    sulc: np.ndarray
    curv: np.ndarray
    n_lh: int
    n_rh: int

    @property
    def n_vertices(self) -> int:
        """Vertices of both hemispheres (20484)."""
        return self.n_lh + self.n_rh


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _hemisphere_surfaces(meshes, part: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    pial, inflated = meshes["pial"].parts[part], meshes["inflated"].parts[part]
    faces = _read_only(np.array(pial.faces, dtype=np.int32))
    if not np.array_equal(faces, inflated.faces):
        raise RuntimeError(f"nilearn's fsaverage5 pial and inflated {part} meshes have different faces")
    pial_xyz = np.array(pial.coordinates, dtype=np.float32)
    inflated_xyz = np.array(inflated.coordinates, dtype=np.float32)
    coords = {"pial": pial_xyz, "half-inflated": (pial_xyz + inflated_xyz) / 2, "inflated": inflated_xyz}
    return {name: (_read_only(coords[name]), faces) for name in SURFACES}


def _stack(lh: tuple[np.ndarray, np.ndarray], rh: tuple[np.ndarray, np.ndarray],
           apart: bool) -> tuple[np.ndarray, np.ndarray]:
    lh_xyz, rh_xyz = lh[0].copy(), rh[0].copy()
    if apart:
        lh_xyz[:, 0] += -SIDE_BY_SIDE_GAP_MM / 2 - lh_xyz[:, 0].max()
        rh_xyz[:, 0] += SIDE_BY_SIDE_GAP_MM / 2 - rh_xyz[:, 0].min()
    coords = np.concatenate([lh_xyz, rh_xyz])
    faces = np.concatenate([lh[1], rh[1] + len(lh_xyz)]).astype(np.int32)
    return _read_only(coords), _read_only(faces)


@functools.lru_cache(maxsize=1)
def load_fsaverage5() -> SurfaceMesh:
    """Load the fsaverage5 mesh from nilearn's bundled data (once per process).

    Returns
    -------
    SurfaceMesh
        Pial, half-inflated and inflated surfaces (both hemispheres stacked, and per hemisphere), sulcal
        depth and curvature.
    """
    from nilearn import datasets

    meshes = datasets.load_fsaverage("fsaverage5")
    hemispheres = {hemi: _hemisphere_surfaces(meshes, part) for hemi, part in _NILEARN_PARTS.items()}
    surfaces = {name: _stack(hemispheres["lh"][name], hemispheres["rh"][name], apart=name != "pial")
                for name in SURFACES}

    def both(data_type: str) -> np.ndarray:
        image = datasets.load_fsaverage_data("fsaverage5", data_type=data_type)
        parts = [np.asarray(image.data.parts[_NILEARN_PARTS[hemi]], dtype=np.float32) for hemi in HEMISPHERES]
        return _read_only(np.concatenate(parts))

    return SurfaceMesh(
        surfaces=MappingProxyType(surfaces),
        hemispheres=MappingProxyType({hemi: MappingProxyType(s) for hemi, s in hemispheres.items()}),
        sulc=both("sulcal"),
        curv=both("curvature"),
        n_lh=len(hemispheres["lh"]["pial"][0]),
        n_rh=len(hemispheres["rh"]["pial"][0]),
    )
