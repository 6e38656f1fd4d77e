"""The fsaverage5 mesh from nilearn's bundled data."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.spaces import HEMISPHERES, SIDE_BY_SIDE_GAP_MM, SURFACES, load_fsaverage5


@pytest.fixture(scope="module")
def mesh():
    return load_fsaverage5()


def test_is_cached(mesh):
    assert load_fsaverage5() is mesh


def test_stacked_surfaces(mesh):
    assert (mesh.n_lh, mesh.n_rh, mesh.n_vertices) == (10242, 10242, 20484)
    assert tuple(mesh.surfaces) == SURFACES == ("pial", "half-inflated", "inflated")
    for coords, faces in mesh.surfaces.values():
        assert coords.shape == (20484, 3) and coords.dtype == np.float32
        assert faces.shape == (40960, 3) and faces.dtype == np.int32
        assert faces[:20480].max() == 10241 and faces[20480:].min() == 10242 and faces.max() == 20483
        assert not coords.flags.writeable and not faces.flags.writeable
    assert mesh.sulc.shape == mesh.curv.shape == (20484,)
    assert mesh.sulc.dtype == np.float32 and np.ptp(mesh.sulc) > 1 and np.ptp(mesh.curv) > 0.1


def test_per_hemisphere_arrays(mesh):
    assert tuple(mesh.hemispheres) == HEMISPHERES
    for offset, first_face, hemi in ((0, 0, "lh"), (10242, 20480, "rh")):
        pial, faces = mesh.hemispheres[hemi]["pial"]
        inflated, _ = mesh.hemispheres[hemi]["inflated"]
        half, _ = mesh.hemispheres[hemi]["half-inflated"]
        assert pial.shape == (10242, 3) and faces.shape == (20480, 3) and faces.max() == 10241
        assert np.allclose(half, (pial + inflated) / 2)
        assert np.array_equal(mesh.surfaces["pial"][0][offset:offset + 10242], pial)
        assert np.array_equal(mesh.surfaces["pial"][1][first_face:first_face + 20480], faces + offset)
        # the stacked inflated copy is only moved along x
        moved = mesh.surfaces["inflated"][0][offset:offset + 10242] - inflated
        assert np.allclose(moved[:, 1:], 0) and np.ptp(moved[:, 0]) < 1e-3
    assert mesh.hemispheres["lh"]["pial"][0][:, 0].mean() < 0 < mesh.hemispheres["rh"]["pial"][0][:, 0].mean()


@pytest.mark.parametrize("surface", ["inflated", "half-inflated"])
def test_inflated_hemispheres_side_by_side(mesh, surface):
    coords = mesh.surfaces[surface][0]
    lh_right_edge, rh_left_edge = coords[:10242, 0].max(), coords[10242:, 0].min()
    assert np.isclose(rh_left_edge - lh_right_edge, SIDE_BY_SIDE_GAP_MM, atol=1e-3)
    assert np.isclose(lh_right_edge, -SIDE_BY_SIDE_GAP_MM / 2, atol=1e-3)
