"""OutputSpace: BERG metadata, painting values on the surface, parcel <-> vertex mapping, ROI time series."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import NETWORKS, SPACE_IDS, get_space
from nforge_app.spaces._atlases import PACKAGED_DIR


def _annot(name):
    labels, _, names = nib.freesurfer.read_annot(str(PACKAGED_DIR / name))
    return labels, [n.decode() for n in names]


def test_get_space_is_cached_and_checks_the_id():
    assert SPACE_IDS == ("fsaverage5", "schaefer1000")
    assert get_space("fsaverage5") is get_space("fsaverage5", Settings.from_env())
    with pytest.raises(UserInputError, match="fsaverage5, schaefer1000"):
        get_space("fsaverage6")


def test_missing_atlas_dir_file_surfaces_from_get_space(tmp_path):
    with pytest.raises(UserInputError, match="has no file fsa5_lh_"):
        get_space("schaefer1000", Settings(atlas_dir=tmp_path))


def test_sizes(surface, parcels):
    assert (surface.kind, surface.n_outputs, surface.n_lh, surface.n_rh) == ("surface", 20484, 10242, 10242)
    assert (parcels.kind, parcels.n_outputs, parcels.n_lh, parcels.n_rh) == ("parcels", 1000, 500, 500)
    assert surface.parcel_of_vertex is None and surface.centroids_mni is None
    assert not surface.roi_assignment.flags.writeable


def test_fsaverage5_metadata_mirrors_berg(surface):
    meta = surface.metadata()
    assert meta["fmri"] == {"n_vertices": 20484, "n_vertices_lh": 10242, "n_vertices_rh": 10242,
                            "surface_mesh": "fsaverage5"}
    roi = meta["roi"]
    assert roi["parcellation"] == "Glasser_HCP-MMP1.0"
    assert roi["roi_labels"].shape == (180,) and roi["roi_labels"][0] == "V1"
    assert roi["roi_assignments"].shape == (20484,) and roi["roi_assignments"].min() == -1
    assert roi["roi_index"]["V1"] == 0 and len(roi["roi_index"]) == 180
    assert np.array_equal(np.flatnonzero(roi["roi_assignments"] == roi["roi_index"]["FFC"]), surface.select("FFC"))
    roi["roi_assignments"][:] = 5  # a copy: the shared space is untouched
    assert surface.roi_assignment.min() == -1


def test_schaefer_metadata_mirrors_berg(parcels):
    meta = parcels.metadata()
    assert list(meta["roi_masks"]) == list(NETWORKS)
    assert all(m.shape == (1000,) and m.dtype == bool for m in meta["roi_masks"].values())
    assert sum(int(m.sum()) for m in meta["roi_masks"].values()) == 1000
    fmri = meta["fmri"]
    assert (fmri["num_rois"], fmri["num_rois_lh"], fmri["num_rois_rh"]) == (1000, 500, 500)
    assert fmri["roi_labels"].shape == (1000,) and fmri["centroids_mni"].shape == (1000, 3)


def test_glasser_assignment_matches_the_annot(surface):
    for offset, hemi in ((0, "lh"), (10242, "rh")):
        labels, names = _annot(f"fsa5_{hemi}_glasser_360.annot")
        assigned = surface.roi_assignment[offset:offset + 10242]
        assert np.array_equal(assigned, labels - 1)
        inside = labels > 0
        assert [surface.roi_labels[i] for i in assigned[inside][:50]] == [names[k] for k in labels[inside][:50]]


def test_parcel_of_vertex_matches_the_annot(parcels):
    pov = parcels.parcel_of_vertex
    assert pov.shape == (20484,) and pov.min() == -1 and pov.max() == 999
    for offset, hemi in ((0, "lh"), (10242, "rh")):
        labels, names = _annot(f"fsa5_{hemi}_schaefer_1000.annot")
        part = pov[offset:offset + 10242]
        assert np.array_equal(part < 0, labels == 0)
        first = 0 if hemi == "lh" else 500
        inside = labels > 0
        assert np.array_equal(part[inside], labels[inside] - 1 + first)
        assert all(parcels.roi_labels[p] == names[k] for p, k in zip(part[inside], labels[inside], strict=True))
    assert np.array_equal(np.unique(pov[pov >= 0]), np.arange(1000))  # every parcel has vertices


def test_centroids_match_hemispheres(parcels):
    c = parcels.centroids_mni
    assert c.shape == (1000, 3) and not c.flags.writeable
    assert (c[:500, 0] < 0).all() and (c[500:, 0] > 0).all()


def test_to_surface(surface, parcels):
    values = np.arange(3 * 1000, dtype=np.float32).reshape(3, 1000)
    painted = parcels.to_surface(values)
    pov = parcels.parcel_of_vertex
    assert painted.shape == (3, 20484) and painted.dtype == np.float32
    assert np.isnan(painted[:, pov < 0]).all()
    assert np.array_equal(painted[:, pov >= 0], values[:, pov[pov >= 0]])
    one = parcels.to_surface(np.ones(2), indices=[0, 500])
    assert set(np.flatnonzero(one == 1)) == set(np.flatnonzero((pov == 0) | (pov == 500)))
    data = np.random.default_rng(0).random((2, 20484))
    assert surface.to_surface(data) is data
    part = surface.to_surface(data[:, :5], indices=np.arange(5))
    assert np.array_equal(part[:, :5], data[:, :5]) and np.isnan(part[:, 5:]).all()
    with pytest.raises(UserInputError, match="1000 values"):
        parcels.to_surface(np.zeros(999))


def test_roi_time_series(surface, parcels):
    rng = np.random.default_rng(1)
    idx = surface.select(["V1", "FFC"])
    data = rng.random((4, len(idx)))
    names, means = surface.roi_time_series(data, idx)
    assert names == ("V1", "FFC") and means.shape == (4, 2)
    v1_cols = np.isin(idx, surface.select("V1"))
    assert np.allclose(means[:, 0], data[:, v1_cols].mean(axis=1))
    names, means = surface.roi_time_series(data, idx, names=["FFC", "Default", "V*"])
    assert names == ("FFC", "V*")  # nothing of Default is selected
    assert np.allclose(means[:, 1], data[:, v1_cols].mean(axis=1))
    full = rng.random((3, 1000))
    names, means = parcels.roi_time_series(full, names=["Vis"])
    assert np.allclose(means[:, 0], full[:, parcels.networks["Vis"]].mean(axis=1))
    with pytest.raises(UserInputError, match=r"\(time, 2 selected vertices\)"):
        surface.roi_time_series(data, idx[:2])


def test_spaces_import_stays_light():
    # spaces/ is numpy-only (layering rule); nibabel and nilearn load only when an atlas or the mesh is read
    code = "import sys, nforge_app.spaces; print(sorted({'torch', 'gradio', 'nilearn', 'nibabel'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
